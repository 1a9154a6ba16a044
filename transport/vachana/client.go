// Package vachana is the dialect of Gnani's Vachana realtime speech-to-text
// v3 for the [transport] contract: the upgrade request with its headers,
// 1024-byte binary audio frames, and the JSON events the service sends
// back, normalised into [transport.Event]s.
//
// [NewDialer] checks a [Config] once and opens sessions with it; [Dial]
// opens one. A [Session] has no goroutines of its own: the caller writes
// audio with [Session.WriteAudio] and must keep one goroutine in
// [Session.ReadEvent] for the whole session, because pings, pongs and
// close frames are only processed while someone reads. Cancellation is by
// closing: [Session.CloseNow] unblocks every call at once.
package vachana

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/transport"
)

// DefaultURL is the Vachana v3 streaming endpoint.
const DefaultURL = "wss://api.vachana.ai/stt/v3/stream"

// DefaultLang is the language sent when [Config.Lang] is empty.
const DefaultLang = "en-IN"

// Languages are the language codes the service documents. It may accept
// others.
var Languages = []string{"bn-IN", "en-IN", "gu-IN", "hi-IN", "kn-IN", "ml-IN", "mr-IN", "pa-IN", "ta-IN", "te-IN"}

// Rates are the sample rates the service accepts.
var Rates = []frame.Rate{frame.Rate8k, frame.Rate16k, frame.Rate44k, frame.Rate48k}

// CheckRate returns an error naming r and the accepted rates if the
// service does not take r.
func CheckRate(r frame.Rate) error {
	for _, ok := range Rates {
		if r == ok {
			return nil
		}
	}
	return fmt.Errorf("vachana: sample rate %d Hz is not accepted by the service; use 8000, 16000, 44100 or 48000", int(r))
}

// Config describes the sessions to open. The zero value of every field but
// APIKey has a documented default.
type Config struct {
	URL        string     // default DefaultURL
	APIKey     string     // sent as x-api-key-id; never logged or put in errors
	Lang       string     // lang_code; default DefaultLang
	SampleRate frame.Rate // x-sample-rate; default 16000
	RequestID  string     // x-api-request-id; default a fresh "req_" + 12 hex digits for each session
	UserAgent  string     // default "vachana-pipe/" + transport.Version

	// Header holds further upgrade headers (x-format, itn_native_numerals…).
	// It cannot override the headers above.
	Header http.Header

	// HTTPClient performs the upgrade; default http.DefaultClient, which
	// verifies TLS certificates. Redirects are never followed.
	HTTPClient *http.Client

	// ReadLimit bounds the size of one server message; default 1 MiB.
	ReadLimit int64
}

// withDefaults returns cfg with its defaults filled in, or an error naming
// the field that is wrong.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.URL == "" {
		cfg.URL = DefaultURL
	}
	if cfg.Lang == "" {
		cfg.Lang = DefaultLang
	}
	if cfg.SampleRate == 0 {
		cfg.SampleRate = frame.Rate16k
	}
	if err := CheckRate(cfg.SampleRate); err != nil {
		return cfg, err
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "vachana-pipe/" + transport.Version
	}
	return cfg, nil
}

// Dialer opens Vachana sessions with one Config. It implements
// [transport.Dialer] and may be used from any goroutine.
type Dialer struct {
	cfg Config
}

// NewDialer checks cfg and returns a dialer for it.
func NewDialer(cfg Config) (*Dialer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Dialer{cfg: cfg}, nil
}

// Audio returns the rate of the sessions and their chunk: one 1024-byte
// frame.
func (d *Dialer) Audio() transport.Audio {
	return transport.Audio{Rate: d.cfg.SampleRate, ChunkFrames: 1}
}

// Dial opens a session, as [Dial] does. Each session gets a fresh request
// id unless the Config fixes one.
func (d *Dialer) Dial(ctx context.Context) (transport.Session, error) {
	return Dial(ctx, d.cfg)
}

// Close does nothing: a Vachana session leaves nothing behind.
func (d *Dialer) Close(context.Context) error { return nil }

// ErrNoGreeting reports a server that accepted the session but did not
// send its connected event in time.
var ErrNoGreeting = errors.New("vachana: the server accepted the connection but sent no connected event")

// Session is an open Vachana v3 session; it implements [transport.Session].
type Session struct {
	*transport.Conn // Ping, Close, CloseNow; Read and Write for messages the dialect does not model
	requestID       string
	greeting        atomic.Pointer[transport.Event] // the connected event Dial read, for ReadEvent
}

// Dial opens a session: it sends the upgrade request with the headers of
// cfg and waits for the server's first event, normally connected, until
// ctx ends. A refusal with an HTTP status is a *[transport.HandshakeError];
// a server that never greets gives [ErrNoGreeting]; one whose first event is
// an error gives that error. The first event is still the first ReadEvent
// returns. Errors say which step was awaited when ctx ended.
func Dial(ctx context.Context, cfg Config) (*Session, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.RequestID == "" {
		cfg.RequestID = NewRequestID()
	}
	h := cfg.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("x-api-key-id", cfg.APIKey)
	h["lang_code"] = []string{cfg.Lang} // not canonicalised: the service reads it as written
	h.Set("x-sample-rate", strconv.Itoa(int(cfg.SampleRate)))
	h.Set("x-api-request-id", cfg.RequestID)
	h.Set("User-Agent", cfg.UserAgent)
	conn, err := transport.DialWebSocket(ctx, transport.WebSocketConfig{
		URL:        cfg.URL,
		Header:     h,
		HTTPClient: cfg.HTTPClient,
		ReadLimit:  cfg.ReadLimit,
		Hint:       hint,
	})
	if err != nil {
		return nil, err
	}
	s := &Session{Conn: conn, requestID: cfg.RequestID}
	if err := s.greet(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func hint(status int) string {
	if status == http.StatusUnauthorized {
		return "check the API key (-key, -key-file or env GNANI_API_KEY)"
	}
	return transport.StatusHint(status)
}

// greet waits for the first event and keeps it for ReadEvent.
func (s *Session) greet(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.CloseNow() })
	ev, err := s.read()
	timedOut := !stop()
	var me *transport.MalformedError
	switch {
	case timedOut:
		s.CloseNow()
		return fmt.Errorf("%w: waited for it after the upgrade (%v)", ErrNoGreeting, context.Cause(ctx))
	case errors.As(err, &me):
		// A first message we cannot read is no refusal: go on, keep it.
	case err != nil:
		s.CloseNow()
		return fmt.Errorf("vachana: the session ended before it started: %w", err)
	case ev.Kind == transport.Error:
		s.CloseNow()
		return fmt.Errorf("vachana: the server refused the session: %s", ev.Message)
	}
	s.greeting.Store(&ev)
	return nil
}

// NewRequestID returns a fresh request id in the official SDK's form,
// "req_" followed by 12 hex digits.
func NewRequestID() string {
	var b [6]byte
	rand.Read(b[:])
	return "req_" + hex.EncodeToString(b[:])
}

// RequestID returns the x-api-request-id of the session.
func (s *Session) RequestID() string { return s.requestID }

// WriteAudio sends one 1024-byte frame as a binary message. It does not
// allocate and does not retain chunk. It blocks while the network is
// congested; to abandon a blocked write, call CloseNow.
func (s *Session) WriteAudio(chunk []byte) error {
	if len(chunk) != frame.Size {
		return fmt.Errorf("vachana: a chunk is one frame of %d bytes, got %d", frame.Size, len(chunk))
	}
	return s.Write(websocket.MessageBinary, chunk)
}

// ReadEvent blocks until the server sends a message and returns it decoded
// (the connected event Dial waited for comes first). A message that is not
// a JSON object, or a binary message, returns a *[transport.MalformedError]
// and leaves the session usable. When the session ends, ReadEvent returns a
// *[transport.ClosedError], or io.EOF once Close was called and the server
// ended the session normally.
func (s *Session) ReadEvent() (transport.Event, error) {
	if g := s.greeting.Swap(nil); g != nil {
		return *g, nil
	}
	return s.read()
}

func (s *Session) read() (transport.Event, error) {
	msg, err := s.ReadText()
	if err != nil {
		return transport.Event{Raw: msg}, err
	}
	return ParseEvent(msg)
}

// Finish does nothing: Vachana ends the last segment when its detector
// hears the tail silence, and has no flush message.
func (s *Session) Finish(context.Context) error { return nil }

// Package sarvam is the dialect of Sarvam AI's streaming speech-to-text
// for the [transport] contract: the upgrade request with its query and key
// header, audio as JSON text messages carrying base64 s16le, the flush
// message, and the JSON messages the service sends back, normalised into
// [transport.Event]s.
//
// Sarvam sends no greeting: a session is ready when the upgrade succeeds.
// Its events map onto the contract's kinds as follows:
//
//	data                        Transcript (final; with detected language, its probability, audio duration, latency)
//	events START_SPEECH         SpeechStarted
//	events END_SPEECH           SegmentEnded: the utterance is being transcribed and its data follows
//	error (data.error or data.message)  Error
//
// END_SPEECH is the segment end the pipeline counts in its drain and
// marks its replay with; a data that comes without one is still a
// transcript: the answer to the flush ([Session.Finish]), which the
// pipeline awaits when speech was open (transport.Audio.Flush), or a
// segment's transcript that came before its END_SPEECH. Sarvam closes a
// session after about 60 s without audio, so [Dialer.Audio] asks for
// silence while the input pauses (transport.Audio.KeepAlive).
//
// [NewDialer] checks a [Config] once and opens sessions with it; [Dial]
// opens one. A [Session] has no goroutines of its own: the caller writes
// audio with [Session.WriteAudio] and must keep one goroutine in
// [Session.ReadEvent] for the whole session, because pings, pongs and
// close frames are only processed while someone reads.
package sarvam

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/transport"
)

// DefaultURL is Sarvam's streaming speech-to-text endpoint.
const DefaultURL = "wss://api.sarvam.ai/speech-to-text/ws"

// Defaults applied to zero [Config] fields.
const (
	DefaultLang  = "unknown" // the service detects the language
	DefaultModel = "saaras:v3"
	DefaultMode  = "transcribe"
)

// Languages are the language codes the official SDK lists, "unknown"
// (detection) first. The service may accept others.
var Languages = []string{"unknown", "en-IN", "hi-IN", "bn-IN", "gu-IN", "kn-IN", "ml-IN", "mr-IN", "od-IN", "pa-IN", "ta-IN", "te-IN", "as-IN", "ur-IN", "ne-IN", "kok-IN", "ks-IN", "sd-IN", "sa-IN", "sat-IN", "mni-IN", "brx-IN", "mai-IN", "doi-IN"}

// Models are the streaming models the service documents. It may accept
// others.
var Models = []string{"saaras:v3", "saaras:v4", "saarika:v2.5"}

// Modes are the values of Config.Mode: what the service makes of the
// speech (transcribe in the spoken script, translate to English, verbatim,
// transliterate to Latin script, or code-mixed).
var Modes = []string{"transcribe", "translate", "verbatim", "translit", "codemix"}

// Rates are the sample rates the service takes.
var Rates = []frame.Rate{frame.Rate8k, frame.Rate16k}

// CheckRate returns an error naming r and the accepted rates if the
// service does not take r.
func CheckRate(r frame.Rate) error {
	if slices.Contains(Rates, r) {
		return nil
	}
	return fmt.Errorf("sarvam: sample rate %d Hz is not accepted by the service; use 16000 or 8000", int(r))
}

// Tail silence the service needs after the last speech to end it: 1 s,
// 0.5 s with high VAD sensitivity.
const (
	TailSilence     = time.Second
	TailSilenceHigh = 500 * time.Millisecond
)

// KeepAlive is how long the input may give no audio before sessions are
// fed silence: Sarvam closes a session after about 60 s without audio.
const KeepAlive = 5 * time.Second

// Config describes the sessions to open. The zero value of every field but
// APIKey has a documented default.
type Config struct {
	URL        string     // default DefaultURL; its own query parameters are kept unless set below
	APIKey     string     // sent as Api-Subscription-Key; never logged or put in errors
	Lang       string     // language-code; default DefaultLang ("unknown": detect)
	Model      string     // model; default DefaultModel
	Mode       string     // mode, one of Modes; default DefaultMode
	SampleRate frame.Rate // sample_rate, 16000 or 8000; default 16000
	UserAgent  string     // default "vachana-pipe/" + transport.Version

	// HighVADSensitivity sets high_vad_sensitivity: the service ends
	// segments on shorter pauses (and needs only TailSilenceHigh after the
	// last).
	HighVADSensitivity bool

	// Prompt, if set, is sent as a config message at the start of every
	// session: words or context that help the model.
	Prompt string

	// Header holds further upgrade headers. It cannot override
	// Api-Subscription-Key or User-Agent.
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
	if cfg.Model == "" {
		cfg.Model = DefaultModel
	}
	if cfg.Mode == "" {
		cfg.Mode = DefaultMode
	}
	if !slices.Contains(Modes, cfg.Mode) {
		return cfg, fmt.Errorf("sarvam: mode %q is not one the service knows; use %s", cfg.Mode, strings.Join(Modes, ", "))
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

// Query returns the query parameters a session with cfg is opened with,
// defaults applied: language-code, model, mode, input_audio_codec
// (pcm_s16le), sample_rate, high_vad_sensitivity, vad_signals and
// flush_signal (both true: the pipeline needs the segment ends and the
// flush).
func (cfg Config) Query() (url.Values, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return cfg.query(), nil
}

func (cfg Config) query() url.Values {
	return url.Values{
		"language-code":        {cfg.Lang},
		"model":                {cfg.Model},
		"mode":                 {cfg.Mode},
		"input_audio_codec":    {"pcm_s16le"},
		"sample_rate":          {strconv.Itoa(int(cfg.SampleRate))},
		"high_vad_sensitivity": {strconv.FormatBool(cfg.HighVADSensitivity)},
		"vad_signals":          {"true"},
		"flush_signal":         {"true"},
	}
}

// Dialer opens Sarvam sessions with one Config. It implements
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
	if _, err := endpoint(cfg); err != nil {
		return nil, err
	}
	return &Dialer{cfg: cfg}, nil
}

// Audio returns the rate of the sessions, their chunk (one 1024-byte
// frame, one message), the tail silence the service needs, its keep-alive,
// and that Finish flushes.
func (d *Dialer) Audio() transport.Audio {
	tail := TailSilence
	if d.cfg.HighVADSensitivity {
		tail = TailSilenceHigh
	}
	return transport.Audio{Rate: d.cfg.SampleRate, ChunkFrames: 1, TailSilence: tail, KeepAlive: KeepAlive, Flush: true}
}

// Dial opens a session, as [Dial] does.
func (d *Dialer) Dial(ctx context.Context) (transport.Session, error) {
	return Dial(ctx, d.cfg)
}

// Close does nothing: a Sarvam session leaves nothing behind.
func (d *Dialer) Close(context.Context) error { return nil }

// Session is an open Sarvam session; it implements [transport.Session].
type Session struct {
	*transport.Conn // Ping, Close, CloseNow; Read and Write for messages the dialect does not model

	rate frame.Rate
	msg  []byte // the audio message being built, reused; WriteAudio only
}

// Dial opens a session: it sends the upgrade request with the query and
// key of cfg and returns once the server accepted it (Sarvam sends no
// greeting), after sending cfg.Prompt if set. A refusal with an HTTP status
// is a *[transport.HandshakeError]. Errors say which step was awaited when
// ctx ended.
func Dial(ctx context.Context, cfg Config) (*Session, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	u, err := endpoint(cfg)
	if err != nil {
		return nil, err
	}
	h := cfg.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Api-Subscription-Key", cfg.APIKey)
	h.Set("User-Agent", cfg.UserAgent)
	conn, err := transport.DialWebSocket(ctx, transport.WebSocketConfig{
		URL:        u,
		Header:     h,
		HTTPClient: cfg.HTTPClient,
		ReadLimit:  cfg.ReadLimit,
		Hint:       hint,
	})
	if err != nil {
		return nil, err
	}
	s := newSession(conn, cfg.SampleRate)
	if cfg.Prompt != "" {
		if err := s.Write(websocket.MessageText, configMessage(cfg.Prompt)); err != nil {
			s.CloseNow()
			return nil, fmt.Errorf("sarvam: sending the prompt: %w", err)
		}
	}
	return s, nil
}

// configMessage returns the config message carrying prompt, encoded as the
// official SDK encodes it (JSON.stringify: <, > and & as they are).
func configMessage(prompt string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(struct {
		Type   string `json:"type"`
		Prompt string `json:"prompt"`
	}{"config", prompt})
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// endpoint returns cfg.URL with the session's query parameters set.
func endpoint(cfg Config) (string, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return "", fmt.Errorf("sarvam: %s is not a ws:// or wss:// URL", transport.Redact(cfg.URL))
	}
	q := u.Query()
	for k, v := range cfg.query() {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func hint(status int) string {
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		return "check the API key (-key, -key-file or env SARVAM_API_KEY)"
	}
	if status == http.StatusBadRequest {
		return "check the language (-lang), model (-model), mode (-mode) and rate (-rate)"
	}
	return transport.StatusHint(status)
}

func newSession(c *transport.Conn, rate frame.Rate) *Session {
	return &Session{Conn: c, rate: rate, msg: AppendAudio(nil, make([]byte, frame.Size), rate)}
}

// AppendAudio appends the audio message for chunk (s16le mono) at rate to
// b, exactly as the official SDK's transcribe builds it:
// {"audio":{"data":"<base64>","sample_rate":<rate>,"encoding":"audio/wav"}}.
func AppendAudio(b, chunk []byte, rate frame.Rate) []byte {
	b = append(b, `{"audio":{"data":"`...)
	b = base64.StdEncoding.AppendEncode(b, chunk)
	b = append(b, `","sample_rate":`...)
	b = strconv.AppendInt(b, int64(rate), 10)
	return append(b, `,"encoding":"audio/wav"}}`...)
}

// WriteAudio sends one 1024-byte frame as an audio message. It builds the
// message in a buffer it reuses, so it does not allocate, and does not
// retain chunk. It blocks while the network is congested; to abandon a
// blocked write, call CloseNow.
func (s *Session) WriteAudio(chunk []byte) error {
	if len(chunk) != frame.Size {
		return fmt.Errorf("sarvam: a chunk is one frame of %d bytes, got %d", frame.Size, len(chunk))
	}
	s.msg = AppendAudio(s.msg[:0], chunk, s.rate)
	return s.Write(websocket.MessageText, s.msg)
}

// flushMessage asks the service to finalise what it holds.
var flushMessage = []byte(`{"type":"flush"}`)

// Finish sends the flush message: the service finalises the speech it
// holds now, and its data follows (without an END_SPEECH before it). If
// ctx ends while the write is blocked, the connection is closed.
func (s *Session) Finish(ctx context.Context) error {
	return s.WriteContext(ctx, websocket.MessageText, flushMessage)
}

// ReadEvent blocks until the server sends a message and returns it
// decoded. A message that is not a JSON object, or a binary message,
// returns a *[transport.MalformedError] and leaves the session usable. When
// the session ends, ReadEvent returns a *[transport.ClosedError], or io.EOF
// once Close was called and the server ended the session normally.
func (s *Session) ReadEvent() (transport.Event, error) {
	msg, err := s.ReadText()
	if err != nil {
		return transport.Event{Raw: msg}, err
	}
	return ParseEvent(msg)
}

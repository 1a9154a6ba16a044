// Package transport speaks the client side of Gnani's Vachana realtime
// speech-to-text v3 protocol over WebSocket: the upgrade request with its
// headers, 1024-byte binary audio frames, and the JSON events the server sends
// back.
//
// [Dial] opens a session and returns a [Conn]. A Conn has no goroutines of
// its own: the caller writes frames with [Conn.WriteFrame] and must keep one
// goroutine in [Conn.ReadEvent] for the whole session, because pings, pongs
// and close frames are only processed while someone reads. Cancellation is by
// closing: [Conn.CloseNow] unblocks every call at once.
//
// The reference server in the refserver subpackage speaks the same protocol on
// loopback for tests and demos.
package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// Version is the version of vachana-pipe, sent in the User-Agent header.
const Version = "0.1.0"

// DefaultURL is the Vachana v3 streaming endpoint.
const DefaultURL = "wss://api.vachana.ai/stt/v3/stream"

// DefaultLang is the language sent when [Config.Lang] is empty.
const DefaultLang = "en-IN"

// Config describes one session. The zero value of every field but APIKey has
// a documented default.
type Config struct {
	URL        string     // default DefaultURL
	APIKey     string     // sent as x-api-key-id; never logged or put in errors
	Lang       string     // lang_code; default DefaultLang
	SampleRate frame.Rate // x-sample-rate; default 16000
	RequestID  string     // x-api-request-id; default a fresh "req_" + 12 hex digits
	UserAgent  string     // default "vachana-pipe/" + Version

	// Header holds further upgrade headers (x-format, itn_native_numerals…).
	// It cannot override the headers above.
	Header http.Header

	// HTTPClient performs the upgrade; default http.DefaultClient, which
	// verifies TLS certificates.
	HTTPClient *http.Client

	// ReadLimit bounds the size of one server message; default 1 MiB.
	ReadLimit int64
}

// Conn is an open Vachana v3 session. WriteFrame, Ping, Close and CloseNow may
// be called concurrently with each other and with ReadEvent; ReadEvent must
// only be called from one goroutine at a time.
type Conn struct {
	ws        *websocket.Conn
	requestID string
}

// HandshakeError reports that the server refused the upgrade with an HTTP
// status: 401 for a missing or invalid key, 403, 429 when rate limited, 400
// for a bad setting, 5xx when the service failed.
type HandshakeError struct {
	StatusCode int
	Code       string // the body's detail.error_code, e.g. "MISSING_API_KEY", if any
	Message    string // the body's detail.message, or the start of the body
	Location   string // where a 3xx redirects to, without query; not followed
}

func (e *HandshakeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "transport: server refused the connection: HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Location != "" {
		fmt.Fprintf(&b, "; it redirects to %s, which is not followed so the key goes nowhere else: use that URL (-url) if you trust it", e.Location)
	}
	if hint := handshakeHint(e.StatusCode); hint != "" {
		b.WriteString("; ")
		b.WriteString(hint)
	}
	return b.String()
}

func handshakeHint(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "check the API key (flag -key or env GNANI_API_KEY)"
	case status == http.StatusForbidden:
		return "the key may not be allowed this endpoint or language, or a proxy refused the request"
	case status == http.StatusTooManyRequests:
		return "rate limited: wait before retrying, or open fewer streams at once"
	case status == http.StatusBadRequest:
		return "check the language code (-lang) and sample rate (-rate)"
	case status == http.StatusNotFound:
		return "check the URL (-url)"
	case status >= 500:
		return "the service failed; retry later"
	}
	return ""
}

// ClosedError reports that the session ended. Code is the WebSocket close
// status the peer sent (1000 for a normal closure, 1011 for a server error…),
// or -1 when the connection broke without a close frame.
type ClosedError struct {
	Code   int
	Reason string
	Err    error
}

func (e *ClosedError) Error() string {
	if e.Code < 0 {
		return fmt.Sprintf("transport: connection lost without a close frame: %v", e.Err)
	}
	s := fmt.Sprintf("transport: connection closed with status %d (%s)", e.Code, websocket.StatusCode(e.Code))
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

func (e *ClosedError) Unwrap() error { return e.Err }

// Normal reports whether the session ended with a normal closure (1000).
func (e *ClosedError) Normal() bool { return e.Code == int(websocket.StatusNormalClosure) }

// Dial opens a session: it sends the upgrade request with the headers of cfg
// and returns once the server has accepted it. A refusal with an HTTP status
// is a *[HandshakeError]. ctx bounds the handshake only.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	if cfg.URL == "" {
		cfg.URL = DefaultURL
	}
	if cfg.Lang == "" {
		cfg.Lang = DefaultLang
	}
	if cfg.SampleRate == 0 {
		cfg.SampleRate = frame.Rate16k
	}
	if err := cfg.SampleRate.Check(); err != nil {
		return nil, err
	}
	if cfg.RequestID == "" {
		cfg.RequestID = NewRequestID()
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "vachana-pipe/" + Version
	}
	if cfg.ReadLimit <= 0 {
		cfg.ReadLimit = 1 << 20
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return nil, fmt.Errorf("transport: URL %q is not a ws:// or wss:// URL", Redact(cfg.URL))
	}
	h := cfg.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("x-api-key-id", cfg.APIKey)
	h["lang_code"] = []string{cfg.Lang} // not canonicalised: the service reads it as written
	h.Set("x-sample-rate", fmt.Sprint(int(cfg.SampleRate)))
	h.Set("x-api-request-id", cfg.RequestID)
	h.Set("User-Agent", cfg.UserAgent)

	// Never follow a redirect: Go would forward x-api-key-id to wherever
	// it points, even over plain http. The 3xx comes back as a
	// HandshakeError naming the new location.
	client := http.DefaultClient
	if cfg.HTTPClient != nil {
		client = cfg.HTTPClient
	}
	noRedirect := *client
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	ws, resp, err := websocket.Dial(ctx, cfg.URL, &websocket.DialOptions{
		HTTPClient: &noRedirect,
		HTTPHeader: h,
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, handshakeError(resp)
		}
		if ctxErr := context.Cause(ctx); ctxErr != nil {
			return nil, fmt.Errorf("transport: connecting to %s: %w", Redact(cfg.URL), ctxErr)
		}
		return nil, fmt.Errorf("transport: cannot connect to %s: %w", Redact(cfg.URL), unwrapDial(err))
	}
	ws.SetReadLimit(cfg.ReadLimit)
	return &Conn{ws: ws, requestID: cfg.RequestID}, nil
}

// unwrapDial drops coder/websocket's generic prefix and net/http's
// *url.Error, which repeats the whole URL (and any secret in its query), so
// the cause (connection refused, certificate error…) leads the message.
func unwrapDial(err error) error {
	if u := errors.Unwrap(err); u != nil {
		err = u
	}
	var ue *url.Error
	for errors.As(err, &ue) {
		err = ue.Err
	}
	return err
}

func handshakeError(resp *http.Response) error {
	e := &HandshakeError{StatusCode: resp.StatusCode}
	if loc := resp.Header.Get("Location"); loc != "" {
		e.Location = Redact(loc)
		return e // its body repeats the location, query and all
	}
	if resp.Body == nil {
		return e
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	var v struct {
		Detail json.RawMessage `json:"detail"`
	}
	var d struct {
		ErrorCode string `json:"error_code"`
		Message   string `json:"message"`
	}
	if json.Unmarshal(body, &v) == nil && len(v.Detail) > 0 {
		if json.Unmarshal(v.Detail, &d) == nil {
			e.Code, e.Message = d.ErrorCode, d.Message
		} else {
			var s string
			if json.Unmarshal(v.Detail, &s) == nil {
				e.Message = s
			}
		}
	}
	if e.Code == "" && e.Message == "" {
		e.Message = printable(bytes.TrimSpace(body), 200)
	}
	return e
}

// printable returns at most n bytes of b as a single line of text.
func printable(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
}

// NewRequestID returns a fresh request id in the official SDK's form,
// "req_" followed by 12 hex digits.
func NewRequestID() string {
	var b [6]byte
	rand.Read(b[:])
	return "req_" + hex.EncodeToString(b[:])
}

// Redact returns rawURL without user information and query, which could carry
// secrets, for use in messages.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}

// RequestID returns the x-api-request-id of the session.
func (c *Conn) RequestID() string { return c.requestID }

// WriteFrame sends one frame as a binary message. It does not allocate and
// does not retain f. It blocks while the network is congested; to abandon a
// blocked write, call CloseNow.
func (c *Conn) WriteFrame(f *frame.Frame) error {
	// A context that cannot be cancelled keeps coder/websocket from
	// allocating per call; cancellation reaches the write by closing.
	if err := c.ws.Write(context.Background(), websocket.MessageBinary, f[:]); err != nil {
		return c.closedError(err)
	}
	return nil
}

// ReadEvent blocks until the server sends a message and returns it decoded.
// A message that is not a JSON object, or a binary message, returns a
// *[MalformedError] and leaves the session usable. When the session ends,
// ReadEvent returns a *[ClosedError].
func (c *Conn) ReadEvent() (Event, error) {
	typ, msg, err := c.ws.Read(context.Background())
	if err != nil {
		return Event{}, c.closedError(err)
	}
	if typ != websocket.MessageText {
		return Event{Raw: msg}, &MalformedError{Raw: msg, Err: errors.New("binary message from the server")}
	}
	return ParseEvent(msg)
}

func (c *Conn) closedError(err error) error {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return &ClosedError{Code: int(ce.Code), Reason: ce.Reason, Err: err}
	}
	return &ClosedError{Code: -1, Err: err}
}

// Ping sends a ping and waits for the pong, or for ctx to end. Another
// goroutine must be in ReadEvent for the pong to be seen.
func (c *Conn) Ping(ctx context.Context) error {
	return c.ws.Ping(ctx)
}

// Close ends the session normally: it sends a close frame with status 1000
// and waits for the server's (up to 5 s), while the goroutine in ReadEvent
// goes on receiving whatever the server still sends. A server answering
// 1000, 1001 or no status counts as a normal end.
func (c *Conn) Close() error {
	err := c.ws.Close(websocket.StatusNormalClosure, "")
	switch websocket.CloseStatus(err) {
	case websocket.StatusNormalClosure, websocket.StatusGoingAway, websocket.StatusNoStatusRcvd:
		return nil // the server ended the session normally too
	}
	return err
}

// CloseNow drops the connection without a close handshake. Blocked calls
// return at once.
func (c *Conn) CloseNow() error {
	return c.ws.CloseNow()
}

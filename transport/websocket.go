package transport

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/coder/websocket"
)

// WebSocketConfig is what [DialWebSocket] needs from a dialect.
type WebSocketConfig struct {
	URL    string
	Header http.Header
	// HTTPClient performs the upgrade; default http.DefaultClient, which
	// verifies TLS certificates. Redirects are never followed.
	HTTPClient *http.Client
	// ReadLimit bounds the size of one message; default 1 MiB.
	ReadLimit int64
	// Hint, if set, gives the dialect's advice for a refusal with a status
	// (which flag or variable holds its key…); "" falls back to [StatusHint].
	Hint func(status int) string
}

// DialWebSocket opens a WebSocket for a dialect: it refuses anything but
// ws:// and wss:// URLs, never follows a redirect (Go would forward the key
// headers to wherever it points, even over plain http: the 3xx comes back
// as a *[HandshakeError] naming the new location), reads the error body
// of a refused upgrade into a *HandshakeError, and when ctx ends says which
// step was awaited: the TCP (and TLS) connection or the answer to the
// upgrade request. Errors never contain the URL's query or user
// information.
func DialWebSocket(ctx context.Context, cfg WebSocketConfig) (*websocket.Conn, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return nil, fmt.Errorf("transport: URL %q is not a ws:// or wss:// URL", Redact(cfg.URL))
	}
	client := http.DefaultClient
	if cfg.HTTPClient != nil {
		client = cfg.HTTPClient
	}
	noRedirect := *client
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	var connected atomic.Bool
	tctx := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { connected.Store(true) },
	})
	ws, resp, err := websocket.Dial(tctx, cfg.URL, &websocket.DialOptions{
		HTTPClient: &noRedirect,
		HTTPHeader: cfg.Header,
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			e := handshakeError(resp)
			if cfg.Hint != nil && e.Hint == "" {
				e.Hint = cfg.Hint(e.StatusCode)
			}
			return nil, e
		}
		if cause := context.Cause(ctx); cause != nil {
			step := "the TCP connection to " + u.Host
			if connected.Load() {
				step = "the answer to the upgrade request (the server accepted the connection but did not answer)"
			}
			return nil, fmt.Errorf("transport: connecting to %s: waited for %s: %w", Redact(cfg.URL), step, cause)
		}
		return nil, fmt.Errorf("transport: cannot connect to %s: %w", Redact(cfg.URL), unwrapDial(err))
	}
	limit := cfg.ReadLimit
	if limit <= 0 {
		limit = 1 << 20
	}
	ws.SetReadLimit(limit)
	return ws, nil
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

func handshakeError(resp *http.Response) *HandshakeError {
	e := &HandshakeError{StatusCode: resp.StatusCode}
	if loc := resp.Header.Get("Location"); loc != "" {
		e.Location = Redact(loc)
		return e // its body repeats the location, query and all
	}
	if resp.Body == nil {
		return e
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	// Vachana's {"detail":{"error_code":…,"message":…}} or {"detail":"…"};
	// Sarvam's {"error":{"message":…,"code":…}}.
	var v struct {
		Detail json.RawMessage `json:"detail"`
		Error  json.RawMessage `json:"error"`
	}
	var d struct {
		ErrorCode string `json:"error_code"`
		Code      string `json:"code"`
		Message   string `json:"message"`
	}
	if json.Unmarshal(body, &v) == nil {
		for _, field := range []json.RawMessage{v.Detail, v.Error} {
			if len(field) == 0 {
				continue
			}
			var s string
			switch {
			case json.Unmarshal(field, &d) == nil:
				e.Code, e.Message = cmp.Or(d.ErrorCode, d.Code), d.Message
			case json.Unmarshal(field, &s) == nil:
				e.Message = s
			}
			break
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

// Redact returns rawURL without user information and query, which could
// carry secrets, for use in messages.
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

// Closed turns an error of a coder/websocket connection into a
// *[ClosedError] carrying the peer's close status, or -1 when there was
// none.
func Closed(err error) *ClosedError {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return &ClosedError{Code: int(ce.Code), Reason: ce.Reason, Err: err}
	}
	return &ClosedError{Code: -1, Err: err}
}

// CloseNormally ends ws with status 1000 and waits for the peer's close
// frame (coder/websocket waits up to 5 s). A peer that had already ended
// the session normally, or answers with a normal status, is no error.
func CloseNormally(ws *websocket.Conn) error {
	err := ws.Close(websocket.StatusNormalClosure, "")
	if err == nil || NormalClose(int(websocket.CloseStatus(err))) {
		return nil
	}
	return err
}

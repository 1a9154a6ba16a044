package transport

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
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
//
// On Linux, when the client's transport is an *http.Transport (the
// default's is), it is cloned for the dial, and the clone's DialContext
// wraps the TCP connection it opens (to the server, or to a proxy) so that
// the connection can write without waiting for the network
// ([Conn.SetNoWait]); TLS, and a proxy's CONNECT, then run over it as
// before. Each dial so
// opens a connection of its own: the transport's pool of idle connections
// and its limits per host (MaxConnsPerHost) do not apply to upgrades. A
// transport that dials TLS itself (DialTLSContext) keeps its connections
// as they are, and its sessions cannot use the mode.
func DialWebSocket(ctx context.Context, cfg WebSocketConfig) (*Conn, error) {
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
	var flow *flowConn
	if flowSupported {
		if tr := flowTransport(client.Transport, &flow); tr != nil {
			noRedirect.Transport = tr
			defer tr.CloseIdleConnections() // a refusal's connection, kept for reuse: nobody will
		}
	}
	var connected atomic.Bool
	var raw atomic.Pointer[net.Conn] // what the WebSocket will write to: the TCP connection, or TLS over it
	tctx := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			connected.Store(true)
			raw.Store(&info.Conn)
		},
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
	c := &Conn{ws: ws, flow: flow}
	if r := raw.Load(); flow != nil && r != nil && over(*r, flow) {
		c.raw = *r // (else a round tripper of the client's, or a TLS proxy, is in between: coder/websocket frames)
	}
	return c, nil
}

// over reports whether c is f, or TLS directly over f: the connection the
// upgrade went through is the one DialWebSocket's transport opened.
func over(c net.Conn, f *flowConn) bool {
	if c == net.Conn(f) {
		return true
	}
	t, ok := c.(*tls.Conn)
	return ok && t.NetConn() == net.Conn(f)
}

// flowTransport returns a clone of rt (nil: the default transport) whose
// TCP connections are flowConns, the last of which it stores in *flow, or
// nil if rt is no *http.Transport.
func flowTransport(rt http.RoundTripper, flow **flowConn) *http.Transport {
	if rt == nil {
		rt = http.DefaultTransport
	}
	base, ok := rt.(*http.Transport)
	if !ok {
		return nil
	}
	tr := base.Clone()
	dial := tr.DialContext
	if dial == nil && tr.Dial != nil {
		dial = func(_ context.Context, network, addr string) (net.Conn, error) { return tr.Dial(network, addr) }
	}
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok && err == nil {
			if f := newFlowConn(tc); f != nil {
				*flow = f // one dial at a time: the clone serves one upgrade
				return f, nil
			}
		}
		return c, err
	}
	tr.Dial = nil
	return tr
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

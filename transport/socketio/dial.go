package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/transport"
)

// DefaultPath is the path socket.io servers listen on unless told otherwise.
const DefaultPath = "/socket.io"

// Config describes the connection to open. Every field but URL has a
// documented zero-value default.
type Config struct {
	// URL is the server's base, ws:// or wss:// with a host and no path or
	// query, e.g. "ws://127.0.0.1:8080".
	URL string
	// Path is where the server listens, e.g. "/api/voice-streaming/socket.io";
	// default DefaultPath. It is requested with a trailing slash, as
	// socket.io-client does.
	Path string
	// Namespace is the namespace to join, e.g. "/events"; default "/".
	Namespace string
	// Query holds the parameters of the upgrade request. They come before
	// EIO=4&transport=websocket, as socket.io-client sends them; they must
	// not set EIO, transport or sid. Errors never contain them.
	Query url.Values
	// Header holds the upgrade request's headers (Authorization…). A
	// missing User-Agent is "vachana-pipe/" + transport.Version.
	Header http.Header
	// Auth, if set, is the CONNECT packet's payload (the auth option of
	// socket.io-client): a JSON object.
	Auth json.RawMessage
	// HTTPClient performs the upgrade; default http.DefaultClient, which
	// verifies TLS certificates. Redirects are never followed.
	HTTPClient *http.Client
	// ReadLimit bounds the size of one message from the server, an
	// attachment included; default 1 MiB. The attachments of one binary
	// event may hold 4 times as much in all.
	ReadLimit int64
	// Hint, if set, gives the caller's advice for an upgrade refused with
	// an HTTP status; see [transport.WebSocketConfig].
	Hint func(status int) string
}

// check fills in cfg's defaults and returns an error naming a field that
// is wrong.
func (cfg Config) check() (Config, error) {
	if cfg.Path == "" {
		cfg.Path = DefaultPath
	}
	if !strings.HasPrefix(cfg.Path, "/") {
		return cfg, fmt.Errorf("socketio: Path %q does not start with a slash", cfg.Path)
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "/"
	}
	if !strings.HasPrefix(cfg.Namespace, "/") || strings.ContainsAny(cfg.Namespace, ",?#") {
		return cfg, fmt.Errorf("socketio: Namespace %q must start with a slash and hold no comma, ? or #", cfg.Namespace)
	}
	for _, k := range []string{"EIO", "transport", "sid"} {
		if cfg.Query.Has(k) {
			return cfg, fmt.Errorf("socketio: Query must not set %s: the client sets it", k)
		}
	}
	if len(cfg.Auth) > 0 && (!json.Valid(cfg.Auth) || strings.TrimSpace(string(cfg.Auth))[0] != '{') {
		return cfg, errors.New("socketio: Auth is not a JSON object")
	}
	return cfg, nil
}

// endpoint returns the URL of the upgrade request.
func (cfg Config) endpoint() (string, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return "", fmt.Errorf("socketio: URL %q is not a ws:// or wss:// URL", transport.Redact(cfg.URL))
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("socketio: URL %q has a path or query: give the base URL, and Path, Namespace and Query apart", transport.Redact(cfg.URL))
	}
	u.Path, u.RawPath = strings.TrimSuffix(cfg.Path, "/")+"/", ""
	u.RawQuery = "EIO=4&transport=websocket"
	if q := cfg.Query.Encode(); q != "" {
		u.RawQuery = q + "&" + u.RawQuery
	}
	return u.String(), nil
}

// ConnectError reports that the server refused to let the client join the
// namespace (a CONNECT_ERROR packet), e.g. when a middleware rejected the
// credentials.
type ConnectError struct {
	Namespace string
	Message   string          // the server's message
	Data      json.RawMessage // the error's data, if the server sent any
}

func (e *ConnectError) Error() string {
	s := fmt.Sprintf("socketio: the server refused namespace %s: %s", e.Namespace, e.Message)
	if len(e.Data) > 0 {
		s += fmt.Sprintf(" (data %.200s)", e.Data)
	}
	return s
}

// Dial opens the WebSocket (with [transport.DialWebSocket]: a refusal with
// an HTTP status is a *[transport.HandshakeError], redirects are not
// followed), reads the Engine.IO OPEN packet, sends the namespace's CONNECT
// and returns once the server accepted it. A CONNECT_ERROR is a
// *[ConnectError]. When ctx ends first, the error says which step was
// awaited. ctx bounds only the opening.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	cfg, err := cfg.check()
	if err != nil {
		return nil, err
	}
	endpoint, err := cfg.endpoint()
	if err != nil {
		return nil, err
	}
	h := cfg.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if h.Get("User-Agent") == "" {
		h.Set("User-Agent", "vachana-pipe/"+transport.Version)
	}
	conn, err := transport.DialWebSocket(ctx, transport.WebSocketConfig{
		URL:        endpoint,
		Header:     h,
		HTTPClient: cfg.HTTPClient,
		ReadLimit:  cfg.ReadLimit,
		Hint:       cfg.Hint,
	})
	if err != nil {
		return nil, err
	}
	limit := cfg.ReadLimit
	if limit <= 0 {
		limit = 1 << 20 // transport.DialWebSocket's default
	}
	c := &Conn{conn: conn, namespace: cfg.Namespace, packets: map[string][]byte{}, maxHeld: pendingLimits * limit}
	stop := context.AfterFunc(ctx, func() { c.conn.CloseNow() })
	err = c.open(cfg.Auth)
	if !stop() {
		c.CloseNow()
		return nil, fmt.Errorf("socketio: connecting to %s: waited for %s: %w", transport.Redact(endpoint), c.step, context.Cause(ctx))
	}
	if err != nil {
		c.CloseNow()
		return nil, err
	}
	return c, nil
}

// open reads the OPEN packet, joins the namespace and waits for the answer.
func (c *Conn) open(auth json.RawMessage) error {
	c.step = "the Engine.IO OPEN packet"
	typ, msg, err := c.conn.Read()
	if err != nil {
		return fmt.Errorf("socketio: the connection ended before the Engine.IO OPEN packet: %w", err)
	}
	if typ != websocket.MessageText || len(msg) == 0 || msg[0] != EngineOpen {
		return fmt.Errorf("socketio: the server's first message is not an Engine.IO OPEN packet: %.120q", msg)
	}
	if c.hs, err = ParseHandshake(msg[1:]); err != nil {
		return err
	}
	c.rearm()

	c.step = "the server to accept namespace " + c.namespace
	pkt := AppendPacket([]byte{EngineMessage}, Packet{Type: PacketConnect, Namespace: c.namespace, Data: auth})
	if err := c.conn.Write(websocket.MessageText, pkt); err != nil {
		return fmt.Errorf("socketio: joining namespace %s: %w", c.namespace, err)
	}
	typ, msg, err = c.readEngine()
	if err != nil {
		return fmt.Errorf("socketio: waiting for the server to accept namespace %s: %w", c.namespace, err)
	}
	var p Packet
	if typ == websocket.MessageText {
		p, err = ParsePacket(msg[1:])
	}
	switch {
	case typ != websocket.MessageText || err != nil || p.Namespace != c.namespace:
	case p.Type == PacketConnect:
		var ok struct {
			SID string `json:"sid"`
		}
		if err := json.Unmarshal(p.Data, &ok); err != nil || ok.SID == "" {
			// socket.io-client's connect_error for a CONNECT without a sid.
			return fmt.Errorf("socketio: the server accepted namespace %s without a sid (%.120q): "+
				"it seems to be a Socket.IO v2 server, which this v3/v4 client cannot talk to", c.namespace, msg)
		}
		c.sid = ok.SID
		return nil
	case p.Type == PacketConnectError:
		return connectError(c.namespace, p.Data)
	}
	return fmt.Errorf("socketio: waiting for the server to accept namespace %s, got %.120q", c.namespace, msg)
}

func connectError(namespace string, data []byte) *ConnectError {
	e := &ConnectError{Namespace: namespace}
	var v struct {
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	switch {
	case json.Unmarshal(data, &e.Message) == nil: // socket.io 2's plain string
	case json.Unmarshal(data, &v) == nil:
		e.Message, e.Data = v.Message, v.Data
	default:
		e.Message = fmt.Sprintf("%.200s", data)
	}
	return e
}

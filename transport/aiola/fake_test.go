package aiola_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/transport/aiola"
	"github.com/vachana-pipe/vachana-pipe/transport/socketio"
)

// makeJWT returns a token whose payload is claims (unsigned: the client
// never verifies).
func makeJWT(claims string) string {
	return "eyJhbGciOiJIUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + ".c2lnbmF0dXJl"
}

// jwtExpiring returns a token that expires d from now.
func jwtExpiring(d time.Duration, n int) string {
	return makeJWT(fmt.Sprintf(`{"sub":"s%d","exp":%d}`, n, time.Now().Add(d).Unix()))
}

// request is one request of the token flow as the fake saw it.
type request struct {
	Method, Path, Authorization, ContentType, UserAgent, Body string
}

// upgrade is one streaming upgrade as the fake saw it.
type upgrade struct {
	Path   string
	Header http.Header
	Query  url.Values
}

// fake plays aiOla on loopback: the token flow on its HTTP paths and a
// Socket.IO endpoint at aiola.Path, whose packets after the namespace's
// CONNECT the test's script handles. Its fields are set before the first
// request; the records are read through its methods.
type fake struct {
	t   *testing.T
	URL string

	// Key is the accepted API key. NextJWT makes the n-th access token
	// (default: one expiring in an hour).
	Key     string
	NextJWT func(n int) string
	// Token and Session, when set, answer the two POSTs instead
	// (status, body).
	Token, Session func(n int) (int, string)
	// Delete answers the DELETE; default 200 {"status":"deleted",…}.
	Delete func() (int, string)
	// Refuse, when it returns a status, refuses the upgrade with that
	// token; 0 accepts. RefuseNamespace, when it returns text, refuses the
	// namespace with it as the CONNECT_ERROR payload.
	Refuse          func(jwt string) int
	RefuseNamespace func(jwt string) string
	// Script runs for each accepted session.
	Script func(p *peer)

	mu       sync.Mutex
	requests []request
	upgrades []upgrade
	tokens   int // temporary tokens given
	jwts     []string
}

// peer is the server side of one Socket.IO session of the fake. Its
// methods report failures with t.Errorf and return false.
type peer struct {
	t   *testing.T
	ws  *websocket.Conn
	ctx context.Context
	JWT string
}

func newFake(t *testing.T) *fake {
	f := &fake{t: t, Key: "key-SECRET-1"}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		closed bool
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if closed {
			mu.Unlock()
			http.Error(w, "closing", http.StatusServiceUnavailable)
			return
		}
		wg.Add(1)
		mu.Unlock()
		defer wg.Done()
		f.serve(w, r)
	}))
	f.URL = srv.URL
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		mu.Lock()
		closed = true
		mu.Unlock()
		wg.Wait()
	})
	return f
}

// dialer returns a Dialer aimed at the fake with cfg's other settings.
func (f *fake) dialer(cfg aiola.Config) *aiola.Dialer {
	f.t.Helper()
	cfg.APIURL, cfg.AuthURL = f.URL, f.URL
	if cfg.APIKey == "" {
		cfg.APIKey = f.Key
	}
	d, err := aiola.NewDialer(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { d.Close(context.Background()) })
	return d
}

func (f *fake) Requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

func (f *fake) Upgrades() []upgrade {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]upgrade(nil), f.upgrades...)
}

// JWTs returns the access tokens given so far.
func (f *fake) JWTs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.jwts...)
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, aiola.Path) {
		f.socket(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	bearer := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	f.requests = append(f.requests, request{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), r.Header.Get("User-Agent"), string(body)})
	f.mu.Unlock()
	answer := func(status int, body string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == aiola.TokenPath:
		f.mu.Lock()
		f.tokens++
		n := f.tokens
		f.mu.Unlock()
		if f.Token != nil {
			answer(f.Token(n))
			return
		}
		if bearer != f.Key {
			answer(401, `{"message":"Invalid API key","code":"UNAUTHORIZED"}`)
			return
		}
		answer(200, fmt.Sprintf(`{"context":{"token":"tmp-SECRET-%d"}}`, n))
	case r.Method == http.MethodPost && r.URL.Path == aiola.SessionPath:
		f.mu.Lock()
		n := len(f.jwts) + 1
		f.mu.Unlock()
		if f.Session != nil {
			if status, body := f.Session(n); status != 0 {
				answer(status, body)
				return
			}
		}
		if !strings.HasPrefix(bearer, "tmp-SECRET-") {
			answer(401, `{"message":"bad token"}`)
			return
		}
		jwt := jwtExpiring(time.Hour, n)
		if f.NextJWT != nil {
			jwt = f.NextJWT(n)
		}
		f.mu.Lock()
		f.jwts = append(f.jwts, jwt)
		f.mu.Unlock()
		answer(200, fmt.Sprintf(`{"jwt":%q,"sessionId":"sess-%d"}`, jwt, n))
	case r.Method == http.MethodDelete && r.URL.Path == aiola.SessionPath:
		if f.Delete != nil {
			answer(f.Delete())
			return
		}
		answer(200, `{"status":"deleted","deletedAt":"2026-12-01T00:00:00Z"}`)
	default:
		answer(404, `{"message":"no such endpoint"}`)
	}
}

// socket accepts the upgrade (unless Refuse says otherwise), plays the
// Engine.IO and namespace handshake and runs Script.
func (f *fake) socket(w http.ResponseWriter, r *http.Request) {
	jwt := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	f.upgrades = append(f.upgrades, upgrade{r.URL.Path, r.Header.Clone(), r.URL.Query()})
	f.mu.Unlock()
	if f.Refuse != nil {
		if status := f.Refuse(jwt); status != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"code":3,"message":"Unauthorized: token %s rejected"}`, jwt)
			return
		}
	}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		f.t.Errorf("accept: %v", err)
		return
	}
	defer ws.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := &peer{t: f.t, ws: ws, ctx: ctx, JWT: jwt}
	if !p.send(`0{"sid":"e1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`) || !p.expect("40/events,") {
		return
	}
	if f.RefuseNamespace != nil {
		if msg := f.RefuseNamespace(jwt); msg != "" {
			p.send("44/events," + msg)
			p.drain()
			return
		}
	}
	if !p.send(`40/events,{"sid":"n1"}`) {
		return
	}
	if f.Script != nil {
		f.Script(p)
	} else {
		p.drain()
	}
}

func (p *peer) send(msg string) bool {
	if err := p.ws.Write(p.ctx, websocket.MessageText, []byte(msg)); err != nil {
		p.t.Errorf("server: writing %q: %v", msg, err)
		return false
	}
	return true
}

// emit sends the event name with payload (JSON) as its one argument.
func (p *peer) emit(name, payload string) bool {
	return p.send(fmt.Sprintf(`42/events,[%q,%s]`, name, payload))
}

// expect reads the next message and checks it is text, want.
func (p *peer) expect(want string) bool {
	typ, msg, err := p.ws.Read(p.ctx)
	if err != nil {
		p.t.Errorf("server: waiting for %q: %v", want, err)
		return false
	}
	if typ != websocket.MessageText || string(msg) != want {
		p.t.Errorf("server: got %v %q, want text %q", typ, msg, want)
		return false
	}
	return true
}

// binaryEvent reads a binary event with one attachment and returns its
// name and the attachment.
func (p *peer) binaryEvent() (string, []byte, bool) {
	typ, msg, err := p.ws.Read(p.ctx)
	if err != nil || typ != websocket.MessageText || len(msg) == 0 || msg[0] != socketio.EngineMessage {
		p.t.Errorf("server: waiting for a binary event: %v %q %v", typ, msg, err)
		return "", nil, false
	}
	pkt, err := socketio.ParsePacket(msg[1:])
	var args []json.RawMessage
	var name string
	if err == nil {
		err = json.Unmarshal(pkt.Data, &args)
	}
	if err == nil && len(args) > 0 {
		err = json.Unmarshal(args[0], &name)
	}
	if err != nil || pkt.Type != socketio.PacketBinaryEvent || pkt.Attachments != 1 || pkt.Namespace != aiola.Namespace ||
		len(args) != 2 || string(args[1]) != `{"_placeholder":true,"num":0}` {
		p.t.Errorf("server: got %q (%v), want a binary event with one attachment in /events", msg, err)
		return "", nil, false
	}
	typ, data, err := p.ws.Read(p.ctx)
	if err != nil || typ != websocket.MessageBinary {
		p.t.Errorf("server: waiting for the attachment of %s: %v %v", name, typ, err)
		return "", nil, false
	}
	return name, data, true
}

// drain reads until the client goes away.
func (p *peer) drain() {
	for {
		if _, _, err := p.ws.Read(p.ctx); err != nil {
			return
		}
	}
}

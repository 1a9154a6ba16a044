package socketio_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/transport/socketio"
)

// peer is the server side of one connection of a fake Engine.IO server. Its
// methods report failures with t.Errorf (they run outside the test's
// goroutine) and return false.
type peer struct {
	t   *testing.T
	ws  *websocket.Conn
	r   *http.Request
	ctx context.Context
}

// fakeServer starts a WebSocket server on loopback that runs script for
// each connection, and returns its ws:// URL. The test waits for every
// script to return before it ends.
func fakeServer(t *testing.T, script func(p *peer)) string {
	t.Helper()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		closed bool // no more scripts start
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if closed {
			mu.Unlock()
			return
		}
		wg.Add(1)
		mu.Unlock()
		defer wg.Done()
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		defer ws.CloseNow()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		script(&peer{t: t, ws: ws, r: r, ctx: ctx})
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		mu.Lock()
		closed = true
		mu.Unlock()
		wg.Wait()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func (p *peer) send(msg string) bool {
	if err := p.ws.Write(p.ctx, websocket.MessageText, []byte(msg)); err != nil {
		p.t.Errorf("server: writing %q: %v", msg, err)
		return false
	}
	return true
}

func (p *peer) sendBinary(b []byte) bool {
	if err := p.ws.Write(p.ctx, websocket.MessageBinary, b); err != nil {
		p.t.Errorf("server: writing %d bytes: %v", len(b), err)
		return false
	}
	return true
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

// open sends the OPEN packet with the ping timing in milliseconds.
func (p *peer) open(interval, timeout int) bool {
	return p.send(fmt.Sprintf(`0{"sid":"e1","upgrades":[],"pingInterval":%d,"pingTimeout":%d,"maxPayload":1000000}`, interval, timeout))
}

// handshake opens with slow pings and accepts the client into /events.
func (p *peer) handshake() bool {
	return p.open(25000, 20000) && p.expect("40/events,") && p.send(`40/events,{"sid":"n1"}`)
}

// drain reads until the client goes away.
func (p *peer) drain() {
	for {
		if _, _, err := p.ws.Read(p.ctx); err != nil {
			return
		}
	}
}

func dial(t *testing.T, url string, mod func(*socketio.Config)) *socketio.Conn {
	t.Helper()
	cfg := socketio.Config{URL: url, Path: "/api/voice-streaming/socket.io", Namespace: "/events"}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := socketio.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

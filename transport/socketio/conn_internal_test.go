package socketio

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/transport"
)

// TestPongAfterSilence: the silence timer fires between reading a ping and
// writing its pong (forced by testHookBeforePong); the failed pong must be
// reported as the server's silence, not as the closed connection.
func TestPongAfterSilence(t *testing.T) {
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		defer ws.CloseNow()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, m := range []string{`0{"sid":"e1","pingInterval":25000,"pingTimeout":20000}`, "", `40/events,{"sid":"n1"}`, "2"} {
			if m == "" {
				if _, _, err := ws.Read(ctx); err != nil {
					t.Errorf("server: %v", err)
					return
				}
				continue
			}
			if err := ws.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
				t.Errorf("server: %v", err)
				return
			}
		}
		for {
			if _, _, err := ws.Read(ctx); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	defer func() { <-done }()

	testHookBeforePong = (*Conn).giveUp
	defer func() { testHookBeforePong = nil }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, Config{URL: "ws" + strings.TrimPrefix(srv.URL, "http"), Namespace: "/events"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	_, err = c.ReadEvent()
	var ce *transport.ClosedError
	if !errors.As(err, &ce) || !errors.Is(err, ErrServerSilent) {
		t.Fatalf("ReadEvent: %v, want a ClosedError wrapping ErrServerSilent", err)
	}
}

func TestCheckPlaceholders(t *testing.T) {
	tests := []struct {
		args string
		n    int
		ok   bool
	}{
		{`[{"_placeholder":true,"num":0}]`, 1, true},
		{`[1,{"x":[{"_placeholder":true,"num":1}]},{"_placeholder":true,"num":0}]`, 2, true},
		{`[{"_placeholder":false,"num":5}]`, 1, true}, // not a placeholder
		{`[{"_placeholder":"true","num":5}]`, 1, true},
		{`[]`, 1, true},
		{`[{"_placeholder":true,"num":1}]`, 1, false},
		{`[{"_placeholder":true,"num":-1}]`, 1, false},
		{`[{"_placeholder":true}]`, 1, false},
		{`[{"_placeholder":true,"num":"0"}]`, 1, false},
		{`[{"_placeholder":true,"num":0.5}]`, 1, false},
		{`[{"_placeholder":true,"num":null}]`, 1, false},
		{`[{"a":{"b":[{"_placeholder":true,"num":99999999999999999999}]}}]`, 1, false},
	}
	for _, tt := range tests {
		if err := checkPlaceholders([]byte(tt.args), tt.n); (err == nil) != tt.ok {
			t.Errorf("checkPlaceholders(%s, %d): %v, want ok %v", tt.args, tt.n, err, tt.ok)
		}
	}
}

// TestNoPongWhileClosing: once Disconnect has begun (closing set), a ping
// is not answered: the next message the server gets is the client's emit.
func TestNoPongWhileClosing(t *testing.T) {
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		defer ws.CloseNow()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, m := range []string{`0{"sid":"e1","pingInterval":25000,"pingTimeout":20000}`, "", `40/events,{"sid":"n1"}`, "2", `42/events,["x"]`} {
			if m == "" {
				if _, _, err := ws.Read(ctx); err != nil {
					t.Errorf("server: %v", err)
					return
				}
				continue
			}
			if err := ws.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
				t.Errorf("server: %v", err)
				return
			}
		}
		if _, msg, err := ws.Read(ctx); err != nil || string(msg) != `42/events,["y"]` {
			t.Errorf("server: got %q, %v; want the emit y and no pong", msg, err)
		}
	}))
	defer srv.Close()
	defer func() { <-done }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, Config{URL: "ws" + strings.TrimPrefix(srv.URL, "http"), Namespace: "/events"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.closing.Store(true) // as Disconnect does first
	if ev, err := c.ReadEvent(); err != nil || ev.Name != "x" {
		t.Fatalf("ReadEvent = %q, %v", ev.Name, err)
	}
	if err := c.Emit("y"); err != nil {
		t.Fatal(err)
	}
}

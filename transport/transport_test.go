package transport_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/internal/leakcheck"
	"github.com/vachana-pipe/vachana-pipe/transport"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func TestNormalClose(t *testing.T) {
	for code, want := range map[int]bool{1000: true, 1001: true, 1005: true, 1006: false, 1011: false, -1: false, 4000: false} {
		if got := transport.NormalClose(code); got != want {
			t.Errorf("NormalClose(%d) = %v, want %v", code, got, want)
		}
		if got := (&transport.ClosedError{Code: code}).Normal(); got != want {
			t.Errorf("ClosedError{%d}.Normal() = %v, want %v", code, got, want)
		}
	}
}

func TestHandshakeErrorFinal(t *testing.T) {
	for status, want := range map[int]bool{401: true, 403: true, 429: false, 500: false, 400: false} {
		if got := (&transport.HandshakeError{StatusCode: status}).Final(); got != want {
			t.Errorf("status %d: Final() = %v, want %v", status, got, want)
		}
	}
}

func TestKindString(t *testing.T) {
	if s := transport.SegmentEnded.String(); s != "segment ended" {
		t.Errorf("SegmentEnded = %q", s)
	}
	if s := transport.Kind(99).String(); s != "Kind(99)" {
		t.Errorf("Kind(99) = %q", s)
	}
}

// TestDialSaysWhatItAwaited: a server that accepts the TCP connection but
// never answers the upgrade fails when ctx ends, saying so.
func TestDialSaysWhatItAwaited(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c // hold it open, answer nothing
		}
		close(accepted)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = transport.DialWebSocket(ctx, transport.WebSocketConfig{URL: "ws://" + ln.Addr().String() + "/x?key=secret"})
	if err == nil || !strings.Contains(err.Error(), "the answer to the upgrade request") || !errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "secret") {
		t.Fatalf("DialWebSocket = %v, want the upgrade named as awaited, no query", err)
	}
	ln.Close()
	for c := range accepted {
		c.Close()
	}
}

func TestDialRefusesOtherSchemes(t *testing.T) {
	for _, u := range []string{"http://host/x", "host:80", "wss://"} {
		if _, err := transport.DialWebSocket(context.Background(), transport.WebSocketConfig{URL: u}); err == nil || !strings.Contains(err.Error(), "not a ws:// or wss:// URL") {
			t.Errorf("%q: %v", u, err)
		}
	}
}

func TestLenient(t *testing.T) {
	for _, tt := range []struct {
		json, text string
		num        float64
	}{
		{`"a b"`, "a b", 0}, {`"1.5"`, "1.5", 1.5}, {`12`, "12", 12}, {`-0.25`, "-0.25", -0.25},
		{`true`, "true", 0}, {`null`, "", 0}, {`{"a": 1}`, `{"a": 1}`, 0}, {`[1]`, "[1]", 0}, {`"NaN"`, "NaN", 0},
	} {
		var v struct{ F transport.Lenient }
		if err := json.Unmarshal([]byte(`{"F":`+tt.json+`}`), &v); err != nil {
			t.Fatalf("%s: %v", tt.json, err)
		}
		if string(v.F) != tt.text || v.F.Float() != tt.num || v.F.Int() != int(tt.num) {
			t.Errorf("%s: text %q, number %v, want %q, %v", tt.json, v.F, v.F.Float(), tt.text, tt.num)
		}
	}
}

// TestWriteContextGivesUp: a write to a peer that stopped reading returns
// when its context ends, as a lost session, and closes the connection.
func TestWriteContextGivesUp(t *testing.T) {
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		<-release // never reads
	}))
	defer ts.Close()
	defer close(release)
	c, err := transport.DialWebSocket(context.Background(), transport.WebSocketConfig{URL: "ws" + strings.TrimPrefix(ts.URL, "http")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	msg := make([]byte, 1<<20)
	start := time.Now()
	for time.Since(start) < 20*time.Second { // the TCP buffers fill within a few messages
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err = c.WriteContext(ctx, websocket.MessageBinary, msg)
		cancel()
		if err != nil {
			break
		}
	}
	var ce *transport.ClosedError
	if !errors.As(err, &ce) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WriteContext = %v, want a ClosedError wrapping the deadline", err)
	}
	if err := c.Write(websocket.MessageBinary, msg[:1]); err == nil {
		t.Fatal("the connection is still open after the write was given up")
	}
}

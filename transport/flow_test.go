//go:build linux

package transport_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/transport"
)

// stalledPeer starts a WebSocket server that reads nothing until release
// is closed, then reads every message, in order, into got (unless nil),
// until the client closes. It returns the client's connection, dialled with
// DialWebSocket. Both ends' TCP buffers are fixed at 64 KiB (which the
// kernel doubles), so that they never grow: what they hold is known
// however the machine's tcp_wmem and tcp_rmem are set.
func stalledPeer(t *testing.T, release <-chan struct{}, got chan<- []byte) *transport.Conn {
	t.Helper()
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(-1)
		<-release
		for {
			_, msg, err := c.Read(context.Background())
			if err != nil {
				if got != nil {
					close(got)
				}
				return
			}
			if got != nil {
				got <- msg
			}
		}
	}))
	lc := net.ListenConfig{Control: smallBuffer(syscall.SO_RCVBUF)} // accepted sockets inherit it
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	t.Cleanup(ts.Close)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Control: smallBuffer(syscall.SO_SNDBUF)}).DialContext
	c, err := transport.DialWebSocket(context.Background(), transport.WebSocketConfig{
		URL:        "ws" + strings.TrimPrefix(ts.URL, "http"),
		HTTPClient: &http.Client{Transport: tr},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// smallBuffer returns a socket control function that sets the socket's
// buffer opt (SO_SNDBUF or SO_RCVBUF) to 64 KiB.
func smallBuffer(opt int) func(_, _ string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, 64<<10)
		}); err != nil {
			return err
		}
		return serr
	}
}

// within runs f and fails the test if it has not returned after limit:
// for calls that must not wait for the network.
func within(t *testing.T, limit time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("%s still blocked after %v", what, limit)
	}
}

// TestNoWaitNeverBlocks: in the no-wait mode, writes to a peer that reads
// nothing return at once, far past what the TCP buffers hold, and say they
// left a backlog; leaving the mode sends it all, in order, once the peer
// reads.
func TestNoWaitNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	got := make(chan []byte, 100)
	c := stalledPeer(t, release, got)
	defer c.CloseNow()
	if ok, err := c.SetNoWait(true); !ok || err != nil {
		t.Fatalf("SetNoWait(true) = %v, %v; want true, nil for a connection DialWebSocket opened", ok, err)
	}
	const n = 40 // 40 MiB: more than loopback's buffers hold
	msg := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 1<<20) }
	within(t, 20*time.Second, "writes in the no-wait mode", func() {
		for i := range n {
			if err := c.Write(websocket.MessageBinary, msg(i)); err != nil {
				t.Errorf("write %d: %v", i, err)
				return
			}
		}
	})
	if !c.Backlog() {
		t.Fatal("Backlog() = false after 40 MiB to a peer that reads nothing")
	}
	close(release)
	if ok, err := c.SetNoWait(false); !ok || err != nil {
		t.Fatalf("SetNoWait(false) = %v, %v", ok, err)
	}
	if c.Backlog() {
		t.Fatal("Backlog() = true after leaving the mode")
	}
	for i := range n {
		m := <-got
		if !bytes.Equal(m, msg(i)) {
			t.Fatalf("message %d differs: %d bytes, first %d", i, len(m), m[0])
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestNoWaitLeaveReleasedByCloseNow: leaving the mode waits for the network
// to take the backlog; CloseNow releases it with a lost session.
func TestNoWaitLeaveReleasedByCloseNow(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	c := stalledPeer(t, release, nil)
	c.SetNoWait(true)
	for !c.Backlog() {
		if err := c.Write(websocket.MessageBinary, make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
	}
	left := make(chan error, 1)
	go func() {
		_, err := c.SetNoWait(false)
		left <- err
	}()
	select {
	case err := <-left:
		t.Fatalf("SetNoWait(false) = %v before the peer read anything", err)
	case <-time.After(100 * time.Millisecond):
	}
	c.CloseNow()
	select {
	case err := <-left:
		var ce *transport.ClosedError
		if !errors.As(err, &ce) {
			t.Fatalf("SetNoWait(false) after CloseNow = %v, want a *ClosedError", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SetNoWait(false) still blocked 10 s after CloseNow")
	}
}

// TestNoWaitNeedsOwnConnection: a Conn made over a connection
// DialWebSocket did not open, or one dialled through a round tripper that
// is no *http.Transport, cannot write without waiting, and says so.
func TestNoWaitNeedsOwnConnection(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.Read(context.Background())
	}))
	defer ts.Close()
	url := "ws" + strings.TrimPrefix(ts.URL, "http")
	ws, _, err := websocket.Dial(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := transport.NewConn(ws)
	defer c.CloseNow()
	if ok, err := c.SetNoWait(true); ok || err != nil {
		t.Fatalf("NewConn's SetNoWait(true) = %v, %v; want false, nil", ok, err)
	}
	other := &http.Client{Transport: roundTripper{http.DefaultTransport}}
	c2, err := transport.DialWebSocket(context.Background(), transport.WebSocketConfig{URL: url, HTTPClient: other})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.CloseNow()
	if ok, _ := c2.SetNoWait(true); ok {
		t.Fatal("SetNoWait(true) = true through a round tripper DialWebSocket cannot see under")
	}
	if err := c2.Write(websocket.MessageBinary, []byte("x")); err != nil {
		t.Fatal(fmt.Errorf("writing through it: %w", err))
	}
}

type roundTripper struct{ http.RoundTripper }

// TestOwnFramesReadByLibrary: the messages Write frames itself, of every
// length encoding and both types, reach a coder/websocket server intact and
// in order, between the library's own frames (pings, answered by the
// server while it reads), and the larger ones the library frames; over
// TCP and over TLS, in and out of the no-wait mode.
func TestOwnFramesReadByLibrary(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tls), func(t *testing.T) { testOwnFrames(t, tls) })
	}
}

func testOwnFrames(t *testing.T, tls bool) {
	type message struct {
		typ websocket.MessageType
		p   []byte
	}
	got := make(chan message, 100)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(-1)
		defer close(got)
		for {
			typ, p, err := c.Read(context.Background())
			if err != nil {
				return
			}
			got <- message{typ, p}
		}
	})
	ts := httptest.NewUnstartedServer(handler)
	if tls {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	defer ts.Close()
	c, err := transport.DialWebSocket(context.Background(), transport.WebSocketConfig{URL: "ws" + strings.TrimPrefix(ts.URL, "http"), HTTPClient: ts.Client()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	go func() {
		for {
			if _, _, err := c.Read(); err != nil {
				return // (pongs are read here)
			}
		}
	}()
	sizes := []int{0, 1, 7, 8, 9, 125, 126, 127, 1024, 1031, transport.MaxOwnFrame, transport.MaxOwnFrame + 1, 1 << 20}
	msg := func(i, n int) message {
		p := make([]byte, n)
		for j := range p {
			p[j] = byte(i*31 + j*7)
		}
		return message{websocket.MessageType(1 + i%2), p}
	}
	for i, n := range sizes {
		if i == len(sizes)/2 {
			if ok, err := c.SetNoWait(true); !ok || err != nil {
				t.Fatalf("SetNoWait(true) = %v, %v", ok, err)
			}
		}
		m := msg(i, n)
		if err := c.Write(m.typ, m.p); err != nil {
			t.Fatalf("writing %d bytes: %v", n, err)
		}
		if c.Backlog() {
			continue // (a ping would wait behind it until the mode ends)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := c.Ping(ctx)
		cancel()
		if err != nil {
			t.Fatalf("ping after %d bytes: %v", n, err)
		}
	}
	if ok, err := c.SetNoWait(false); !ok || err != nil {
		t.Fatalf("SetNoWait(false) = %v, %v", ok, err)
	}
	for i, n := range sizes {
		m, want := <-got, msg(i, n)
		if m.typ != want.typ || !bytes.Equal(m.p, want.p) {
			t.Fatalf("message %d (%d bytes, %v) came as %d bytes, %v", i, n, want.typ, len(m.p), m.typ)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Write(websocket.MessageBinary, []byte("late")); err == nil {
		t.Fatal("a write after Close succeeded")
	}
}

package socketio_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/internal/testutil"
	"github.com/vachana-pipe/vachana-pipe/transport/socketio"
)

// serveSink is the body of the "sink" child: an Engine.IO server on
// loopback that accepts any namespace, never pings (its pingInterval is ten
// minutes) and reads everything the client sends, until its standard input
// closes.
func serveSink() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := context.Background()
		if ws.Write(ctx, websocket.MessageText, []byte(`0{"sid":"sink","upgrades":[],"pingInterval":600000,"pingTimeout":600000,"maxPayload":1000000}`)) != nil {
			return
		}
		_, msg, err := ws.Read(ctx)
		if err != nil || !bytes.HasPrefix(msg, []byte("40")) {
			fmt.Fprintf(os.Stderr, "sink: got %q, %v instead of a CONNECT\n", msg, err)
			return
		}
		ns, _, _ := strings.Cut(string(msg[2:]), ",")
		if ns != "" {
			ns += ","
		}
		if ws.Write(ctx, websocket.MessageText, []byte(`40`+ns+`{"sid":"s"}`)) != nil {
			return
		}
		ws.SetReadLimit(-1)
		for {
			if _, _, err := ws.Read(ctx); err != nil {
				return
			}
		}
	}))
	testutil.ServeUntilStdinCloses("ws" + strings.TrimPrefix(srv.URL, "http"))
	srv.Close()
	os.Exit(0)
}

// childConn connects to the sink in a child process (see TestMain), both
// closed when the test ends.
func childConn(tb testing.TB) *socketio.Conn {
	tb.Helper()
	url := testutil.Peer(tb, "sink")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := socketio.Dial(ctx, socketio.Config{URL: url, Path: "/api/voice-streaming/socket.io", Namespace: "/events"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.CloseNow() })
	return c
}

// TestEmitBinaryDoesNotAllocate counts EmitBinary's allocations alone:
// testing.AllocsPerRun counts the whole process's, so the server runs in a
// child process, and a Conn has no goroutine of its own (nobody reads
// during the count, the sink sends nothing unasked, and its ping timer is
// ten minutes away).
func TestEmitBinaryDoesNotAllocate(t *testing.T) {
	c := childConn(t)
	chunk := make([]byte, 4096)
	if err := c.EmitBinary("binary_data", chunk); err != nil { // caches the packet
		t.Fatal(err)
	}
	testutil.NoAllocs(t, "EmitBinary", func() {
		if err := c.EmitBinary("binary_data", chunk); err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkEmitBinary measures one 4096-byte binary_data event (two
// messages) sent to a server in a child process: the client's CPU and
// allocations per event.
func BenchmarkEmitBinary(b *testing.B) {
	c := childConn(b)
	chunk := make([]byte, 4096)
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		if err := c.EmitBinary("binary_data", chunk); err != nil {
			b.Fatal(err)
		}
	}
}

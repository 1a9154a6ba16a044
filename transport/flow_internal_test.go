//go:build linux

package transport

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// TestFlowReadIsTCPRead: flowConn's Read, which reads past the runtime's
// announcement of system calls, gives what the TCP connection's Read gives
// (the bytes, io.EOF, the errors of a deadline and of a closed connection,
// as *net.OpError "read") and allocates nothing.
func TestFlowReadIsTCPRead(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer peer.Close()
	f := newFlowConn(c.(*net.TCPConn))
	if f == nil {
		t.Fatal("newFlowConn = nil on Linux")
	}
	defer f.Close()

	msg := []byte("sixteen bytes!!!")
	buf := make([]byte, len(msg))
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := peer.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(f, buf); err != nil {
			t.Fatal(err)
		}
	})
	if string(buf) != string(msg) {
		t.Fatalf("read %q, want %q", buf, msg)
	}
	if allocs != 0 {
		t.Errorf("a Read allocates %v times, want 0", allocs)
	}

	// A deadline: the poller's error, a timeout.
	f.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	_, err = f.Read(buf)
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" || !errors.Is(err, os.ErrDeadlineExceeded) || !oe.Timeout() {
		t.Fatalf("Read past the deadline = %v, want a *net.OpError read timeout", err)
	}
	f.SetReadDeadline(time.Time{})

	// The peer's end: what was sent, then io.EOF.
	peer.Write(msg[:3])
	peer.Close()
	if n, err := io.ReadFull(f, buf[:3]); n != 3 || err != nil {
		t.Fatalf("Read before the end = %d, %v", n, err)
	}
	if n, err := f.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("Read at the end = %d, %v, want 0, io.EOF", n, err)
	}

	// Our end, closed.
	f.Close()
	_, err = f.Read(buf)
	if !errors.As(err, &oe) || oe.Op != "read" || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close = %v, want a *net.OpError read wrapping net.ErrClosed", err)
	}
}

package transport

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// flowConn is the TCP connection under a WebSocket that [DialWebSocket]
// opened, with a mode in which no write waits for the network: a sender
// serving many sessions from one goroutine (the pipeline's) must not be
// held up by one of them.
//
// Outside that mode (the default) it is the TCP connection as it is. In
// it, a write puts what the socket takes at once into the socket, with one
// write(2) outside the runtime's poller, and keeps the rest, in order, in
// a backlog; once there is a backlog, the writes after it join it, and
// leaving the mode sends it all, waiting for the network. Every writer of
// the connection is in the mode alike (TLS, the WebSocket's pongs, pings
// and close frames too), so no lock over its writes is held by a waiting
// write while the mode lasts.
//
// It has only net.Conn's methods, so that nothing writes to the TCP
// connection past it (no ReadFrom, no writev).
type flowConn struct {
	tcp *net.TCPConn
	rc  syscall.RawConn

	mu      sync.Mutex
	noWait  bool
	backlog []byte
	held    atomic.Bool // the backlog holds something: read without the lock

	// The write in progress, for write, a method value made once so that
	// a write does not allocate a closure.
	p     []byte
	n     int
	err   error
	write func(fd uintptr) bool

	// The read in progress, for read, likewise; rmu orders reads, which
	// net.Conn allows at once.
	rmu  sync.Mutex
	rp   []byte
	rn   int
	rerr syscall.Errno
	read func(fd uintptr) bool
}

// newFlowConn wraps c, or returns nil if its descriptor cannot be reached
// or the system has no sysRead and sysWrite (flowSupported).
func newFlowConn(c *net.TCPConn) *flowConn {
	if !flowSupported {
		return nil
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	f := &flowConn{tcp: c, rc: rc}
	f.write, f.read = f.writeSome, f.readSome
	return f
}

func (f *flowConn) Close() error                       { return f.tcp.Close() }
func (f *flowConn) LocalAddr() net.Addr                { return f.tcp.LocalAddr() }
func (f *flowConn) RemoteAddr() net.Addr               { return f.tcp.RemoteAddr() }
func (f *flowConn) SetDeadline(t time.Time) error      { return f.tcp.SetDeadline(t) }
func (f *flowConn) SetReadDeadline(t time.Time) error  { return f.tcp.SetReadDeadline(t) }
func (f *flowConn) SetWriteDeadline(t time.Time) error { return f.tcp.SetWriteDeadline(t) }

// Read reads into p as the TCP connection's Read does, waiting in the
// runtime's poller, with sysRead. It does not allocate.
func (f *flowConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return f.tcp.Read(p)
	}
	f.rmu.Lock()
	defer f.rmu.Unlock()
	f.rp, f.rn, f.rerr = p, 0, 0
	err := f.rc.Read(f.read)
	n, errno := f.rn, f.rerr
	f.rp = nil
	switch {
	case err != nil:
		// Closed, or past the read deadline: the poller's error, as the
		// TCP connection's Read gives it.
		var oe *net.OpError
		if errors.As(err, &oe) {
			err = oe.Err
		}
		return 0, f.readError(err)
	case errno != 0:
		return 0, f.readError(os.NewSyscallError("read", errno))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// readSome is Read's work, on the socket's descriptor: false, for the
// poller to wait, while there is nothing to read.
func (f *flowConn) readSome(fd uintptr) bool {
	for {
		n, e := sysRead(fd, f.rp)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		case 0:
			f.rn = n
		default:
			f.rerr = e
		}
		return true
	}
}

func (f *flowConn) readError(err error) error {
	return &net.OpError{Op: "read", Net: "tcp", Source: f.LocalAddr(), Addr: f.RemoteAddr(), Err: err}
}

// Write writes p: at once, or outside the no-wait mode waiting for the
// network; in it, keeping what the socket does not take in the backlog.
func (f *flowConn) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.noWait {
		if err := f.flushLocked(); err != nil {
			return 0, err
		}
		return f.tcp.Write(p)
	}
	if len(f.backlog) > 0 {
		f.backlog = append(f.backlog, p...)
		return len(p), nil
	}
	n, err := f.tryWrite(p)
	if err != nil {
		return n, err
	}
	if n < len(p) {
		f.backlog = append(f.backlog, p[n:]...)
		f.held.Store(true)
	}
	return len(p), nil
}

// tryWrite writes as much of p as the socket takes now, without waiting.
func (f *flowConn) tryWrite(p []byte) (int, error) {
	f.p, f.n, f.err = p, 0, nil
	if err := f.rc.Write(f.write); err != nil {
		return 0, err // closed
	}
	n, err := f.n, f.err
	f.p, f.err = nil, nil
	return n, err
}

// writeSome is tryWrite's work, on the socket's descriptor.
func (f *flowConn) writeSome(fd uintptr) bool {
	for f.n < len(f.p) {
		n, e := sysWrite(fd, f.p[f.n:])
		if n > 0 {
			f.n += n
		}
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			return true // the rest waits in the backlog
		case e != 0:
			f.err = &net.OpError{Op: "write", Net: "tcp", Source: f.LocalAddr(), Addr: f.RemoteAddr(), Err: os.NewSyscallError("write", e)}
			return true
		case n == 0:
			f.err = errors.New("write returned 0 bytes")
			return true
		}
	}
	return true
}

// flushLocked writes the backlog, waiting for the network. f.mu is held.
func (f *flowConn) flushLocked() error {
	if len(f.backlog) == 0 {
		return nil
	}
	_, err := f.tcp.Write(f.backlog)
	f.held.Store(false)
	if cap(f.backlog) > maxBacklogKept {
		f.backlog = nil
	} else {
		f.backlog = f.backlog[:0]
	}
	return err
}

// maxBacklogKept is the largest backlog buffer kept for the next one.
const maxBacklogKept = 64 << 10

// setNoWait enters or leaves the no-wait mode; leaving it writes the
// backlog, waiting for the network.
func (f *flowConn) setNoWait(on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.noWait = on
	if !on {
		return f.flushLocked()
	}
	return nil
}

// backlogged reports whether the backlog holds anything.
func (f *flowConn) backlogged() bool { return f.held.Load() }

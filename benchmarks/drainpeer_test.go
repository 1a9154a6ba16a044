//go:build linux

package benchmarks

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/internal/testutil"
	"github.com/vachana-pipe/vachana-pipe/pipeline"
	"github.com/vachana-pipe/vachana-pipe/transport/vachana"
)

// drainPeerRole makes the test binary the drain-only peer of BenchmarkScale
// instead of running tests (testutil.StartChild); see serveDrain.
const drainPeerRole = "scale-drain"

// drainPoll is how long the drain peer's reader sleeps between two looks
// at its sockets. It does not limit the precision of arrival times, which
// the kernel stamps (SO_TIMESTAMPNS).
const drainPoll = time.Millisecond

// drainWait bounds the wait, once the session count is known, for that many
// sessions to end.
const drainWait = time.Minute

// serveDrain is the drain-only peer: the cheapest WebSocket server the
// Vachana client accepts. It speaks serveScale's protocol on its standard
// input and output: it prints its URL, takes "go" when the streams start
// (its CPU is counted from then) and then the number of sessions to wait
// for, and prints a scaleResult as JSON.
//
// Each connection is upgraded and greeted with Vachana's connected event
// by ordinary Go code; then its socket leaves Go's poller for one reader
// loop on a locked OS thread (drainPeer.run), which discards audio,
// timestamps it, and answers pings and close frames. The loop never
// sleeps in epoll_wait: a blocked waiter would be woken, at the client's
// expense, by every frame the client writes. It sleeps drainPoll at a
// time and then collects what arrived with a non-blocking epoll_wait.
func serveDrain() int {
	if err := raiseFileLimit(20000); err != nil {
		fmt.Fprintln(os.Stderr, "drain peer:", err)
	}
	p, err := newDrainPeer()
	if err != nil {
		fmt.Fprintln(os.Stderr, "drain peer:", err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		p.closeAll()
		fmt.Fprintln(os.Stderr, "drain peer:", err)
		return 1
	}
	// On return: stop accepting, release the upgrades waiting for the
	// loop, stop the loop if it still runs (closing want), and join them.
	var wg sync.WaitGroup
	defer wg.Wait()
	want := make(chan int, 1)
	defer close(want)
	quit := make(chan struct{})
	defer close(quit)
	defer ln.Close()
	wg.Go(func() { acceptDrain(ln, p.adopt, quit) })
	done := make(chan scaleResult, 1)
	wg.Go(func() { p.run(want, done) })
	fmt.Printf("ws://%s/\n", ln.Addr())

	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() {
		fmt.Fprintln(os.Stderr, "drain peer: standard input ended before \"go\"")
		return 1
	}
	cpu0 := cpuTime()
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	if !in.Scan() {
		fmt.Fprintln(os.Stderr, "drain peer: standard input ended before the session count")
		return 1
	}
	n, err := strconv.Atoi(strings.TrimSpace(in.Text()))
	if err != nil || n < 0 {
		fmt.Fprintf(os.Stderr, "drain peer: want a session count, got %q\n", in.Text())
		return 1
	}
	want <- n
	res := <-done
	res.CPU = cpuTime() - cpu0
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(os.Stderr, "drain peer: %d of %d reads held more than one message; %d allocations after \"go\"\n",
		p.multi, p.reads, ms.Mallocs-ms0.Mallocs)
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return 1
	}
	return 0
}

// acceptDrain accepts connections on ln until it is closed, upgrades each
// in a goroutine of its own and hands it to adopt, until quit is closed.
func acceptDrain(ln net.Listener, adopt chan<- *drainConn, quit <-chan struct{}) {
	var upgrades sync.WaitGroup
	defer upgrades.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		upgrades.Go(func() {
			dc, err := upgradeDrain(c.(*net.TCPConn))
			if err != nil {
				fmt.Fprintln(os.Stderr, "drain peer: upgrade:", err)
				return
			}
			select {
			case adopt <- dc:
			case <-quit:
				unix.Close(dc.fd)
			}
		})
	}
}

// wsGUID is the key suffix of RFC 6455, section 1.3.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// upgradeDrain reads c's upgrade request, accepts it (any path, no
// extension, no subprotocol), sends the connected event, and returns the
// connection as a duplicate of its socket outside Go's poller, non-blocking
// and with kernel receive timestamps on. c is closed in every case.
func upgradeDrain(c *net.TCPConn) (*drainConn, error) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, fmt.Errorf("reading the request: %w", err)
	}
	key := req.Header.Get("Sec-WebSocket-Key")
	if !headerHas(req.Header, "Connection", "upgrade") || !headerHas(req.Header, "Upgrade", "websocket") ||
		req.Header.Get("Sec-WebSocket-Version") != "13" || key == "" {
		io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		return nil, fmt.Errorf("%s %s is no WebSocket version 13 upgrade request", req.Method, req.URL)
	}
	rate := frame.Rate16k
	if s := req.Header.Get("x-sample-rate"); s != "" {
		r, err := strconv.Atoi(s)
		if err == nil {
			err = vachana.CheckRate(frame.Rate(r))
		}
		if err != nil {
			io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			return nil, fmt.Errorf("x-sample-rate %q: %v", s, err)
		}
		rate = frame.Rate(r)
	}
	greeting, err := json.Marshal(drainGreeting{
		Type:      "connected",
		Message:   "Connected to the Vachana v3 drain peer; it recognises no words",
		Timestamp: time.Now().UTC().Format(time.RFC3339Nano),
		Config:    drainGreetingConfig{SampleRate: int(rate), ChunkSize: frame.Samples},
		RequestID: req.Header.Get("x-api-request-id"),
	})
	if err != nil {
		return nil, err
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	out := []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n")
	out = appendServerFrame(out, opText, greeting)
	if _, err := c.Write(out); err != nil {
		return nil, fmt.Errorf("answering the upgrade: %w", err)
	}
	fd, err := detach(c)
	if err != nil {
		return nil, err
	}
	dc := &drainConn{fd: fd, rate: rate}
	if n := br.Buffered(); n > 0 { // frames sent right behind the request
		dc.early = make([]byte, n)
		br.Read(dc.early)
	}
	return dc, nil
}

// drainGreeting is the connected event, field for field as the reference
// server sends it (transport/refserver/vachana.go).
type drainGreeting struct {
	Type      string              `json:"type"`
	Message   string              `json:"message"`
	Timestamp string              `json:"timestamp"`
	Config    drainGreetingConfig `json:"config"`
	RequestID string              `json:"request_id"`
}

type drainGreetingConfig struct {
	SampleRate int `json:"sample_rate"`
	ChunkSize  int `json:"chunk_size"` // samples per frame
}

// headerHas reports whether header name of h lists token, as a
// comma-separated, case-insensitive list.
func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), token) {
				return true
			}
		}
	}
	return false
}

// detach returns a duplicate of c's socket that Go's poller does not
// watch, non-blocking, with SO_TIMESTAMPNS on. The caller closes c, which
// takes the original out of the poller and leaves the socket open.
func detach(c *net.TCPConn) (int, error) {
	fd, err := duplicate(c)
	if err != nil {
		return -1, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("turning on receive timestamps (SO_TIMESTAMPNS): %w", err)
	}
	return fd, nil
}

// duplicate returns a duplicate of c's socket, non-blocking, that Go's
// poller does not watch: reads and writes on it are plain system calls.
func duplicate(c *net.TCPConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, fmt.Errorf("duplicating the socket: %w", derr)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("making the socket non-blocking: %w", err)
	}
	return fd, nil
}

// drainConn is one session of the drain peer, owned by its reader loop.
// Besides its cadence recorder (7 KiB, lent by the loop while the session
// lasts) it holds a few hundred bytes.
type drainConn struct {
	fd    int
	rate  frame.Rate
	early []byte // bytes read with the upgrade request; fed first, then nil
	ws    wsReader
	rec   *frame.CadenceRecorder
	// frames counts binary messages, violations those that are not one
	// frame.Size.
	frames, violations int
}

// drainPeer is the reader loop of the drain peer and everything it owns:
// the epoll instance, the sessions by file descriptor, and the tally of
// those that ended. Only adopt is shared with other goroutines.
type drainPeer struct {
	adopt chan *drainConn // upgraded connections, for the loop

	epfd  int
	conns []*drainConn // by file descriptor
	free  []*frame.CadenceRecorder
	all   *frame.CadenceRecorder // the merged cadence of the sessions that ended
	res   scaleResult
	// reads counts the reads that held at least one message, multi those
	// that held more than one, which share one timestamp. serveDrain reads
	// them once run has returned.
	reads, multi int
	logged       int // session errors written to standard error

	events [256]unix.EpollEvent
	msg    unix.Msghdr // recvmsg's arguments, for recv
	iov    unix.Iovec
	buf    [16 << 10]byte
	oob    [64]byte // room for one SCM_TIMESTAMPNS control message
	out    [2 + 125]byte
}

func newDrainPeer() (*drainPeer, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	return &drainPeer{adopt: make(chan *drainConn, 1024), epfd: epfd, all: frame.NewCadenceRecorder(frame.Rate16k)}, nil
}

// run is the reader loop, on a locked OS thread. Once it has received the
// session count from want, it sends the result on done as soon as that
// many sessions have ended, or drainWait after, and returns, closing
// every socket it still has. It also returns when want is closed before
// it gave a count.
func (p *drainPeer) run(want <-chan int, done chan<- scaleResult) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer p.closeAll()
	nap := unix.NsecToTimespec(int64(drainPoll))
	n, deadline := -1, time.Time{}
	for {
		p.adoptNew()
		busy := p.poll()
		if n < 0 {
			select {
			case k, ok := <-want:
				if !ok {
					return
				}
				n, deadline = k, time.Now().Add(drainWait)
			default:
			}
		}
		if n >= 0 && p.res.Sessions >= n {
			done <- p.result()
			return
		}
		if n >= 0 && time.Now().After(deadline) {
			res := p.result()
			res.Err = fmt.Sprintf("waiting for %d sessions to end: %d ended within %v", n, res.Sessions, drainWait)
			done <- res
			return
		}
		if !busy {
			sleepThread(&nap)
		}
	}
}

// sleepThread sleeps for ts on the calling thread, which keeps its P: a raw
// nanosleep, without the scheduler's bookkeeping for a system call, which
// here (Linux 6.18 in a VM) costs as much CPU as the wake-up itself (about
// 40 µs). A signal may cut the sleep short.
func sleepThread(ts *unix.Timespec) {
	unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(ts)), 0, 0)
}

// adoptNew registers the connections upgraded since the last look.
func (p *drainPeer) adoptNew() {
	for {
		select {
		case c := <-p.adopt:
			p.add(c)
		default:
			return
		}
	}
}

// add takes c into the loop: it lends c a cadence recorder, feeds it what
// came with its upgrade request, and watches its socket.
func (p *drainPeer) add(c *drainConn) {
	if n := len(p.free); n > 0 {
		c.rec = p.free[n-1]
		p.free = p.free[:n-1]
		c.rec.Reset(c.rate)
	} else {
		c.rec = frame.NewCadenceRecorder(c.rate)
	}
	for c.fd >= len(p.conns) {
		p.conns = append(p.conns, nil)
	}
	p.conns[c.fd] = c
	if len(c.early) > 0 {
		closed, err := p.feed(c, c.early, time.Now())
		c.early = nil
		if closed || err != nil {
			p.end(c, err)
			return
		}
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(c.fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		p.end(c, fmt.Errorf("epoll_ctl ADD: %w", err))
	}
}

// poll reads every socket with something to read, once, and reports
// whether the event list was full, so that more may be waiting.
func (p *drainPeer) poll() bool {
	n, err := unix.EpollWait(p.epfd, p.events[:], 0)
	if err != nil { // EINTR: look again next time
		return false
	}
	for _, ev := range p.events[:n] {
		c := p.conns[ev.Fd]
		if c == nil {
			continue
		}
		if ended, err := p.drain(c); ended {
			p.end(c, err)
		}
	}
	return n == len(p.events)
}

// drain reads what c's socket holds and reports whether the session ended,
// and with which error (nil after a close frame). It stops at a short
// read: level-triggered epoll reports the rest, which saves a recvmsg that
// would only say EAGAIN.
func (p *drainPeer) drain(c *drainConn) (ended bool, err error) {
	for {
		n, oobn, errno := p.recv(c.fd)
		switch {
		case errno == unix.EINTR:
			continue
		case errno == unix.EAGAIN:
			return false, nil
		case errno != 0:
			return true, fmt.Errorf("reading: %w", errno)
		case n == 0:
			return true, errors.New("the client closed the connection without a close frame")
		}
		at, ok := recvTime(p.oob[:oobn])
		if !ok {
			at = time.Now()
		}
		if closed, err := p.feed(c, p.buf[:n], at); closed || err != nil {
			return true, err
		}
		if n < len(p.buf) {
			return false, nil
		}
	}
}

// recv reads from fd into p.buf, and the control messages into p.oob, with
// one recvmsg, and returns the lengths of both. Unlike unix.Recvmsg, whose
// arguments escape, it allocates nothing.
func (p *drainPeer) recv(fd int) (n, oobn int, errno unix.Errno) {
	p.iov.Base = &p.buf[0]
	p.iov.SetLen(len(p.buf))
	p.msg.Iov = &p.iov
	p.msg.SetIovlen(1)
	p.msg.Control = &p.oob[0]
	p.msg.SetControllen(len(p.oob))
	// Unannounced to the runtime (the socket is non-blocking), so that its
	// monitor thread is not woken to poll every 20 µs.
	r, _, errno := unix.RawSyscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&p.msg)), 0)
	if errno != 0 {
		return 0, 0, errno
	}
	return int(r), int(p.msg.Controllen), 0
}

// recvTime returns the kernel's receive timestamp in oob, the control
// messages of a recvmsg on a socket with SO_TIMESTAMPNS: for TCP, the time
// (CLOCK_REALTIME) the last segment the read returned arrived. On Linux
// 6.18, TCP over loopback, every recvmsg that returns data carries one,
// within tens of µs of the write that sent it. When there is none, the
// caller falls back to the time of the read. recvTime allocates nothing,
// unlike unix.ParseSocketControlMessage.
func recvTime(oob []byte) (time.Time, bool) {
	const hdr = int(unsafe.Sizeof(unix.Cmsghdr{}))
	for len(oob) >= hdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		if int(h.Len) < hdr || int(h.Len) > len(oob) {
			return time.Time{}, false
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && int(h.Len) >= hdr+int(unsafe.Sizeof(unix.Timespec{})) {
			ts := (*unix.Timespec)(unsafe.Pointer(&oob[hdr]))
			return time.Unix(ts.Unix()), true
		}
		oob = oob[min(unix.CmsgSpace(int(h.Len)-hdr), len(oob)):]
	}
	return time.Time{}, false
}

// feed parses b, read from c at time at, counts and timestamps the binary
// messages it completes, and answers pings and a close frame. It reports
// whether the client closed the session, or a protocol error.
func (p *drainPeer) feed(c *drainConn, b []byte, at time.Time) (closed bool, err error) {
	msgs := 0
	defer func() {
		if msgs > 0 {
			p.reads++
		}
		if msgs > 1 {
			p.multi++
		}
	}()
	for len(b) > 0 {
		n, ev, err := c.ws.next(b)
		b = b[n:]
		if err != nil {
			return false, err
		}
		switch ev {
		case wsBinary:
			msgs++
			c.frames++
			if c.ws.msgLen != frame.Size {
				c.violations++
			}
			c.rec.Add(at)
		case wsPing:
			if err := p.send(c.fd, opPong, c.ws.control()); err != nil {
				return false, err
			}
		case wsClose:
			code := c.ws.control()
			if len(code) > 2 {
				code = code[:2] // the status, without the reason
			}
			return true, p.send(c.fd, opClose, code)
		}
	}
	return false, nil
}

// send writes one unmasked control frame with payload (≤ 125 bytes) to fd.
// The socket's buffer is all but empty, since the peer writes only these
// frames; when it is full all the same, send retries for 100 ms.
func (p *drainPeer) send(fd int, op byte, payload []byte) error {
	b := appendServerFrame(p.out[:0], op, payload)
	for tries := 0; len(b) > 0; {
		n, err := unix.Write(fd, b)
		switch {
		case err == unix.EAGAIN || err == unix.EINTR:
			if tries++; tries > 1000 {
				return fmt.Errorf("writing a %s frame: the socket stayed full for 100 ms", opName(op))
			}
			unix.Nanosleep(&unix.Timespec{Nsec: 100_000}, nil)
		case err != nil:
			return fmt.Errorf("writing a %s frame: %w", opName(op), err)
		default:
			b = b[n:]
		}
	}
	return nil
}

// end closes c's socket and adds its session to the tally: err is nil
// for a session ended by a close frame.
func (p *drainPeer) end(c *drainConn, err error) {
	unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	unix.Close(c.fd)
	p.conns[c.fd] = nil
	p.res.Sessions++
	p.res.Frames += c.frames
	p.res.SizeViolations += c.violations
	if err != nil {
		p.res.Errors++
		if p.logged++; p.logged <= 10 {
			fmt.Fprintf(os.Stderr, "drain peer: a session ended after %d frames: %v\n", c.frames, err)
		}
	}
	if c.rec.Cadence().Drift > c.rate.FrameDuration() {
		p.res.Behind++
	}
	p.all.Merge(c.rec)
	p.free = append(p.free, c.rec)
	c.rec = nil
}

// result returns the tally of the sessions that ended, as serveScale
// computes it; the caller sets CPU.
func (p *drainPeer) result() scaleResult {
	res := p.res
	c := p.all.Cadence() // over every frame of every session; the worst drift
	res.P50, res.P99, res.Max, res.Drift = c.P50, c.P99, c.Max, max(c.Drift, -c.Drift)
	return res
}

// closeAll closes the sockets of the sessions still open and the epoll
// instance.
func (p *drainPeer) closeAll() {
	for _, c := range p.conns {
		if c != nil {
			unix.Close(c.fd)
		}
	}
	unix.Close(p.epfd)
}

// WebSocket opcodes (RFC 6455, section 5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xa
)

func opName(op byte) string {
	switch op {
	case opClose:
		return "close"
	case opPong:
		return "pong"
	}
	return "opcode " + strconv.Itoa(int(op))
}

// appendServerFrame appends to b one final, unmasked frame of op with
// payload, as a server sends it.
func appendServerFrame(b []byte, op byte, payload []byte) []byte {
	b = appendHeader(b, 0x80|op, 0, len(payload))
	return append(b, payload...)
}

// appendHeader appends the first byte b0 of a frame header (FIN, RSV,
// opcode), then the second, maskBit (0x80 or 0) with the length n, and
// the extended length n needs.
func appendHeader(b []byte, b0, maskBit byte, n int) []byte {
	b = append(b, b0)
	switch {
	case n <= 125:
		return append(b, maskBit|byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, maskBit|126), uint16(n))
	}
	return binary.BigEndian.AppendUint64(append(b, maskBit|127), uint64(n))
}

// wsEvent is what a frame a client sent ends: nothing to act on, a data
// message, or a control frame.
type wsEvent int

const (
	wsNone   wsEvent = iota // more bytes needed, or a frame that ends nothing
	wsBinary                // a binary message ended; wsReader.msgLen is its size
	wsText                  // a text message ended
	wsPing                  // a ping; wsReader.control is its payload
	wsPong                  // a pong
	wsClose                 // a close frame; wsReader.control is its payload
)

// wsReader parses the frames of a WebSocket client incrementally, from
// reads of any size: a frame may be split anywhere. It skips data payloads
// without looking at them, keeps the unmasked payload of a control frame
// (≤ 125 bytes), and allocates nothing. The zero value is ready.
type wsReader struct {
	hdr       [14]byte // the current frame's header, as far as read
	hdrN      int
	inPayload bool  // the header is complete
	op        byte  // the current frame's opcode
	fin       bool  // the current frame ends its message
	left      int64 // payload bytes of the current frame still to come
	mask      [4]byte
	ctl       [125]byte // a control frame's unmasked payload
	ctlN      int
	msgOp     byte  // opText or opBinary while a data message is in progress, else 0
	msgLen    int64 // the payload bytes of the current or last data message
}

// control returns the unmasked payload of the last control frame. It is
// valid until the next call of next.
func (r *wsReader) control() []byte { return r.ctl[:r.ctlN] }

// next consumes bytes of p up to the end of at most one frame and returns
// how many, and what the frame ended if it did. After an error the
// connection is unusable.
func (r *wsReader) next(p []byte) (n int, ev wsEvent, err error) {
	for !r.inPayload {
		if n == len(p) {
			return n, wsNone, nil
		}
		r.hdr[r.hdrN] = p[n]
		r.hdrN++
		n++
		if r.hdrN == 2 {
			if err := r.check(); err != nil {
				return n, wsNone, err
			}
		}
		if r.hdrN == r.headerLen() {
			if err := r.begin(); err != nil {
				return n, wsNone, err
			}
		}
	}
	k := int(min(r.left, int64(len(p)-n)))
	if r.op >= opClose {
		for i, b := range p[n : n+k] {
			r.ctl[r.ctlN+i] = b ^ r.mask[(r.ctlN+i)&3]
		}
		r.ctlN += k
	}
	r.left -= int64(k)
	n += k
	if r.left > 0 {
		return n, wsNone, nil
	}
	return n, r.end(), nil
}

// headerLen returns the length of the current frame's header (a masked
// one, as clients send), as far as the bytes read so far tell.
func (r *wsReader) headerLen() int {
	if r.hdrN < 2 {
		return 2
	}
	switch r.hdr[1] & 0x7f {
	case 126:
		return 2 + 2 + 4
	case 127:
		return 2 + 8 + 4
	}
	return 2 + 4
}

// check checks the first two bytes of a frame's header.
func (r *wsReader) check() error {
	if b0 := r.hdr[0]; b0&0x70 != 0 {
		return fmt.Errorf("websocket: a frame with reserved bits %#x set (no extension was agreed)", b0&0x70)
	}
	if r.hdr[1]&0x80 == 0 {
		return errors.New("websocket: an unmasked frame from the client")
	}
	return nil
}

// begin reads the complete header of a frame, checks it, and prepares for
// its payload.
func (r *wsReader) begin() error {
	b0, b1 := r.hdr[0], r.hdr[1]
	r.op, r.fin = b0&0x0f, b0&0x80 != 0
	hl := r.headerLen()
	switch n := b1 & 0x7f; n {
	case 126:
		r.left = int64(binary.BigEndian.Uint16(r.hdr[2:]))
	case 127:
		u := binary.BigEndian.Uint64(r.hdr[2:])
		if u>>63 != 0 {
			return fmt.Errorf("websocket: a frame length of %d bytes", u)
		}
		r.left = int64(u)
	default:
		r.left = int64(n)
	}
	copy(r.mask[:], r.hdr[hl-4:hl])
	switch r.op {
	case opContinuation:
		if r.msgOp == 0 {
			return errors.New("websocket: a continuation frame outside a message")
		}
	case opText, opBinary:
		if r.msgOp != 0 {
			return errors.New("websocket: a new message before the previous one ended")
		}
		r.msgOp, r.msgLen = r.op, 0
	case opClose, opPing, opPong:
		if !r.fin || r.left > 125 {
			return fmt.Errorf("websocket: a control frame fragmented or of more than 125 bytes (%d)", r.left)
		}
		r.ctlN = 0
	default:
		return fmt.Errorf("websocket: reserved opcode %#x", r.op)
	}
	if r.op < opClose {
		r.msgLen += r.left
	}
	r.inPayload = true
	return nil
}

// end finishes the current frame and says what it ended.
func (r *wsReader) end() wsEvent {
	r.inPayload, r.hdrN = false, 0
	switch {
	case r.op == opPing:
		return wsPing
	case r.op == opPong:
		return wsPong
	case r.op == opClose:
		return wsClose
	case !r.fin:
		return wsNone
	}
	op := r.msgOp
	r.msgOp = 0
	if op == opBinary {
		return wsBinary
	}
	return wsText
}

// TestDrainPeer streams three short sessions to the drain peer in a child
// process, each a pipeline.Stream with its defaults, which ends with a ping
// and a close handshake; all must end without error, and the peer must
// count every frame, with a steady cadence.
func TestDrainPeer(t *testing.T) {
	speech, err := os.ReadFile("../testdata/speech-16k.s16le")
	if err != nil {
		t.Fatal(err)
	}
	speech = speech[:int(frame.Rate16k.N(2*time.Second))*2] // 2 s of 16-bit samples
	c, err := testutil.StartChild(drainPeerRole, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	d, err := vachana.NewDialer(vachana.Config{URL: c.Line, APIKey: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c.In, "go\n"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const streams = 3
	sent := make([]int64, streams)
	var wg sync.WaitGroup
	for i := range streams {
		wg.Go(func() {
			st, err := pipeline.Stream(ctx, bytes.NewReader(speech), d, nil)
			if err != nil {
				t.Errorf("stream %d: %v", i, err)
				return
			}
			sent[i] = st.Frames
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if _, err := fmt.Fprintf(c.In, "%d\n", streams); err != nil {
		t.Fatal(err)
	}
	var res scaleResult
	if err := json.NewDecoder(c.Out).Decode(&res); err != nil {
		t.Fatalf("reading the drain peer's result: %v", err)
	}
	var want int
	for _, n := range sent {
		want += int(n)
	}
	t.Logf("drain peer: %+v; %.1f µs CPU per frame", res, us(res.CPU)/float64(max(res.Frames, 1)))
	switch {
	case res.Err != "":
		t.Fatal(res.Err)
	case res.Sessions != streams || res.Frames != want || res.SizeViolations != 0 || res.Errors != 0:
		t.Fatalf("drain peer saw %d sessions, %d frames, %d size violations, %d broken sessions; want %d, %d, 0, 0",
			res.Sessions, res.Frames, res.SizeViolations, res.Errors, streams, want)
	case res.P99 >= 20*time.Millisecond || res.Behind != 0:
		t.Fatalf("drain peer saw p99 deviation %v and %d sessions behind; want < 20ms and 0", res.P99, res.Behind)
	}
}

// TestDrainPeerAbandoned checks that the drain peer answers a ping within
// a few milliseconds and a close frame, counts a session dropped without
// a close frame as broken, and that sessions ending before "go" count.
func TestDrainPeerAbandoned(t *testing.T) {
	c, err := testutil.StartChild(drainPeerRole, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := vachana.Config{URL: c.Line, APIKey: "x"}
	dropped, err := vachana.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	dropped.CloseNow()
	s, err := vachana.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var reader sync.WaitGroup
	reader.Go(func() {
		for {
			if _, err := s.ReadEvent(); err != nil {
				return
			}
		}
	})
	for range 3 {
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := s.Ping(pctx)
		cancel()
		if d := time.Since(start); err != nil || d > 100*time.Millisecond {
			t.Fatalf("ping: %v after %v; want a pong within a few milliseconds", err, d)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("closing the session: %v", err)
	}
	reader.Wait()
	if _, err := io.WriteString(c.In, "go\n2\n"); err != nil {
		t.Fatal(err)
	}
	var res scaleResult
	if err := json.NewDecoder(c.Out).Decode(&res); err != nil {
		t.Fatalf("reading the drain peer's result: %v", err)
	}
	if res.Err != "" || res.Sessions != 2 || res.Errors != 1 || res.Frames != 0 {
		t.Fatalf("drain peer: %+v; want 2 sessions, 1 broken, no frames", res)
	}
}

// TestWSReaderSplits feeds the same client frames to wsReader in every
// chunk size from 1 byte to all at once, and checks that each size yields
// the same events.
func TestWSReaderSplits(t *testing.T) {
	audio := bytes.Repeat([]byte{1}, frame.Size)
	var stream []byte
	stream = appendClientFrame(stream, opBinary, true, audio)
	stream = appendClientFrame(stream, opPing, true, []byte("ping!"))
	stream = appendClientFrame(stream, opBinary, false, audio[:1000])    // a fragmented message,
	stream = appendClientFrame(stream, opPing, true, nil)                // a ping amid it,
	stream = appendClientFrame(stream, opContinuation, true, audio[:25]) // its end: 1025 bytes
	stream = appendClientFrame(stream, opText, true, []byte(`{"x":1}`))
	stream = appendClientFrame(stream, opBinary, true, make([]byte, 70000)) // a 64-bit length
	stream = appendClientFrame(stream, opClose, true, []byte{0x03, 0xe8, 'b', 'y', 'e'})
	want := "binary 1024, ping \"ping!\", ping \"\", binary 1025, text, binary 70000, close \"\\x03\\xe8bye\", "
	for size := 1; size <= len(stream); size = max(size+1, size*5/4) {
		var r wsReader
		var got strings.Builder
		for b := stream; len(b) > 0; {
			chunk := b[:min(size, len(b))]
			b = b[len(chunk):]
			for len(chunk) > 0 {
				n, ev, err := r.next(chunk)
				if err != nil {
					t.Fatalf("chunks of %d: %v", size, err)
				}
				chunk = chunk[n:]
				switch ev {
				case wsBinary:
					fmt.Fprintf(&got, "binary %d, ", r.msgLen)
				case wsText:
					got.WriteString("text, ")
				case wsPing:
					fmt.Fprintf(&got, "ping %q, ", r.control())
				case wsClose:
					fmt.Fprintf(&got, "close %q, ", r.control())
				}
			}
		}
		if got.String() != want {
			t.Fatalf("chunks of %d: got %s\nwant %s", size, got.String(), want)
		}
	}
}

// TestWSReaderErrors checks that wsReader refuses frames a client must
// not send.
func TestWSReaderErrors(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
	}{
		{"unmasked", []byte{0x82, 0x00}},
		{"reserved bit", appendClientFrame(nil, opBinary|0x40, true, nil)},
		{"reserved opcode", appendClientFrame(nil, 0x3, true, nil)},
		{"continuation first", appendClientFrame(nil, opContinuation, true, nil)},
		{"fragmented ping", appendClientFrame(nil, opPing, false, nil)},
		{"long ping", appendClientFrame(nil, opPing, true, make([]byte, 126))},
		{"message in message", appendClientFrame(appendClientFrame(nil, opBinary, false, nil), opText, true, nil)},
	}
	for _, tt := range tests {
		var r wsReader
		var err error
		for b := tt.frame; len(b) > 0 && err == nil; {
			var n int
			n, _, err = r.next(b)
			b = b[n:]
		}
		if err == nil {
			t.Errorf("%s: got no error", tt.name)
		}
	}
}

// appendClientFrame appends one frame as a client sends it: masked, here
// with the key 1, 2, 3, 4.
func appendClientFrame(b []byte, op byte, fin bool, payload []byte) []byte {
	if fin {
		op |= 0x80
	}
	mask := [4]byte{1, 2, 3, 4}
	b = append(appendHeader(b, op, 0x80, len(payload)), mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i&3])
	}
	return b
}

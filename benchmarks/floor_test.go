//go:build linux

package benchmarks

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/internal/clock"
	"github.com/vachana-pipe/vachana-pipe/pipeline"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/vachana"
)

// floorTick is how often a loop of BenchmarkScaleFloor wakes. The period of
// a frame (32 ms at 16 kHz) is a whole number of ticks, so each stream's
// frames leave at the same phase of the tick grid: the rounding delays
// every frame of a stream alike and adds no jitter.
const floorTick = time.Millisecond

// BenchmarkScaleFloor is BenchmarkScale against the drain-only peer for a
// client that does little more than the floor's work: no pipeline, no
// goroutine per stream, no coder/websocket. Each stream is a WebSocket
// connection upgraded by hand, whose socket is then written outside Go's
// poller. One loop goroutine per CPU owns a block of consecutive streams;
// it sleeps on the shared kernel timer that pacers sleep on (internal/clock's
// Precise) until the next tick (floorTick) at which one of them is due, and
// writes every frame then due with one non-blocking write(2): the frame's
// audio copied and masked, with a fresh key, into one buffer. The streams,
// their start times spread over one second, their frames (the speech sample
// twice and 1 s of silence) and the peer are BenchmarkScale's, and so are
// the metrics it shares with it (deviation, drift, streams behind, the
// sender's p99, CPU per frame from "go" to the last close handshake), so
// that the two ladders compare: this one measures what a client built as
// such an event loop carries on this machine: a bound, measured, under
// BenchmarkScale's. It does not read the source, keep a replay buffer or
// read events. Also reported: the writes the socket did not take whole at
// once (stalled-writes; the loop waits for room with poll(2), and fails
// after 10 s without progress).
//
// VACHANA_BENCH_STREAMS picks the counts, as for BenchmarkScale.
func BenchmarkScaleFloor(b *testing.B) {
	loopBench(b, false)
}

// BenchmarkScaleLoop is BenchmarkScaleFloor with each frame written through
// the Vachana session (transport/vachana over coder/websocket and Go's
// network poller, as the pipeline writes it), from the same loops: the
// frame's audio copied into one frame buffer, then Session.WriteAudio.
// Beside BenchmarkScaleFloor it shows what the library's write path costs,
// apart from the pipeline's goroutines, queues and the shared clock's
// wake-ups of each sender. It measures the writes only: the goroutine in
// ReadEvent that a session needs for pings and the server's events is not
// there (the drain-only peer sends neither), and the sessions are closed
// one after another once every loop is done. WriteAudio blocks while the
// socket is full: it reports the writes that took over a millisecond
// (slow-writes), and a run that overruns its audio by 30 s has its
// sessions dropped. Not in the report's run.
func BenchmarkScaleLoop(b *testing.B) {
	loopBench(b, true)
}

// loopBench runs floorOnce for each stream count, the frames written by hand
// or, with sessions, through Vachana sessions.
func loopBench(b *testing.B, sessions bool) {
	speech, err := os.ReadFile("../testdata/speech-16k.s16le")
	if err != nil {
		b.Fatal(err)
	}
	speech = bytes.Repeat(speech, scaleLoops)
	for _, n := range benchStreamCounts(b) {
		b.Run(fmt.Sprintf("streams=%d", n), func(b *testing.B) {
			if err := raiseFileLimit(uint64(2*n) + 256); err != nil {
				b.Skipf("%d streams need %d file descriptors: %v", n, 2*n+256, err)
			}
			for b.Loop() {
				floorOnce(b, n, speech, sessions)
			}
		})
	}
}

// floorConn is one stream of BenchmarkScaleFloor: its connection, kept
// for the close handshake, and a duplicate of its socket, non-blocking,
// that the loop writes to; or for BenchmarkScaleLoop, its session.
type floorConn struct {
	c    net.Conn
	br   *bufio.Reader
	fd   int
	sess transport.Session

	offset time.Duration          // its start, from the first stream's
	due    int64                  // its next frame's time, in ns from the first tick
	sent   int                    // frames written
	rec    *frame.CadenceRecorder // the times of the writes
	done   bool
}

func floorOnce(b *testing.B, n int, speech []byte, sessions bool) {
	srv, err := startScaleServer(drainPeerRole)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	u, err := url.Parse(srv.Line)
	if err != nil {
		b.Fatal(err)
	}
	var d *vachana.Dialer
	if sessions {
		if d, err = vachana.NewDialer(vachana.Config{URL: srv.Line, APIKey: "bench"}); err != nil {
			b.Fatal(err)
		}
		defer d.Close(context.Background()) // after the sessions' CloseNow below
	}
	conns := make([]*floorConn, n)
	defer func() {
		for _, c := range conns {
			switch {
			case c == nil:
			case c.sess != nil:
				c.sess.CloseNow()
			default:
				unix.Close(c.fd)
				c.c.Close()
			}
		}
	}()
	var dials errgroup.Group
	dials.SetLimit(64)
	for i := range conns {
		dials.Go(func() error {
			if sessions {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				s, err := d.Dial(ctx)
				if err == nil {
					conns[i] = &floorConn{sess: s}
				}
				return err
			}
			c, err := dialFloor(u.Host)
			conns[i] = c
			return err
		})
	}
	if err := dials.Wait(); err != nil {
		b.Fatalf("opening %d sessions: %v", n, err)
	}
	for i, c := range conns {
		c.offset = time.Duration(i) * time.Second / time.Duration(n)
		c.rec = frame.NewCadenceRecorder(frame.Rate16k)
	}
	want := (len(speech)+frame.Size-1)/frame.Size + int(frame.Rate16k.FramesIn(pipeline.DefaultTailSilence))
	if err := srv.send("go"); err != nil {
		b.Fatal(err)
	}

	cpu0 := cpuTime()
	start := time.Now().Add(10 * time.Millisecond)
	// Each loop owns a block of streams whose starts follow each other, so
	// that the streams due at a tick are spread over the loops.
	loops := min(runtime.GOMAXPROCS(0), n)
	stalls := make([]int, loops) // per loop: raw writes not taken whole, or slow session writes
	stop := &floorStop{}
	if sessions {
		stop.release = func() {
			for _, c := range conns {
				c.sess.CloseNow() // a write blocked in it returns
			}
		}
	}
	overrun := time.AfterFunc(time.Second+time.Duration(want)*frame.Rate16k.FrameDuration()+30*time.Second, func() {
		stop.overran.Store(true)
		stop.fail()
	})
	var g errgroup.Group
	for l := range loops {
		own := conns[l*n/loops : (l+1)*n/loops]
		var w floorWriter
		if sessions {
			w = &sessionWriter{speech: speech, slow: &stalls[l]}
		} else {
			w = &rawWriter{speech: speech, rng: mrand.NewChaCha8(seed()), stalls: &stalls[l]}
		}
		g.Go(func() error { return floorLoop(own, start, want, w, stop) })
	}
	err = g.Wait()
	overrun.Stop()
	if stop.overran.Load() {
		b.Fatalf("the streams overran their audio by 30 s: the loops fell behind (%v)", err)
	}
	if err != nil {
		b.Fatal(err)
	}
	// The close handshake: the peer answers each close frame with its
	// status.
	for _, c := range conns {
		if c.sess != nil {
			if err := c.sess.Close(); err != nil {
				b.Fatalf("closing a session: %v", err)
			}
			continue
		}
		c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var answer [4]byte
		if _, err := io.ReadFull(c.br, answer[:]); err != nil {
			b.Fatalf("reading the answer to a close frame: %v", err)
		}
		if answer != [4]byte{0x88, 2, 0x03, 0xe8} {
			b.Fatalf("the peer answered a close frame with % x, want 88 02 03 e8", answer)
		}
	}
	cpu := cpuTime() - cpu0
	res, err := srv.finish(n)
	if err != nil {
		b.Fatal(err)
	}
	switch {
	case res.Err != "":
		b.Fatal(res.Err)
	case res.Sessions != n || res.Frames != n*want || res.SizeViolations != 0 || res.Errors != 0:
		b.Fatalf("the peer saw %d sessions, %d frames (want %d), %d size violations, %d broken sessions",
			res.Sessions, res.Frames, n*want, res.SizeViolations, res.Errors)
	}
	var stalled int
	for _, s := range stalls {
		stalled += s
	}
	b.ReportMetric(us(res.P50), "p50-µs")
	b.ReportMetric(us(res.P99), "p99-µs")
	b.ReportMetric(us(res.Max), "max-µs")
	b.ReportMetric(us(res.Drift), "drift-µs")
	b.ReportMetric(float64(res.Behind), "behind-streams")
	b.ReportMetric(us(cpu)/float64(n*want), "cpu-µs/frame")
	b.ReportMetric(us(res.CPU)/float64(n*want), "server-cpu-µs/frame")
	if sessions {
		b.ReportMetric(float64(stalled), "slow-writes")
	} else {
		b.ReportMetric(float64(stalled), "stalled-writes")
	}
	p99s := make([]time.Duration, 0, n)
	for _, c := range conns {
		p99s = append(p99s, c.rec.Cadence().P99)
	}
	slices.Sort(p99s)
	b.ReportMetric(us(p99s[len(p99s)/2]), "sender-p99-µs")
}

// floorLoop sends every frame of its streams at its due time, rounded up
// to floorTick, with w, and then calls w's close for the stream; the
// caller joins it. It sleeps until the next tick at which a frame is due.
// It stops at its next tick once stop has failed, and fails stop when it
// fails.
func floorLoop(own []*floorConn, start time.Time, want int, w floorWriter, stop *floorStop) error {
	var clk clock.Precise
	for _, c := range own {
		c.due = int64(c.offset)
	}
	period, tickNs := int64(frame.Rate16k.FrameDuration()), int64(floorTick)
	if period%tickNs != 0 {
		return fmt.Errorf("a frame period of %v is no whole number of ticks of %v: the phases would wander", time.Duration(period), floorTick)
	}
	left := len(own)
	for tick := int64(0); left > 0; {
		if err := clk.SleepUntil(context.Background(), start.Add(time.Duration(tick)), 0); err != nil {
			return err
		}
		next := int64(math.MaxInt64)
		for _, c := range own {
			if c.done {
				continue
			}
			if c.due <= tick {
				c.rec.Add(time.Now())
				if err := w.frame(c); err != nil {
					stop.fail()
					return fmt.Errorf("frame %d: %w", c.sent, err)
				}
				c.sent++
				c.due += period
			}
			if c.sent == want {
				if err := w.close(c); err != nil {
					stop.fail()
					return fmt.Errorf("the close frame: %w", err)
				}
				c.done = true
				left--
				continue
			}
			next = min(next, c.due)
		}
		if left == 0 || stop.failed.Load() {
			break
		}
		// The next tick at which a frame is due. A loop that fell behind
		// real time finds it past, and runs the next pass at once.
		tick = max(tick+tickNs, (next+tickNs-1)/tickNs*tickNs)
	}
	return nil
}

// floorStop ends the loops of a run once one of them fails, or the run
// overruns: each loop looks at its next tick, and release (closing the
// sessions) frees a loop blocked in a session's write. Raw writes give up
// by themselves (writeAll).
type floorStop struct {
	failed, overran atomic.Bool
	once            sync.Once
	release         func() // nil for raw sockets
}

func (s *floorStop) fail() {
	s.failed.Store(true)
	if s.release != nil {
		s.once.Do(s.release)
	}
}

// A floorWriter writes the frames of a loop's streams: frame writes frame
// c.sent of c's stream (the speech, then silence); close follows the last
// (a close frame, or nothing for a session, which the caller closes).
// Each loop has its own.
type floorWriter interface {
	frame(c *floorConn) error
	close(c *floorConn) error
}

// rawWriter masks each frame into one buffer and writes it to the stream's
// socket with writeAll; close sends a close frame, whose answer the caller
// reads.
type rawWriter struct {
	speech []byte
	rng    *mrand.ChaCha8
	stalls *int
	buf    [8 + frame.Size]byte
}

func (w *rawWriter) frame(c *floorConn) error {
	msg := maskedFrame(w.buf[:0], 0x82, uint32(w.rng.Uint64()), audioAt(w.speech, c.sent), frame.Size)
	return writeAll(c.fd, msg, w.stalls)
}

func (w *rawWriter) close(c *floorConn) error {
	status := []byte{0x03, 0xe8} // 1000, normal closure
	return writeAll(c.fd, maskedFrame(w.buf[:0], 0x88, uint32(w.rng.Uint64()), status, len(status)), w.stalls)
}

// sessionWriter copies each frame's audio into one frame buffer and writes
// it with the stream's Session.WriteAudio, counting in slow the writes
// that took over a millisecond; the caller closes the sessions.
type sessionWriter struct {
	speech []byte
	slow   *int
	f      frame.Frame
}

func (w *sessionWriter) frame(c *floorConn) error {
	n := copy(w.f[:], audioAt(w.speech, c.sent))
	clear(w.f[n:])
	t := time.Now()
	err := c.sess.WriteAudio(w.f[:])
	if time.Since(t) > time.Millisecond {
		*w.slow++
	}
	return err
}

func (w *sessionWriter) close(*floorConn) error { return nil }

// audioAt returns the audio of frame i of speech: up to frame.Size bytes,
// none past its end.
func audioAt(speech []byte, i int) []byte {
	at := min(i*frame.Size, len(speech))
	return speech[at:min(at+frame.Size, len(speech))]
}

// maskedFrame appends to b a client frame whose first byte (FIN, RSV,
// opcode) is b0, with size bytes of payload, p then zeros (size must be at
// least len(p)), masked with key: its bytes, little-endian, are the
// frame's masking key.
func maskedFrame(b []byte, b0 byte, key uint32, p []byte, size int) []byte {
	b = appendHeader(b, b0, 0x80, size)
	b = binary.LittleEndian.AppendUint32(b, key)
	at := len(b)
	b = append(b, p...)
	b = append(b, make([]byte, size-len(p))...)
	body := b[at:]
	k := uint64(key) | uint64(key)<<32
	i := 0
	for ; i+8 <= len(body); i += 8 {
		binary.LittleEndian.PutUint64(body[i:], binary.LittleEndian.Uint64(body[i:])^k)
	}
	for ; i < len(body); i++ {
		body[i] ^= byte(key >> (8 * (i & 3)))
	}
	return b
}

// writeAll writes b to the non-blocking socket fd. A write the socket does
// not take whole at once counts in stalls, and the rest waits for room with
// poll(2); ten seconds without progress fail it.
func writeAll(fd int, b []byte, stalls *int) error {
	stalled := false
	last := time.Now()
	for len(b) > 0 {
		// Unannounced to the runtime, as transport's writes are (see its
		// sysWrite): the socket is non-blocking.
		r, _, errno := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		n := int(r)
		switch {
		case errno == unix.EAGAIN || errno == unix.EINTR:
			n = 0
		case errno != 0:
			return errno
		}
		b = b[n:]
		if len(b) == 0 {
			break
		}
		if n > 0 {
			last = time.Now()
		} else if time.Since(last) > 10*time.Second {
			return errors.New("the socket took nothing for 10 s: the peer stopped reading")
		}
		if !stalled {
			stalled = true
			*stalls++
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		unix.Poll(pfd, 10) // ms; EINTR or a timeout: try the write again
	}
	return nil
}

func seed() (s [32]byte) {
	rand.Read(s[:])
	return s
}

// dialFloor opens one WebSocket session to the drain-only peer at host by
// hand and reads its connected event.
func dialFloor(host string) (*floorConn, error) {
	c, err := net.Dial("tcp", host)
	if err != nil {
		return nil, err
	}
	fc, err := upgradeFloor(c, host)
	if err != nil {
		c.Close()
		return nil, err
	}
	return fc, nil
}

// upgradeFloor upgrades c, a connection to the drain-only peer at host, to
// a WebSocket session as the Vachana client would (any key and rate the
// peer accepts), checks the answer, reads the connected event the peer
// sends first, and returns the session with a duplicate of its socket for
// the loop's writes.
func upgradeFloor(c net.Conn, host string) (*floorConn, error) {
	c.SetDeadline(time.Now().Add(30 * time.Second))
	var k [16]byte
	rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	req := "GET / HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\nx-api-key: bench\r\nx-sample-rate: 16000\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		return nil, err
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, fmt.Errorf("reading the answer to the upgrade: %w", err)
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		return nil, fmt.Errorf("the upgrade was refused: %s", resp.Status)
	}
	var h [4]byte
	if _, err := io.ReadFull(br, h[:2]); err != nil {
		return nil, fmt.Errorf("reading the connected event: %w", err)
	}
	size := int(h[1] & 0x7f)
	if size == 126 {
		if _, err := io.ReadFull(br, h[2:4]); err != nil {
			return nil, fmt.Errorf("reading the connected event: %w", err)
		}
		size = int(binary.BigEndian.Uint16(h[2:4]))
	}
	if h[0] != 0x80|opText || h[1]&0x80 != 0 || h[1]&0x7f == 127 {
		return nil, fmt.Errorf("the first frame is not a connected event: % x", h)
	}
	if _, err := br.Discard(size); err != nil {
		return nil, fmt.Errorf("reading the connected event: %w", err)
	}
	c.SetDeadline(time.Time{})
	fd, err := duplicate(c.(*net.TCPConn))
	if err != nil {
		return nil, err
	}
	return &floorConn{c: c, br: br, fd: fd}, nil
}

// TestMaskedFrame checks the floor's client frames against the drain
// peer's tests' own encoder, for payloads of every length modulo 8 and
// with zeros after the payload.
func TestMaskedFrame(t *testing.T) {
	const key = 0x04030201 // the bytes 1, 2, 3, 4: appendClientFrame's key
	for _, c := range []struct{ n, size int }{{0, 0}, {2, 2}, {13, 13}, {125, 125}, {126, 126}, {1000, 1024}, {1024, 1024}} {
		p := make([]byte, c.n)
		for i := range p {
			p[i] = byte(i*7 + 3)
		}
		got := maskedFrame(nil, 0x82, key, p, c.size)
		want := appendClientFrame(nil, opBinary, true, append(p, make([]byte, c.size-c.n)...))
		if !bytes.Equal(got, want) {
			t.Errorf("%d bytes in %d: got\n% x\nwant\n% x", c.n, c.size, got, want)
		}
	}
}

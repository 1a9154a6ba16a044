//go:build linux

package benchmarks

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/internal/testutil"
	"github.com/vachana-pipe/vachana-pipe/pipeline"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
	"github.com/vachana-pipe/vachana-pipe/transport/vachana"
)

// scaleServerRole makes the test binary a reference server for
// BenchmarkScale instead of running tests (testutil.StartChild); see
// serveScale. drainPeerRole (drainpeer_test.go) makes it the drain-only
// peer.
const scaleServerRole = "scale-server"

// scaleCounts are the stream counts BenchmarkScale tries, unless
// VACHANA_BENCH_STREAMS lists others ("100,1000").
var scaleCounts = []int{100, 1000, 10000}

// scalePeers are the peers BenchmarkScale streams to, each in a child
// process, unless VACHANA_BENCH_PEERS lists some of them ("drain"): the
// full reference server, and the drain-only peer, which reads, discards and
// timestamps frames at the least cost, so that the client's own capacity
// shows.
var scalePeers = map[string]string{"server": scaleServerRole, "drain": drainPeerRole}

// scaleLoops is how many times each stream of BenchmarkScale plays the
// speech sample: 31 s, longer than the default 30 s replay window, so that
// a replay buffer that held more than it should would show in the CPU and
// in the resident memory at the end. Against the reference server, which
// confirms segments, the replay buffers reach their steady state within
// seconds, and memory is sampled 8 s in.
const scaleLoops = 2

// BenchmarkScale streams the speech sample (15.5 s) twice and 1 s of tail
// silence at real time over N sessions at once, in one process, each a
// [pipeline.Stream] with its defaults, to a peer in a child process on
// loopback, so the two do not share file descriptors or CPU accounting:
// the full reference server (peer=server), or the drain-only peer
// (peer=drain), which only reads and timestamps what arrives and costs
// little, so that the curve shows the client's capacity rather than the
// server's. The streams start spread over one second, as calls do.
//
// Reported, over every frame of every stream as the peer received them:
// inter-arrival deviation p50/p99/max (µs), the worst |end drift| (µs) and
// the streams that ended more than a frame period behind real time; the
// sender's own p99 deviation, measured before each write (the median over
// the streams), which leaves out the peer's scheduling. On the client: CPU
// per stream (% of one core, over the time the streams took, which is
// longer than the audio when the machine cannot keep up) and per frame
// (µs); in mid-stream (8 s in), resident memory and heap+stack per stream
// (KiB), and against the reference server, after a garbage collection,
// heap+stack broken down by what holds it (replay buffers, read-ahead
// queues, idle frame buffers, WebSocket connections, goroutine
// stacks, the rest), from a heap profile (against the drain-only peer,
// which confirms nothing, the replay buffers are still growing 8 s in, and
// neither a collection nor the profile's sampling may disturb the cadence
// its ladder of stream counts is judged by); the OS threads it has
// had (a high-water mark: Go keeps idle threads, so an earlier, larger run
// in the same process counts), and frames the pacer released more than
// 1 ms late. The peer's CPU per frame is reported too, for scale. Every
// stream must deliver every frame, and every transcript the server sends,
// or the benchmark fails.
func BenchmarkScale(b *testing.B) {
	speech, err := os.ReadFile("../testdata/speech-16k.s16le")
	if err != nil {
		b.Fatal(err)
	}
	speech = bytes.Repeat(speech, scaleLoops)
	counts := benchStreamCounts(b)
	peers := []string{"server", "drain"}
	if s := os.Getenv("VACHANA_BENCH_PEERS"); s != "" {
		peers = strings.Split(s, ",")
		for _, p := range peers {
			if scalePeers[p] == "" {
				b.Fatalf("VACHANA_BENCH_PEERS=%q: want server, drain or both (server,drain)", s)
			}
		}
	}
	for _, peer := range peers {
		for _, n := range counts {
			b.Run(fmt.Sprintf("peer=%s/streams=%d", peer, n), func(b *testing.B) {
				if err := raiseFileLimit(uint64(n) + 256); err != nil {
					b.Skipf("%d streams need %d file descriptors: %v", n, n+256, err)
				}
				for b.Loop() {
					scaleOnce(b, scalePeers[peer], n, speech)
				}
			})
		}
	}
}

// benchStreamCounts returns the stream counts VACHANA_BENCH_STREAMS lists,
// or scaleCounts.
func benchStreamCounts(b *testing.B) []int {
	s := os.Getenv("VACHANA_BENCH_STREAMS")
	if s == "" {
		return scaleCounts
	}
	var counts []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			b.Fatalf("VACHANA_BENCH_STREAMS=%q: want stream counts such as 100,1000", s)
		}
		counts = append(counts, n)
	}
	return counts
}

func TestMain(m *testing.M) {
	switch testutil.Role() {
	case scaleServerRole:
		os.Exit(serveScale())
	case drainPeerRole:
		os.Exit(serveDrain())
	case refserverRole:
		os.Exit(serveRefserver())
	}
	os.Exit(m.Run())
}

// scaleResult is what the server child reports on its stdout.
type scaleResult struct {
	Sessions, Frames, SizeViolations, Errors int
	Transcripts                              int
	Behind                                   int // sessions that ended more than a frame period behind real time
	P50, P99, Max, Drift                     time.Duration
	CPU                                      time.Duration // while the streams ran
	Err                                      string
}

// opened is a Dialer whose first session is one opened beforehand; it
// dials the others, after a lost session, as usual.
type opened struct {
	transport.Dialer
	mu    sync.Mutex
	first transport.Session
}

func (o *opened) Dial(ctx context.Context) (transport.Session, error) {
	o.mu.Lock()
	s := o.first
	o.first = nil
	o.mu.Unlock()
	if s != nil {
		return s, nil
	}
	return o.Dialer.Dial(ctx)
}

func scaleOnce(b *testing.B, role string, n int, speech []byte) {
	srv, err := startScaleServer(role)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()

	// The breakdown of memory: against the reference server only, sampling
	// every allocation of more than a few KiB.
	profile := role == scaleServerRole
	if profile {
		defer func(r int) { runtime.MemProfileRate = r }(runtime.MemProfileRate)
		runtime.MemProfileRate = 4096
	}
	// Start from what the previous, smaller run left: no garbage, no heap
	// kept for reuse.
	runtime.GC()
	debug.FreeOSMemory()
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	var parts0 []heapPart
	if profile {
		parts0 = heapParts()
	}
	rss0, _ := testutil.RSS()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// Open every session first: the handshakes are not the subject.
	d, err := vachana.NewDialer(vachana.Config{URL: srv.Line, APIKey: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close(context.Background())
	sessions := make([]transport.Session, n)
	var dials errgroup.Group
	dials.SetLimit(64)
	for i := range sessions {
		dials.Go(func() error {
			s, err := d.Dial(ctx)
			sessions[i] = s
			return err
		})
	}
	if err := dials.Wait(); err != nil {
		for _, s := range sessions {
			if s != nil {
				s.CloseNow()
			}
		}
		b.Fatalf("opening %d sessions: %v", n, err)
	}

	if err := srv.send("go"); err != nil {
		for _, s := range sessions {
			s.CloseNow()
		}
		b.Fatal(err)
	}
	cpu0 := cpuTime()
	start := time.Now()
	stats := make([]*pipeline.Stats, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(n))))
			st, err := pipeline.Stream(ctx, bytes.NewReader(speech), &opened{Dialer: d, first: sessions[i]}, nil)
			stats[i] = st
			if err != nil {
				errs <- fmt.Errorf("stream %d: %w", i, err)
			}
		})
	}
	// Sample memory in mid-stream, when every stream is running: what is
	// live, after a collection.
	time.Sleep(8 * time.Second)
	var parts []heapPart
	if profile {
		runtime.GC()
		parts = heapParts()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, _ := testutil.RSS()
	threads, _ := testutil.Threads()
	wg.Wait()
	cpu, wall := cpuTime()-cpu0, time.Since(start)
	close(errs)
	for err := range errs {
		b.Error(err)
	}
	if b.Failed() {
		b.FailNow()
	}

	res, err := srv.finish(n)
	if err != nil {
		b.Fatal(err)
	}
	want := (len(speech)+frame.Size-1)/frame.Size + int(frame.Rate16k.FramesIn(pipeline.DefaultTailSilence))
	var late int64
	var transcripts int
	p99s := make([]time.Duration, 0, n)
	for _, st := range stats {
		p99s = append(p99s, st.Cadence.P99)
		late += st.Pace.Late
		transcripts += st.Transcripts
		if int(st.Frames) != want {
			b.Fatalf("a stream sent %d frames, want %d", st.Frames, want)
		}
	}
	switch {
	case res.Err != "":
		b.Fatal(res.Err)
	case res.Sessions != n || res.Frames != n*want || res.SizeViolations != 0 || res.Errors != 0:
		b.Fatalf("server saw %d sessions, %d frames (want %d), %d size violations, %d broken sessions",
			res.Sessions, res.Frames, n*want, res.SizeViolations, res.Errors)
	case transcripts != res.Transcripts:
		b.Fatalf("clients got %d transcripts, the server sent %d", transcripts, res.Transcripts)
	}
	b.ReportMetric(us(res.P50), "p50-µs")
	b.ReportMetric(us(res.P99), "p99-µs")
	b.ReportMetric(us(res.Max), "max-µs")
	b.ReportMetric(us(res.Drift), "drift-µs")
	b.ReportMetric(100*cpu.Seconds()/(float64(n)*wall.Seconds()), "cpu-%/stream")
	b.ReportMetric(us(cpu)/float64(n*want), "cpu-µs/frame")
	b.ReportMetric(us(res.CPU)/float64(n*want), "server-cpu-µs/frame")
	b.ReportMetric(float64(rss-rss0)/1024/float64(n), "rss-KiB/stream")
	b.ReportMetric((float64(ms.HeapInuse+ms.StackInuse)-float64(ms0.HeapInuse+ms0.StackInuse))/1024/float64(n), "heap+stack-KiB/stream")
	for i, p := range parts {
		b.ReportMetric(float64(p.bytes-parts0[i].bytes)/1024/float64(n), p.name+"-KiB/stream")
	}
	b.ReportMetric(float64(ms.StackInuse-ms0.StackInuse)/1024/float64(n), "stack-KiB/stream")
	b.ReportMetric(float64(res.Behind), "behind-streams")
	b.ReportMetric(float64(threads), "threads")
	b.ReportMetric(float64(late), "late-frames")
	slices.Sort(p99s)
	b.ReportMetric(us(p99s[len(p99s)/2]), "sender-p99-µs")
}

// scaleServer is the peer child of one BenchmarkScale op: the test binary
// again, in the role scaleServerRole or drainPeerRole; its first line is
// its URL.
type scaleServer struct{ *testutil.Child }

// startScaleServer starts the peer child of role scaleServerRole or
// drainPeerRole.
func startScaleServer(role string) (*scaleServer, error) {
	c, err := testutil.StartChild(role, 30*time.Second)
	if err != nil {
		return nil, fmt.Errorf("starting the %s child: %v", role, err)
	}
	return &scaleServer{c}, nil
}

func (s *scaleServer) send(line string) error {
	_, err := io.WriteString(s.In, line+"\n")
	return err
}

// finish asks the child for the results of n sessions and waits for it.
func (s *scaleServer) finish(n int) (*scaleResult, error) {
	if err := s.send(strconv.Itoa(n)); err != nil {
		return nil, err
	}
	var res scaleResult
	if err := json.NewDecoder(s.Out).Decode(&res); err != nil {
		return nil, fmt.Errorf("reading the server child's results: %v", err)
	}
	s.In.Close()
	return &res, s.Wait()
}

// serveScale is the server child: it prints its URL, takes "go" when the
// streams start and then the number of sessions to wait for, and prints a
// scaleResult as JSON.
func serveScale() int {
	if err := raiseFileLimit(20000); err != nil {
		fmt.Fprintln(os.Stderr, "scale server:", err)
	}
	srv, err := refserver.Start(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale server:", err)
		return 1
	}
	defer srv.Close()
	fmt.Println(srv.URL)
	in := bufio.NewScanner(os.Stdin)
	in.Scan() // "go"
	cpu0 := cpuTime()
	in.Scan()
	n, err := strconv.Atoi(in.Text())
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale server: want a session count, got", in.Text())
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reps, err := srv.WaitReports(ctx, n)
	res := scaleResult{CPU: cpuTime() - cpu0, Sessions: len(reps)}
	if err != nil {
		res.Err = fmt.Sprintf("waiting for %d sessions to end: %v", n, err)
	}
	all := frame.NewCadenceRecorder(frame.Rate16k)
	one := frame.NewCadenceRecorder(frame.Rate16k)
	for _, r := range reps {
		res.Frames += r.Frames
		res.SizeViolations += r.SizeViolations
		if r.Err != "" {
			res.Errors++
		}
		for _, s := range r.Segments {
			if s.Transcribed {
				res.Transcripts++
			}
		}
		recordArrivals(one, r)
		if d := one.Cadence().Drift; d > frame.Rate16k.FrameDuration() {
			res.Behind++
		}
		all.Merge(one)
	}
	c := all.Cadence() // over every frame of every session; the worst drift
	res.P50, res.P99, res.Max, res.Drift = c.P50, c.P99, c.Max, max(c.Drift, -c.Drift)
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return 1
	}
	return 0
}

// The parts of heapParts, and partFrames: frame buffers of any use, which
// heldAudio divides.
const (
	partReplay = iota
	partReadAhead
	partPool
	partWS
	partOther
	partFrames
)

// heapPart is the heap in use that allocations of one kind hold.
type heapPart struct {
	name  string
	bytes int64
}

// heldAudio returns the bytes of audio the pipeline's replay buffers and
// read-ahead queues hold (pipeline.HeldAudio), where the pipeline under
// test can say (heldaudio_test.go; the report runs this benchmark against
// older code too, which cannot).
var heldAudio func() (replay, readAhead int64)

// heapParts breaks down the heap in use, as of the last garbage
// collection, by what holds it: the replay buffers, the read-ahead queues
// (and the readers' buffers), frame buffers that hold nothing (in the
// runs' slabs, and in the pipeline's pool of slabs),
// the WebSocket connections (coder/websocket, net/http, bufio, net), and
// the rest. It reads the heap profile, which samples allocations (one per
// runtime.MemProfileRate bytes on average), and scales each site's bytes
// up as pprof does. The audio is told apart by heldAudio where it can be,
// and by where it was allocated otherwise.
func heapParts() []heapPart {
	var recs []runtime.MemProfileRecord
	n, _ := runtime.MemProfile(nil, false)
	for {
		recs = make([]runtime.MemProfileRecord, n+50)
		var ok bool
		if n, ok = runtime.MemProfile(recs, false); ok {
			recs = recs[:n]
			break
		}
	}
	parts := []heapPart{{name: "replay"}, {name: "readahead"}, {name: "pool"}, {name: "ws"}, {name: "other"}, {}}
	rate := float64(runtime.MemProfileRate)
	for _, r := range recs {
		objects, size := r.InUseObjects(), r.InUseBytes()
		if objects <= 0 || size <= 0 {
			continue
		}
		avg := float64(size) / float64(objects)
		scaled := int64(float64(size) / (1 - math.Exp(-avg/rate)))
		parts[heapKind(r.Stack())].bytes += scaled
	}
	if heldAudio != nil {
		rp, ra := heldAudio()
		parts[partReplay].bytes += rp
		parts[partReadAhead].bytes += ra
		parts[partPool].bytes += parts[partFrames].bytes - rp - ra
	} else {
		parts[partOther].bytes += parts[partFrames].bytes
	}
	return parts[:partFrames]
}

// heapKind returns the index in heapParts' list of the part an allocation
// made with stack belongs to: the innermost function of vachana-pipe or of
// the WebSocket stack on it decides.
func heapKind(stack []uintptr) int {
	frames := runtime.CallersFrames(stack)
	for {
		f, more := frames.Next()
		switch fn := f.Function; {
		case strings.HasSuffix(fn, "pipeline.newSlab"), strings.HasSuffix(fn, "pipeline.newFrameBuffer"):
			return partFrames
		case strings.Contains(fn, "replayBuffer"):
			return partReplay // before frame buffers were pooled: the replay buffer's chunks
		case strings.Contains(fn, "pipeline.newRun"), strings.Contains(fn, "pipeline.(*run).read"):
			return partReadAhead
		case strings.Contains(fn, "coder/websocket"), strings.HasPrefix(fn, "net/http."), strings.HasPrefix(fn, "net."), strings.HasPrefix(fn, "bufio."):
			return partWS
		case strings.Contains(fn, "vachana-pipe/"):
			return partOther
		}
		if !more {
			return partOther
		}
	}
}

// cpuTime returns the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// raiseFileLimit raises the soft limit on open files to at least n, up to
// the hard limit.
func raiseFileLimit(n uint64) error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return err
	}
	if l.Cur >= n {
		return nil
	}
	if l.Max < n {
		return fmt.Errorf("the hard limit is %d (raise it with ulimit -Hn as root)", l.Max)
	}
	l.Cur = n
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
}

// BenchmarkLoopbackWrite is the floor under BenchmarkScale: one write of a
// 1030-byte WebSocket frame (header, mask, 1024 bytes) on a loopback TCP
// connection, round robin over 100 connections, each drained by a reader in
// this process. It reports the CPU of both ends per write: what the kernel
// and the runtime charge for moving one frame, before any pacing, framing
// or WebSocket work.
func BenchmarkLoopbackWrite(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	const conns = 100
	var readers sync.WaitGroup
	defer readers.Wait()
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		cs[i] = c
		sc, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		readers.Go(func() {
			io.Copy(io.Discard, sc)
			sc.Close()
		})
	}
	msg := make([]byte, 6+frame.Size)
	b.SetBytes(int64(len(msg)))
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		if _, err := cs[i%conns].Write(msg); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(us(cpuTime()-cpu0)/float64(b.N), "cpu-µs/write")
}

package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
)

// reconnectInput is the first 6.6 s of the speech sample: two segments,
// ending 0.4 s after the second one.
func reconnectInput(t *testing.T) []byte {
	b, err := os.ReadFile("../testdata/speech-16k.s16le")
	if err != nil {
		t.Fatal(err)
	}
	return b[:16000*2*66/10]
}

type outcome struct {
	texts    []string
	segments []int
	sessions []int
	stats    *Stats
	err      error
	warnings []string
	reports  []refserver.Report
}

// stream runs the input paced through a reconnecting sink to a reference
// server speaking dl with the given faults (applied to its first session
// only; their counts are audio messages, chunks of 4 frames for aiOla: see
// dialect.count).
func stream(t *testing.T, dl dialect, in []byte, faults refserver.Faults, opts *Options) outcome {
	t.Helper()
	return streamVia(t, dl, in, faults, opts, nil)
}

// streamVia is stream with each session wrapped by wrap, if not nil.
func streamVia(t *testing.T, dl dialect, in []byte, faults refserver.Faults, opts *Options, wrap func(transport.Session) transport.Session) outcome {
	t.Helper()
	faults.Sessions = max(faults.Sessions, 1)
	srv, d := refSession(t, dl, &refserver.Options{RecordAudio: true, ProcessingDelay: 300 * time.Millisecond, Faults: faults})
	if wrap != nil {
		d = wrapDialer{d, wrap}
	}
	return streamTo(t, srv, d, in, opts)
}

// streamTo streams in to srv through d with opts (whose OnEvent and
// OnWarning it sets), closes d and srv, and returns what happened.
func streamTo(t *testing.T, srv *refserver.Server, d transport.Dialer, in []byte, opts *Options) outcome {
	t.Helper()
	var o outcome
	var mu sync.Mutex
	if opts == nil {
		opts = &Options{}
	}
	opts.OnEvent = func(ev Event) {
		if ev.Kind == transport.Transcript {
			o.texts = append(o.texts, ev.Text)
			o.segments = append(o.segments, ev.Segment)
			o.sessions = append(o.sessions, ev.Session)
		}
	}
	opts.OnWarning = func(err error) {
		mu.Lock()
		o.warnings = append(o.warnings, err.Error())
		mu.Unlock()
	}
	o.stats, o.err = Stream(context.Background(), bytes.NewReader(in), d, opts)
	closeDialer(t, srv, d)
	srv.Close()
	o.reports = srv.Reports()
	return o
}

// cleanRuns holds, per dialect, the fault-free run of reconnectInput that
// the tests of faults compare with: made once, by the first test to ask,
// while the others with the same dialect wait.
var cleanRuns = map[string]*struct {
	sync.Mutex
	o *outcome
}{"vachana": {}, "sarvam": {}, "aiola": {}}

// cleanRun returns the fault-free paced run of reconnectInput with dl.
func cleanRun(t *testing.T, dl dialect) outcome {
	t.Helper()
	c := cleanRuns[dl.name]
	c.Lock()
	defer c.Unlock()
	if c.o == nil {
		o := stream(t, dl, reconnectInput(t), refserver.Faults{}, nil)
		if o.err != nil || len(o.texts) != 2 {
			t.Fatalf("fault-free run: %v, %q", o.err, o.texts)
		}
		c.o = &o
	}
	return *c.o
}

// durations returns the "N ms" of each transcript text.
func durations(texts []string) []string {
	var out []string
	for _, s := range texts {
		if i := strings.Index(s, ": "); i >= 0 {
			out = append(out, s[i+2:])
		}
	}
	return out
}

// TestReconnectReplay drops the first session at several points: in a
// segment, between a processing event and its transcript, in the silence
// between segments, and in the tail. Every segment must be transcribed
// exactly once, numbered in order, and the sessions together must have
// received every frame of the stream.
func TestReconnectReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("paced streams of 7.6 s")
	}
	forDialectsParallel(t, testReconnectReplay)
}

func testReconnectReplay(t *testing.T, dl dialect) {
	in := reconnectInput(t)
	want := onWire16k(in)
	clean := cleanRun(t, dl)
	// At 32 ms a frame: segment 0 is 0.30–2.06 s (frames 9–64), its end
	// (processing, END_SPEECH; for aiOla the server's detector alone)
	// comes at frame ~80, its transcript 300 ms later; segment 1 runs to
	// about 6.2 s; the tail is frames 207–238. For aiOla the drop comes
	// after the chunk that holds the frame.
	for _, drop := range []int{40, 82, 120, 170, 212, 225} {
		t.Run(fmt.Sprintf("drop after frame %d", drop), func(t *testing.T) {
			t.Parallel()
			o := stream(t, dl, in, refserver.Faults{DropAfterFrames: dl.count(drop)}, nil)
			if o.err != nil {
				t.Fatalf("Run: %v\nwarnings: %q", o.err, o.warnings)
			}
			if !slices.Equal(durations(o.texts), durations(clean.texts)) {
				t.Errorf("transcripts %q, want the fault-free %q", o.texts, clean.texts)
			}
			if !slices.IsSorted(o.segments) || len(slices.Compact(slices.Clone(o.segments))) != len(o.segments) {
				t.Errorf("segment numbers %v are not strictly increasing", o.segments)
			}
			if o.stats.Reconnects != 1 || o.stats.Sessions != 2 || o.stats.GivenUp != 0 {
				t.Errorf("stats: %d reconnections, %d sessions, %d frames given up", o.stats.Reconnects, o.stats.Sessions, o.stats.GivenUp)
			}
			checkCoverage(t, o.reports, want)
			for i, rep := range o.reports {
				if rep.SizeViolations != 0 {
					t.Errorf("session %d: %d audio messages of a size the service does not take", i+1, rep.SizeViolations)
				}
			}
			// The replay keeps the cadence (never more than two frames
			// a period) and the stream then catches up: it ends no later
			// than an undisturbed one plus the replayed audio. The
			// arrivals are of audio messages: frames, or aiOla's chunks.
			period := frame.Rate16k.FrameDuration() * time.Duration(dl.unit)
			arr := o.reports[len(o.reports)-1].Arrivals
			for i := 16; i < len(arr); i++ {
				// Seventeen frames leave at least eight periods (256 ms)
				// apart even while catching up; a burst sends them within
				// a few milliseconds. The bound, two periods, leaves a busy
				// machine 192 ms of delays in arrival (seen: single
				// frames 16 ms early or late beside their neighbours).
				if arr[i]-arr[i-16] < 2*period {
					t.Errorf("session 2: frames %d..%d arrived within %v: a burst", i-16, i, arr[i]-arr[i-16])
					break
				}
			}
			// Replayed frames go at cadence; what fell behind meanwhile
			// catches up at up to twice the rate.
			if limit := frame.Rate16k.FrameAt(int64(len(want)/frame.Size)+o.stats.Replayed) + 3*time.Second; o.stats.Elapsed > limit {
				t.Errorf("the stream took %v, more than %v: it did not catch up", o.stats.Elapsed, limit)
			}
		})
	}
}

// onWire16k is the input, zero-padded to whole frames, and 1 s of tail.
func onWire16k(in []byte) []byte {
	pad := (frame.Size - len(in)%frame.Size) % frame.Size
	return append(bytes.Clone(in), make([]byte, pad+int(frame.Rate16k.FramesIn(time.Second))*frame.Size)...)
}

// checkCoverage checks that the sessions received contiguous, frame-aligned
// stretches of the stream that together cover all of it (in chunks, for
// aiOla, whose replay may start at any frame).
func checkCoverage(t *testing.T, reps []refserver.Report, stream []byte) {
	t.Helper()
	covered := 0 // bytes of the stream covered so far, from the start
	for i, rep := range reps {
		a := rep.Audio
		start := -1
		for off := 0; off+len(a) <= len(stream); off += frame.Size {
			if off <= covered && bytes.Equal(stream[off:off+len(a)], a) {
				start = off
			}
		}
		if start < 0 {
			t.Fatalf("session %d received %d bytes that are not a stretch of the stream starting within what earlier sessions covered (%d bytes)", i+1, len(a), covered)
		}
		covered = max(covered, start+len(a))
	}
	if covered != len(stream) {
		t.Fatalf("the sessions covered %d of the %d bytes of the stream", covered, len(stream))
	}
}

func TestReconnectGivesUp(t *testing.T) { forDialects(t, testReconnectGivesUp) }

func testReconnectGivesUp(t *testing.T, dl dialect) {
	in := reconnectInput(t)[:16000*2]
	// Every session drops after 5 frames: the stream cannot get forward.
	o := stream(t, dl, in, refserver.Faults{DropAfterFrames: dl.count(5), Sessions: 100}, &Options{Reconnects: 2, Unpaced: true})
	var ce *transport.ClosedError
	if !errors.As(o.err, &ce) || !strings.Contains(o.err.Error(), "2 reconnections did not bring the stream forward") {
		t.Fatalf("Run = %v", o.err)
	}
}

// TestReconnectRefusedKeyIsFinal: a key refused on reconnection (revoked
// meanwhile) ends the run at once, with the handshake error. aiOla's
// dialer reuses its access token for the reconnection: the upgrade is
// refused (401), and exchanging the key again is refused as revoked.
func TestReconnectRefusedKeyIsFinal(t *testing.T) { forDialects(t, testReconnectRefusedKeyIsFinal) }

func testReconnectRefusedKeyIsFinal(t *testing.T, dl dialect) {
	in := reconnectInput(t)[:16000*2]
	rs := refserver.New(&refserver.Options{Service: dl.service, Faults: refserver.Faults{DropAfterFrames: dl.count(10)}})
	defer rs.Close()
	var attempts atomic.Int32 // handshakes: requests at the service's path
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handshake := strings.HasPrefix(r.URL.Path, dl.path)
		if handshake {
			attempts.Add(1)
		}
		if attempts.Load() > 1 && (handshake || r.URL.Path == refserver.AiolaTokenPath) {
			w.WriteHeader(dl.refusedStatus)
			w.Write([]byte(dl.refusedBody))
			return
		}
		rs.ServeHTTP(w, r)
	}))
	defer ts.Close()
	d, err := dl.dial(dl.target(ts.URL), 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Stream(context.Background(), bytes.NewReader(in), d, &Options{Unpaced: true, Reconnects: 5})
	var he *transport.HandshakeError
	if !errors.As(err, &he) || he.StatusCode != dl.refusedStatus || he.Message != "revoked" || attempts.Load() != 2 {
		t.Fatalf("Run = %v after %d handshakes; want the %d of the first reconnection", err, attempts.Load(), dl.refusedStatus)
	}
	// aiOla: the auth session whose token was refused was deleted.
	if n := rs.LiveSessions(); n != 0 {
		t.Fatalf("%d auth sessions left live", n)
	}
	d.Close(context.Background())
	rs.Close()
}

func TestReplayBufferOverflowIsLoud(t *testing.T) {
	if testing.Short() {
		t.Skip("paced stream")
	}
	forDialectsParallel(t, testReplayBufferOverflowIsLoud)
}

func testReplayBufferOverflowIsLoud(t *testing.T, dl dialect) {
	in := reconnectInput(t)[:16000*2*3] // 3 s: segment 0 only, unfinished at the drop
	// A 0.5 s replay buffer cannot hold the unfinished segment dropped at 2 s.
	o := stream(t, dl, in, refserver.Faults{DropAfterFrames: dl.count(62)}, &Options{Replay: 500 * time.Millisecond})
	if o.err != nil {
		t.Fatal(o.err)
	}
	if o.stats.GivenUp == 0 || !slices.ContainsFunc(o.warnings, func(w string) bool { return strings.Contains(w, "AUDIO LOST") }) {
		t.Fatalf("given up %d frames, warnings %q: the loss was not reported", o.stats.GivenUp, o.warnings)
	}
}

// wrapDialer wraps every session its Dialer opens.
type wrapDialer struct {
	transport.Dialer
	wrap func(transport.Session) transport.Session
}

func (d wrapDialer) Dial(ctx context.Context) (transport.Session, error) {
	s, err := d.Dialer.Dial(ctx)
	if err != nil {
		return nil, err
	}
	return d.wrap(s), nil
}

// slowEvents delays each event of a kind, as a slow network or a server
// whose detector lags would.
type slowEvents struct {
	transport.Session
	kind transport.Kind
	d    time.Duration
}

func (s *slowEvents) ReadEvent() (transport.Event, error) {
	ev, err := s.Session.ReadEvent()
	if err == nil && ev.Kind == s.kind {
		time.Sleep(s.d)
	}
	return ev, err
}

// TestReplayWithLaggingEvents: the events that tell where a replay may
// start, processing events (aiOla: transcripts, as it sends no segment
// ends), arriving 1.2 s late (the next speech has begun by then) must not
// make the replay skip its start.
func TestReplayWithLaggingEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("paced streams")
	}
	forDialectsParallel(t, testReplayWithLaggingEvents)
}

func testReplayWithLaggingEvents(t *testing.T, dl dialect) {
	in := reconnectInput(t)
	clean := cleanRun(t, dl)
	kind := transport.SegmentEnded
	if dl.segmentEnd == "" {
		kind = transport.Transcript
	}
	o := streamVia(t, dl, in, refserver.Faults{DropAfterFrames: dl.count(135)}, nil, func(s transport.Session) transport.Session {
		return &slowEvents{s, kind, 1200 * time.Millisecond}
	})
	if o.err != nil {
		t.Fatal(o.err)
	}
	if !slices.Equal(durations(o.texts), durations(clean.texts)) {
		t.Fatalf("transcripts %q, want the fault-free %q: the replay skipped audio", o.texts, clean.texts)
	}
}

// TestRedialBounded: reconnections to a server that never gets the
// session ready (Vachana: it accepts but never greets; aiOla: it opens
// the Engine.IO session but never answers the namespace's CONNECT;
// Sarvam, which sends no greeting: it never answers the upgrade) are
// bounded by ConnectTimeout, and a graceful stop ends them. Three attempts
// of 300 ms with their back-off take about 3 s; the limit, 12 s, leaves a
// busy machine 9 s of margin and still fails a run that ignores
// ConnectTimeout (15 s an attempt by default) or the stop (an hour).
func TestRedialBounded(t *testing.T) { forDialectsParallel(t, testRedialBounded) }

func testRedialBounded(t *testing.T, dl dialect) {
	in := reconnectInput(t)[:16000*2*3]
	silent, want := http.Handler(nil), "sent no connected event"
	switch {
	case dl.service == refserver.ServiceAiola:
		silent, want = http.HandlerFunc(unjoinable), "waited for the server to accept namespace /events: no session within the connect limit"
	case dl.greeting == "":
		silent = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		want = "no session within the connect limit"
	}
	for _, withStop := range []bool{false, true} {
		a := refserver.New(&refserver.Options{Service: dl.service, Faults: refserver.Faults{DropAfterFrames: dl.count(20)}})
		b := refserver.New(&refserver.Options{Service: dl.service, Faults: refserver.Faults{NoConnected: true}})
		var n atomic.Int32
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case !strings.HasPrefix(r.URL.Path, dl.path):
				a.ServeHTTP(w, r) // aiOla's tokens, all from a
			case n.Add(1) == 1:
				a.ServeHTTP(w, r)
			case silent != nil:
				silent.ServeHTTP(w, r)
			default:
				b.ServeHTTP(w, r)
			}
		}))
		d, err := dl.dial(dl.target(ts.URL), 0)
		if err != nil {
			t.Fatal(err)
		}
		opts := &Options{Unpaced: true, ConnectTimeout: 300 * time.Millisecond, Reconnects: 3}
		if withStop {
			stop := make(chan struct{})
			time.AfterFunc(500*time.Millisecond, func() { close(stop) })
			opts.Stop, opts.ConnectTimeout = stop, time.Hour
		}
		start := time.Now()
		_, err = Stream(context.Background(), bytes.NewReader(in), d, opts)
		took := time.Since(start)
		d.Close(context.Background())
		if live := a.LiveSessions(); live != 0 {
			t.Errorf("stop %v: %d auth sessions left live", withStop, live)
		}
		a.Close()
		b.Close()
		ts.Close()
		switch {
		case took > 12*time.Second:
			t.Errorf("stop %v: Run took %v", withStop, took)
		case withStop && !errors.Is(err, ErrStopped):
			t.Errorf("stop: Run = %v, want ErrStopped", err)
		case !withStop && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("Run = %v, want %q", err, want)
		}
	}
}

// unjoinable is a Socket.IO server that opens the Engine.IO session, then
// reads and drops everything: the namespace's CONNECT goes unanswered, as
// with the reference server's NoConnected, whose auth sessions are its own.
func unjoinable(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	if c.Write(r.Context(), websocket.MessageText, engineOpen) != nil {
		return
	}
	for {
		if _, _, err := c.Read(r.Context()); err != nil {
			return
		}
	}
}

// TestStalledServerFails: a server that stops reading never answers a
// ping; the sessions that replace it make no confirmed progress, so the run
// fails saying so instead of reconnecting forever. It takes about 3 s (pings
// every 300 ms, two reconnections); the 30 s limit is below the 31 s of
// paced input and tail, so a run that reconnects until the input ends fails
// it.
func TestStalledServerFails(t *testing.T) { forDialectsParallel(t, testStalledServerFails) }

func testStalledServerFails(t *testing.T, dl dialect) {
	in := make([]byte, 16000*2*30) // 30 s, paced: writes never block, pongs stop
	_, d := refSession(t, dl, &refserver.Options{Faults: refserver.Faults{StallAfterFrames: dl.count(10)}})
	start := time.Now()
	_, err := Stream(context.Background(), bytes.NewReader(in), d, &Options{PingInterval: 300 * time.Millisecond, Reconnects: 2})
	if err == nil || !strings.Contains(err.Error(), "stopped reading") || time.Since(start) > 30*time.Second {
		t.Fatalf("Run = %v after %v", err, time.Since(start))
	}
}

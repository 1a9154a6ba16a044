package pipeline

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"testing/synctest"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/internal/clock"
	"github.com/vachana-pipe/vachana-pipe/internal/leakcheck"
	"github.com/vachana-pipe/vachana-pipe/sink"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/aiola"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
	"github.com/vachana-pipe/vachana-pipe/transport/sarvam"
	"github.com/vachana-pipe/vachana-pipe/transport/vachana"
)

// TestMain runs up to sixteen tests marked parallel at once, unless
// -parallel says otherwise: they are paced streams, which spend their time
// asleep between frames (a frame every 32 ms), and the default, one per
// core, made the package take three minutes on two cores.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", "16")
	}
	leakcheck.Main(m)
}

// dialect is a service the pipeline is tested with: the mode of the
// reference server that speaks it, a dialer, and the dialect's messages
// for the tests' own servers.
type dialect struct {
	name    string
	service string       // refserver.Options.Service
	path    string       // the reference server's path
	base    bool         // dial takes the server's http:// base (aiOla's API and auth base), not its WebSocket URL
	unit    int          // the frames of one audio message, which the reference server's faults count
	rates   []frame.Rate // the sample rates the service takes

	// dial makes a dialer of sessions to url (see target) at rate, 0 for
	// the service's default.
	dial func(url string, rate frame.Rate) (transport.Dialer, error)

	greeting   string // sent first on a session; "" for none
	segmentEnd string // a segment's end; "" for a service that sends none (aiOla)
	transcript string // a final transcript with the text "late"

	refusedStatus int    // the status of a refused key
	refusedBody   string // and its body, as the service words it
}

// dialects are the services every test of a session runs with.
var dialects = []dialect{
	{
		name: "vachana", service: refserver.ServiceVachana, path: refserver.Path, unit: 1,
		rates: []frame.Rate{frame.Rate8k, frame.Rate16k},
		dial: func(url string, rate frame.Rate) (transport.Dialer, error) {
			return vachana.NewDialer(vachana.Config{URL: url, APIKey: "k", SampleRate: rate})
		},
		greeting:      `{"type":"connected"}`,
		segmentEnd:    `{"type":"processing"}`,
		transcript:    `{"type":"transcript","text":"late"}`,
		refusedStatus: 401,
		refusedBody:   `{"detail":{"error_code":"INVALID_API_KEY","message":"revoked"}}`,
	},
	{
		name: "sarvam", service: refserver.ServiceSarvam, path: refserver.SarvamPath, unit: 1,
		rates: []frame.Rate{frame.Rate8k, frame.Rate16k},
		dial: func(url string, rate frame.Rate) (transport.Dialer, error) {
			return sarvam.NewDialer(sarvam.Config{URL: url, APIKey: "k", SampleRate: rate})
		},
		segmentEnd:    `{"type":"events","data":{"signal_type":"END_SPEECH"}}`,
		transcript:    `{"type":"data","data":{"transcript":"late","metrics":{"audio_duration":0.3,"processing_latency":0.05}}}`,
		refusedStatus: 403,
		refusedBody:   `{"error":{"message":"revoked","code":"invalid_api_key_error"}}`,
	},
	{
		name: "aiola", service: refserver.ServiceAiola, path: refserver.AiolaPath, base: true, unit: aiola.ChunkFrames,
		rates: aiola.Rates,
		dial: func(url string, rate frame.Rate) (transport.Dialer, error) {
			if rate != 0 {
				if err := aiola.CheckRate(rate); err != nil {
					return nil, err
				}
			}
			return aiola.NewDialer(aiola.Config{APIURL: url, AuthURL: url, APIKey: "k"})
		},
		transcript:    `42/events,["transcript",{"transcript":"late"}]`,
		refusedStatus: 401,
		refusedBody:   `{"message":"revoked","code":"UNAUTHORIZED"}`,
	},
}

// target returns the URL dl dials for a server whose base is base
// (http://host:port): the WebSocket URL of its path, or for aiOla the base
// itself.
func (dl dialect) target(base string) string {
	if dl.base {
		return base
	}
	return "ws" + strings.TrimPrefix(base, "http") + dl.path
}

// count returns the audio messages that hold frames frames, rounded up:
// the count of a reference server's fault that fires after about that
// many frames.
func (dl dialect) count(frames int) int { return (frames + dl.unit - 1) / dl.unit }

// segmentEvents returns segmentKinds of the events of n segments, each
// ended and transcribed, as dl reports them.
func (dl dialect) segmentEvents(n int) string {
	var out []string
	for range n {
		if dl.segmentEnd != "" {
			out = append(out, transport.SegmentEnded.String())
		}
		out = append(out, transport.Transcript.String())
	}
	return fmt.Sprint(out)
}

// forDialects runs test as a subtest with each dialect.
func forDialects(t *testing.T, test func(t *testing.T, dl dialect)) {
	for _, dl := range dialects {
		t.Run(dl.name, func(t *testing.T) { test(t, dl) })
	}
}

// forDialectsParallel is forDialects with the test and its subtests run in
// parallel with the others: for the paced streams, which mostly wait.
func forDialectsParallel(t *testing.T, test func(t *testing.T, dl dialect)) {
	t.Parallel()
	for _, dl := range dialects {
		t.Run(dl.name, func(t *testing.T) {
			t.Parallel()
			test(t, dl)
		})
	}
}

// refSession starts a reference server speaking dl with opts, closed when
// the test ends, and returns a dialer of 16 kHz sessions to it.
func refSession(t *testing.T, dl dialect, opts *refserver.Options) (*refserver.Server, transport.Dialer) {
	t.Helper()
	var o refserver.Options
	if opts != nil {
		o = *opts
	}
	o.Service = dl.service
	srv, err := refserver.Start(&o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	d, err := dl.dial(dl.target(srv.BaseURL), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeDialer(t, srv, d) })
	return srv, d
}

// closeDialer closes d, a dialer of srv's sessions, before srv is closed:
// for aiOla it deletes the auth session, and then none may be left live.
// Closing it again is harmless.
func closeDialer(t *testing.T, srv *refserver.Server, d transport.Dialer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := d.Close(ctx)
	if n := srv.LiveSessions(); n > 0 {
		t.Errorf("closing the dialer (%v) left %d auth sessions live", err, n)
	}
}

// segmentKinds keeps the segment ends (which aiOla does not send) and
// transcripts of events, as text: see dialect.segmentEvents.
func segmentKinds(events []Event) string {
	var out []string
	for _, ev := range events {
		if ev.Kind == transport.SegmentEnded || ev.Kind == transport.Transcript {
			out = append(out, ev.Kind.String())
		}
	}
	return fmt.Sprint(out)
}

// fakeClock makes the pacers Run creates usable on a synctest fake clock.
func fakeClock(t *testing.T) {
	pacerClock = func() frame.Clock { return new(clock.Runtime) }
	t.Cleanup(func() { pacerClock = func() frame.Clock { return nil } })
}

func pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*13 + 1)
	}
	return p
}

func TestRunToFile(t *testing.T) {
	for _, n := range []int{0, 1, 1023, 1024, 1025, 100*frame.Size + 7} {
		for _, oneByte := range []bool{false, true} {
			t.Run(fmt.Sprintf("len=%d/onebyte=%v", n, oneByte), func(t *testing.T) {
				in := pattern(n)
				var src io.Reader = bytes.NewReader(in)
				if oneByte {
					src = iotest.OneByteReader(src)
				}
				var out bytes.Buffer
				stats, err := Run(context.Background(), src, sink.NewFile(&out), &Options{Unpaced: true, TailSilence: 100 * time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				pad := (frame.Size - n%frame.Size) % frame.Size
				tail := int(frame.Rate16k.FramesIn(100 * time.Millisecond)) // 1600 samples → 4 frames
				want := append(bytes.Clone(in), make([]byte, pad+tail*frame.Size)...)
				if !bytes.Equal(out.Bytes(), want) {
					t.Fatalf("output differs: got %d bytes, want %d", out.Len(), len(want))
				}
				if stats.InputBytes != int64(n) || stats.Padding != pad || stats.TailFrames != int64(tail) || stats.Bytes() != int64(len(want)) {
					t.Fatalf("stats = %+v; want input %d, padding %d, tail %d, bytes %d", stats, n, pad, tail, len(want))
				}
			})
		}
	}
}

// TestRunReadAhead runs every small queue size, down to one frame, with
// the sender giving buffers back in batches: no size may stall the reader
// or reorder frames.
func TestRunReadAhead(t *testing.T) {
	in := pattern(300*frame.Size + 5)
	for _, ahead := range []int{1, 2, 3, 4, 5, 7, 8, 15, 16, 63, 64, 65, 100} {
		t.Run(fmt.Sprint(ahead), func(t *testing.T) {
			var out bytes.Buffer
			src := iotest.HalfReader(bytes.NewReader(in))
			if _, err := Run(context.Background(), src, sink.NewFile(&out), &Options{Unpaced: true, NoTailSilence: true, ReadAhead: ahead}); err != nil {
				t.Fatal(err)
			}
			want := append(bytes.Clone(in), make([]byte, frame.Size-5)...)
			if !bytes.Equal(out.Bytes(), want) {
				t.Fatalf("output differs: got %d bytes, want %d", out.Len(), len(want))
			}
		})
	}
}

func TestRunNoTail(t *testing.T) {
	var out bytes.Buffer
	_, err := Run(context.Background(), bytes.NewReader(pattern(frame.Size)), sink.NewFile(&out), &Options{Unpaced: true, NoTailSilence: true})
	if err != nil || out.Len() != frame.Size {
		t.Fatalf("Run = %v, %d bytes out; want one frame and no tail", err, out.Len())
	}
}

// closeCounter records whether Close was called.
type closeCounter struct {
	sink.Discard
	closed bool
}

func (c *closeCounter) Close() error { c.closed = true; return nil }

func TestRunInputError(t *testing.T) {
	boom := errors.New("disk on fire")
	src := io.MultiReader(bytes.NewReader(pattern(5000)), iotest.ErrReader(boom))
	dst := &closeCounter{}
	_, err := Run(context.Background(), src, dst, &Options{Unpaced: true})
	var ie *InputError
	if !errors.As(err, &ie) || !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want an InputError wrapping the read error", err)
	}
	if !dst.closed {
		t.Fatal("the sink was not closed (flushed) after an input error: what was written could be lost")
	}
}

type failingSink struct{ n int }

func (s *failingSink) WriteFrame(*frame.Frame) error {
	s.n++
	if s.n == 3 {
		return errors.New("sink broke")
	}
	return nil
}
func (s *failingSink) Close() error { return nil }

func TestRunSinkError(t *testing.T) {
	_, err := Run(context.Background(), bytes.NewReader(pattern(100*frame.Size)), &failingSink{}, &Options{Unpaced: true, ReadAhead: 2})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("writing frame 2: sink broke")) {
		t.Fatalf("Run = %v, want the sink's error with the frame number", err)
	}
}

// TestStreamRateFromDialer: a dialer of 8 kHz sessions sets the pacing;
// a different Options.Rate is refused.
func TestStreamRateFromDialer(t *testing.T) {
	forDialects(t, testStreamRateFromDialer)
}

func testStreamRateFromDialer(t *testing.T, dl dialect) {
	srv, err := refserver.Start(&refserver.Options{Service: dl.service})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	// 8 kHz where the service takes it (aiOla takes 16 kHz only), and an
	// Options.Rate that differs.
	rate, other := frame.Rate8k, frame.Rate16k
	if !slices.Contains(dl.rates, rate) {
		rate, other = frame.Rate16k, frame.Rate8k
		if _, err := dl.dial(dl.target(srv.BaseURL), frame.Rate8k); err == nil {
			t.Errorf("a dialer of %s accepted 8000 Hz", dl.name)
		}
	}
	d, err := dl.dial(dl.target(srv.BaseURL), rate)
	if err != nil {
		t.Fatal(err)
	}
	defer closeDialer(t, srv, d)
	for _, opt := range []frame.Rate{0, rate, other} {
		stats, err := Stream(context.Background(), bytes.NewReader(pattern(frame.Size)), d, &Options{Rate: opt, Unpaced: true})
		switch {
		case opt != other && (err != nil || stats.Rate != rate):
			t.Errorf("Options.Rate %d: Stream = %v at %d Hz, want the dialer's %d Hz", opt, err, stats.Rate, rate)
		case opt == other && (err == nil || !strings.Contains(err.Error(), "must agree")):
			t.Errorf("Options.Rate %d: Stream = %v, want a rate mismatch", opt, err)
		}
	}
}

// TestOptionsInvalid: a negative value is refused with the field's name.
func TestOptionsInvalid(t *testing.T) {
	for _, tt := range []struct {
		opts Options
		name string
	}{
		{Options{TailSilence: -time.Second}, "TailSilence"},
		{Options{DrainTimeout: -1}, "DrainTimeout"},
		{Options{PingInterval: -1}, "PingInterval"},
		{Options{Replay: -1}, "Replay"},
		{Options{StallTimeout: -1}, "StallTimeout"},
		{Options{ConnectTimeout: -1}, "ConnectTimeout"},
		{Options{ReadAhead: -1}, "ReadAhead"},
		{Options{Reconnects: -1}, "Reconnects"},
		{Options{Rate: -8000}, "Rate"},
	} {
		_, err := Run(context.Background(), bytes.NewReader(nil), &sink.Discard{}, &tt.opts)
		if err == nil || !strings.Contains(err.Error(), "Options."+tt.name) {
			t.Errorf("%+v: Run = %v, want an error naming Options.%s", tt.opts, err, tt.name)
		}
	}
}

func TestStreamBadRate(t *testing.T) {
	if _, err := vachana.NewDialer(vachana.Config{SampleRate: 22050}); err == nil {
		t.Fatal("NewDialer accepted 22050 Hz")
	}
}

// TestRunCancelBlockedRead cancels a run whose source is a pipe nobody
// writes to: Options.Interrupt must interrupt the blocked Read and every
// goroutine must be joined.
func TestRunCancelBlockedRead(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	pw.Write(pattern(3 * frame.Size))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, pr, &sink.Discard{}, &Options{Interrupt: func() { pr.SetReadDeadline(time.Unix(1, 0)) }})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancellation: the blocked Read was not interrupted")
	}
}

// fakeSession is a session that answers every 20th frame with a segment
// end and, delay later, its transcript. Its dialer opens it once.
type fakeSession struct {
	delay     time.Duration
	dropAfter int // if > 0, the session is lost at this frame
	fatalAt   int // if > 0, a fatal error event comes with this frame
	mu        sync.Mutex
	frames    int
	queue     chan transport.Event
	closed    chan struct{}
	timers    []*time.Timer
	procs     int
	closes    int
	dead      chan struct{}
	once      sync.Once
}

func newFakeSession(delay time.Duration) *fakeSession {
	return &fakeSession{delay: delay, queue: make(chan transport.Event, 1000), closed: make(chan struct{}), dead: make(chan struct{})}
}

func (s *fakeSession) WriteAudio([]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.dead:
		return &transport.ClosedError{Code: -1, Err: errors.New("fake session dropped")}
	default:
	}
	s.frames++
	if s.frames == s.fatalAt {
		s.queue <- transport.Event{Kind: transport.Error, Type: "error", Message: "boom", Fatal: true}
	}
	if s.frames == s.dropAfter {
		s.once.Do(func() { close(s.dead) })
		return &transport.ClosedError{Code: -1, Err: errors.New("fake session dropped")}
	}
	if s.frames%20 == 0 {
		idx := fmt.Sprint(s.procs)
		s.procs++
		s.queue <- transport.Event{Kind: transport.SegmentEnded, Type: "processing", SegmentIndex: idx}
		s.timers = append(s.timers, time.AfterFunc(s.delay, func() {
			s.queue <- transport.Event{Kind: transport.Transcript, Type: "transcript", SegmentIndex: idx, Text: "seg " + idx, Final: true, Latency: s.delay}
		}))
	}
	return nil
}

func (s *fakeSession) ReadEvent() (transport.Event, error) {
	select {
	case ev := <-s.queue:
		return ev, nil
	case <-s.closed:
		return transport.Event{}, io.EOF
	case <-s.dead:
		return transport.Event{}, &transport.ClosedError{Code: -1, Err: errors.New("fake session dropped")}
	}
}

func (s *fakeSession) Ping(context.Context) error   { return nil }
func (s *fakeSession) Finish(context.Context) error { return nil }
func (s *fakeSession) Close() error {
	s.mu.Lock()
	s.closes++
	s.mu.Unlock()
	close(s.closed)
	return nil
}
func (s *fakeSession) SetNoWait(bool) (bool, error) { return false, nil }
func (s *fakeSession) Backlog() bool                { return false }

func (s *fakeSession) CloseNow() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.timers {
		t.Stop()
	}
	s.once.Do(func() { close(s.dead) })
	return nil
}

// fakeDialer opens its fakeSession, at 8 kHz.
type fakeDialer struct{ s *fakeSession }

func (d fakeDialer) Audio() transport.Audio {
	return transport.Audio{Rate: frame.Rate8k, ChunkFrames: 1}
}
func (d fakeDialer) Dial(context.Context) (transport.Session, error) { return d.s, nil }
func (d fakeDialer) Close(context.Context) error                     { return nil }

// TestRunPacedStream runs a paced stream on the fake clock: every frame must
// leave exactly on its deadline, and every transcript must be delivered
// before the session is closed.
func TestRunPacedStream(t *testing.T) {
	fakeClock(t)
	synctest.Test(t, func(t *testing.T) {
		fs := newFakeSession(300 * time.Millisecond)
		var got []string
		opts := &Options{
			OnEvent: func(ev Event) { got = append(got, ev.Type+" "+ev.SegmentIndex) },
		}
		in := pattern(200*frame.Size + 100)
		start := time.Now()
		stats, err := Stream(context.Background(), bytes.NewReader(in), fakeDialer{fs}, opts)
		if err != nil {
			t.Fatal(err)
		}
		frames := int64(201 + frame.Rate8k.FramesIn(time.Second)) // 201 + 16 tail
		if stats.Frames != frames || fs.frames != int(frames) {
			t.Fatalf("sent %d frames (sink saw %d), want %d", stats.Frames, fs.frames, frames)
		}
		if stats.Cadence.Max != 0 || stats.Cadence.Drift != 0 {
			t.Fatalf("cadence on a fake clock = %+v, want exact", stats.Cadence)
		}
		// The last frame leaves at FrameAt(frames-1) and is answered by a
		// pong at once; the drain then settles for 750 ms. The last
		// transcript comes 300 ms after the segment end sent with frame 200.
		wantEnd := max(frame.Rate8k.FrameAt(frames-1)+settle, frame.Rate8k.FrameAt(199)+300*time.Millisecond)
		if elapsed := time.Since(start); elapsed != wantEnd {
			t.Fatalf("run took %v, want %v", elapsed, wantEnd)
		}
		if stats.Segments != 10 || stats.Transcripts != 10 || fs.closes != 1 {
			t.Fatalf("processing %d, transcripts %d, closes %d; want 10, 10, 1", stats.Segments, stats.Transcripts, fs.closes)
		}
		if stats.Turnaround.Max != 300*time.Millisecond || stats.Latency.P50 != 300*time.Millisecond {
			t.Fatalf("turnaround %v, latency %v; want 300ms", stats.Turnaround, stats.Latency)
		}
		if len(got) != 20 || got[0] != "processing 0" || got[19] != "transcript 9" {
			t.Fatalf("events = %v", got)
		}
	})
}

// dropDialer opens fake sessions at 8 kHz; the first is lost after
// dropAfter frames.
type dropDialer struct {
	dropAfter int
	refuse    bool // every dial after the first fails

	mu     sync.Mutex
	dials  int
	opened []*fakeSession
}

// state returns the dials so far and the sessions opened.
func (d *dropDialer) state() (int, []*fakeSession) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dials, slices.Clone(d.opened)
}

func (d *dropDialer) Audio() transport.Audio {
	return transport.Audio{Rate: frame.Rate8k, ChunkFrames: 1}
}

func (d *dropDialer) Dial(context.Context) (transport.Session, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dials++
	if d.refuse && d.dials > 1 {
		return nil, errors.New("refused")
	}
	s := newFakeSession(100 * time.Millisecond)
	if len(d.opened) == 0 {
		s.dropAfter = d.dropAfter
	}
	d.opened = append(d.opened, s)
	return s, nil
}

func (d *dropDialer) Close(context.Context) error { return nil }

// TestCadenceAfterReplay: the outage of a reconnection is no interval of
// the cadence. On the fake clock every frame leaves on its deadline, the
// replayed ones at cadence from the reconnection and the live ones then
// catching up at half a period, so the worst deviation is half a period;
// counting the outage made it the back-off and more.
func TestCadenceAfterReplay(t *testing.T) {
	fakeClock(t)
	synctest.Test(t, func(t *testing.T) {
		d := &dropDialer{dropAfter: 50}
		stats, err := Stream(context.Background(), bytes.NewReader(pattern(100*frame.Size)), d, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, opened := d.state(); stats.Reconnects != 1 || len(opened) != 2 {
			t.Fatalf("%d reconnections, %d sessions opened; want 1, 2", stats.Reconnects, len(opened))
		}
		if half := frame.Rate8k.FrameDuration() / 2; stats.Cadence.Max > half {
			t.Fatalf("cadence max %v, more than half a period (%v): the outage was counted", stats.Cadence.Max, half)
		}
	})
}

// TestFatalErrorEndsSession: an error event the dialect marks fatal ends
// the session at once: replaced when reconnection is allowed, reported
// otherwise.
func TestFatalErrorEndsSession(t *testing.T) {
	fakeClock(t)
	synctest.Test(t, func(t *testing.T) {
		fs := newFakeSession(10 * time.Millisecond)
		fs.fatalAt = 30
		_, err := Stream(context.Background(), bytes.NewReader(pattern(100*frame.Size)), fakeDialer{fs}, &Options{NoReconnect: true})
		var ce *transport.ClosedError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "fatal error: boom") {
			t.Fatalf("Stream = %v, want the fatal error", err)
		}
		if fs.frames > 32 {
			t.Fatalf("%d frames written after a fatal error at frame 30", fs.frames)
		}
	})
}

// TestLostWhileInputQuiet: a session lost while the input gives nothing is
// replaced at once, not when the input next gives audio.
func TestLostWhileInputQuiet(t *testing.T) {
	fakeClock(t)
	synctest.Test(t, func(t *testing.T) {
		pr, pw := io.Pipe()
		d := &dropDialer{}
		var st *Stats
		done := make(chan error, 1)
		go func() {
			var err error
			st, err = Stream(context.Background(), pr, d, nil)
			done <- err
		}()
		pw.Write(pattern(10 * frame.Size))
		time.Sleep(time.Second) // the 10 frames are sent; the input is quiet
		_, opened := d.state()
		opened[0].CloseNow() // the service drops the session
		time.Sleep(10 * time.Second)
		if _, opened = d.state(); len(opened) != 2 {
			t.Fatalf("%d sessions opened 10 s after the loss, while the input was quiet; want 2", len(opened))
		}
		pw.Close()
		if err := <-done; err != nil || st.Reconnects != 1 {
			t.Fatalf("Stream = %v, %d reconnections", err, st.Reconnects)
		}
	})
}

// TestInputErrorDuringRedial: a run that fails (here its input) while a
// lost session is being replaced ends at once, instead of backing off and
// dialling until the attempts run out.
func TestInputErrorDuringRedial(t *testing.T) {
	fakeClock(t)
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("disk on fire")
		pr, pw := io.Pipe()
		d := &dropDialer{dropAfter: 20, refuse: true}
		go func() {
			pw.Write(pattern(25 * frame.Size))
			time.Sleep(2 * time.Second) // the session is lost at frame 20, 1.3 s in
			pw.CloseWithError(boom)
		}()
		start := time.Now()
		_, err := Stream(context.Background(), pr, d, nil)
		if !errors.Is(err, boom) {
			t.Fatalf("Stream = %v, want the input error", err)
		}
		if took, dials := time.Since(start), func() int { n, _ := d.state(); return n }(); took > 3*time.Second || dials > 3 {
			t.Fatalf("Stream returned %v in, after %d dials: the reconnection went on after the run failed", took, dials)
		}
	})
}

func TestRunDrainTimeout(t *testing.T) {
	fakeClock(t)
	synctest.Test(t, func(t *testing.T) {
		fs := newFakeSession(time.Hour)
		_, err := Stream(context.Background(), bytes.NewReader(pattern(40*frame.Size)), fakeDialer{fs}, &Options{DrainTimeout: 2 * time.Second})
		var me *MissingTranscriptsError
		if !errors.As(err, &me) || me.Missing != 2 { // 40 frames + 16 tail at 8 kHz = 56: 2 segments
			t.Fatalf("Run = %v, want 2 transcripts missing", err)
		}
		fs.CloseNow()
	})
}

func TestSummary(t *testing.T) {
	var s summary
	if got := s.result(); got != (Summary{}) {
		t.Fatalf("empty: %+v", got)
	}
	for _, ms := range []int{5, 1, 4, 2, 3} {
		s.add(time.Duration(ms) * time.Millisecond)
	}
	if got, want := s.result(), (Summary{N: 5, P50: 3 * time.Millisecond, Max: 5 * time.Millisecond}); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	s.add(6 * time.Millisecond) // nearest rank of 6: the 3rd smallest
	if got := s.result().P50; got != 3*time.Millisecond {
		t.Fatalf("p50 of 1..6 ms = %v, want 3ms", got)
	}
}

// stallSession blocks every write until CloseNow, which takes a while to
// finish after releasing it.
type stallSession struct {
	fakeSession
	unblock   chan struct{}
	closeDone atomic.Bool
}

func (s *stallSession) WriteAudio([]byte) error {
	<-s.unblock
	return &transport.ClosedError{Code: -1, Err: errors.New("closed")}
}

func (s *stallSession) CloseNow() error {
	close(s.unblock)
	time.Sleep(10 * time.Millisecond)
	s.closeDone.Store(true)
	return nil
}

// TestWatchdogWaitsForItsCallback: once disarm reports a stall, the
// watchdog's callback has finished closing the session, so it can never
// act on a session (or a run) the sender has moved on from.
func TestWatchdogWaitsForItsCallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &stallSession{unblock: make(chan struct{})}
		w := newWatchdog(&session{Session: s}, 100*time.Millisecond)
		w.arm(time.Now())
		s.WriteAudio(nil)
		if !w.disarm() {
			t.Fatal("the watchdog did not fire")
		}
		if !s.closeDone.Load() {
			t.Fatal("disarm returned while the callback was still closing the session")
		}
	})
}

package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"testing/synctest"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/internal/leakcheck"
	"github.com/vachana-pipe/vachana-pipe/sink"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// refSession starts a reference server with opts, closed when the test
// ends, and opens a session to it.
func refSession(t *testing.T, opts *refserver.Options) (*refserver.Server, *sink.WebSocket) {
	t.Helper()
	srv, err := refserver.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	ws, err := sink.Dial(context.Background(), transport.Config{URL: srv.URL, APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	return srv, ws
}

// fakeClock makes the pacers Run creates usable on a synctest fake clock.
func fakeClock(t *testing.T) {
	pacerFine = 0
	t.Cleanup(func() { pacerFine = frame.DefaultFine })
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
			if _, err := Run(context.Background(), src, sink.NewFile(&out), &Options{Unpaced: true, TailSilence: -1, ReadAhead: ahead}); err != nil {
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
	_, err := Run(context.Background(), bytes.NewReader(pattern(frame.Size)), sink.NewFile(&out), &Options{Unpaced: true, TailSilence: -1})
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

// TestRunRateFromSession: a WebSocket opened at 8 kHz sets the pacing;
// a different Options.Rate is refused.
func TestRunRateFromSession(t *testing.T) {
	srv, err := refserver.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, rate := range []frame.Rate{0, frame.Rate16k} {
		ws, err := sink.Dial(context.Background(), transport.Config{URL: srv.URL, APIKey: "k", SampleRate: frame.Rate8k})
		if err != nil {
			t.Fatal(err)
		}
		stats, err := Run(context.Background(), bytes.NewReader(pattern(frame.Size)), ws, &Options{Rate: rate, Unpaced: true})
		switch {
		case rate == 0 && (err != nil || stats.Rate != frame.Rate8k):
			t.Errorf("Run = %v at %d Hz, want the session's 8000 Hz", err, stats.Rate)
		case rate != 0 && (err == nil || !strings.Contains(err.Error(), "must agree")):
			t.Errorf("Run = %v, want a rate mismatch", err)
		}
		ws.CloseNow()
	}
}

func TestRunBadRate(t *testing.T) {
	if _, err := Run(context.Background(), bytes.NewReader(nil), &sink.Discard{}, &Options{Rate: 22050}); err == nil {
		t.Fatal("Run accepted 22050 Hz")
	}
}

// TestRunCancelBlockedRead cancels a run whose source is a pipe nobody
// writes to: the blocked Read must be interrupted and every goroutine joined.
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
		_, err := Run(ctx, pr, &sink.Discard{}, nil)
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

// fakeStream is a Stream that answers every 20th frame with a processing
// event and, delay later, its transcript.
type fakeStream struct {
	delay  time.Duration
	mu     sync.Mutex
	frames int
	queue  chan transport.Event
	closed chan struct{}
	timers []*time.Timer
	sent   int // transcripts handed to ReadEvent
	procs  int
	closes int
	dead   chan struct{}
	once   sync.Once
}

func newFakeStream(delay time.Duration) *fakeStream {
	return &fakeStream{delay: delay, queue: make(chan transport.Event, 1000), closed: make(chan struct{}), dead: make(chan struct{})}
}

func (s *fakeStream) WriteFrame(*frame.Frame) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frames++
	if s.frames%20 == 0 {
		idx := fmt.Sprint(s.procs)
		s.procs++
		s.queue <- transport.Event{Type: transport.Processing, SegmentIndex: idx}
		s.timers = append(s.timers, time.AfterFunc(s.delay, func() {
			s.queue <- transport.Event{Type: transport.Transcript, SegmentIndex: idx, Text: "seg " + idx, IsFinal: true, LatencyMS: float64(s.delay.Milliseconds())}
		}))
	}
	return nil
}

func (s *fakeStream) ReadEvent() (transport.Event, error) {
	select {
	case ev := <-s.queue:
		if ev.Type == transport.Transcript {
			s.mu.Lock()
			s.sent++
			s.mu.Unlock()
		}
		return ev, nil
	case <-s.closed:
		return transport.Event{}, io.EOF
	case <-s.dead:
		return transport.Event{}, errors.New("fake stream dropped")
	}
}

func (s *fakeStream) Drain(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		left := s.procs - s.sent
		s.mu.Unlock()
		if left == 0 {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return &sink.MissingTranscriptsError{Missing: s.procs - s.sent, Waited: limit}
}

func (s *fakeStream) Ping(context.Context) error { return nil }
func (s *fakeStream) Close() error {
	s.mu.Lock()
	s.closes++
	s.mu.Unlock()
	close(s.closed)
	return nil
}
func (s *fakeStream) CloseNow() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.timers {
		t.Stop()
	}
	s.once.Do(func() { close(s.dead) })
	return nil
}

// TestRunPacedStream runs a paced stream on the fake clock: every frame must
// leave exactly on its deadline, and every transcript must be delivered
// before the session is closed.
func TestRunPacedStream(t *testing.T) {
	fakeClock(t)
	synctest.Test(t, func(t *testing.T) {
		fs := newFakeStream(300 * time.Millisecond)
		var got []string
		opts := &Options{
			Rate:    frame.Rate8k,
			OnEvent: func(ev transport.Event) { got = append(got, string(ev.Type)+" "+ev.SegmentIndex) },
		}
		in := pattern(200*frame.Size + 100)
		start := time.Now()
		stats, err := Run(context.Background(), bytes.NewReader(in), fs, opts)
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
		// The last frame leaves at FrameAt(frames-1); the last transcript
		// comes 300 ms after the processing sent with frame 200.
		wantEnd := max(frame.Rate8k.FrameAt(frames-1), frame.Rate8k.FrameAt(199)+300*time.Millisecond)
		if elapsed := time.Since(start); elapsed != wantEnd {
			t.Fatalf("run took %v, want %v", elapsed, wantEnd)
		}
		if stats.Processing != 10 || stats.Transcripts != 10 || fs.closes != 1 {
			t.Fatalf("processing %d, transcripts %d, closes %d; want 10, 10, 1", stats.Processing, stats.Transcripts, fs.closes)
		}
		if stats.Turnaround.Max != 300*time.Millisecond || stats.Latency.P50 != 300*time.Millisecond {
			t.Fatalf("turnaround %v, latency %v; want 300ms", stats.Turnaround, stats.Latency)
		}
		if len(got) != 20 || got[0] != "processing 0" || got[19] != "transcript 9" {
			t.Fatalf("events = %v", got)
		}
	})
}

func TestRunDrainTimeout(t *testing.T) {
	fakeClock(t)
	synctest.Test(t, func(t *testing.T) {
		fs := newFakeStream(time.Hour)
		_, err := Run(context.Background(), bytes.NewReader(pattern(40*frame.Size)), fs, &Options{DrainTimeout: 2 * time.Second})
		var me *sink.MissingTranscriptsError
		if !errors.As(err, &me) || me.Missing != 3 { // 40 frames + 32 tail = 72: 3 segments
			t.Fatalf("Run = %v, want 3 transcripts missing", err)
		}
		fs.CloseNow()
	})
}

func TestHistogram(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Microsecond)
	}
	if p := h.quantile(0.5); p < 490*time.Microsecond || p > 510*time.Microsecond {
		t.Errorf("p50 = %v, want about 500µs", p)
	}
	if p := h.quantile(0.99); p < 975*time.Microsecond || p > 1000*time.Microsecond {
		t.Errorf("p99 = %v, want about 990µs", p)
	}
	if h.max != time.Millisecond {
		t.Errorf("max = %v", h.max)
	}
	h.add(-2 * time.Hour) // absolute value; beyond the last bucket
	if h.max != 2*time.Hour || h.quantile(1) != 2*time.Hour {
		t.Errorf("max = %v, q(1) = %v", h.max, h.quantile(1))
	}
	for us := uint64(0); us < 1<<30; us = us*3/2 + 1 {
		if v := histValue(histIndex(us)); v < time.Duration(us)*time.Microsecond*98/100 || v > time.Duration(us)*time.Microsecond*102/100+time.Microsecond {
			t.Fatalf("%dµs lands in a bucket worth %v", us, v)
		}
	}
}

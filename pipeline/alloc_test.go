//go:build !race

package pipeline

import (
	"context"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/internal/leakcheck"
	"github.com/vachana-pipe/vachana-pipe/internal/testutil"
	"github.com/vachana-pipe/vachana-pipe/sink"
)

// mallocs returns the fewest heap allocations seen in three calls of run.
// The runtime allocates now and then on its own (the record of a goroutine
// blocked in a select or on a lock, a goroutine descriptor, when its
// caches are empty, which each collection empties); the minimum filters
// most of that out.
func mallocs(t testing.TB, run func() error) uint64 {
	// The counts are the whole process's: earlier tests' goroutines (a
	// server's handlers finishing) must be gone.
	if others := leakcheck.Others(5 * time.Second); others != "" {
		t.Fatalf("goroutines that could allocate during the count:\n%s", others)
	}
	best := ^uint64(0)
	for range 3 {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if err := run(); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		best = min(best, after.Mallocs-before.Mallocs)
	}
	return best
}

// runtimeSlack is how many more allocations a run of 99 000 more frames
// may count: the runtime's own, which a longer run, whose goroutines block
// and wake more often, sees more of. A heap profile of 40 runs of Run over
// 100 000 frames (2026-12-02) found 35 records of goroutines blocked in a
// select, 21 goroutine descriptors and 7 records of goroutines blocked on
// a lock beyond the run's fixed cost; the extra came to 6 for Run (once,
// in CI) and 7 for Stream. One allocation per thousand frames would add
// 99.
const runtimeSlack = 10

// TestRunAllocationsDoNotGrowWithFrames shows the steady state allocates
// nothing per frame: a run of 100 000 frames allocates no more than a run of
// 1 000 (the fixed cost of a run: buffers, channels, goroutines).
func TestRunAllocationsDoNotGrowWithFrames(t *testing.T) {
	count := func(n int) uint64 {
		return mallocs(t, func() error {
			_, err := Run(context.Background(), testutil.Zeros(int64(n)*frame.Size), &sink.Discard{}, &Options{Unpaced: true, NoTailSilence: true})
			return err
		})
	}
	short, long := count(1000), count(100_000)
	t.Logf("allocations per run: %d for 1 000 frames, %d for 100 000 frames", short, long)
	if long > short+runtimeSlack {
		t.Fatalf("%d more allocations for 99 000 more frames: the frame path allocates", long-short)
	}
}

// nullDialer opens sessions that take any audio and answer nothing, with
// the given Audio: the pipeline's own cost, without a network. Its
// sessions have the no-wait mode if noWait is set.
type nullDialer struct {
	audio  transport.Audio
	noWait bool
}

func (d nullDialer) Audio() transport.Audio { return d.audio }
func (d nullDialer) Dial(context.Context) (transport.Session, error) {
	return &nullSession{done: make(chan struct{}), noWait: d.noWait}, nil
}
func (nullDialer) Close(context.Context) error { return nil }

type nullSession struct {
	once   sync.Once
	done   chan struct{}
	noWait bool
}

func (s *nullSession) WriteAudio([]byte) error { return nil }
func (s *nullSession) ReadEvent() (transport.Event, error) {
	<-s.done
	return transport.Event{}, io.EOF
}
func (s *nullSession) Ping(context.Context) error   { return nil }
func (s *nullSession) Finish(context.Context) error { return nil }
func (s *nullSession) Close() error                 { s.once.Do(func() { close(s.done) }); return nil }
func (s *nullSession) CloseNow() error              { return s.Close() }
func (s *nullSession) SetNoWait(bool) (bool, error) { return s.noWait, nil }
func (s *nullSession) Backlog() bool                { return false }

// TestStreamAllocationsDoNotGrowWithFrames: the same for Stream, in
// frames and in chunks of several frames, with the replay buffer and the
// client's speech detection of a service without segment ends.
func TestStreamAllocationsDoNotGrowWithFrames(t *testing.T) {
	defer func(s time.Duration) { settle = s }(settle)
	settle = 10 * time.Millisecond // nothing comes: the drain's wait is only time
	for _, a := range []transport.Audio{
		{Rate: frame.Rate16k, ChunkFrames: 1},
		{Rate: frame.Rate16k, ChunkFrames: 4, NoSegmentEnds: true},
	} {
		func() { // no subtest: its parent's goroutine would count as another
			count := func(n int) uint64 {
				return mallocs(t, func() error {
					_, err := Stream(context.Background(), testutil.Zeros(int64(n)*frame.Size), nullDialer{audio: a},
						&Options{Unpaced: true, NoTailSilence: true, NoPing: true, DrainTimeout: time.Second})
					return err
				})
			}
			short, long := count(1000), count(100_000)
			t.Logf("%d frames a chunk: allocations per stream: %d for 1 000 frames, %d for 100 000 frames", a.ChunkFrames, short, long)
			if long > short+runtimeSlack {
				t.Fatalf("%d frames a chunk: %d more allocations for 99 000 more frames: the frame path allocates", a.ChunkFrames, long-short)
			}
		}()
	}
}

// TestCrewAllocationsDoNotGrowWithFrames: the same for paced streams, which
// the crews send: 48 kHz frames (one every 10.7 ms), 100 and then 400 of
// them (1 and 4 s).
func TestCrewAllocationsDoNotGrowWithFrames(t *testing.T) {
	defer func(s time.Duration) { settle = s }(settle)
	settle = 10 * time.Millisecond
	d := nullDialer{audio: transport.Audio{Rate: 48000, ChunkFrames: 1}, noWait: true}
	count := func(n int) uint64 {
		return mallocs(t, func() error {
			_, err := Stream(context.Background(), testutil.Zeros(int64(n)*frame.Size), d,
				&Options{NoTailSilence: true, NoPing: true, DrainTimeout: time.Second})
			return err
		})
	}
	sent, _ := crewCounts()
	short, long := count(100), count(400)
	t.Logf("allocations per paced stream: %d for 100 frames, %d for 400 frames", short, long)
	if after, _ := crewCounts(); after-sent < 3*(100+400)/2 {
		t.Fatalf("the crews sent %d of the %d frames: the test measures something else", after-sent, 3*(100+400))
	}
	if long > short+runtimeSlack {
		t.Fatalf("%d more allocations for 300 more frames: the crew's frame path allocates", long-short)
	}
}

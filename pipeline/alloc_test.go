//go:build !race

package pipeline

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/internal/leakcheck"
	"github.com/vachana-pipe/vachana-pipe/internal/testutil"
	"github.com/vachana-pipe/vachana-pipe/sink"
)

// mallocs returns the fewest heap allocations seen in three unpaced runs
// over n frames. The runtime allocates now and then on its own (a goroutine
// descriptor, a GC worker); the minimum filters that out.
func mallocs(t testing.TB, n int) uint64 {
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
		if _, err := Run(context.Background(), testutil.Zeros(int64(n)*frame.Size), &sink.Discard{}, &Options{Unpaced: true, NoTailSilence: true}); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		best = min(best, after.Mallocs-before.Mallocs)
	}
	return best
}

// TestRunAllocationsDoNotGrowWithFrames shows the steady state allocates
// nothing per frame: a run of 100 000 frames allocates no more than a run of
// 1 000 (the fixed cost of a run: buffers, channels, goroutines).
func TestRunAllocationsDoNotGrowWithFrames(t *testing.T) {
	short, long := mallocs(t, 1000), mallocs(t, 100_000)
	t.Logf("allocations per run: %d for 1 000 frames, %d for 100 000 frames", short, long)
	if long > short+3 {
		t.Fatalf("%d more allocations for 99 000 more frames: the frame path allocates", long-short)
	}
}

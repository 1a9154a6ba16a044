package clock

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vachana-pipe/vachana-pipe/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func TestFake(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	tests := []struct {
		name    string
		early   bool
		advance time.Duration // before the sleep
		until   time.Duration // the sleep's deadline, from start
		slack   time.Duration // its early argument
		want    time.Duration // the time after it, from start
	}{
		{"jumps to the deadline", false, 0, 5 * time.Millisecond, 200 * time.Microsecond, 5 * time.Millisecond},
		{"past deadline", false, 7 * time.Millisecond, 5 * time.Millisecond, 0, 7 * time.Millisecond},
		{"early honoured", true, 0, 5 * time.Millisecond, 200 * time.Microsecond, 4800 * time.Microsecond},
		{"early 0 is exact", true, 0, 5 * time.Millisecond, 0, 5 * time.Millisecond},
		{"never goes back", true, 0, 100 * time.Microsecond, time.Millisecond, 0},
		{"negative advance", false, -time.Second, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewFake(start)
			c.Early = tt.early
			c.Advance(tt.advance)
			if err := c.SleepUntil(ctx, start.Add(tt.until), tt.slack); err != nil {
				t.Fatal(err)
			}
			if got := c.Now().Sub(start); got != tt.want {
				t.Fatalf("time after the sleep = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFakeCancel(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewFake(start)
	stop := errors.New("stopped by test")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(stop)
	if err := c.SleepUntil(ctx, start.Add(time.Second), 0); !errors.Is(err, stop) {
		t.Fatalf("SleepUntil on a cancelled context = %v, want its cause", err)
	}
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("a cancelled sleep moved the clock to %v", got.Sub(start))
	}
	if err := c.SleepUntil(ctx, start, 0); err != nil {
		t.Fatalf("SleepUntil for the present on a cancelled context = %v, want nil", err)
	}
}

// TestRuntime runs the Runtime clock on synctest's fake time: it wakes
// exactly at its deadline, ignores early, and stops at once on
// cancellation.
func TestRuntime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c Runtime
		ctx := context.Background()
		start := c.Now()
		for i := range 5 {
			at := start.Add(time.Duration(i+1) * 32 * time.Millisecond)
			if err := c.SleepUntil(ctx, at, time.Millisecond); err != nil {
				t.Fatal(err)
			}
			if now := c.Now(); !now.Equal(at) {
				t.Fatalf("sleep %d woke at %v, want %v", i, now.Sub(start), at.Sub(start))
			}
		}
		stop := errors.New("stopped by test")
		cctx, cancel := context.WithCancelCause(ctx)
		time.AfterFunc(10*time.Millisecond, func() { cancel(stop) })
		before := c.Now()
		if err := c.SleepUntil(cctx, before.Add(time.Hour), 0); !errors.Is(err, stop) {
			t.Fatalf("SleepUntil = %v, want the cause", err)
		}
		if d := c.Now().Sub(before); d != 10*time.Millisecond {
			t.Fatalf("cancelled after %v, want 10ms", d)
		}
	})
}

// BenchmarkPreciseSleep sleeps 1 ms at a time on the Precise clock, all of
// it kernel-timed, and reports how late it woke. It shows 0 allocs/op.
func BenchmarkPreciseSleep(b *testing.B) { benchSleep(b, new(Precise)) }

// BenchmarkRuntimeSleep is the same on the runtime's timer alone.
func BenchmarkRuntimeSleep(b *testing.B) { benchSleep(b, new(Runtime)) }

func benchSleep(b *testing.B, c interface {
	Now() time.Time
	SleepUntil(context.Context, time.Time, time.Duration) error
}) {
	ctx := context.Background()
	c.SleepUntil(ctx, time.Now().Add(time.Millisecond), 0) // allocates the timer and channel
	var late time.Duration
	b.ReportAllocs()
	for b.Loop() {
		at := time.Now().Add(time.Millisecond)
		c.SleepUntil(ctx, at, 0)
		late += c.Now().Sub(at)
	}
	b.ReportMetric(float64(late.Microseconds())/float64(b.N), "late-µs/op")
}

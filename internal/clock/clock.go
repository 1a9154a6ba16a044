// Package clock holds the clocks a frame.Pacer tells the time by and
// sleeps on: [Runtime], the Go runtime's timers; [Precise], which lets the
// kernel time the last [Span] before a deadline; and [Fake], a clock for
// tests that moves only when told.
//
// Each has the method set of frame.Clock:
//
//	Now() time.Time
//	SleepUntil(ctx context.Context, t time.Time, early time.Duration) error
//
// SleepUntil returns nil once t has passed, or ctx's cause if ctx ends
// first. It may return up to early before t, when that lets one wake-up of
// the process serve several sleepers; with early 0 it never returns before t.
package clock

import (
	"context"
	"sync"
	"time"
)

// Runtime is the clock of the Go runtime: [time.Now] and one reused
// [time.Timer]. It never returns early. Inside a testing/synctest bubble it
// runs on the bubble's fake time.
//
// The zero Runtime is ready to use. It holds the timer of one sleeper: it is
// not safe for concurrent use, so each Pacer needs one of its own. It
// allocates its timer on its first sleep and nothing after.
type Runtime struct {
	timer *time.Timer
}

// Now returns the current time.
func (c *Runtime) Now() time.Time { return time.Now() }

// SleepUntil sleeps until t or until ctx is done. It ignores early.
func (c *Runtime) SleepUntil(ctx context.Context, t time.Time, early time.Duration) error {
	for d := time.Until(t); d > 0; d = time.Until(t) {
		if err := c.sleep(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// sleep sleeps for d or until ctx is done.
func (c *Runtime) sleep(ctx context.Context, d time.Duration) error {
	if c.timer == nil {
		c.timer = time.NewTimer(d)
	} else {
		c.timer.Reset(d)
	}
	select {
	case <-ctx.Done():
		c.timer.Stop()
		return context.Cause(ctx)
	case <-c.timer.C:
		return nil
	}
}

// Precise is the clock of a real-time stream. It sleeps on a runtime timer
// until [Span] (50 ms) before the deadline, and lets the kernel time the
// rest: Go's timers on Linux fire up to about 1 ms late (measured: median
// 0.6 ms), the kernel's to within tens of microseconds on a lightly loaded
// machine. A sleep of a 32 ms frame period (16 kHz and above) is therefore
// one wake-up.
//
// On Linux every Precise clock of the process shares one timerfd, armed for
// the earliest deadline of all sleepers, which the runtime's network poller
// watches: no OS thread is held per sleeper. Sleepers that allow it (early >
// 0) are woken with another whose deadline woke the process, up to early
// before their own; one sleeper alone is never woken early. The timerfd is
// opened on first use and closed once nobody has slept on it for a second,
// so a process whose streams have ended holds no descriptor for it; if the
// kernel refuses one (out of descriptors), the runtime's timer is used
// until [Fine] (2 ms) before the deadline and the rest is a nanosleep, and
// opening is tried again a second later. Elsewhere Span is 0: Precise is
// [Runtime].
//
// SleepUntil does not watch ctx during the last Span before t: a stream
// stopped while its pacer sleeps stops that much later at most.
//
// Precise must not be used inside a testing/synctest bubble: the kernel's
// timer does not see the bubble's fake clock. Use [Runtime] there.
//
// The zero Precise is ready to use. It holds the timer and wake-up channel
// of one sleeper: it is not safe for concurrent use, so each Pacer needs one
// of its own. It allocates them on its first sleep and nothing after.
type Precise struct {
	rt   Runtime
	wake chan wake // for the kernel-timed sleep
}

// Now returns the current time.
func (c *Precise) Now() time.Time { return time.Now() }

// SleepUntil sleeps until t, or until up to early before it, or until ctx is
// done while more than [Span] is left.
func (c *Precise) SleepUntil(ctx context.Context, t time.Time, early time.Duration) error {
	for {
		d := time.Until(t)
		switch {
		case d <= 0:
			return nil
		case d <= Span && c.kernelSleep(t, early):
			return nil
		case d <= Fine: // no kernel timer
			nanosleep(t)
			return nil
		}
		lead := Span
		if d <= Span {
			lead = Fine // no kernel timer
		}
		if err := c.rt.sleep(ctx, d-lead); err != nil {
			return err
		}
	}
}

// Fake is a clock for tests whose time moves only when told: by
// [Fake.Advance], or by SleepUntil, which jumps to its deadline at once
// instead of waiting. A synchronous Pacer on a Fake runs a whole stream's
// schedule in microseconds and the same way every time; work between frames
// is simulated with Advance.
//
// A Fake is safe for concurrent use, but it does not make sleepers wait for
// each other: each SleepUntil moves the time itself. Tests of concurrent
// sleepers use testing/synctest and [Runtime].
type Fake struct {
	// Early makes SleepUntil return as early as its early argument allows,
	// the most a coalescing clock such as [Precise] may do, so that tests
	// see the worst case. Set it before the first sleep.
	Early bool

	mu  sync.Mutex
	now time.Time
}

// NewFake returns a Fake clock that reads t.
func NewFake(t time.Time) *Fake { return &Fake{now: t} }

// Now returns the clock's current time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d, as time spent working would.
// A negative d is treated as 0: the clock never goes back.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
}

// SleepUntil moves the clock to t (to t−early if Early is set) unless it is
// already past it, and returns at once. If the clock would move and ctx is
// done, it returns ctx's cause and leaves the clock alone.
func (c *Fake) SleepUntil(ctx context.Context, t time.Time, early time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Early {
		t = t.Add(-early)
	}
	if !t.After(c.now) {
		return nil
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	c.now = t
	return nil
}

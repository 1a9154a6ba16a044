package frame

import (
	"context"
	"time"
)

// Pacer releases frames at real-time cadence: frame n is due at
// start + [Rate.FrameAt](n) on the monotonic clock, where start is the moment
// frame 0 was released. Deadlines are absolute, so a late wake-up is never
// carried into the next frame and the stream does not drift.
//
// # Late frames
//
// A frame can become ready after its deadline: a live source that stalled, a
// slow disk, a sink whose writes blocked. The Pacer then releases it at once,
// but never less than half a frame period after the previous frame, so that at
// most two frames leave within any one frame period. Frames keep leaving at
// that doubled rate until they are back on the original schedule. The debt of
// a stall is therefore always paid back (no permanent backlog, no drift) and
// never as a burst.
//
// # Precision
//
// On Linux the Go runtime rounds timer sleeps to whole milliseconds, so a
// timer fires up to about 1 ms late (measured: median 0.6 ms). The Pacer sleeps
// on a timer until [Pacer.Fine] before the deadline and lets the kernel time
// the rest: every Pacer of the process shares one timerfd, armed for the
// earliest deadline, which the runtime's network poller watches. That is
// accurate to tens of microseconds on a lightly loaded machine and holds no
// OS thread per stream (a nanosleep each did: a thousand streams on two
// cores then kept the runtime's Ps asleep). On a busy machine wake-ups wait
// for a free CPU like everything else: the scale benchmark in benchmarks/
// measures how much. To spare wake-ups, Pacers due within 200 µs of one that
// wakes are released with it, that little early; a frame held back by the
// half-period minimum gap is never released early. The last Fine before a
// deadline is not interrupted by ctx.
//
// A Pacer is not safe for concurrent use. It does not allocate in Wait.
type Pacer struct {
	// Fine is how long before a deadline the Pacer stops trusting the
	// runtime's timer and lets the kernel time the rest. NewPacer sets it to
	// [DefaultFine]; 0 uses the timer alone, which tests under
	// testing/synctest need: their fake clock does not see the kernel's.
	Fine time.Duration

	rate    Rate
	minGap  time.Duration
	start   time.Time
	last    time.Time // release time of the previous frame
	next    int64     // index of the next frame
	started bool
	timer   *time.Timer
	wake    chan wake // for the fine sleep
	stats   PaceStats
}

// LateTolerance is how far after its deadline a frame may leave and still
// count as on time in [PaceStats]: the precision of the sleep, not a stall.
const LateTolerance = time.Millisecond

// PaceStats counts what a [Pacer] has done.
type PaceStats struct {
	Frames  int64         // frames released
	Late    int64         // frames released more than LateTolerance after their deadline
	MaxLate time.Duration // the largest delay behind the schedule a frame was released with
}

// NewPacer returns a Pacer for frames at rate r. The schedule starts at the
// first call to Wait, or at the time given to [Pacer.Start].
func NewPacer(r Rate) *Pacer {
	return &Pacer{Fine: DefaultFine, rate: r, minGap: r.FrameDuration() / 2}
}

// Start anchors the schedule: frame 0 is due at t. It must be called before
// the first Wait, if at all.
func (p *Pacer) Start(t time.Time) {
	p.start = t
	p.started = true
}

// Wait blocks until the next frame may be released and returns that frame's
// deadline on the schedule, so the caller can measure how far its send was
// from it. The minimum gap counts from the moment the previous Wait
// actually returned. If ctx ends first, Wait returns its cause and the frame is not
// counted as released; the next Wait waits for the same frame.
func (p *Pacer) Wait(ctx context.Context) (deadline time.Time, err error) {
	if !p.started {
		p.Start(time.Now())
	}
	deadline = p.start.Add(p.rate.FrameAt(p.next))
	at := deadline
	if p.next > 0 {
		if g := p.last.Add(p.minGap); g.After(at) {
			at = g
		}
	}
	if err := p.sleepUntil(ctx, at, at.After(deadline)); err != nil {
		return deadline, err
	}
	release := time.Now() // what happened, not what was planned
	if lag := release.Sub(deadline); lag > 0 {
		if lag > LateTolerance {
			p.stats.Late++
		}
		p.stats.MaxLate = max(p.stats.MaxLate, lag)
	}
	p.last = release
	p.next++
	p.stats.Frames++
	return deadline, nil
}

// sleepUntil sleeps until t, or just before it unless exact.
func (p *Pacer) sleepUntil(ctx context.Context, t time.Time, exact bool) error {
	for {
		d := time.Until(t)
		if d <= 0 {
			return nil
		}
		if d <= p.Fine {
			if p.wake == nil {
				p.wake = make(chan wake, 1)
			}
			fineSleep(t, p.wake, exact)
			return nil
		}
		if p.timer == nil {
			p.timer = time.NewTimer(d - p.Fine)
		} else {
			p.timer.Reset(d - p.Fine)
		}
		select {
		case <-ctx.Done():
			p.timer.Stop()
			return context.Cause(ctx)
		case <-p.timer.C:
		}
	}
}

// After records that a frame left at t outside this Pacer (another
// Pacer's, such as a replay's), so the next frame keeps the minimum gap
// from it too.
func (p *Pacer) After(t time.Time) {
	if t.After(p.last) {
		p.last = t
	}
}

// Stats returns what the Pacer has done so far.
func (p *Pacer) Stats() PaceStats { return p.stats }

// Next returns the index of the next frame to be released.
func (p *Pacer) Next() int64 { return p.next }

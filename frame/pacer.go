package frame

import (
	"context"
	"time"

	"github.com/vachana-pipe/vachana-pipe/internal/clock"
)

// Clock is what a [Pacer] tells the time by and sleeps on.
//
// SleepUntil returns nil once t has passed, or ctx's cause if ctx ends
// first. It may return up to early before t, so that one wake-up of the
// process serves several sleepers; with early 0 it must never return before
// t. A Pacer calls its Clock from one goroutine at a time, and Now must not
// go back.
//
// A Pacer made by [NewPacer] has a precise clock of its own (see
// [NewPacer]). Tests give [NewPacerClock] a clock that runs on
// testing/synctest's fake time, or a simulated one.
type Clock interface {
	Now() time.Time
	SleepUntil(ctx context.Context, t time.Time, early time.Duration) error
}

// Pacer releases frames at real-time cadence: frame n is due at
// start + [Rate.FrameAt](n) on its [Clock], where start is the moment
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
// # Replays
//
// After a reconnection a sender sends again frames it had sent before, from
// a replay buffer, and then the live frames that queued up meanwhile.
// [Pacer.Rebase] schedules that with the same Pacer: the replayed frames at
// cadence from the moment given, then the live frames on their original
// schedule, late, caught up under the late policy.
//
// # Precision
//
// The clock of [NewPacer] lets the kernel time the last 50 ms before a
// deadline (more than a frame period at 16 kHz and above, so such a sender
// wakes once a frame), to tens of microseconds on a lightly loaded machine, without an
// OS thread per stream; anything longer it sleeps on the runtime's timer,
// which on Linux fires up to about 1 ms late. To spare wake-ups, Pacers due
// within 200 µs of one that wakes are released with it, that little early,
// but never less than half a period after their previous frame; a frame
// held back by that minimum gap is never released early, nor is the frame of
// a Pacer that sleeps alone. The last 50 ms before a
// deadline are not interrupted by ctx. On a busy machine wake-ups wait for
// a free CPU like everything else: the scale benchmark in benchmarks/
// measures how much.
//
// A Pacer is not safe for concurrent use. It does not allocate in Wait.
type Pacer struct {
	clk     Clock
	rate    Rate
	minGap  time.Duration
	started bool
	start   time.Time // frame 0's deadline on the schedule
	next    int64     // index of the next frame
	high    int64     // frames released at least once: those below are replays
	from    int64     // the frame replays count from, set by Rebase
	fromAt  time.Time // its deadline
	gap     bool      // last is set: the minimum gap applies
	last    time.Time // release time of the previous frame
	stats   PaceStats
}

// coalesce is how early the Pacer lets its clock release a frame on its
// deadline, when another sleeper's wake-up brings it: every wake-up of the
// process costs tens of microseconds of CPU (an epoll return, a thread
// woken); with 300 streams on two cores, waking for each deadline alone
// doubled the CPU per frame.
const coalesce = 200 * time.Microsecond

// LateTolerance is how far after its deadline a frame may leave and still
// count as on time in [PaceStats]: the precision of the sleep, not a stall.
const LateTolerance = time.Millisecond

// PaceStats counts what a [Pacer] has done.
type PaceStats struct {
	Frames  int64         // frames released, replays included
	Late    int64         // frames released more than LateTolerance after their deadline
	MaxLate time.Duration // the largest delay behind the schedule a frame was released with
}

// NewPacer returns a Pacer for frames at rate r on a precise clock of its
// own: the runtime's timer until 50 ms before each deadline, then the
// kernel's (on Linux; elsewhere the runtime's timer alone). The schedule
// starts at the first call to Wait, or at the time given to [Pacer.Start].
// Such a Pacer must not be used inside a testing/synctest bubble, whose fake
// time the kernel does not see; use [NewPacerClock] there.
func NewPacer(r Rate) *Pacer {
	return NewPacerClock(r, new(clock.Precise))
}

// NewPacerClock returns a Pacer for frames at rate r that tells the time by
// c and sleeps on it; nil c is NewPacer's precise clock. c must not be
// shared with another Pacer in use at the same time unless its doc allows
// it.
func NewPacerClock(r Rate, c Clock) *Pacer {
	if c == nil {
		return NewPacer(r)
	}
	return &Pacer{clk: c, rate: r, minGap: r.FrameDuration() / 2}
}

// Start anchors the schedule: frame 0 is due at t. It must be called before
// the first Wait, if at all.
func (p *Pacer) Start(t time.Time) {
	p.start = t
	p.started = true
}

// Rebase makes frame next the next to leave, due at time at, and the
// frames after it due one frame period after another, as long as they are
// frames the Pacer has released before: replays. The first frame it never
// released, and every one after, keeps its deadline on the original
// schedule; if a replay has put it behind, it leaves at once and the frames
// after it every half period, by the late policy, until the stream is back
// on that schedule. The minimum gap from the frame released last, before
// Rebase, still holds.
//
// After a reconnection, a sender that will send frames k, k+1, … again calls
// Rebase(k, now) once and then Wait before each frame, replayed or live, as
// before. Each new reconnection calls Rebase again; Rebase(Next(), now)
// replays nothing. Before the first Wait, Rebase also anchors the schedule
// so that frame next is due at at.
func (p *Pacer) Rebase(next int64, at time.Time) {
	if !p.started {
		p.Start(at.Add(-p.rate.FrameAt(next)))
	}
	p.next = next
	p.from, p.fromAt = next, at
}

// Postpone moves the deadlines of the frames not yet released later, so
// that the next one is due at at, if at is after its deadline; frames
// released before keep their place and the minimum gap still holds. A
// sender calls it when the source paused for a time that must not be
// caught up: when it starts filling the pause with silence, so that the
// silence leaves at cadence from now and the audio after it on the same
// schedule, late by the pause, with no burst. Before the first Wait it
// anchors the schedule so that the next frame is due at at.
func (p *Pacer) Postpone(at time.Time) {
	if !p.started {
		p.Start(at.Add(-p.rate.FrameAt(p.next)))
		return
	}
	if d := at.Sub(p.deadline(p.next)); d > 0 {
		p.start = p.start.Add(d)
		p.fromAt = p.fromAt.Add(d)
	}
}

// deadline returns frame n's deadline.
func (p *Pacer) deadline(n int64) time.Time {
	if n < p.high {
		return p.fromAt.Add(p.rate.FrameAt(n - p.from))
	}
	return p.start.Add(p.rate.FrameAt(n))
}

// Wait blocks until the next frame may be released and returns that frame's
// deadline on the schedule, so the caller can measure how far its send was
// from it. The minimum gap counts from the moment the previous Wait
// actually returned. If ctx ends first, Wait returns its cause and the frame is not
// counted as released; the next Wait waits for the same frame.
func (p *Pacer) Wait(ctx context.Context) (deadline time.Time, err error) {
	deadline, at, early := p.Due()
	if err := p.clk.SleepUntil(ctx, at, early); err != nil {
		return deadline, err
	}
	p.Release(p.clk.Now()) // what happened, not what was planned
	return deadline, nil
}

// Due returns what Wait would wait for, without waiting: the next frame's
// deadline on the schedule, the time it may leave (later than the
// deadline when the minimum gap holds it back), and how much earlier a
// clock that serves several sleepers with one wake-up may let it go. A
// sender that sleeps for many Pacers at once lets the frame leave at or
// after at−early and then calls Release; such a sender should allow early
// only when another Pacer's frame woke it, as the clock of [NewPacer] does.
func (p *Pacer) Due() (deadline, at time.Time, early time.Duration) {
	if !p.started {
		p.Start(p.clk.Now())
	}
	deadline = p.deadline(p.next)
	at, early = deadline, coalesce
	if p.gap {
		g := p.last.Add(p.minGap)
		if g.After(at) {
			at, early = g, 0
		} else {
			early = min(early, at.Sub(g)) // not before the gap either
		}
	}
	return deadline, at, early
}

// Release records that the next frame left at now, as Wait does when it
// returns: the frame is counted, late or not, and the next one is due.
func (p *Pacer) Release(now time.Time) {
	deadline := p.deadline(p.next)
	if lag := now.Sub(deadline); lag > 0 {
		if lag > LateTolerance {
			p.stats.Late++
		}
		p.stats.MaxLate = max(p.stats.MaxLate, lag)
	}
	p.last, p.gap = now, true
	p.next++
	p.high = max(p.high, p.next)
	p.stats.Frames++
}

// Stats returns what the Pacer has done so far.
func (p *Pacer) Stats() PaceStats { return p.stats }

// Next returns the index of the next frame to be released.
func (p *Pacer) Next() int64 { return p.next }

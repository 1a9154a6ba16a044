package frame

import (
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultFine is the default [Pacer.Fine]: Go's timers on Linux fire up to
// about 1 ms late, so the last 2 ms before a deadline are timed by the
// kernel instead.
const DefaultFine = 2 * time.Millisecond

// fineClock wakes goroutines at their deadlines, to within tens of
// microseconds on a lightly loaded machine, without an OS thread or a file
// descriptor each: one timerfd, armed for the earliest deadline of all
// waiters, is read through the runtime's network poller by one waiter at a
// time, the leader, which wakes the others as their deadlines come (within
// [coalesce]) and, once its own has, hands the role to the earliest waiter
// left.
//
// A nanosleep per waiter, its predecessor, holds an OS thread and a P for
// the whole sleep: with a thousand streams on two cores the sleepers alone
// occupied the Ps and frames left tens of milliseconds late.
type fineClock struct {
	fd int      // the timerfd, for timerfd_settime
	f  *os.File // the same, registered with the runtime's poller, for reading

	mu      sync.Mutex
	q       []waiter  // min-heap on at
	armed   time.Time // the deadline the timerfd is set for; zero when nobody waits
	leading bool      // a waiter is reading the timerfd
	buf     [8]byte   // the leader's read buffer
}

type waiter struct {
	at    time.Time
	ch    chan wake
	exact bool // not to be woken early
}

// wake is what a waiter is told: its deadline passed, or it leads now.
type wake uint8

const (
	wakeDue wake = iota + 1
	wakeLead
)

var (
	clockMu    sync.Mutex
	clock      atomic.Pointer[fineClock]
	clockRetry time.Time // when to try again to make the clock, after a failure
)

// sharedClock returns the fineClock every Pacer of the process uses, making
// it on first use, or nil if the kernel would not give a pollable timerfd
// (out of file descriptors, say): fine sleeps are then nanosleeps, and
// making the clock is tried again a second later.
func sharedClock() *fineClock {
	if c := clock.Load(); c != nil {
		return c
	}
	clockMu.Lock()
	defer clockMu.Unlock()
	if c := clock.Load(); c != nil || time.Now().Before(clockRetry) {
		return c
	}
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		clockRetry = time.Now().Add(time.Second)
		return nil
	}
	f := os.NewFile(uintptr(fd), "vachana-pipe-timerfd")
	if f.SetReadDeadline(time.Time{}) != nil { // not registered with the poller
		f.Close()
		clockRetry = time.Now().Add(time.Second)
		return nil
	}
	c := &fineClock{fd: fd, f: f}
	clock.Store(c)
	return c
}

// coalesce is how early the clock may wake a waiter: when it wakes for one
// deadline it also wakes those due within coalesce, so that many streams
// share each wake-up of the process. Every wake-up costs tens of
// microseconds of CPU (an epoll return, a thread woken); with 300 streams on
// two cores, waking for each deadline alone doubled the CPU per frame. One
// stream alone is never woken early: nothing shares its wake-ups.
const coalesce = 200 * time.Microsecond

// fineSleep sleeps until t, or, unless exact, until up to [coalesce]
// before t when another waiter's deadline woke the clock. ch is the
// caller's own channel of capacity 1, empty between calls. It cannot be
// cancelled; callers use it for the last moments before a deadline only.
func fineSleep(t time.Time, ch chan wake, exact bool) {
	c := sharedClock()
	if c == nil {
		for d := time.Until(t); d > 0; d = time.Until(t) {
			osSleep(d) // returns early on a signal
		}
		return
	}
	c.sleep(waiter{at: t, ch: ch, exact: exact})
}

func (c *fineClock) sleep(w waiter) {
	c.mu.Lock()
	c.push(w)
	if c.armed.IsZero() || w.at.Before(c.armed) {
		c.arm(w.at)
	}
	lead := !c.leading
	c.leading = true
	c.mu.Unlock()
	if !lead && <-w.ch == wakeDue {
		return
	}
	c.lead(w.ch)
}

// lead reads the timerfd and wakes waiters as their deadlines pass, until
// self's has.
func (c *fineClock) lead(self chan wake) {
	for {
		if _, err := c.f.Read(c.buf[:]); err != nil {
			// Not expected of a timerfd; do not spin on it.
			osSleep(50 * time.Microsecond)
		}
		c.mu.Lock()
		now := time.Now()
		soon := now.Add(coalesce)
		done := false
		for len(c.q) > 0 && !c.q[0].at.After(soon) && !(c.q[0].exact && c.q[0].at.After(now)) {
			w := c.pop()
			if w.ch == self {
				done = true
			} else {
				w.ch <- wakeDue // never blocks: one token per sleep
			}
		}
		if len(c.q) > 0 {
			c.arm(c.q[0].at)
		} else {
			// The timer has expired, or was armed since the read for a
			// waiter just woken: nothing to disarm. A late expiry wakes the
			// next leader once for nothing, which it tolerates.
			c.armed = time.Time{}
		}
		if done {
			if len(c.q) > 0 {
				c.q[0].ch <- wakeLead
			} else {
				c.leading = false
			}
		}
		c.mu.Unlock()
		if done {
			return
		}
	}
}

// arm sets the timerfd to expire at t (at once if t has passed).
func (c *fineClock) arm(t time.Time) {
	d := max(time.Until(t), 1) // 0 would disarm it
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
	if unix.TimerfdSettime(c.fd, 0, &spec, nil) != nil {
		spec.Value = unix.NsecToTimespec(1) // wake the leader now; it re-arms
		unix.TimerfdSettime(c.fd, 0, &spec, nil)
	}
	c.armed = t
}

func (c *fineClock) push(w waiter) {
	c.q = append(c.q, w)
	for i := len(c.q) - 1; i > 0; {
		p := (i - 1) / 2
		if !c.q[i].at.Before(c.q[p].at) {
			break
		}
		c.q[i], c.q[p] = c.q[p], c.q[i]
		i = p
	}
}

func (c *fineClock) pop() waiter {
	q := c.q
	w := q[0]
	n := len(q) - 1
	q[0] = q[n]
	q[n] = waiter{}
	q = q[:n]
	for i := 0; ; {
		m, l, r := i, 2*i+1, 2*i+2
		if l < n && q[l].at.Before(q[m].at) {
			m = l
		}
		if r < n && q[r].at.Before(q[m].at) {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	c.q = q
	return w
}

// osSleep sleeps about d with nanosleep(2), which the kernel times to
// microseconds. It may return early (EINTR from the runtime's preemption
// signal); the caller loops on the clock.
func osSleep(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	_ = unix.Nanosleep(&ts, nil)
}

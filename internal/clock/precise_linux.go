package clock

import (
	"math"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Span is how long before a deadline a [Precise] clock hands its sleep to
// the kernel's timer shared by the process: more than a 32 ms frame period
// (a frame at 16 kHz and above), so that such a stream sleeps once a frame,
// not on the runtime's timer and then on the kernel's (each wake-up of a
// goroutine costs CPU; with a thousand streams, the second was about a
// tenth of the client's). Longer periods (8 kHz, chunks of several frames)
// take two wake-ups, the first on the runtime's timer.
const Span = 50 * time.Millisecond

// Fine is how long before a deadline a [Precise] clock stops trusting the
// runtime's timer when it has no kernel timer (out of descriptors), and
// sleeps the rest in a nanosleep: Go's timers on Linux fire up to about
// 1 ms late.
const Fine = 2 * time.Millisecond

// kernelSleep sleeps until t on the shared timerfd, or until up to early
// before t when another sleeper's deadline woke it. It reports false, at
// once, if there is no timerfd.
func (c *Precise) kernelSleep(t time.Time, early time.Duration) bool {
	if c.wake == nil {
		c.wake = make(chan wake, 1)
	}
	return shared.sleep(waiter{at: t, early: early, ch: c.wake})
}

// nanosleep sleeps until t holding the OS thread.
func nanosleep(t time.Time) {
	for d := time.Until(t); d > 0; d = time.Until(t) {
		osSleep(d) // returns early on a signal
	}
}

// shared is the kernel timer every Precise clock of the process sleeps on.
// It is made at package initialisation so that its idle timer belongs to no
// testing/synctest bubble.
var shared = newKernel(time.Second)

// kernel wakes goroutines at their deadlines, to within tens of
// microseconds on a lightly loaded machine, without an OS thread or a file
// descriptor each: one timerfd, armed for the earliest deadline of all
// waiters, is read through the runtime's network poller by one waiter at a
// time, the leader, which wakes the others as their deadlines come (each up
// to its early before) and, once its own has, hands the role to the waiter
// due last, which keeps it longest. Its system calls on the timerfd are
// not announced to the runtime (see transport's sysRead for why): neither
// reading an expired timerfd through the poller nor arming one waits.
//
// A nanosleep per waiter, its predecessor, holds an OS thread and a P for
// the whole sleep: with a thousand streams on two cores the sleepers alone
// occupied the Ps and frames left tens of milliseconds late.
//
// The timerfd is opened by the first waiter and closed by closer once no
// waiter has come for idle; the next waiter opens another.
type kernel struct {
	idle   time.Duration
	closer *time.Timer // runs closeIdle

	mu      sync.Mutex
	fd      int
	f       *os.File  // the timerfd, registered with the poller; nil while closed
	q       []waiter  // min-heap on at
	armed   time.Time // the deadline the timerfd is set for; zero when nobody waits
	leading bool      // a waiter is reading the timerfd
	used    time.Time // when the last waiter left
	retry   time.Time // when to try again to open the timerfd, after a failure
	opened  int       // timerfds opened so far, for tests
	buf     [8]byte   // the leader's read buffer

	// The leader's read of the timerfd, through f's RawConn (made with f,
	// so that a read allocates nothing).
	rc     syscall.RawConn
	read   func(fd uintptr) bool
	readOK bool
}

type waiter struct {
	at    time.Time
	early time.Duration // how early it may be woken, with another
	ch    chan wake
}

// wake is what a waiter is told: its deadline passed, or it leads now.
type wake uint8

const (
	wakeDue wake = iota + 1
	wakeLead
)

// newKernel returns a kernel clock that closes its timerfd after idle
// without waiters. It opens nothing yet.
func newKernel(idle time.Duration) *kernel {
	k := &kernel{idle: idle}
	k.closer = time.AfterFunc(math.MaxInt64, k.closeIdle)
	k.closer.Stop()
	return k
}

// sleep blocks until w's deadline, or until up to w.early before it when
// another waiter's deadline woke the clock. w.ch must be the caller's own
// channel of capacity 1, empty between calls. It reports false, at once, if
// there is no timerfd. It cannot be cancelled; callers use it for the last
// moments before a deadline only.
func (k *kernel) sleep(w waiter) bool {
	k.mu.Lock()
	if k.f == nil && !k.open() {
		k.mu.Unlock()
		return false
	}
	k.push(w)
	if k.armed.IsZero() || w.at.Before(k.armed) {
		k.arm(w.at)
	}
	lead := !k.leading
	k.leading = true
	rc := k.rc // not closed while a waiter leads
	k.mu.Unlock()
	if !lead && <-w.ch == wakeDue {
		return true
	}
	k.lead(rc, w.ch)
	return true
}

// open opens the timerfd, unless the last attempt failed less than a second
// ago. k.mu is held.
func (k *kernel) open() bool {
	now := time.Now()
	if now.Before(k.retry) {
		return false
	}
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		k.retry = now.Add(time.Second)
		return false
	}
	f := os.NewFile(uintptr(fd), "vachana-pipe-timerfd")
	if f.SetReadDeadline(time.Time{}) != nil { // not registered with the poller
		f.Close()
		k.retry = now.Add(time.Second)
		return false
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		k.retry = now.Add(time.Second)
		return false
	}
	k.fd, k.f, k.rc = fd, f, rc
	if k.read == nil {
		k.read = k.readSome
	}
	k.opened++
	k.used = now
	k.closer.Reset(k.idle)
	return true
}

// closeIdle closes the timerfd if no waiter has come for idle, and looks
// again later otherwise.
func (k *kernel) closeIdle() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.f == nil {
		return
	}
	if k.leading || len(k.q) > 0 {
		k.closer.Reset(k.idle)
		return
	}
	if left := k.idle - time.Since(k.used); left > 0 {
		k.closer.Reset(left)
		return
	}
	k.f.Close()
	k.f, k.fd, k.rc, k.armed = nil, -1, nil, time.Time{}
}

// lead reads the timerfd through rc and wakes waiters as their deadlines
// pass, until self's has.
func (k *kernel) lead(rc syscall.RawConn, self chan wake) {
	for {
		k.readOK = false
		if err := rc.Read(k.read); err != nil || !k.readOK {
			// Not expected of a timerfd; do not spin on it.
			osSleep(50 * time.Microsecond)
		}
		k.mu.Lock()
		now := time.Now()
		done := false
		for len(k.q) > 0 && !k.q[0].at.Add(-k.q[0].early).After(now) {
			w := k.pop()
			if w.ch == self {
				done = true
			} else {
				w.ch <- wakeDue // never blocks: one token per sleep
			}
		}
		if len(k.q) > 0 {
			k.arm(k.q[0].at)
		} else {
			// The timer has expired, or was armed since the read for a
			// waiter just woken: nothing to disarm. A late expiry wakes the
			// next leader once for nothing, which it tolerates.
			k.armed = time.Time{}
		}
		if done {
			if len(k.q) > 0 {
				// The waiter due last leads next: it reads the timerfd for
				// longest before its own deadline ends its turn, so the
				// role, which costs a wake-up, changes hands least often.
				k.q[k.last()].ch <- wakeLead
			} else {
				k.leading = false
				k.used = now
			}
		}
		k.mu.Unlock()
		if done {
			return
		}
	}
}

// readSome is the leader's read of the timerfd: it reports false, for the
// poller to wait, while the timer has not expired.
func (k *kernel) readSome(fd uintptr) bool {
	for {
		_, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&k.buf[0])), uintptr(len(k.buf)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		k.readOK = e == 0
		return true
	}
}

// arm sets the timerfd to expire at t (at once if t has passed).
func (k *kernel) arm(t time.Time) {
	d := max(time.Until(t), 1) // 0 would disarm it
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
	if settime(k.fd, &spec) != 0 {
		spec.Value = unix.NsecToTimespec(1) // wake the leader now; it re-arms
		settime(k.fd, &spec)
	}
	k.armed = t
}

// settime is timerfd_settime(2), relative, without telling the runtime
// that a system call is under way (see the kernel type).
func settime(fd int, spec *unix.ItimerSpec) syscall.Errno {
	_, _, e := syscall.RawSyscall6(unix.SYS_TIMERFD_SETTIME, uintptr(fd), 0, uintptr(unsafe.Pointer(spec)), 0, 0, 0)
	return e
}

// last returns the index in the heap of a waiter with the latest deadline:
// one of the leaves.
func (k *kernel) last() int {
	m := len(k.q) / 2
	for i := m + 1; i < len(k.q); i++ {
		if k.q[i].at.After(k.q[m].at) {
			m = i
		}
	}
	return m
}

func (k *kernel) push(w waiter) {
	k.q = append(k.q, w)
	for i := len(k.q) - 1; i > 0; {
		p := (i - 1) / 2
		if !k.q[i].at.Before(k.q[p].at) {
			break
		}
		k.q[i], k.q[p] = k.q[p], k.q[i]
		i = p
	}
}

func (k *kernel) pop() waiter {
	q := k.q
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
	k.q = q
	return w
}

// osSleep sleeps about d with nanosleep(2), which the kernel times to
// microseconds. It may return early (EINTR from the runtime's preemption
// signal); the caller loops on the clock.
func osSleep(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	_ = unix.Nanosleep(&ts, nil)
}

package frame

import (
	"syscall"
	"time"
)

// DefaultFine is the default [Pacer.Fine]: Go's timers on Linux fire up to
// about 1 ms late, so the last 2 ms before a deadline are slept on the OS thread.
const DefaultFine = 2 * time.Millisecond

// osSleep sleeps about d with nanosleep(2), which the kernel times to
// microseconds. It may return early (EINTR from the runtime's preemption
// signal); the caller loops on the clock.
func osSleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	_ = syscall.Nanosleep(&ts, nil)
}

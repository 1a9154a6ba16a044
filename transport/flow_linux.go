//go:build linux && !race

package transport

import (
	"syscall"
	"unsafe"
)

// flowSupported says whether DialWebSocket's connections have the no-wait
// mode and frames of their own (see flowConn).
const flowSupported = true

// sysRead and sysWrite are read(2) and write(2) on a flowConn's socket,
// which is non-blocking (the runtime's poller sets it so), without telling
// the runtime that a system call is under way, as syscall.Read and
// syscall.Write do: such a call never waits, and the telling costs more
// than the call's own entry.
//
// The runtime's monitor thread (sysmon) sleeps while every processor is
// idle, and the next announced system call wakes it; it then polls every
// 20 µs, and only slows down after 1 ms in which it found nothing to do.
// A process of many paced streams idles between the frames due together
// and makes a system call as soon as it wakes, so its monitor polled
// every 20 µs whenever the process was busy, and took processors away
// from writers it found in one write after another. At 1 000 streams that
// was about a tenth of the client's CPU (perf, 2026-12-02). Every system
// call of the crews' steady state is unannounced now: these, and the
// shared clock's (internal/clock).
//
// Under the race detector they are syscall.Read and syscall.Write, whose
// annotations order what one goroutine did before a write with what
// another does after the read (flow_race.go).
//
// p must not be empty.
func sysRead(fd uintptr, p []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}

func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}

//go:build linux && !race && !386

package transport

import (
	"syscall"
	"unsafe"
)

// flowSupported says whether DialWebSocket's connections have the no-wait
// mode and frames of their own (see flowConn).
const flowSupported = true

// sysRead and sysWrite are recvfrom(2) and sendto(2) with MSG_DONTWAIT on
// a flowConn's socket, so that they never wait, whatever the socket's own
// flags (a duplicate made with File, or an fcntl through the RawConn, could
// make it blocking), and without telling the runtime that a system call is
// under way, as syscall.Read and syscall.Write do: a call that never
// waits needs no other thread to take over, and the telling costs more
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
// An unannounced call holds its processor until it returns, which is soon:
// a write copies at most what it is given (a frame of Conn.Write's own, up
// to 64 KiB, a piece of coder/websocket's 4 KiB buffer, or a TLS record of
// up to 16 KiB) and no more than the socket takes at once.
//
// Under the race detector they are syscall.Read and syscall.Write, whose
// annotations order what one goroutine did before a write with what
// another does after the read, and so they are on 386 (flow_race.go).
//
// p must not be empty.
func sysRead(fd uintptr, p []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), syscall.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}

func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}

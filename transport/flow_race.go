//go:build linux && (race || 386)

package transport

import "syscall"

// flowSupported: see flow_linux.go.
const flowSupported = true

// sysRead and sysWrite: see flow_linux.go. These are the announced system
// calls: for the race detector's sake, and on 386, which has no recvfrom
// of its own (socketcall).
func sysRead(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Read(int(fd), p)
	return max(n, 0), errno(err)
}

func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Write(int(fd), p)
	return max(n, 0), errno(err)
}

func errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	return err.(syscall.Errno) // syscall.Read and Write return no other error
}

// Package term tells whether a file is a terminal, and how wide it is,
// without putting it in blocking mode (as (*os.File).Fd does), so a pipe on
// standard input stays interruptible.
package term

import (
	"os"

	"golang.org/x/sys/unix"
)

// Is reports whether f is a terminal: a file whose terminal
// attributes can be read. /dev/null, pipes and files are not.
func Is(f *os.File) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	var terr error
	if err := rc.Control(func(fd uintptr) { _, terr = unix.IoctlGetTermios(int(fd), unix.TCGETS) }); err != nil {
		return false
	}
	return terr == nil
}

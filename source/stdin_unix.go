//go:build unix

package source

import (
	"os"
	"syscall"
)

// stdin returns a pollable duplicate of standard input. The O_NONBLOCK flag
// belongs to the open file description, shared with the shell and any other
// process on the same pipe or terminal, so restore puts it back as it was.
func stdin() (*os.File, func(), error) {
	fd, err := syscall.Dup(0)
	if err != nil {
		return nil, nil, err
	}
	syscall.CloseOnExec(fd)
	wasNonblock := isNonblock(fd)
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, nil, err
	}
	restore := func() {
		if !wasNonblock {
			syscall.SetNonblock(0, false)
		}
	}
	return os.NewFile(uintptr(fd), "stdin"), restore, nil
}

func isNonblock(fd int) bool {
	flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFL, 0)
	return errno == 0 && flags&syscall.O_NONBLOCK != 0
}

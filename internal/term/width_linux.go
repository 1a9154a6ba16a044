package term

import (
	"os"

	"golang.org/x/sys/unix"
)

// Width returns the number of columns of the terminal f, and false when f is
// not a terminal or its size is unknown (a pseudo-terminal nobody sized
// reports 0 columns). It reads the size with the TIOCGWINSZ ioctl through
// [os.File.SyscallConn], as [Is] reads the attributes, and not with
// golang.org/x/term.GetSize, which needs [os.File.Fd] and so would put f in
// blocking mode. It is cheap enough to call before every redraw, which
// follows the terminal as it is resized.
func Width(f *os.File) (int, bool) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, false
	}
	var ws *unix.Winsize
	var werr error
	if err := rc.Control(func(fd uintptr) { ws, werr = unix.IoctlGetWinsize(int(fd), unix.TIOCGWINSZ) }); err != nil || werr != nil {
		return 0, false
	}
	if ws.Col == 0 {
		return 0, false
	}
	return int(ws.Col), true
}

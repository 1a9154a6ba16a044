//go:build !linux

package term

import "os"

// Is reports whether f is a character device, as a terminal is
// (and, unlike on Linux, where the terminal attributes are read, /dev/null).
func Is(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

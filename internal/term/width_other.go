//go:build !linux

package term

import "os"

// Width returns 0 and false: the terminal's size is read only on Linux.
func Width(f *os.File) (int, bool) { return 0, false }

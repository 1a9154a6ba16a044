//go:build !linux

package frame

import "time"

// DefaultFine is the default [Pacer.Fine]. Outside Linux the runtime's timer
// is used alone.
const DefaultFine = 0

func osSleep(d time.Duration) { time.Sleep(d) }

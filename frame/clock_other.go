//go:build !linux

package frame

import "time"

// DefaultFine is the default [Pacer.Fine]. Outside Linux the runtime's timer
// is used alone.
const DefaultFine time.Duration = 0

type wake uint8

func fineSleep(t time.Time, _ chan wake, _ bool) { time.Sleep(time.Until(t)) }

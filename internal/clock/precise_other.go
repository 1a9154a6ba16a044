//go:build !linux

package clock

import "time"

// Span and Fine are how long before a deadline a [Precise] clock stops
// trusting the runtime's timer. Outside Linux the runtime's timer is used
// alone.
const (
	Span time.Duration = 0
	Fine time.Duration = 0
)

// kernelSleep and nanosleep are never called: with Span and Fine 0,
// SleepUntil has returned first.
func (c *Precise) kernelSleep(time.Time, time.Duration) bool { return false }

func nanosleep(time.Time) {}

type wake uint8

//go:build !linux

package clock

import "time"

// Fine is how long before a deadline a [Precise] clock stops trusting the
// runtime's timer. Outside Linux the runtime's timer is used alone.
const Fine time.Duration = 0

// fine is never called: with Fine 0, SleepUntil has returned first.
func (c *Precise) fine(time.Time, time.Duration) {}

type wake uint8

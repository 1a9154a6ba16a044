package frame_test

import (
	"context"
	"fmt"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// simClock is a [frame.Clock] for simulations: its time moves only when a
// sleep or the simulation moves it, so the example runs at once and prints
// the same every time.
type simClock struct{ now time.Time }

func (c *simClock) Now() time.Time { return c.now }

func (c *simClock) SleepUntil(_ context.Context, t time.Time, _ time.Duration) error {
	if t.After(c.now) {
		c.now = t
	}
	return nil
}

// ExamplePacer_Rebase replays frames after a reconnection with the same
// Pacer. Frames 0 to 3 leave on schedule (a frame is 64 ms at 8 kHz); the
// session is then lost for 100 ms, and the new one has not seen frames 2
// and 3. They are replayed at cadence from the reconnection; the live frames
// that follow are behind their schedule, so they leave every half period
// (32 ms) until they are back on it, at frame 9.
func ExamplePacer_Rebase() {
	clk := &simClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	start := clk.now
	p := frame.NewPacerClock(frame.Rate8k, clk)
	ctx := context.Background()
	send := func(what string) {
		n := p.Next()
		due, err := p.Wait(ctx)
		if err != nil {
			panic(err)
		}
		fmt.Printf("+%v frame %d", clk.now.Sub(start), n)
		if what != "" {
			fmt.Print(" ", what)
		}
		if late := clk.now.Sub(due); late > 0 {
			fmt.Printf(", %v behind", late)
		}
		fmt.Println()
	}
	for range 4 {
		send("")
	}
	clk.now = clk.now.Add(100 * time.Millisecond) // the outage
	p.Rebase(2, clk.now)
	send("replayed")
	send("replayed")
	for range 7 {
		send("live")
	}
	// Output:
	// +0s frame 0
	// +64ms frame 1
	// +128ms frame 2
	// +192ms frame 3
	// +292ms frame 2 replayed
	// +356ms frame 3 replayed
	// +388ms frame 4 live, 132ms behind
	// +420ms frame 5 live, 100ms behind
	// +452ms frame 6 live, 68ms behind
	// +484ms frame 7 live, 36ms behind
	// +516ms frame 8 live, 4ms behind
	// +576ms frame 9 live
	// +640ms frame 10 live
}

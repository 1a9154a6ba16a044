package progress_test

import (
	"fmt"
	"time"

	"github.com/vachana-pipe/vachana-pipe/internal/progress"
)

// frames stands for the terminal: it shows each Write of the Display, quoted.
type frames struct{}

func (frames) Write(p []byte) (int, error) {
	fmt.Printf("%q\n", p)
	return len(p), nil
}

// Example shows one stream, and a transcript printed on the same terminal:
// Clear before printing, and the display comes back below the line printed.
func Example() {
	d := progress.New(frames{}, func() int { return 80 }, nil)
	defer d.Close()
	it := d.Add("call-01.wav", 2*time.Minute+57*time.Second)

	d.Clear()
	fmt.Println("namaskara, this is the first transcript")
	it.Update(83*time.Second+900*time.Millisecond, 1) // Redraw would draw at once

	it.Done(nil)
	// Output:
	// "\rcall-01.wav  [>                   ]   0%  0:00 / 2:57  2:57 left  0 transcripts\x1b[K"
	// "\r\x1b[J"
	// namaskara, this is the first transcript
	// "\rcall-01.wav  [=========>          ]  47%  1:23 / 2:57  1:34 left  1 transcript\x1b[K"
	// "\r\x1b[J"
}

// Example_batch shows two streams of a batch of three, and the total line.
func Example_batch() {
	d := progress.New(frames{}, func() int { return 60 }, nil)
	defer d.Close()
	d.SetTotal(3) // nothing to show yet but the total line
	a := d.Add("a.wav", time.Minute)
	b := d.Add("stdin", 0)
	a.Done(nil)
	b.Done(fmt.Errorf("lost"))
	// Output:
	// "\rtotal  0/3 files done  0:00 of audio  elapsed 0:00\x1b[K"
	// "\ra.wav  [>                   ]   0%  0:00 / 1:00  1:00 left\x1b[K\n\rtotal  0/3 files done  0:00 of audio  elapsed 0:00\x1b[K"
	// "\r\x1b[1Aa.wav  [>                   ]   0%  0:00 / 1:00  1:00 left\x1b[K\n\rstdin  0:00 sent  0 transcripts\x1b[K\n\rtotal  0/3 files done  0:00 of audio  elapsed 0:00\x1b[K"
	// "\r\x1b[2Astdin  0:00 sent  0 transcripts\x1b[K\n\rtotal  1/3 files done  0:00 of audio  elapsed 0:00\x1b[K\x1b[J"
	// "\r\x1b[1Atotal  2/3 files done, 1 failed  0:00 of audio\x1b[K\x1b[J"
	// "\r\x1b[J"
}

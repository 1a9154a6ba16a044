package resample

import (
	"io"
	"os"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/internal/testutil"
	"github.com/vachana-pipe/vachana-pipe/source"
)

// TestStopFlushes: audio arrives on a pipe that stays open; once the
// resampler has read all of it (it holds a partly filled block) and blocks
// for more, source.Input.Stop ends the input, and the resampler ends as at a
// normal end: the output is exactly round(n × out / in) samples, then io.EOF.
func TestStopFlushes(t *testing.T) {
	const in, out, n = 48000, 16000, 48000/10*3 + 1001 // 3 blocks and part of a fourth
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	input := source.NewInput(pr, "pipe")
	defer input.Close()
	x := tone(n, in, 440, 0.5)
	c := testutil.NewCounting(input, int64(len(x)))
	r, err := New(c, in, out, High)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer r.Close()
		b, err := io.ReadAll(r)
		done <- result{len(b), err}
	}()
	if _, err := pw.Write(x); err != nil {
		t.Fatal(err)
	}
	const watchdog = 10 * time.Second // generous for a busy machine; a hang fails instead
	select {
	case <-c.Reached:
	case <-time.After(watchdog):
		t.Fatalf("the resampler did not read the %d bytes written within %v", len(x), watchdog)
	}
	input.Stop()
	select {
	case res := <-done:
		want := (n*out + in/2) / in
		if res.err != nil || res.n != 2*want {
			t.Fatalf("after Stop: %d samples, %v; want %d samples, nil", res.n/2, res.err, want)
		}
	case <-time.After(watchdog):
		t.Fatalf("Stop did not end the resampler's Read within %v", watchdog)
	}
}

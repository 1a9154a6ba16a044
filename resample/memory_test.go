//go:build !race

// Memory figures are meaningless under the race detector, which also makes
// this test ten times slower; .ci/run runs it in a pass without -race.

package resample

import (
	"encoding/binary"
	"io"
	"math"
	"runtime"
	"testing"

	"github.com/vachana-pipe/vachana-pipe/internal/testutil"
)

// endless returns n samples of a 440 Hz tone without holding them.
type endless struct {
	n, i, rate int
}

func (e *endless) Read(p []byte) (int, error) {
	if e.i >= e.n {
		return 0, io.EOF
	}
	k := min(len(p)/2, e.n-e.i)
	for j := range k {
		v := int16(8000 * math.Sin(2*math.Pi*440*float64(e.i+j)/float64(e.rate)))
		binary.LittleEndian.PutUint16(p[2*j:], uint16(v))
	}
	e.i += k
	return 2 * k, nil
}

func rss(t *testing.T) int64 {
	n, err := testutil.RSS()
	if err != nil {
		t.Skip(err)
	}
	return n
}

// TestMemoryFlatOverAnHour resamples an hour of 48 kHz audio, counting the
// output, and checks that neither the Go heap nor the process (C memory
// included) grows after the first ten minutes.
func TestMemoryFlatOverAnHour(t *testing.T) {
	if testing.Short() {
		t.Skip("resamples an hour of audio")
	}
	const rate = 48000
	r, err := New(&endless{n: 3600 * rate, rate: rate}, rate, 16000, High)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 32<<10)
	var out int64
	var base, peak int64
	var heapBase, heapPeak uint64
	var ms runtime.MemStats
	for mark := int64(1); ; {
		n, err := r.Read(buf)
		out += int64(n / 2)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if out >= mark*600*16000 { // every 10 minutes of output
			runtime.GC() // count live memory, not garbage awaiting collection
			runtime.ReadMemStats(&ms)
			now := rss(t)
			// The first 20 minutes set the baseline (the runtime and soxr
			// settle; the scavenger returns pages at its own pace); a leak
			// shows as growth over the 40 minutes after.
			if mark <= 2 {
				base, heapBase = max(base, now), max(heapBase, ms.HeapAlloc)
			} else {
				peak, heapPeak = max(peak, now), max(heapPeak, ms.HeapAlloc)
			}
			mark++
		}
	}
	if out != 3600*16000 {
		t.Fatalf("an hour gave %d samples, want %d", out, 3600*16000)
	}
	t.Logf("RSS %d KiB in the first 20 min, peak %d KiB after; Go heap %d KiB, then peak %d KiB", base>>10, peak>>10, heapBase>>10, heapPeak>>10)
	if peak-base > 4<<20 || heapPeak > heapBase+1<<20 {
		t.Fatalf("memory grew while resampling: RSS +%d KiB, heap +%d KiB", (peak-base)>>10, int64(heapPeak-heapBase)>>10)
	}
}

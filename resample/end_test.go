package resample

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"testing"
	"testing/iotest"

	"github.com/vachana-pipe/vachana-pipe/internal/testutil"
)

var errBoom = errors.New("boom")

// TestEndFlushes: for inputs that end in the middle of a block (of about
// 100 ms) and of an L-frame group, the output is exactly round(n × out / in)
// samples, and its last samples carry the signal: the partly filled last
// block went through and soxr's delay was flushed.
func TestEndFlushes(t *testing.T) {
	for _, rr := range [][2]int{{48000, 16000}, {44100, 16000}, {8000, 16000}, {16000, 44100}, {22050, 16000}} {
		in, out := rr[0], rr[1]
		for _, n := range []int{in/10 - 1, in/10 + 1, in/2 + 1, in + in/20 + 7} { // blocks are in/10 samples, rounded up to L
			t.Run(fmt.Sprintf("%d-%d/%d", in, out, n), func(t *testing.T) {
				x := tone(n, in, 440, 0.5)
				got := s16(resampleAll(t, bytes.NewReader(x), in, out, High))
				want := (int64(n)*int64(out) + int64(in)/2) / int64(in)
				if int64(len(got)) != want {
					t.Fatalf("%d samples in gave %d out, want round(%d × %d / %d) = %d", n, len(got), n, out, in, want)
				}
				// 5 ms before the last 2 ms (where the cut edge rings): the
				// tone is there, at its RMS of 0.5/√2.
				w := out / 200
				tail := got[len(got)-w-out/500 : len(got)-out/500]
				if r := rms(tail); math.Abs(r-0.5/math.Sqrt2) > 0.03 {
					t.Fatalf("RMS of the end of the output is %.3f, want %.3f: the tail is lost", r, 0.5/math.Sqrt2)
				}
			})
		}
	}
}

// TestSourceErrorIsReturned: a read error of the source that is not io.EOF
// comes after the output of everything read before it (flushed, as at the
// end), never as a clean end, and stays.
func TestSourceErrorIsReturned(t *testing.T) {
	const in, out, n = 48000, 16000, 48000/10 + 1001
	x := tone(n, in, 440, 0.5)
	want := resampleAll(t, bytes.NewReader(x), in, out, High)
	sources := map[string]func() io.Reader{
		"error after the data":     func() io.Reader { return testutil.ErrAfter(bytes.NewReader(x), errBoom) },
		"error with the last data": func() io.Reader { return testutil.ErrAfter(iotest.DataErrReader(bytes.NewReader(x)), errBoom) },
		"one byte, error after":    func() io.Reader { return testutil.ErrAfter(iotest.OneByteReader(bytes.NewReader(x)), errBoom) },
		"halves, error with the end": func() io.Reader {
			return testutil.ErrAfter(iotest.DataErrReader(iotest.HalfReader(bytes.NewReader(x))), errBoom)
		},
	}
	for name, src := range sources {
		t.Run(name, func(t *testing.T) {
			r, err := New(src(), in, out, High)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got, err := io.ReadAll(r)
			if !errors.Is(err, errBoom) {
				t.Fatalf("ReadAll = %d bytes, %v; want %v", len(got), err, errBoom)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%d bytes before the error, want the %d of the whole input", len(got), len(want))
			}
			if _, err := r.Read(make([]byte, 100)); !errors.Is(err, errBoom) {
				t.Fatalf("Read after the error = %v, want it again", err)
			}
		})
	}
	// Bypassed (equal rates): the source's own reads and error.
	r, err := New(testutil.ErrAfter(bytes.NewReader(x), errBoom), in, in, High)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); !errors.Is(err, errBoom) || !bytes.Equal(got, x) {
		t.Fatalf("bypass: %d bytes, %v; want %d bytes, %v", len(got), err, len(x), errBoom)
	}
}

package frame

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/internal/leakcheck"
)

// collect returns an emit function that appends every frame to *out.
func collect(out *[]byte) func(*Frame) error {
	return func(f *Frame) error {
		*out = append(*out, f[:]...)
		return nil
	}
}

// naiveFrames is the obviously correct reference: the input zero-padded to a
// whole number of frames.
func naiveFrames(in []byte) (out []byte, pad int) {
	out = bytes.Clone(in)
	if r := len(in) % Size; r != 0 {
		pad = Size - r
		out = append(out, make([]byte, pad)...)
	}
	return out, pad
}

func pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i/251)
	}
	return p
}

func TestFramerMatchesReference(t *testing.T) {
	lengths := []int{0, 1, 2, 1023, 1024, 1025, 2047, 2048, 2049, 3 * Size, 10*Size + 333}
	writes := []int{1, 2, 3, 479, 1023, 1024, 1025, 4096, 1 << 16}
	for _, n := range lengths {
		for _, w := range writes {
			t.Run(fmt.Sprintf("len=%d/write=%d", n, w), func(t *testing.T) {
				in := pattern(n)
				var got []byte
				f := NewFramer(collect(&got))
				for p := in; len(p) > 0; {
					k := min(w, len(p))
					m, err := f.Write(p[:k])
					if err != nil || m != k {
						t.Fatalf("Write(%d bytes) = %d, %v", k, m, err)
					}
					p = p[k:]
				}
				pad, err := f.Flush()
				if err != nil {
					t.Fatal(err)
				}
				want, wantPad := naiveFrames(in)
				if pad != wantPad {
					t.Errorf("padding = %d, want %d", pad, wantPad)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("frames differ from reference (got %d bytes, want %d)", len(got), len(want))
				}
				if f.Frames() != int64(len(want)/Size) {
					t.Errorf("Frames() = %d, want %d", f.Frames(), len(want)/Size)
				}
			})
		}
	}
}

func TestFramerRandomWrites(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		in := pattern(r.IntN(20 * Size))
		var got []byte
		f := NewFramer(collect(&got))
		for p := in; len(p) > 0; {
			k := min(1+r.IntN(3*Size), len(p))
			if _, err := f.Write(p[:k]); err != nil {
				t.Fatal(err)
			}
			p = p[k:]
		}
		if _, err := f.Flush(); err != nil {
			t.Fatal(err)
		}
		want, _ := naiveFrames(in)
		if !bytes.Equal(got, want) {
			t.Fatalf("len %d: frames differ from reference", len(in))
		}
	}
}

func TestFramerFlush(t *testing.T) {
	var got []byte
	f := NewFramer(collect(&got))
	f.Write(pattern(10))
	if f.Buffered() != 10 {
		t.Fatalf("Buffered() = %d, want 10", f.Buffered())
	}
	pad, err := f.Flush()
	if pad != Size-10 || err != nil {
		t.Fatalf("Flush() = %d, %v; want %d, nil", pad, err, Size-10)
	}
	if pad, err := f.Flush(); pad != 0 || err != nil {
		t.Fatalf("second Flush() = %d, %v; want 0, nil", pad, err)
	}
	if _, err := f.Write([]byte{1}); !errors.Is(err, ErrFlushed) {
		t.Fatalf("Write after Flush: err = %v, want ErrFlushed", err)
	}
	if len(got) != Size {
		t.Fatalf("emitted %d bytes, want one frame", len(got))
	}
	f.Reset(collect(&got))
	if _, err := f.Write(pattern(Size)); err != nil {
		t.Fatalf("Write after Reset: %v", err)
	}
}

func TestFramerEmitErrorIsSticky(t *testing.T) {
	boom := errors.New("boom")
	calls := 0
	f := NewFramer(func(*Frame) error {
		calls++
		if calls == 2 {
			return boom
		}
		return nil
	})
	n, err := f.Write(pattern(3 * Size))
	if !errors.Is(err, boom) || n != Size {
		t.Fatalf("Write = %d, %v; want %d, boom", n, err, Size)
	}
	if _, err := f.Write(pattern(1)); !errors.Is(err, boom) {
		t.Fatalf("later Write: %v, want boom", err)
	}
	if _, err := f.Flush(); !errors.Is(err, boom) {
		t.Fatalf("Flush: %v, want boom", err)
	}
	if f.Frames() != 1 {
		t.Fatalf("Frames() = %d, want 1", f.Frames())
	}
}

func TestFramerZeroAllocs(t *testing.T) {
	// AllocsPerRun counts the whole process's allocations: nothing else
	// may run meanwhile.
	if others := leakcheck.Others(time.Second); others != "" {
		t.Fatalf("goroutines that could allocate during the count:\n%s", others)
	}
	var sink byte
	f := NewFramer(func(fr *Frame) error { sink ^= fr[0]; return nil })
	p := pattern(4096 + 333)
	allocs := testing.AllocsPerRun(100, func() {
		f.Write(p)
		f.Write(p[:1])
	})
	if allocs != 0 {
		t.Fatalf("Framer.Write allocates %.1f times per call, want 0", allocs)
	}
}

// BenchmarkFramer measures framing throughput for several write sizes. The
// emit function copies each frame into a ring of frame buffers, as the
// pipeline does, so the figure includes the one copy a frame must make.
func BenchmarkFramer(b *testing.B) {
	for _, w := range []int{1, 333, 1024, 4096, 65536} {
		b.Run(fmt.Sprintf("write=%d", w), func(b *testing.B) {
			var ring [64]Frame
			i := 0
			f := NewFramer(func(fr *Frame) error {
				ring[i&63] = *fr
				i++
				return nil
			})
			p := pattern(w)
			b.SetBytes(int64(w))
			b.ReportAllocs()
			for b.Loop() {
				f.Write(p)
			}
		})
	}
}

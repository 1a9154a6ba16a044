package benchmarks

import (
	"fmt"
	"testing"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// BenchmarkFraming cuts a stream written in pieces of 1 B to 64 KiB into
// frames, each copied into a ring of frame buffers as the pipeline does,
// next to a plain copy of the same bytes into the same ring: the memory
// bandwidth the framer is measured against, in the same run.
func BenchmarkFraming(b *testing.B) {
	for _, w := range []int{1, 16, 333, 1024, 4096, 65536} {
		p := make([]byte, w)
		for i := range p {
			p[i] = byte(i)
		}
		b.Run(fmt.Sprintf("framer/write=%d", w), func(b *testing.B) {
			var ring [64]frame.Frame
			i := 0
			f := frame.NewFramer(func(fr *frame.Frame) error {
				ring[i&63] = *fr
				i++
				return nil
			})
			b.SetBytes(int64(w))
			b.ReportAllocs()
			for b.Loop() {
				f.Write(p)
			}
		})
		b.Run(fmt.Sprintf("copy/write=%d", w), func(b *testing.B) {
			var ring [64]frame.Frame
			off := 0
			b.SetBytes(int64(w))
			b.ReportAllocs()
			for b.Loop() {
				for q := p; len(q) > 0; {
					fr := &ring[(off/frame.Size)&63]
					n := copy(fr[off%frame.Size:], q)
					off += n
					q = q[n:]
				}
			}
		})
	}
}

package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"

	"github.com/vachana-pipe/vachana-pipe/internal/testutil"
)

var errBoom = errors.New("boom")

// failOnce returns the data of r, then err once, then whatever r returns
// after its end (io.EOF): a reader whose error is easy to lose, since the
// next Read after it looks like a clean end.
type failOnce struct {
	r      io.Reader
	err    error
	failed bool
}

func (f *failOnce) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF && !f.failed {
		f.failed = true
		return n, f.err
	}
	return n, err
}

// withLast returns the last data of r together with err instead of a
// separate io.EOF, as iotest.DataErrReader does for io.EOF.
func withLast(r io.Reader, err error) io.Reader {
	return testutil.ErrAfter(iotest.DataErrReader(r), err)
}

// TestReadErrorIsReported: a read error of the input is returned after the
// samples read before it, whatever the read sizes on either side, and stays
// returned: it is never turned into a clean end of input. An incomplete
// sample (or, with the channels kept, an incomplete frame of every
// channel's sample, 16-bit input being read straight into the caller's
// buffer) just before it is dropped.
func TestReadErrorIsReported(t *testing.T) {
	decoders := []struct {
		name     string
		channels int
		open     func(io.Reader, Format) (*Decoder, error)
	}{
		{"mono", 1, NewDecoder},
		{"channels kept", 2, NewChannelDecoder},
	}
	for _, dec := range decoders {
		frameSize := 2 * dec.channels
		in := make([]byte, frameSize*1025+frameSize-1) // the error comes after all but one byte of a frame
		for i := range in {
			in[i] = byte(i * 7)
		}
		f := Format{S16LE, 16000, dec.channels}
		want := in[:len(in)/frameSize*frameSize]
		inputs := map[string]func() io.Reader{
			"error once, then EOF": func() io.Reader { return &failOnce{r: bytes.NewReader(in), err: errBoom} },
			"error with the last data, one byte at a time": func() io.Reader {
				return withLast(iotest.OneByteReader(bytes.NewReader(in)), errBoom)
			},
			"error with the last data, halves": func() io.Reader {
				return withLast(iotest.HalfReader(bytes.NewReader(in)), errBoom)
			},
			"error once, one byte at a time": func() io.Reader {
				return &failOnce{r: iotest.OneByteReader(bytes.NewReader(in)), err: errBoom}
			},
		}
		for name, input := range inputs {
			// Read sizes, cycled. A read shorter than a frame leaves part
			// of one carried over to the next Read, which then reads the
			// input with bytes already in hand.
			for _, sizes := range [][]int{{1}, {2}, {3}, {4}, {1, 3}, {1, 2}, {1, 5}, {333}, {1023}, {1024}, {1025}, {4096}, {1, 4096}, {2, 4096}} {
				t.Run(fmt.Sprintf("%s/%s/%v", dec.name, name, sizes), func(t *testing.T) {
					d, err := dec.open(input(), f)
					if err != nil {
						t.Fatal(err)
					}
					var got []byte
					buf := make([]byte, 4096)
					for i := 0; ; i++ {
						n, err := d.Read(buf[:sizes[i%len(sizes)]])
						got = append(got, buf[:n]...)
						if err == nil {
							continue
						}
						if !errors.Is(err, errBoom) {
							t.Fatalf("after %d bytes: Read = %v, want %v", len(got), err, errBoom)
						}
						break
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("got %d bytes before the error, want all %d of whole frames first", len(got), len(want))
					}
					if _, err := d.Read(buf); !errors.Is(err, errBoom) {
						t.Fatalf("Read after the error = %v, want it again", err)
					}
				})
			}
		}
	}
}

package sink_test

import (
	"bytes"
	"testing"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/internal/leakcheck"
	"github.com/vachana-pipe/vachana-pipe/sink"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func TestFile(t *testing.T) {
	for _, buffered := range []bool{false, true} {
		var out bytes.Buffer
		s := sink.NewFile(&out)
		if buffered {
			s = sink.NewBufferedFile(&out)
		}
		var f frame.Frame
		for i := range 3 {
			f[0] = byte(i)
			if err := s.WriteFrame(&f); err != nil {
				t.Fatal(err)
			}
		}
		if got, want := out.Len(), 3*frame.Size; buffered && got != 0 || !buffered && got != want {
			t.Fatalf("buffered %v: %d bytes written before Close", buffered, got)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if out.Len() != 3*frame.Size || out.Bytes()[frame.Size] != 1 || out.Bytes()[2*frame.Size] != 2 || s.Frames() != 3 {
			t.Fatalf("buffered %v: wrote %d bytes, %d frames", buffered, out.Len(), s.Frames())
		}
	}
}

func TestDiscard(t *testing.T) {
	var d sink.Discard
	var f frame.Frame
	if err := d.WriteFrame(&f); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil || d.Frames() != 1 {
		t.Fatalf("Close = %v, %d frames; want nil, 1", err, d.Frames())
	}
}

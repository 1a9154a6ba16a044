package source

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
)

// FuzzNewReader feeds arbitrary bytes to the WAV/raw reader. It must never
// panic or hang, must refuse or decode, and must decode the same samples
// whether the input arrives whole or one byte at a time.
func FuzzNewReader(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.wav")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 300)])
	}
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00\x01\x00\x02\x00\x80\x3e\x00\x00\x00\xfa\x00\x00\x04\x00\x10\x00data\xff\xff\xff\xff\x01\x02\x03\x04\x05"))
	f.Add([]byte("RF64\xff\xff\xff\xffWAVEds64\x1c\x00\x00\x00"))
	f.Add([]byte("ID3\x03"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		whole, err1 := decodeAll(bytes.NewReader(in))
		bytewise, err2 := decodeAll(iotest.OneByteReader(bytes.NewReader(in)))
		if (err1 == nil) != (err2 == nil) || !bytes.Equal(whole, bytewise) {
			t.Fatalf("whole: %d bytes, %v; one byte at a time: %d bytes, %v", len(whole), err1, len(bytewise), err2)
		}
		if len(whole) > 2*len(in)+2 { // at most one 16-bit sample per input byte
			t.Fatalf("%d bytes of input decoded to %d bytes", len(in), len(whole))
		}
	})
}

func decodeAll(r io.Reader) ([]byte, error) {
	s, err := NewReader(r, Options{Raw: Format{Rate: 16000}})
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(s)
	if err != nil {
		return out, err
	}
	if err := s.Err(); err != nil && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrPartialSample) {
		return out, err
	}
	return out, nil
}

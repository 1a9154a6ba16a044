package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"testing/iotest"
	"time"
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

// FuzzSplit splits arbitrary input, WAV or raw PCM of 1 to 4 channels in
// any encoding, with a small bound on how far a channel may run ahead,
// reading each channel in its own goroutine in reads of fuzzed sizes. It
// must never panic or hang, every channel must end with io.EOF, and the
// channels' outputs interleaved must be what the Reader returns without
// splitting, with the same end problem.
func FuzzSplit(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.wav")
	for i, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(i), byte(i*37), b[:min(len(b), 400)])
	}
	f.Add(byte(1), byte(0), []byte{1, 2, 3, 4, 5, 6, 7, 8, 9})              // s16le stereo, partial frame
	f.Add(byte(3+4*2), byte(0x51), bytes.Repeat([]byte{0x7f, 0x80, 0}, 99)) // f32le, 4 channels
	f.Add(byte(2+4*6), byte(0xff), []byte("mu-law, three channels"))
	f.Add(byte(0), byte(0), []byte{})
	encodings := []Encoding{S16LE, S16BE, S24LE, S32LE, F32LE, F64LE, MuLaw, ALaw, U8}
	f.Fuzz(func(t *testing.T, mode, sizes byte, in []byte) {
		opts := Options{
			Raw:          Format{encodings[int(mode/4)%len(encodings)], 8000, 1 + int(mode%4)},
			KeepChannels: true,
		}
		plain, err := NewReader(bytes.NewReader(in), opts)
		if err != nil {
			return // refused: nothing to split
		}
		want, err := io.ReadAll(plain)
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = bytes.NewReader(in)
		if sizes&1 != 0 {
			r = iotest.OneByteReader(r)
		}
		src, err := NewReader(r, opts)
		if err != nil {
			t.Fatalf("refused one byte at a time, not whole: %v", err)
		}
		s, err := src.Split(&SplitOptions{Ahead: int(sizes>>1) % 16})
		if err != nil {
			t.Fatal(err)
		}
		var got [][]byte
		var errs []error
		done := make(chan struct{})
		go func() {
			got, errs = drainChannels(s, []int{1 + int(sizes>>4), 1 + int(sizes%7), 2, 479})
			close(done)
		}()
		select { // a hang is a failure the fuzzer can record, not a stall
		case <-done:
		case <-time.After(5 * time.Second):
			buf := make([]byte, 1<<20)
			panic(fmt.Sprintf("hang: mode %d sizes %d in %q\n%s", mode, sizes, in, buf[:runtime.Stack(buf, true)]))
		}
		for k := range got {
			if errs[k] != io.EOF || len(got[k]) != len(got[0]) {
				t.Fatalf("channel %d: %d bytes, ended with %v; channel 0: %d bytes", k, len(got[k]), errs[k], len(got[0]))
			}
		}
		if joined := interleave(got, 2); !bytes.Equal(joined, want) && len(want)+len(joined) > 0 {
			t.Fatalf("channels interleaved: %d bytes; the Reader returns %d", len(joined), len(want))
		}
		if e1, e2 := plain.Err(), s.Err(); fmt.Sprint(e1) != fmt.Sprint(e2) {
			t.Fatalf("Splitter.Err() = %v, Reader.Err() = %v", e2, e1)
		}
	})
}

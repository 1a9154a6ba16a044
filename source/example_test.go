package source_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"sync"

	"github.com/vachana-pipe/vachana-pipe/source"
)

// stereoWAV returns a 16-bit stereo WAV at 8 kHz holding frames, each a
// left and a right sample.
func stereoWAV(frames [][2]int16) []byte {
	le := binary.LittleEndian
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, le, uint32(36+4*len(frames)))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(2), uint32(8000), uint32(8000 * 4), uint16(4), uint16(16)} {
		binary.Write(&b, le, v) // size, PCM, channels, rate, bytes/s, block size, bits
	}
	b.WriteString("data")
	binary.Write(&b, le, uint32(4*len(frames)))
	binary.Write(&b, le, frames)
	return b.Bytes()
}

// A WAV file decoded to the pipeline's format: mono s16le, the channels
// averaged.
func ExampleNewReader() {
	wav := stereoWAV([][2]int16{{100, 300}, {-1000, 1000}, {32767, 32767}})
	r, err := source.NewReader(bytes.NewReader(wav), source.Options{Name: "call.wav"})
	if err != nil {
		log.Fatal(err)
	}
	mono, err := io.ReadAll(r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Format())
	for i := 0; i < len(mono); i += 2 {
		fmt.Print(int16(binary.LittleEndian.Uint16(mono[i:])), " ")
	}
	fmt.Println()
	// Output:
	// s16le, 8000 Hz, 2 channel(s)
	// 200 0 32767
}

// A call recorded in stereo, the agent on the left and the customer on the
// right, split into one mono stream per channel, each read by its own
// goroutine (in the command, each feeds a resampler and a session).
func ExampleReader_Split() {
	wav := stereoWAV([][2]int16{{100, -7}, {200, -8}, {300, -9}})
	r, err := source.NewReader(bytes.NewReader(wav), source.Options{KeepChannels: true})
	if err != nil {
		log.Fatal(err)
	}
	s, err := r.Split(nil)
	if err != nil {
		log.Fatal(err)
	}
	out := make([][]byte, s.Channels())
	errs := make([]error, s.Channels())
	var wg sync.WaitGroup
	for k := range s.Channels() {
		wg.Go(func() {
			ch := s.Channel(k)
			defer ch.Close() // a reader that gives up early must close its channel
			out[k], errs[k] = io.ReadAll(ch)
		})
	}
	wg.Wait()
	if err := errors.Join(append(errs, s.Err())...); err != nil {
		log.Fatal(err)
	}
	for k, mono := range out {
		fmt.Print("channel ", k, ":")
		for i := 0; i < len(mono); i += 2 {
			fmt.Print(" ", int16(binary.LittleEndian.Uint16(mono[i:])))
		}
		fmt.Println()
	}
	// Output:
	// channel 0: 100 200 300
	// channel 1: -7 -8 -9
}

// Without a RIFF header the input is raw PCM, described by Options.Raw,
// unless its name says WAV or its first bytes give it away as compressed.
func ExampleNewReader_raw() {
	pcm := []byte{0x10, 0x00, 0x20, 0x00} // two s16le samples
	r, err := source.NewReader(bytes.NewReader(pcm), source.Options{Raw: source.Format{Rate: 16000}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Format(), r.WAV() == nil)

	_, err = source.NewReader(bytes.NewReader(pcm), source.Options{Name: "talk.wav", Raw: source.Format{Rate: 16000}})
	fmt.Println(err)
	_, err = source.NewReader(bytes.NewReader([]byte("ID3\x04\x00\x00\x00\x00\x00\x00")), source.Options{})
	fmt.Println(err != nil)
	// Output:
	// s16le, 16000 Hz, 1 channel(s) true
	// source: not a WAV file: no RIFF header; it starts with the bytes 10 00 20 00
	// true
}

// Stop ends an input early but gracefully: a Read blocked on a pipe that
// nobody writes to returns io.EOF, so whatever reads the input ends as at a
// normal end.
func ExampleInput_Stop() {
	pr, pw, err := os.Pipe()
	if err != nil {
		log.Fatal(err)
	}
	defer pw.Close() // the writer stays open: no end of input from there
	in := source.NewInput(pr, "pipe")
	defer in.Close()

	pw.Write([]byte("abc"))
	first := make(chan string)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 10)
		n, _ := in.Read(buf)
		first <- string(buf[:n])
		n, err := in.Read(buf) // blocks: nothing more is written
		fmt.Println(n, err)
	}()
	fmt.Println(<-first)
	in.Stop()
	<-done
	// Output:
	// abc
	// 0 EOF
}

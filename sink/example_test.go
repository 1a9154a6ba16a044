//go:build cgo

// The example composes the resampler (libsoxr, cgo).

package sink_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"math"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/resample"
	"github.com/vachana-pipe/vachana-pipe/sink"
)

// Example composes the stages by hand, without pipeline.Run: a reader of
// 48 kHz audio, the resampler to 16 kHz, the framer, the pacer, and a File
// sink writing the frames to a buffer — what a service would receive, at
// the pace it would receive it (0.2 s of audio, so 0.2 s of wall time).
func Example() {
	in := make([]byte, 2*48000/5) // 0.2 s of a 440 Hz tone at 48 kHz, s16le mono
	for i := range len(in) / 2 {
		binary.LittleEndian.PutUint16(in[2*i:], uint16(int16(8000*math.Sin(2*math.Pi*440*float64(i)/48000))))
	}
	src, err := resample.New(bytes.NewReader(in), 48000, frame.Rate16k, resample.High)
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()

	var out bytes.Buffer
	dst := sink.NewFile(&out) // paced frames go out as they come
	pacer := frame.NewPacer(frame.Rate16k)
	framer := frame.NewFramer(func(f *frame.Frame) error {
		if _, err := pacer.Wait(context.Background()); err != nil {
			return err
		}
		return dst.WriteFrame(f) // f is only valid during the call: WriteFrame copies it out
	})
	buf := make([]byte, 4096)
	for {
		n, err := src.Read(buf)
		if _, werr := framer.Write(buf[:n]); werr != nil {
			log.Fatal(werr)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
	}
	pad, err := framer.Flush() // the last, partial frame, padded with silence
	if err != nil {
		log.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d frames, %d bytes, %d bytes of padding\n", dst.Frames(), out.Len(), pad)
	// Output:
	// 7 frames, 7168 bytes, 768 bytes of padding
}

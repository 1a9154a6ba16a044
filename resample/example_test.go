package resample_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"math"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/resample"
)

// A Reader is a stage between a reader of 48 kHz audio and whatever wants
// 16 kHz: here 100 ms and one sample of a tone, which come out as
// round(4801 / 3) = 1600 samples, the last block and soxr's delay flushed at
// the end. Close frees soxr's C memory and is needed on every path.
func ExampleNew() {
	const n = 4801
	in := make([]byte, 2*n)
	for i := range n {
		v := 10000 * math.Sin(2*math.Pi*440*float64(i)/48000)
		binary.LittleEndian.PutUint16(in[2*i:], uint16(int16(v)))
	}
	r, err := resample.New(bytes.NewReader(in), frame.Rate48k, frame.Rate16k, resample.High)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d samples at 48 kHz → %d samples at 16 kHz\n", n, len(out)/2)
	// Output:
	// 4801 samples at 48 kHz → 1600 samples at 16 kHz
}

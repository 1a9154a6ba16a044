package frame_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"math"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// Example cuts audio into frames and releases them at real-time cadence,
// as a sender to a speech-to-text service does: the Framer calls its
// function with each whole frame, which waits for the Pacer before sending.
// The Pacer runs on the real clock, so this takes 21 ms (three frames at
// 48 kHz); what it prints is the schedule, the same on any machine.
func Example() {
	// 2.5 frames of 48 kHz audio: a 440 Hz tone, silence, the tone again.
	var pcm bytes.Buffer
	for i := range 1280 {
		v := 0.0
		if i < 512 || i >= 1024 {
			v = 0.1 * math.Sin(2*math.Pi*440*float64(i)/48000)
		}
		binary.Write(&pcm, binary.LittleEndian, int16(v*32767))
	}

	ctx := context.Background()
	pacer := frame.NewPacer(frame.Rate48k)
	start := time.Now()
	pacer.Start(start)
	speech := frame.EnergyAt(-45) // loudness threshold, in dBFS
	framer := frame.NewFramer(func(f *frame.Frame) error {
		due, err := pacer.Wait(ctx)
		if err != nil {
			return err
		}
		// Send f here. It is only valid during this call.
		kind := "silence"
		if f.Energy() >= speech {
			kind = "speech"
		}
		fmt.Printf("frame %d due at +%v: %s\n", pacer.Next()-1, due.Sub(start).Round(time.Microsecond), kind)
		return nil
	})
	if _, err := io.Copy(framer, &pcm); err != nil {
		log.Fatal(err)
	}
	pad, err := framer.Flush() // the last, partial frame
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d frames; the last padded with %d bytes of silence\n", framer.Frames(), pad)
	// Output:
	// frame 0 due at +0s: speech
	// frame 1 due at +10.667ms: silence
	// frame 2 due at +21.333ms: speech
	// 3 frames; the last padded with 512 bytes of silence
}

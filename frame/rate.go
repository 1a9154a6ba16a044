// Package frame cuts a stream of s16le mono PCM into the fixed-size frames a
// realtime speech-to-text service expects, and releases them on a real-time
// schedule.
//
// A [Frame] is exactly [Size] bytes: [Samples] signed 16-bit little-endian
// samples. A [Framer] turns writes of any size into whole frames without
// allocating; a [Pacer] decides when frame n may leave, on absolute deadlines
// of the monotonic clock. [Rate] converts between samples, bytes and time.
//
// Both types are synchronous and not safe for concurrent use; the pipeline
// package runs them on its own goroutines.
package frame

import (
	"fmt"
	"math"
	"time"
)

const (
	// Samples is the number of samples in one frame.
	Samples = 512
	// BytesPerSample is the size of one s16le mono sample.
	BytesPerSample = 2
	// Size is the size of one frame in bytes.
	Size = Samples * BytesPerSample
)

// Frame is one frame of s16le mono audio.
type Frame [Size]byte

// Rate is a sample rate in Hz.
type Rate int

// Rates the Vachana v3 service accepts.
const (
	Rate8k  Rate = 8000
	Rate16k Rate = 16000
	Rate44k Rate = 44100
	Rate48k Rate = 48000
)

// Valid reports whether r is one of the rates the service accepts.
func (r Rate) Valid() bool {
	switch r {
	case Rate8k, Rate16k, Rate44k, Rate48k:
		return true
	}
	return false
}

// Check returns an error naming r and the accepted rates if r is not valid.
func (r Rate) Check() error {
	if r.Valid() {
		return nil
	}
	return fmt.Errorf("frame: sample rate %d Hz is not accepted by the service; use 8000, 16000, 44100 or 48000", int(r))
}

// D returns the duration of n samples at rate r, rounded to the nanosecond.
func (r Rate) D(n int64) time.Duration {
	if r <= 0 {
		return 0
	}
	// Split to avoid overflow for very long streams: whole seconds, then the rest.
	sec := n / int64(r)
	rem := n % int64(r)
	return time.Duration(sec)*time.Second + time.Duration((rem*int64(time.Second)+int64(r)/2)/int64(r))
}

// N returns the number of whole samples at rate r that fit in d.
func (r Rate) N(d time.Duration) int64 {
	if r <= 0 || d <= 0 {
		return 0
	}
	sec := int64(d / time.Second)
	rem := int64(d % time.Second)
	return sec*int64(r) + rem*int64(r)/int64(time.Second)
}

// FrameDuration returns the playing time of one frame: 32 ms at 16 kHz,
// 64 ms at 8 kHz, about 11.61 ms at 44.1 kHz and 10.67 ms at 48 kHz.
func (r Rate) FrameDuration() time.Duration { return r.D(Samples) }

// FrameAt returns the offset of the start of frame n from the start of the
// stream. It is exact (not n × a rounded FrameDuration), so a schedule built on
// it does not drift at rates where a frame is not a whole number of nanoseconds.
func (r Rate) FrameAt(n int64) time.Duration { return r.D(n * Samples) }

// FramesIn returns the number of frames needed to hold d of audio, rounding up.
func (r Rate) FramesIn(d time.Duration) int64 {
	n := r.N(d)
	return (n + Samples - 1) / Samples
}

// MaxRate is the highest sample rate any stage accepts: above it a header
// is taken to be corrupt.
const MaxRate Rate = 768000

// Energy returns the sum of the squares of f's samples: 0 for digital
// silence, about 5.5e11 for a full-scale square wave. Compare it with
// [EnergyAt] to judge a frame's loudness without a square root or a
// logarithm per frame.
func (f *Frame) Energy() int64 {
	var sum int64
	for i := 0; i < Size; i += 2 {
		v := int64(int16(uint16(f[i]) | uint16(f[i+1])<<8))
		sum += v * v
	}
	return sum
}

// EnergyAt returns the [Frame.Energy] of a frame whose RMS level is dbfs
// decibels relative to full scale (32768): a frame is at least that loud
// when its Energy is at least EnergyAt(dbfs).
func EnergyAt(dbfs float64) int64 {
	a := 32768 * math.Pow(10, dbfs/20)
	return int64(a * a * Samples)
}

// Package frame cuts a stream of s16le mono PCM into the fixed-size frames a
// realtime speech-to-text service expects, releases them on a real-time
// schedule, and measures how regularly they went.
//
// A [Frame] is exactly [Size] bytes: [Samples] signed 16-bit little-endian
// samples. A [Framer] turns writes of any size into whole frames without
// allocating; a [Pacer] decides when frame n may leave, on absolute deadlines
// of a [Clock]; a [CadenceRecorder] summarises the times frames left or
// arrived as a [Cadence]. [Rate] converts between samples, bytes and time.
//
// These types are synchronous and not safe for concurrent use; the pipeline
// package runs them on its own goroutines.
package frame

import "math"

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

// fullScale is the Energy of a frame at 0 dBFS: every sample ±32768.
const fullScale = Samples * 32768 * 32768 // 2³⁹

// Energy returns the sum of the squares of f's samples: 0 for digital
// silence, 2³⁹ (about 5.5e11) for a full-scale square wave. Compare it with
// [EnergyAt] to judge a frame's loudness without a square root or a
// logarithm per frame.
func (f *Frame) Energy() int64 {
	// Four samples a step, in four sums (each square is below 2³⁰, so
	// int64 never overflows): the pipeline measures every frame it sends.
	// The copy is read as one range by the race detector, not byte by
	// byte, which made a frame cost 8 µs under -race.
	a := *f
	var s0, s1, s2, s3 int64
	for i := 0; i < Size; i += 8 {
		v0 := int64(int16(uint16(a[i]) | uint16(a[i+1])<<8))
		v1 := int64(int16(uint16(a[i+2]) | uint16(a[i+3])<<8))
		v2 := int64(int16(uint16(a[i+4]) | uint16(a[i+5])<<8))
		v3 := int64(int16(uint16(a[i+6]) | uint16(a[i+7])<<8))
		s0 += v0 * v0
		s1 += v1 * v1
		s2 += v2 * v2
		s3 += v3 * v3
	}
	return s0 + s1 + s2 + s3
}

// EnergyAt returns the least [Frame.Energy] of a frame whose RMS level is
// at least dbfs decibels relative to full scale (32768): a frame is at least
// that loud exactly when its Energy is at least EnergyAt(dbfs). That is
// ⌈10^(dbfs/10) × 2³⁹⌉: 2³⁹ at 0 dBFS, 0 at −Inf (every frame, silence
// too), and [math.MaxInt64], which no frame reaches, when it does not fit in
// an int64 or dbfs is NaN.
func EnergyAt(dbfs float64) int64 {
	e := math.Ceil(math.Pow(10, dbfs/10) * fullScale) // ×2³⁹ is exact
	if !(e < math.MaxInt64) {
		return math.MaxInt64
	}
	return int64(e)
}

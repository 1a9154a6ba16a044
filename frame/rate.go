package frame

import "time"

// Rate is a sample rate in Hz.
type Rate int

// Common sample rates. Which rates a service accepts is its dialect's
// business (see transport/vachana).
const (
	Rate8k  Rate = 8000
	Rate16k Rate = 16000
	Rate44k Rate = 44100
	Rate48k Rate = 48000
)

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

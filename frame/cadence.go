package frame

import (
	"math/bits"
	"time"
)

// Cadence summarises how regularly the frames of a stream left a sender or
// reached a receiver, as measured by a [CadenceRecorder].
//
// The deviation of frame i, for i ≥ 1, is how far the interval before it
// was from the frame period: |(tᵢ − tᵢ₋₁) − ([Rate.FrameAt](i) −
// FrameAt(i−1))|, where tᵢ is the time frame i was recorded. P50 and P99
// are nearest-rank percentiles of the deviations: Pp is the
// ⌈p/100 × (Frames−1)⌉-th smallest, the smallest deviation that at least
// p % of them are at or below. The recorder keeps each deviation in whole
// microseconds rounded down to 7 significant bits: exact below 128 µs,
// less than 1/64 (1.6 %) under the true value above (and at most 2³³ µs,
// 2.4 h), so P50 and P99 are such rounded deviations. Max and Drift are
// exact.
//
// All fields but Frames are zero with fewer than two frames.
type Cadence struct {
	// Frames is the number of frames recorded.
	Frames int64
	// P50 and P99 are the median and the 99th percentile of the deviations.
	P50, P99 time.Duration
	// Max is the largest deviation.
	Max time.Duration
	// Drift is (last − first) − FrameAt(Frames−1): positive when the
	// stream fell behind real time, negative when it ran faster. For
	// several streams merged with [CadenceRecorder.Merge] it is the drift of
	// largest magnitude among them.
	Drift time.Duration
}

const (
	cadenceBits    = 7  // significant bits kept of a deviation in µs
	cadenceOctaves = 26 // octaves above 2⁷ µs before the last bucket: up to 2³³ µs
	cadenceBuckets = 1<<cadenceBits + cadenceOctaves<<(cadenceBits-1)
)

// CadenceRecorder measures the [Cadence] of one stream from the time each
// frame was sent or received, in a fixed histogram of the deviations: [Add]
// allocates nothing, and its size (7 KiB) does not grow with the stream.
// Recorders of several streams are summarised together with [Merge].
//
// A CadenceRecorder is not safe for concurrent use. Make one with
// [NewCadenceRecorder] or [CadenceRecorder.Reset].
//
// [Add]: CadenceRecorder.Add
// [Merge]: CadenceRecorder.Merge
type CadenceRecorder struct {
	rate        Rate
	n           int64         // frames of this stream
	first, prev time.Time     // times of its first and last frame
	sched       time.Duration // FrameAt(n−1)

	devs   int64 // deviations counted, merged ones included
	max    time.Duration
	merged int64         // frames of merged recorders
	worst  time.Duration // their drift of largest magnitude
	counts [cadenceBuckets]uint32
}

// NewCadenceRecorder returns a recorder for a stream of frames at rate r.
func NewCadenceRecorder(r Rate) *CadenceRecorder {
	return &CadenceRecorder{rate: r}
}

// Reset empties c for a new stream of frames at rate r.
func (c *CadenceRecorder) Reset(r Rate) {
	*c = CadenceRecorder{rate: r}
}

// Add records that the next frame of the stream, the first one included,
// was sent or received at t.
func (c *CadenceRecorder) Add(t time.Time) {
	if c.n == 0 {
		c.first = t
	} else {
		sched := c.rate.FrameAt(c.n)
		d := t.Sub(c.prev) - (sched - c.sched)
		if d < 0 {
			d = -d
		}
		c.counts[cadenceBucket(uint64(d/time.Microsecond))]++
		c.devs++
		c.max = max(c.max, d)
		c.sched = sched
	}
	c.prev = t
	c.n++
}

// Merge adds the deviations and frames o recorded to c's, so that
// [CadenceRecorder.Cadence] summarises both streams: its percentiles and Max
// are over every frame of both, its Drift is the one of larger magnitude.
// Frames added to c later continue c's own stream.
func (c *CadenceRecorder) Merge(o *CadenceRecorder) {
	for i, k := range o.counts {
		c.counts[i] += k
	}
	c.devs += o.devs
	c.max = max(c.max, o.max)
	oc := o.Cadence()
	c.merged += oc.Frames
	c.worst = largerDrift(c.worst, oc.Drift)
}

// Cadence returns the summary of what c has recorded.
func (c *CadenceRecorder) Cadence() Cadence {
	s := Cadence{Frames: c.n + c.merged, Drift: c.worst}
	if c.n >= 2 {
		s.Drift = largerDrift(s.Drift, c.prev.Sub(c.first)-c.rate.FrameAt(c.n-1))
	}
	if c.devs > 0 {
		s.P50, s.P99, s.Max = c.percentile(50), c.percentile(99), c.max
	}
	return s
}

// percentile returns the nearest-rank p-th percentile of the deviations:
// the value of the bucket holding the ⌈p/100 × devs⌉-th smallest.
func (c *CadenceRecorder) percentile(p int64) time.Duration {
	rank := max((p*c.devs+99)/100, 1)
	var seen int64
	for i, k := range c.counts {
		seen += int64(k)
		if seen >= rank {
			return cadenceValue(i)
		}
	}
	return c.max // not reached: the counts add up to devs
}

func largerDrift(a, b time.Duration) time.Duration {
	if max(b, -b) > max(a, -a) {
		return b
	}
	return a
}

// cadenceBucket returns the bucket of a deviation of us microseconds: us
// itself below 2⁷; above, e×64 + m, where m is us's 7 leading bits (64 to
// 127) and e the number of bits dropped after them, so that buckets follow
// each other in the order of the values they hold.
func cadenceBucket(us uint64) int {
	if us < 1<<cadenceBits {
		return int(us)
	}
	e := bits.Len64(us) - cadenceBits
	m := int(us >> e)
	return min(e<<(cadenceBits-1)+m, cadenceBuckets-1)
}

// cadenceValue returns the deviation bucket i stands for: the least in it.
func cadenceValue(i int) time.Duration {
	if i < 1<<cadenceBits {
		return time.Duration(i) * time.Microsecond
	}
	e := i>>(cadenceBits-1) - 1
	m := i&(1<<(cadenceBits-1)-1) + 1<<(cadenceBits-1)
	return time.Duration(m<<e) * time.Microsecond
}

package pipeline

import (
	"fmt"
	"math/bits"
	"strings"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// Stats describes a finished (or failed) run.
type Stats struct {
	Rate       frame.Rate
	InputBytes int64         // bytes read from the source
	Padding    int           // zero bytes added to complete the last frame of input
	TailFrames int64         // silence frames sent after the input
	Frames     int64         // frames written to the sink, tail included
	Elapsed    time.Duration // from the first frame to the end of the run

	Cadence Cadence         // how steadily frames left; zero when unpaced
	Pace    frame.PaceStats // frames the pacer released late

	Events      int     // server events received
	Processing  int     // processing events
	Transcripts int     // final transcripts
	Partials    int     // non-final transcripts
	Errors      int     // error events
	Latency     Summary // the server's own "latency" of each final transcript
	Turnaround  Summary // time from a processing event to its final transcript, as seen here
	Warnings    int     // malformed messages skipped

	Sessions   int   // sessions used: 1, plus one per reconnection
	Reconnects int   // sessions lost and replaced
	Replayed   int64 // frames sent again to a new session
	GivenUp    int64 // frames a lost session had not finished with that the replay buffer no longer held
}

// Bytes returns the number of bytes written to the sink.
func (s *Stats) Bytes() int64 { return s.Frames * frame.Size }

// Cadence summarises the intervals between frame sends, measured just before
// each write: the deviation of each interval from the frame period, and the
// drift of the last send from the exact schedule.
type Cadence struct {
	Frames        int64
	P50, P99, Max time.Duration // |interval − period|
	Drift         time.Duration // (last − first send) − exact duration of the frames between, signed
}

// Summary holds the median and maximum of a set of durations.
type Summary struct {
	N        int
	P50, Max time.Duration
}

func (s Summary) String() string {
	if s.N == 0 {
		return "none"
	}
	return fmt.Sprintf("p50 %v, max %v (n=%d)", s.P50, s.Max, s.N)
}

// String formats s as the -stats summary: one "name: value" line each.
func (s *Stats) String() string {
	var b strings.Builder
	audio := s.Rate.D((s.Frames) * frame.Samples)
	fmt.Fprintf(&b, "frames:      %d × %d bytes = %d bytes (%v of audio at %d Hz)\n", s.Frames, frame.Size, s.Bytes(), audio.Round(time.Millisecond), int(s.Rate))
	fmt.Fprintf(&b, "read:        %d bytes, %d bytes of padding, %d tail silence frames\n", s.InputBytes, s.Padding, s.TailFrames)
	if s.Cadence.Frames > 1 {
		c := s.Cadence
		fmt.Fprintf(&b, "cadence:     deviation p50 %v, p99 %v, max %v; drift %v over %d frames\n", c.P50, c.P99, c.Max, c.Drift, c.Frames)
		fmt.Fprintf(&b, "late frames: %d (max %v behind schedule)\n", s.Pace.Late, s.Pace.MaxLate.Round(time.Microsecond))
	} else {
		fmt.Fprintf(&b, "cadence:     unpaced\n")
	}
	fmt.Fprintf(&b, "elapsed:     %v\n", s.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(&b, "events:      %d (%d processing, %d transcripts, %d partial, %d errors, %d malformed)\n", s.Events, s.Processing, s.Transcripts, s.Partials, s.Errors, s.Warnings)
	fmt.Fprintf(&b, "latency:     server %v; processing→transcript %v\n", s.Latency, s.Turnaround)
	if s.Reconnects > 0 {
		fmt.Fprintf(&b, "sessions:    %d (%d reconnections, %d frames replayed = %v", s.Sessions, s.Reconnects, s.Replayed, s.Rate.FrameAt(s.Replayed).Round(time.Millisecond))
		if s.GivenUp > 0 {
			fmt.Fprintf(&b, "; AUDIO LOST: %d frames = %v", s.GivenUp, s.Rate.FrameAt(s.GivenUp).Round(time.Millisecond))
		}
		b.WriteString(")\n")
	}
	return b.String()
}

// histogram records durations in microseconds with about 1.5 % precision
// above 128 µs and exactly below, in a fixed array: recording allocates
// nothing and its size does not grow with the stream.
type histogram struct {
	counts [128 + 30*64]uint32
	n      int64
	max    time.Duration
}

func histIndex(us uint64) int {
	if us < 128 {
		return int(us)
	}
	e := bits.Len64(us) - 7 // ≥ 1
	m := us >> e            // in [64, 127]
	i := 128 + (e-1)*64 + int(m-64)
	return min(i, 128+30*64-1)
}

func histValue(i int) time.Duration {
	if i < 128 {
		return time.Duration(i) * time.Microsecond
	}
	e := (i-128)/64 + 1
	m := uint64((i-128)%64 + 64)
	lo := m << e
	return time.Duration(lo+(uint64(1)<<e)/2) * time.Microsecond // the bucket's middle
}

func (h *histogram) add(d time.Duration) {
	if d < 0 {
		d = -d
	}
	h.counts[histIndex(uint64(d/time.Microsecond))]++
	h.n++
	h.max = max(h.max, d)
}

// quantile returns the value below which a fraction q of the samples lie.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(q*float64(h.n-1)) + 1
	var seen int64
	for i, c := range h.counts {
		seen += int64(c)
		if seen >= rank {
			return min(histValue(i), h.max)
		}
	}
	return h.max
}

// summary collects durations for a [Summary] without keeping them.
type summary struct{ h histogram }

func (s *summary) add(d time.Duration) { s.h.add(d) }

func (s *summary) result() Summary {
	return Summary{N: int(s.h.n), P50: s.h.quantile(0.5), Max: s.h.max}
}

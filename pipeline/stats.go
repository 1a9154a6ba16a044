package pipeline

import (
	"fmt"
	"slices"
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
	Filler     int64         // silence frames sent while the input paused (services with a keep-alive)
	Frames     int64         // frames written to the sink, tail included
	Elapsed    time.Duration // from the first frame to the end of the run

	// ChunkFrames is the frames in each write to the service (the
	// dialer's transport.Audio.ChunkFrames; 4 for aiOla), 0 or 1 for one
	// frame a write. Cadence and Pace count writes: chunks, when longer.
	ChunkFrames int
	Cadence     frame.Cadence   // how steadily frames left, just before each write, a session break left out; zero when unpaced
	Pace        frame.PaceStats // frames the pacer released late

	Events      int     // server events received
	Segments    int     // segment ends (SegmentEnded events: Vachana's processing, Sarvam's END_SPEECH)
	Transcripts int     // final transcripts
	Partials    int     // non-final transcripts
	Errors      int     // error events
	Latency     Summary // the server's own "latency" of each final transcript
	Turnaround  Summary // time from a segment's end to its final transcript, as seen here
	Warnings    int     // malformed messages skipped

	Sessions   int   // sessions used: 1, plus one per reconnection
	Reconnects int   // sessions lost and replaced
	Replayed   int64 // frames sent again to a new session
	GivenUp    int64 // frames a lost session had not finished with that the replay buffer no longer held
}

// Bytes returns the number of bytes written to the sink.
func (s *Stats) Bytes() int64 { return s.Frames * frame.Size }

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
	if s.Filler > 0 {
		fmt.Fprintf(&b, "filler:      %d silence frames = %v, sent while the input paused, so the service kept the session open\n", s.Filler, s.Rate.FrameAt(s.Filler).Round(time.Millisecond))
	}
	if s.Cadence.Frames > 1 {
		c := s.Cadence
		unit, late := "frames", "late frames:"
		if s.ChunkFrames > 1 {
			unit, late = fmt.Sprintf("chunks of %d frames", s.ChunkFrames), "late chunks:"
		}
		fmt.Fprintf(&b, "cadence:     deviation p50 %v, p99 %v, max %v; drift %v over %d %s\n", c.P50, c.P99, c.Max, c.Drift, c.Frames, unit)
		fmt.Fprintf(&b, "%s %d (max %v behind schedule)\n", late, s.Pace.Late, s.Pace.MaxLate.Round(time.Microsecond))
	} else {
		fmt.Fprintf(&b, "cadence:     unpaced\n")
	}
	fmt.Fprintf(&b, "elapsed:     %v\n", s.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(&b, "events:      %d (%d segment ends, %d transcripts, %d partial, %d errors, %d malformed)\n", s.Events, s.Segments, s.Transcripts, s.Partials, s.Errors, s.Warnings)
	fmt.Fprintf(&b, "latency:     server %v; segment end→transcript %v\n", s.Latency, s.Turnaround)
	if s.Reconnects > 0 {
		fmt.Fprintf(&b, "sessions:    %d (%d reconnections, %d frames replayed = %v", s.Sessions, s.Reconnects, s.Replayed, s.Rate.FrameAt(s.Replayed).Round(time.Millisecond))
		if s.GivenUp > 0 {
			fmt.Fprintf(&b, "; AUDIO LOST: %d frames = %v", s.GivenUp, s.Rate.FrameAt(s.GivenUp).Round(time.Millisecond))
		}
		b.WriteString(")\n")
	}
	return b.String()
}

// summary collects durations for a [Summary]: one a segment, so keeping
// them costs a few bytes a segment.
type summary struct{ ds []time.Duration }

func (s *summary) add(d time.Duration) { s.ds = append(s.ds, d) }

// result returns the nearest-rank median (the ⌈n/2⌉-th smallest, the rule
// of [frame.Cadence]) and the maximum.
func (s *summary) result() Summary {
	n := len(s.ds)
	if n == 0 {
		return Summary{}
	}
	ds := slices.Clone(s.ds)
	slices.Sort(ds)
	return Summary{N: n, P50: ds[(n+1)/2-1], Max: ds[n-1]}
}

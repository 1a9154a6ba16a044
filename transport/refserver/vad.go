package refserver

import (
	"fmt"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// vadEvent is a segment boundary found by a [segmenter]: the start of a
// segment (end == false, only Index and StartMS are final) or its end.
type vadEvent struct {
	end bool
	seg Segment
}

// segmenter is an energy VAD that cuts s16le mono audio into speech
// segments. It is synchronous, does no I/O and is not safe for concurrent
// use.
//
// Audio is judged in frames of [frame.Size] bytes; bytes that do not complete
// a frame are held until a later Feed does. A frame is loud when its RMS in
// dBFS (full scale 32768) is at or above the threshold: when its
// [frame.Frame.Energy] is at least [frame.EnergyAt] the threshold. A segment starts at
// its first loud frame and ends once hangover samples of quiet audio have
// followed its last loud frame.
type segmenter struct {
	rate      frame.Rate
	minEnergy int64 // frame.EnergyAt the threshold
	hangover  int64 // samples

	framer *frame.Framer
	pos    int64 // samples judged so far

	open      bool
	start     int64 // first sample of the open segment
	loudEnd   int64 // sample after the open segment's last loud frame
	nextIndex int

	events []vadEvent
}

// newSegmenter returns a segmenter for audio at rate r.
func newSegmenter(r frame.Rate, thresholdDBFS float64, hangover time.Duration) *segmenter {
	v := &segmenter{
		rate:      r,
		minEnergy: frame.EnergyAt(thresholdDBFS),
		hangover:  r.N(hangover),
	}
	v.framer = frame.NewFramer(v.judge)
	return v
}

// Feed judges the whole frames that p completes and returns the segment
// boundaries they contain, in order. The returned slice is reused by the next
// Feed. Feed does not retain p.
func (v *segmenter) Feed(p []byte) []vadEvent {
	v.events = v.events[:0]
	_, _ = v.framer.Write(p) // judge never fails
	return v.events
}

// Open returns the segment still open (speech not yet followed by enough
// silence), if any. Its Text is empty: it was never sent for transcription.
func (v *segmenter) Open() (Segment, bool) {
	if !v.open {
		return Segment{}, false
	}
	return v.segment(false), true
}

// End force-ends the open segment, if any, as a flush does: its end is the
// current position (the end of the last whole frame judged), loud or not,
// it gets its transcript text and is marked Flushed. Bytes held for an
// incomplete frame stay held. End reports false when no segment was open.
func (v *segmenter) End() (Segment, bool) {
	if !v.open {
		return Segment{}, false
	}
	v.loudEnd = v.pos
	s := v.segment(true)
	s.Flushed = true
	v.open = false
	v.nextIndex++
	return s, true
}

func (v *segmenter) judge(f *frame.Frame) error {
	loud := f.Energy() >= v.minEnergy
	v.pos += frame.Samples
	switch {
	case loud && !v.open:
		v.open = true
		v.start = v.pos - frame.Samples
		v.loudEnd = v.pos
		v.events = append(v.events, vadEvent{seg: v.segment(false)})
	case loud:
		v.loudEnd = v.pos
	case v.open && v.pos-v.loudEnd >= v.hangover:
		v.events = append(v.events, vadEvent{end: true, seg: v.segment(true)})
		v.open = false
		v.nextIndex++
	}
	return nil
}

// segment describes the open segment; closed adds its transcript text.
func (v *segmenter) segment(closed bool) Segment {
	s := Segment{
		Index:      v.nextIndex,
		StartMS:    roundMS(v.rate.D(v.start)),
		DurationMS: roundMS(v.rate.D(v.loudEnd - v.start)),
	}
	if closed {
		s.Text = fmt.Sprintf("[segment %d: %d ms of speech]", s.Index, s.DurationMS)
	}
	return s
}

// roundMS returns d in whole milliseconds, rounded to nearest.
func roundMS(d time.Duration) int {
	return int(d.Round(time.Millisecond) / time.Millisecond)
}

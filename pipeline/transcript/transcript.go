// Package transcript turns the events of [pipeline.Stream] into timestamped
// transcript segments ([Assembler]) and writes them as plain text, JSON or
// captions: SubRip ([WriteSRT]) and WebVTT ([WriteVTT]). [Cues] is the
// caption layout both caption writers share, for callers with their own
// format.
//
// Only final transcripts with text make segments. Their times are the
// pipeline's [pipeline.Event] Start and End, in the input's timeline; a
// segment without them is untimed, and each writer says what it does with
// one.
//
// The package is synchronous and starts no goroutines. An Assembler is safe
// for concurrent use; everything else works on values the caller owns.
package transcript

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vachana-pipe/vachana-pipe/pipeline"
	"github.com/vachana-pipe/vachana-pipe/transport"
)

// Segment is the text of one final transcript and the span of the input it
// transcribes.
type Segment struct {
	// Channel is the input channel the segment was heard on, from 0; 0 for
	// a mono stream.
	Channel int
	// Start and End bound the speech in the input's timeline, from its
	// first sample. A segment is timed only when End is after Start (see
	// [Segment.Timed]); an [Assembler] gives an untimed segment zero Start
	// and End.
	Start, End time.Duration
	// Text is what was said, without leading or trailing white space.
	Text string
	// Language is the language the service detected, when it said.
	Language string
	// Session and Index are the pipeline's numbering of the transcript:
	// [pipeline.Event] Session and Segment.
	Session, Index int
}

// Timed reports whether s says where it is in the input: End after Start,
// and Start not negative.
func (s Segment) Timed() bool { return s.End > s.Start && s.Start >= 0 }

// Assembler collects the segments of one or more streams, one per input
// channel, from their events. The zero value is ready to use. It is safe
// for concurrent use: the streams of several channels may call Add at once,
// and Segments may be called at any time.
type Assembler struct {
	mu      sync.Mutex
	entries []entry
	seen    map[dedupeKey]struct{}
	last    map[int]sortKey // per channel, the key of its latest segment
	arrived int
}

// entry is a segment and where it sorts.
type entry struct {
	key sortKey
	seg Segment
}

// sortKey orders segments: by start, channel, then arrival. An untimed
// segment borrows start and arrival of its channel's previous segment and
// breaks the tie with its own arrival, so that it follows that segment.
type sortKey struct {
	start     time.Duration
	channel   int
	arrival   int
	following int // the untimed segment's own arrival; 0 for a timed one
}

func (k sortKey) compare(o sortKey) int {
	if c := cmp.Compare(k.start, o.start); c != 0 {
		return c
	}
	if c := cmp.Compare(k.channel, o.channel); c != 0 {
		return c
	}
	if c := cmp.Compare(k.arrival, o.arrival); c != 0 {
		return c
	}
	return cmp.Compare(k.following, o.following)
}

// dedupeKey identifies a timed segment transcribed twice.
type dedupeKey struct {
	channel    int
	start, end time.Duration
	text       string
}

// Add takes an event of the stream of channel and returns the segment it
// makes, if any. Only a final transcript ([transport.Transcript], Final)
// whose text is not blank makes one. A timed segment that repeats one
// already added (same channel, Start, End and text, as when the pipeline
// replays audio after a lost session and the service transcribes it again)
// is dropped: Add then reports false, so that a caller printing segments as
// they come does not print it twice. Untimed segments are never taken for
// repeats.
func (a *Assembler) Add(channel int, ev pipeline.Event) (Segment, bool) {
	if ev.Kind != transport.Transcript || !ev.Final {
		return Segment{}, false
	}
	text := strings.TrimSpace(ev.Text)
	if text == "" {
		return Segment{}, false
	}
	s := Segment{
		Channel:  channel,
		Start:    ev.Start,
		End:      ev.End,
		Text:     text,
		Language: ev.Language,
		Session:  ev.Session,
		Index:    ev.Segment,
	}
	if !s.Timed() {
		s.Start, s.End = 0, 0
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	if s.Timed() {
		k := dedupeKey{channel, s.Start, s.End, text}
		if _, ok := a.seen[k]; ok {
			return Segment{}, false
		}
		if a.seen == nil {
			a.seen = make(map[dedupeKey]struct{})
		}
		a.seen[k] = struct{}{}
	}
	if a.last == nil {
		a.last = make(map[int]sortKey)
	}
	a.arrived++
	key := sortKey{start: s.Start, channel: channel, arrival: a.arrived}
	if !s.Timed() {
		// Right after the channel's previous segment, or first.
		key = a.last[channel]
		key.channel = channel
		key.following = a.arrived
	}
	a.last[channel] = key
	a.entries = append(a.entries, entry{key, s})
	return s, true
}

// Segments returns every segment added so far in time order: by Start, then
// Channel, then arrival. An untimed segment comes right after the segment
// its channel had before it (first, if none). The slice is the caller's.
func (a *Assembler) Segments() []Segment {
	a.mu.Lock()
	entries := slices.Clone(a.entries)
	a.mu.Unlock()
	slices.SortFunc(entries, func(x, y entry) int { return x.key.compare(y.key) })
	segs := make([]Segment, len(entries))
	for i, e := range entries {
		segs[i] = e.seg
	}
	return segs
}

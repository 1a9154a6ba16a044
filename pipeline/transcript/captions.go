package transcript

import (
	"bufio"
	"cmp"
	"io"
	"slices"
	"strconv"
	"time"
)

// Cue is one caption: lines of text on screen from Start to End.
type Cue struct {
	// Start and End are in the input's timeline, in whole milliseconds;
	// End is after Start.
	Start, End time.Duration
	// Channel is the channel of the segment the cue shows.
	Channel int
	// Lines are the cue's lines of text, without the channel's label, none
	// empty, none holding a line break or "-->".
	Lines []string
}

const (
	// minCue is the shortest a cue lasts when its segment allows.
	minCue = 700 * time.Millisecond
	// untimedPerChar and untimedMin estimate how long an untimed segment
	// is on screen.
	untimedPerChar = 60 * time.Millisecond
	untimedMin     = time.Second
	// untimedSqueezed is the shortest an untimed segment is made to fit
	// before the next timed one.
	untimedSqueezed = 400 * time.Millisecond
)

// Cues lays segs out as captions, the cues [WriteSRT] and [WriteVTT] write,
// sorted by start (stably: cues starting together keep the order of their
// segments in segs). Segments with blank text make none.
//
// A segment becomes one cue when its text fits MaxLines lines of
// MaxLineChars characters (runes) and it lasts no longer than
// MaxCueDuration. Otherwise it is split into several cues between words:
// after the end of a sentence (. ? ! … । ॥) by preference, then after a
// comma, semicolon, colon or dash, then anywhere between words, with cues
// of similar length. A word longer than a line is broken, where possible
// not before a combining mark, after a virama or around a joiner, and never
// inside a rune. The lines of a cue are balanced: as few as the text needs,
// of similar length.
//
// The cues of a segment cover its span exactly, one after another. Each
// gets a share of the time proportional to its characters, held within
// 700 ms and MaxCueDuration where the segment's length allows (a cue of a
// single word may last longer). Times are whole milliseconds, and every cue
// lasts one at least: the cues of a segment shorter than a millisecond for
// each run past its end.
//
// An untimed segment (see [Segment.Timed]) is placed after the previous
// cue of its channel in segs (at 0 when it has none) and lasts 60 ms per
// character, at least one second. A run of untimed segments that would
// overrun the start of the channel's next timed segment is shortened in
// proportion to end there, but each keeps at least 400 ms; only then do
// they overlap it. Other channels' cues may overlap them, as they may
// overlap each other when people talk at once.
//
// Runs of white space and control characters in text become one space,
// invalid UTF-8 becomes U+FFFD and "-->" becomes "->".
// Fields of o out of range get their defaults.
func Cues(segs []Segment, o *Options) []Cue {
	items := make([]item, 0, len(segs))
	for _, s := range segs {
		l := newLayout(o, s.Channel)
		words := splitWords(s.Text, l.first)
		if len(words) == 0 {
			continue
		}
		it := item{channel: s.Channel, words: words, l: l}
		if s.Timed() {
			it.timed = true
			it.start, it.end = roundMS(s.Start), roundMS(s.End)
			if it.end <= it.start {
				it.end = it.start + time.Millisecond
			}
		}
		items = append(items, it)
	}
	placeUntimed(items)

	var cues []Cue
	for _, it := range items {
		cues = it.l.split(cues, it.channel, it.words, it.start, it.end)
	}
	slices.SortStableFunc(cues, func(a, b Cue) int { return cmp.Compare(a.Start, b.Start) })
	return cues
}

// item is a segment being laid out.
type item struct {
	channel    int
	words      []word
	l          layout
	timed      bool
	placed     bool // an untimed item's span is set
	start, end time.Duration
}

// placeUntimed gives each untimed item a span after its channel's previous
// item, as Cues documents.
func placeUntimed(items []item) {
	cursor := make(map[int]time.Duration) // per channel, where the last item ended
	for i := range items {
		it := &items[i]
		if !it.timed && !it.placed {
			planRun(items, i, cursor[it.channel])
		}
		cursor[it.channel] = max(cursor[it.channel], it.end)
	}
}

// planRun places the run of untimed items of the channel of items[i] that
// starts there, from at.
func planRun(items []item, i int, at time.Duration) {
	ch := items[i].channel
	var run []int
	var total time.Duration
	next := time.Duration(-1) // the start of the channel's next timed item
	for j := i; j < len(items); j++ {
		if items[j].channel != ch {
			continue
		}
		if items[j].timed {
			next = items[j].start
			break
		}
		run = append(run, j)
		total += estimate(items[j].words)
	}
	scale := 1.0
	if gap := next - at; next >= 0 && total > gap && gap > 0 {
		scale = float64(gap) / float64(total)
	}
	for _, j := range run {
		d := roundMS(time.Duration(float64(estimate(items[j].words)) * scale))
		d = max(d, untimedSqueezed)
		items[j].start, items[j].end, items[j].placed = at, at+d, true
		at += d
	}
}

// estimate returns how long an untimed segment of words stays on screen.
func estimate(words []word) time.Duration {
	return max(untimedMin, time.Duration(chars(words))*untimedPerChar)
}

func roundMS(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

// WriteSRT writes segs to w as SubRip captions, the cues [Cues] lays out,
// numbered from 1:
//
//	1
//	00:00:01,234 --> 00:00:03,000
//	agent: first line
//	second line
//
// With [Options] Labels, the first line of each cue starts with the
// channel's label and ": ". Text is written as it is (markup a player
// understands, such as <i>, is kept), "-->" aside. Empty segs write an
// empty file.
func WriteSRT(w io.Writer, segs []Segment, o *Options) error {
	if err := o.check(); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	var line []byte
	for i, c := range Cues(segs, o) {
		line = strconv.AppendInt(line[:0], int64(i+1), 10)
		line = append(line, '\n')
		line = appendClock(line, c.Start, ',')
		line = append(line, " --> "...)
		line = appendClock(line, c.End, ',')
		line = append(line, '\n')
		if label := o.label(c.Channel); label != "" {
			line = append(append(line, label...), ": "...)
		}
		for _, l := range c.Lines {
			line = append(append(line, l...), '\n')
		}
		line = append(line, '\n')
		bw.Write(line) // a bufio.Writer's error is sticky: Flush returns it
	}
	return bw.Flush()
}

// WriteVTT writes segs to w as WebVTT captions, the cues [Cues] lays out,
// after the WEBVTT header:
//
//	WEBVTT
//
//	00:00:01.234 --> 00:00:03.000
//	<v agent>first line
//	second line</v>
//
// With [Options] Labels, each cue is a voice span named by the channel's
// label. &, < and > in text and labels are escaped as &amp;, &lt; and &gt;.
// Empty segs write the header alone.
func WriteVTT(w io.Writer, segs []Segment, o *Options) error {
	if err := o.check(); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	bw.WriteString("WEBVTT\n\n")
	var line []byte
	for _, c := range Cues(segs, o) {
		line = appendClock(line[:0], c.Start, '.')
		line = append(line, " --> "...)
		line = appendClock(line, c.End, '.')
		line = append(line, '\n')
		label := o.label(c.Channel)
		if label != "" {
			line = appendEscaped(append(line, "<v "...), label)
			line = append(line, '>')
		}
		for i, l := range c.Lines {
			if i > 0 {
				line = append(line, '\n')
			}
			line = appendEscaped(line, l)
		}
		if label != "" {
			line = append(line, "</v>"...)
		}
		line = append(line, "\n\n"...)
		bw.Write(line) // a bufio.Writer's error is sticky: Flush returns it
	}
	return bw.Flush()
}

// appendClock appends d as hh:mm:ss followed by sep and milliseconds.
func appendClock(dst []byte, d time.Duration, sep byte) []byte {
	ms := int64(max(d, 0) / time.Millisecond)
	h := ms / 3_600_000
	if h < 10 {
		dst = append(dst, '0')
	}
	dst = strconv.AppendInt(dst, h, 10)
	m, s, f := ms/60_000%60, ms/1000%60, ms%1000
	return append(dst, ':', byte('0'+m/10), byte('0'+m%10), ':', byte('0'+s/10), byte('0'+s%10),
		sep, byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10))
}

// appendEscaped appends s with &, < and > escaped for WebVTT.
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '&':
			dst = append(dst, "&amp;"...)
		case '<':
			dst = append(dst, "&lt;"...)
		case '>':
			dst = append(dst, "&gt;"...)
		default:
			dst = append(dst, s[i])
		}
	}
	return dst
}

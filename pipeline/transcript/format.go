package transcript

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrFormat is the error [ParseFormat] wraps for a name it does not know.
var ErrFormat = errors.New("transcript: unknown format")

// ErrOptions is the error the writers wrap for [Options] out of range.
var ErrOptions = errors.New("transcript: invalid options")

// Format is a way of writing segments.
type Format int

// The formats, by the name [ParseFormat] takes.
const (
	Text Format = iota // one line per segment ([WriteText])
	JSON               // a JSON array of segments ([WriteJSON])
	SRT                // SubRip captions ([WriteSRT])
	VTT                // WebVTT captions ([WriteVTT])
)

var formatNames = [...]string{Text: "text", JSON: "json", SRT: "srt", VTT: "vtt"}
var formatExts = [...]string{Text: ".txt", JSON: ".json", SRT: ".srt", VTT: ".vtt"}

// ParseFormat returns the format named s: "text", "json", "srt" or "vtt",
// in any case. Any other name gives an error wrapping [ErrFormat] that lists
// the names.
func ParseFormat(s string) (Format, error) {
	for f, name := range formatNames {
		if strings.EqualFold(s, name) {
			return Format(f), nil
		}
	}
	return 0, fmt.Errorf("%w %q: want text, json, srt or vtt", ErrFormat, s)
}

// String returns the name [ParseFormat] takes for f.
func (f Format) String() string {
	if f < 0 || int(f) >= len(formatNames) {
		return "Format(" + strconv.Itoa(int(f)) + ")"
	}
	return formatNames[f]
}

// Ext returns the usual file name extension for f, with its dot: ".txt",
// ".json", ".srt" or ".vtt"; "" for a value that is not a format.
func (f Format) Ext() string {
	if f < 0 || int(f) >= len(formatExts) {
		return ""
	}
	return formatExts[f]
}

// Options say how segments are written. A nil *Options is the zero value,
// and every zero field is its default. Negative numbers and durations are
// invalid: the writers return an error wrapping [ErrOptions], and [Cues]
// uses the defaults instead.
type Options struct {
	// Timestamps prefixes each text line with the segment's start,
	// [mm:ss.s], or [h:mm:ss.s] from one hour on (tenths truncated); an
	// untimed segment gets [--:--.-]. It affects text only.
	Timestamps bool

	// Labels prints each segment's channel label: "label: " before the
	// text of a line or the first line of a caption (SubRip), or a voice
	// span, <v label>, in WebVTT, and a "label" member in JSON. Set it when
	// the channels of a stream are transcribed apart.
	Labels bool
	// Names labels the channels: Names[ch] for channel ch when it is set
	// and not blank, "Channel N" otherwise, where N is ch+1 (people count
	// from one). In a name, runs of white space become one space and
	// "-->" becomes "->".
	Names []string

	// MaxLineChars is the most characters (runes) in a caption line; 42
	// when zero. A label counts against the first line of a cue, but takes
	// at most half of it.
	MaxLineChars int
	// MaxLines is the most lines in a caption; 2 when zero.
	MaxLines int
	// MaxCueDuration is the longest a caption stays on screen; 7 s when
	// zero. A segment that lasts longer is split into several captions,
	// unless it is a single word.
	MaxCueDuration time.Duration
}

const (
	defaultLineChars   = 42
	defaultLines       = 2
	defaultCueDuration = 7 * time.Second
)

// check returns an error wrapping ErrOptions for fields out of range.
func (o *Options) check() error {
	if o == nil {
		return nil
	}
	switch {
	case o.MaxLineChars < 0:
		return fmt.Errorf("%w: MaxLineChars %d", ErrOptions, o.MaxLineChars)
	case o.MaxLines < 0:
		return fmt.Errorf("%w: MaxLines %d", ErrOptions, o.MaxLines)
	case o.MaxCueDuration < 0:
		return fmt.Errorf("%w: MaxCueDuration %v", ErrOptions, o.MaxCueDuration)
	}
	return nil
}

// label returns the label of channel ch, or "" when labels are off.
func (o *Options) label(ch int) string {
	if o == nil || !o.Labels {
		return ""
	}
	if ch >= 0 && ch < len(o.Names) {
		if name := strings.Join(fields(o.Names[ch]), " "); name != "" {
			return noArrow(name)
		}
	}
	return "Channel " + strconv.Itoa(ch+1)
}

// AppendText appends s to dst as one line of text, ending in '\n', and
// returns the extended slice: "[01:02.3] agent: hello" with Timestamps and
// Labels, "hello" with neither. Runs of white space and control characters
// in the text, line breaks included, become one space, and invalid UTF-8
// becomes U+FFFD.
func AppendText(dst []byte, s Segment, o *Options) []byte {
	if o != nil && o.Timestamps {
		dst = append(dst, '[')
		if s.Timed() {
			dst = appendStamp(dst, s.Start)
		} else {
			dst = append(dst, "--:--.-"...)
		}
		dst = append(dst, "] "...)
	}
	if l := o.label(s.Channel); l != "" {
		dst = append(append(dst, l...), ": "...)
	}
	for i, w := range fields(s.Text) {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, w...)
	}
	return append(dst, '\n')
}

// appendStamp appends d as mm:ss.s, or h:mm:ss.s from one hour on.
func appendStamp(dst []byte, d time.Duration) []byte {
	t := int64(d / (100 * time.Millisecond))
	tenths, t := t%10, t/10
	sec, t := t%60, t/60
	min, h := t%60, t/60
	if h > 0 {
		dst = strconv.AppendInt(dst, h, 10)
		dst = append(dst, ':')
	}
	dst = append(dst, byte('0'+min/10), byte('0'+min%10), ':', byte('0'+sec/10), byte('0'+sec%10), '.', byte('0'+tenths))
	return dst
}

// WriteText writes segs to w, one line each as [AppendText] makes it, in
// the order given. Segments with blank text are left out; empty segs write
// nothing.
func WriteText(w io.Writer, segs []Segment, o *Options) error {
	if err := o.check(); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	var line []byte
	for _, s := range segs {
		if len(fields(s.Text)) == 0 {
			continue
		}
		line = AppendText(line[:0], s, o)
		bw.Write(line) // a bufio.Writer's error is sticky: Flush returns it
	}
	return bw.Flush()
}

// jsonSegment is a segment as WriteJSON writes it.
type jsonSegment struct {
	Channel  int      `json:"channel"`
	Label    string   `json:"label,omitempty"`
	Start    *float64 `json:"start,omitempty"`
	End      *float64 `json:"end,omitempty"`
	Text     string   `json:"text"`
	Language string   `json:"language,omitempty"`
	Session  int      `json:"session"`
	Index    int      `json:"index"`
}

// WriteJSON writes segs to w as a JSON array, one object per line, in the
// order given:
//
//	{"channel":0,"start":1.25,"end":3.5,"text":"hello","language":"en-IN","session":1,"index":0}
//
// start and end are seconds, to the millisecond, and absent for an untimed
// segment; label is there when [Options] Labels is set; language when the
// service said. Segments with blank text are left out; empty segs write
// [].
func WriteJSON(w io.Writer, segs []Segment, o *Options) error {
	if err := o.check(); err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	bw := bufio.NewWriter(w)
	bw.WriteString("[")
	i := 0
	for _, s := range segs {
		if len(fields(s.Text)) == 0 {
			continue
		}
		j := jsonSegment{Channel: s.Channel, Label: o.label(s.Channel), Text: s.Text, Language: s.Language, Session: s.Session, Index: s.Index}
		if s.Timed() {
			start, end := s.Start.Round(time.Millisecond).Seconds(), s.End.Round(time.Millisecond).Seconds()
			j.Start, j.End = &start, &end
		}
		buf.Reset()
		if err := enc.Encode(j); err != nil {
			return fmt.Errorf("transcript: writing JSON: %w", err)
		}
		if i > 0 {
			bw.WriteString(",")
		}
		i++
		bw.WriteString("\n")
		bw.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	}
	if i > 0 {
		bw.WriteString("\n")
	}
	bw.WriteString("]\n")
	return bw.Flush()
}

// Write writes segs to w in format f, with [WriteText], [WriteJSON],
// [WriteSRT] or [WriteVTT].
func Write(w io.Writer, f Format, segs []Segment, o *Options) error {
	switch f {
	case Text:
		return WriteText(w, segs, o)
	case JSON:
		return WriteJSON(w, segs, o)
	case SRT:
		return WriteSRT(w, segs, o)
	case VTT:
		return WriteVTT(w, segs, o)
	}
	return fmt.Errorf("%w: %v", ErrFormat, f)
}

// runes returns the number of runes in s.
func runes(s string) int { return utf8.RuneCountInString(s) }

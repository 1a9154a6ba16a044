package transcript

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// parsedCue is a cue read back from a file.
type parsedCue struct {
	Start, End time.Duration
	Voice      string // WebVTT's <v> annotation
	Lines      []string
}

var (
	srtTiming = regexp.MustCompile(`^(\d{2,}):([0-5]\d):([0-5]\d),(\d{3}) --> (\d{2,}):([0-5]\d):([0-5]\d),(\d{3})$`)
	vttTiming = regexp.MustCompile(`^(\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3}) --> (\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3})$`)
)

// parseTiming reads a timing line matched by re.
func parseTiming(re *regexp.Regexp, line string) (start, end time.Duration, err error) {
	m := re.FindStringSubmatch(line)
	if m == nil {
		return 0, 0, fmt.Errorf("bad timing line %q", line)
	}
	var n [8]int64
	for i := range n {
		n[i], _ = strconv.ParseInt(m[i+1], 10, 64)
	}
	at := func(n []int64) time.Duration {
		return time.Duration(n[0])*time.Hour + time.Duration(n[1])*time.Minute + time.Duration(n[2])*time.Second + time.Duration(n[3])*time.Millisecond
	}
	start, end = at(n[:4]), at(n[4:])
	if end <= start {
		return 0, 0, fmt.Errorf("timing line %q: end not after start", line)
	}
	return start, end, nil
}

// checkText rejects a cue's text line that would end the cue or start
// another: empty, white space only, holding a carriage return or "-->".
func checkText(line string) error {
	switch {
	case strings.TrimSpace(line) == "":
		return fmt.Errorf("blank text line %q", line)
	case strings.Contains(line, "-->"):
		return fmt.Errorf("text line %q holds -->", line)
	case strings.ContainsRune(line, '\r'):
		return fmt.Errorf("text line %q holds a carriage return", line)
	case !utf8.ValidString(line):
		return fmt.Errorf("text line %q is not UTF-8", line)
	}
	return nil
}

// blocks splits body, the cues of a caption file, into blocks of lines:
// every block ends with one blank line, and the file ends after the last.
func blocks(body string) ([][]string, error) {
	if body == "" {
		return nil, nil
	}
	if !strings.HasSuffix(body, "\n\n") || strings.HasSuffix(body, "\n\n\n") {
		return nil, errors.New("cues do not end with exactly one blank line")
	}
	var bs [][]string
	for b := range strings.SplitSeq(strings.TrimSuffix(body, "\n\n"), "\n\n") {
		if b == "" || strings.HasPrefix(b, "\n") {
			return nil, errors.New("more than one blank line between cues")
		}
		bs = append(bs, strings.Split(b, "\n"))
	}
	return bs, nil
}

// parseSRT reads a SubRip file strictly: cues numbered from 1, a timing
// line hh:mm:ss,mmm --> hh:mm:ss,mmm with single spaces round the arrow,
// one or more text lines, one blank line after each cue, starts in order.
func parseSRT(s string) ([]parsedCue, error) {
	bs, err := blocks(s)
	if err != nil {
		return nil, err
	}
	var cues []parsedCue
	for i, b := range bs {
		if len(b) < 3 {
			return nil, fmt.Errorf("cue %d: %d lines, want a number, timing and text", i+1, len(b))
		}
		if b[0] != strconv.Itoa(i+1) {
			return nil, fmt.Errorf("cue %d: numbered %q", i+1, b[0])
		}
		start, end, err := parseTiming(srtTiming, b[1])
		if err != nil {
			return nil, fmt.Errorf("cue %d: %v", i+1, err)
		}
		if i > 0 && start < cues[i-1].Start {
			return nil, fmt.Errorf("cue %d starts before cue %d", i+1, i)
		}
		for _, l := range b[2:] {
			if err := checkText(l); err != nil {
				return nil, fmt.Errorf("cue %d: %v", i+1, err)
			}
		}
		cues = append(cues, parsedCue{Start: start, End: end, Lines: b[2:]})
	}
	return cues, nil
}

var vttEntity = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">")

// parseVTT reads a WebVTT file as WriteVTT writes it, strictly: the header
// line WEBVTT and a blank line, then cues of a timing line hh:mm:ss.mmm -->
// hh:mm:ss.mmm and one or more text lines, one blank line after each, starts
// in order. Text may hold only a voice span round the whole cue, and the
// entities &amp; &lt; &gt;; no raw & < or >.
func parseVTT(s string) ([]parsedCue, error) {
	body, ok := strings.CutPrefix(s, "WEBVTT\n\n")
	if !ok {
		return nil, errors.New("no WEBVTT header and blank line")
	}
	bs, err := blocks(body)
	if err != nil {
		return nil, err
	}
	var cues []parsedCue
	for i, b := range bs {
		if len(b) < 2 {
			return nil, fmt.Errorf("cue %d: %d lines, want timing and text", i+1, len(b))
		}
		start, end, err := parseTiming(vttTiming, b[0])
		if err != nil {
			return nil, fmt.Errorf("cue %d: %v", i+1, err)
		}
		if i > 0 && start < cues[i-1].Start {
			return nil, fmt.Errorf("cue %d starts before cue %d", i+1, i)
		}
		c := parsedCue{Start: start, End: end, Lines: slices.Clone(b[1:])}
		if rest, ok := strings.CutPrefix(c.Lines[0], "<v "); ok {
			voice, text, ok := strings.Cut(rest, ">")
			last := len(c.Lines) - 1
			if !ok || voice == "" || !strings.HasSuffix(c.Lines[last], "</v>") {
				return nil, fmt.Errorf("cue %d: bad voice span", i+1)
			}
			c.Voice, c.Lines[0] = voice, text
			c.Lines[last] = strings.TrimSuffix(c.Lines[last], "</v>")
			if err := checkEscaped(voice); err != nil {
				return nil, fmt.Errorf("cue %d: voice: %v", i+1, err)
			}
			c.Voice = vttEntity.Replace(voice)
		}
		for j, l := range c.Lines {
			if err := checkText(l); err != nil {
				return nil, fmt.Errorf("cue %d: %v", i+1, err)
			}
			if err := checkEscaped(l); err != nil {
				return nil, fmt.Errorf("cue %d: %v", i+1, err)
			}
			c.Lines[j] = vttEntity.Replace(l)
		}
		cues = append(cues, c)
	}
	return cues, nil
}

// checkEscaped rejects WebVTT text with a raw <, > or an & that is not one
// of the entities WriteVTT writes.
func checkEscaped(s string) error {
	if strings.ContainsAny(s, "<>") {
		return fmt.Errorf("raw < or > in %q", s)
	}
	for i := strings.IndexByte(s, '&'); i >= 0; i = strings.IndexByte(s, '&') {
		s = s[i:]
		if !strings.HasPrefix(s, "&amp;") && !strings.HasPrefix(s, "&lt;") && !strings.HasPrefix(s, "&gt;") {
			return fmt.Errorf("raw & in %q", s)
		}
		s = s[1:]
	}
	return nil
}

func TestParsersReject(t *testing.T) {
	srt := []struct{ name, in string }{
		{"numbered from 0", "0\n00:00:01,000 --> 00:00:02,000\nhi\n\n"},
		{"number skipped", "1\n00:00:01,000 --> 00:00:02,000\nhi\n\n3\n00:00:03,000 --> 00:00:04,000\nho\n\n"},
		{"dot for comma", "1\n00:00:01.000 --> 00:00:02,000\nhi\n\n"},
		{"short hours", "1\n0:00:01,000 --> 00:00:02,000\nhi\n\n"},
		{"minutes over 59", "1\n00:60:01,000 --> 01:00:02,000\nhi\n\n"},
		{"arrow spacing", "1\n00:00:01,000-->00:00:02,000\nhi\n\n"},
		{"two spaces", "1\n00:00:01,000  --> 00:00:02,000\nhi\n\n"},
		{"end before start", "1\n00:00:02,000 --> 00:00:01,000\nhi\n\n"},
		{"end at start", "1\n00:00:02,000 --> 00:00:02,000\nhi\n\n"},
		{"no text", "1\n00:00:01,000 --> 00:00:02,000\n\n"},
		{"arrow in text", "1\n00:00:01,000 --> 00:00:02,000\na --> b\n\n"},
		{"no blank line at end", "1\n00:00:01,000 --> 00:00:02,000\nhi\n"},
		{"two blank lines", "1\n00:00:01,000 --> 00:00:02,000\nhi\n\n\n2\n00:00:03,000 --> 00:00:04,000\nho\n\n"},
		{"out of order", "1\n00:00:03,000 --> 00:00:04,000\nhi\n\n2\n00:00:01,000 --> 00:00:02,000\nho\n\n"},
		{"blank text line", "1\n00:00:01,000 --> 00:00:02,000\nhi\n \n\n"},
	}
	for _, tt := range srt {
		if _, err := parseSRT(tt.in); err == nil {
			t.Errorf("SRT %s: accepted", tt.name)
		}
	}
	vtt := []struct{ name, in string }{
		{"no header", "00:00:01.000 --> 00:00:02.000\nhi\n\n"},
		{"header without blank line", "WEBVTT\n00:00:01.000 --> 00:00:02.000\nhi\n\n"},
		{"comma", "WEBVTT\n\n00:00:01,000 --> 00:00:02.000\nhi\n\n"},
		{"arrow spacing", "WEBVTT\n\n00:00:01.000 -->00:00:02.000\nhi\n\n"},
		{"end before start", "WEBVTT\n\n00:00:03.000 --> 00:00:02.000\nhi\n\n"},
		{"raw <", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\na < b\n\n"},
		{"raw &", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nfish & chips\n\n"},
		{"raw > in voice", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v a>b>hi</v>\n\n"},
		{"open voice", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v a>hi\n\n"},
		{"arrow in text", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\na-->b\n\n"},
		{"no blank line at end", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nhi\n"},
	}
	for _, tt := range vtt {
		if _, err := parseVTT(tt.in); err == nil {
			t.Errorf("VTT %s: accepted", tt.name)
		}
	}
	if cues, err := parseVTT("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v a &amp; b>x &lt;y&gt;\nz</v>\n\n"); err != nil ||
		len(cues) != 1 || cues[0].Voice != "a & b" || !slices.Equal(cues[0].Lines, []string{"x <y>", "z"}) {
		t.Errorf("VTT: a good cue read as %+v, %v", cues, err)
	}
}

func TestSplitWords(t *testing.T) {
	tests := []struct {
		name string
		text string
		max  int
		want []string // the words, a piece that continues a word marked "+"
	}{
		{"plain", " a  bc\td\n", 5, []string{"a", "bc", "d"}},
		{"arrows", "a-->b ---> c", 5, []string{"a->b", "->", "c"}},
		{"controls", "a\x00b\x1bc", 5, []string{"a", "b", "c"}},
		{"invalid UTF-8", "a\xffb", 5, []string{"a\ufffdb"}},
		{"exact", "abcde", 5, []string{"abcde"}},
		{"hard break", "abcdefghijkl", 5, []string{"abcde", "+fghij", "+kl"}},
		{"after a hyphen", "ab-cdefgh", 5, []string{"ab-", "+cdefg", "+h"}},
		// नमस्ते: न म स ् त े — not after the virama, not before the
		// vowel sign.
		{"Devanagari", "नमस्ते", 4, []string{"नम", "+स्ते"}},
		// Nowhere to break within 3 runes but inside the conjunct.
		{"Devanagari 3", "नमस्ते", 3, []string{"नम", "+स्त", "+े"}},
		{"Kannada", "ಕನ್ನಡ", 3, []string{"ಕ", "+ನ್ನ", "+ಡ"}},
		{"Kannada 2", "ಕನ್ನಡ", 2, []string{"ಕ", "+ನ್", "+ನಡ"}},
		{"nowhere to break", "स्स्स्स्", 2, []string{"स्", "+स्", "+स्", "+स्"}},
		{"joiner", "ab\u200dcd", 3, []string{"a", "+b\u200dc", "+d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, w := range splitWords(tt.text, tt.max) {
				if w.n != utf8.RuneCountInString(w.text) {
					t.Errorf("%q: counted %d runes", w.text, w.n)
				}
				s := w.text
				if w.glue {
					s = "+" + s
				}
				got = append(got, s)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEndKind(t *testing.T) {
	tests := []struct {
		w    string
		want int
	}{
		{"end.", afterSentence}, {"why?", afterSentence}, {`"stop!"`, afterSentence}, {"है।", afterSentence}, {"॥", afterSentence},
		{"(so.)", afterSentence}, {"then,", afterClause}, {"this;", afterClause}, {"note:", afterClause}, {"word", betweenWords}, {"", betweenWords},
	}
	for _, tt := range tests {
		if got := endKind(tt.w); got != tt.want {
			t.Errorf("endKind(%q) = %d, want %d", tt.w, got, tt.want)
		}
	}
}

// cueText returns the lines of cues, a cue's lines joined by " | ".
func cueText(cues []Cue) []string {
	var s []string
	for _, c := range cues {
		s = append(s, strings.Join(c.Lines, " | "))
	}
	return s
}

func TestCuesLayout(t *testing.T) {
	s := time.Second
	tests := []struct {
		name       string
		text       string
		start, end time.Duration
		o          *Options
		want       []string // cue texts, lines joined by " | "
	}{
		{"one line", "Hello world.", 0, 2 * s, nil, []string{"Hello world."}},
		{"white space", "  Hello\n\n world. ", 0, 2 * s, nil, []string{"Hello world."}},
		{"a full line", "The quick brown fox jumps over a lazy dog.", 0, 3 * s, nil,
			[]string{"The quick brown fox jumps over a lazy dog."}},
		{"balanced, not a full line and a word", "The quick brown fox jumps over the lazy dogs.", 0, 3 * s, nil,
			[]string{"The quick brown fox | jumps over the lazy dogs."}}, // bottom-heavy
		{"balanced", "The quick brown fox jumps over the lazy dog near the riverbank", 0, 5 * s, nil,
			[]string{"The quick brown fox jumps over | the lazy dog near the riverbank"}},
		{"line break at a comma", "When the train arrived, all of the people rushed in", 0, 4 * s, nil,
			[]string{"When the train arrived, | all of the people rushed in"}},
		{"split at a sentence end", "I went to the market this morning to buy vegetables. Then I came back home and cooked lunch for everyone.", 0, 6 * s, nil,
			[]string{"I went to the market this | morning to buy vegetables.", "Then I came back home and | cooked lunch for everyone."}},
		{"split at a comma", "When the train finally arrived at the crowded station platform, all of the waiting passengers rushed towards the doors", 0, 7 * s, nil,
			[]string{"When the train finally arrived | at the crowded station platform,", "all of the waiting passengers | rushed towards the doors"}},
		// Runes and a space a cue: 17 and 29 of 46, so 5.2 and 8.8 s,
		// held within 7 s: 7 and 7.
		{"split for time at sentences", "Yes. I think so. Absolutely right. Of course.", 0, 14 * s, nil,
			[]string{"Yes. I think so.", "Absolutely right. Of course."}},
		{"split for time, long", "Yes. I think so. Absolutely right. Of course.", 0, 20 * s, nil,
			[]string{"Yes. I think so.", "Absolutely right.", "Of course."}},
		{"one long word stays", "Hmmmm", 0, 20 * s, nil, []string{"Hmmmm"}},
		{"three lines", "one two three four five six seven eight nine ten", 0, 5 * s, &Options{MaxLineChars: 20, MaxLines: 3},
			[]string{"one two three four | five six seven | eight nine ten"}},
		{"one line a cue", "one two three four five six seven eight nine ten", 0, 5 * s, &Options{MaxLineChars: 20, MaxLines: 1},
			[]string{"one two three four", "five six seven", "eight nine ten"}},
		{"hard break", "Pneumonoultramicroscopicsilicovolcanoconiosis", 0, 4 * s, &Options{MaxLineChars: 20},
			[]string{"Pneumonoultramicrosc", "opicsilicovolcanocon | iosis"}},
		{"hard break, one cue", "Pneumonoultramicroscopicsilicovolcanoconiosis", 0, 4 * s, &Options{MaxLineChars: 20, MaxLines: 3},
			[]string{"Pneumonoultramicrosc | opicsilicovolcanocon | iosis"}},
		{"hard break at a hyphen", "state-of-the-art-machine-learning-pipelines", 0, 4 * s, &Options{MaxLineChars: 20, MaxLines: 3},
			[]string{"state-of-the-art- | machine-learning- | pipelines"}},
		{"hard break among words", "see Pneumonoultramicroscopicsilicovolcanoconiosis now", 0, 4 * s, &Options{MaxLineChars: 20, MaxLines: 4},
			[]string{"see | Pneumonoultramicrosc | opicsilicovolcanocon | iosis now"}},
		{"label narrows the first line", "The quick brown fox jumps over a lazy dog.", 0, 3 * s, &Options{Labels: true, Names: []string{"speaker"}},
			[]string{"The quick brown fox | jumps over a lazy dog."}},
		{"Devanagari one cue", "नमस्ते, आप कैसे हैं? मैं ठीक हूँ।", 0, 3 * s, nil,
			[]string{"नमस्ते, आप कैसे हैं? मैं ठीक हूँ।"}},
		{"Devanagari two lines at a question", "नमस्ते, आप कैसे हैं? मैं ठीक हूँ, धन्यवाद। आप सुनाइए।", 0, 4 * s, nil,
			[]string{"नमस्ते, आप कैसे हैं? | मैं ठीक हूँ, धन्यवाद। आप सुनाइए।"}},
		{"Devanagari at dandas", "आज मौसम बहुत अच्छा है। हम सब बाहर घूमने जा रहे हैं। क्या आप भी हमारे साथ चलेंगे? शाम को लौट आएंगे।", 0, 10 * s, nil,
			[]string{"आज मौसम बहुत अच्छा है। | हम सब बाहर घूमने जा रहे हैं।", "क्या आप भी हमारे साथ चलेंगे? | शाम को लौट आएंगे।"}},
		{"Devanagari lines balance", "आज मौसम बहुत अच्छा है और हम सब बाहर घूमने जा रहे हैं", 0, 5 * s, nil,
			[]string{"आज मौसम बहुत अच्छा है और | हम सब बाहर घूमने जा रहे हैं"}}, // 24 and 27 runes
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			segs := []Segment{{Start: tt.start, End: tt.end, Text: tt.text}}
			cues := Cues(segs, tt.o)
			if got := cueText(cues); !slices.Equal(got, tt.want) {
				t.Fatalf("got:\n%q\nwant:\n%q", got, tt.want)
			}
			checkCues(t, segs, tt.o, cues)
		})
	}
}

func TestCuesTiming(t *testing.T) {
	s := time.Second
	tests := []struct {
		name       string
		text       string
		start, end time.Duration
		o          *Options
		want       []time.Duration // the bounds of the cues
	}{
		{"one cue", "hello", 1500 * ms, 2500 * ms, nil, []time.Duration{1500 * ms, 2500 * ms}},
		{"rounded to ms", "hello", 1500*ms + 400*time.Microsecond, 2500*ms + 600*time.Microsecond, nil, []time.Duration{1500 * ms, 2501 * ms}},
		{"too short for ms", "hello", 1500*ms + 100*time.Microsecond, 1500*ms + 200*time.Microsecond, nil, []time.Duration{1500 * ms, 1501 * ms}},
		// Runes and a space each: 9, 9 and 9 of 27.
		{"proportional", "aaaaaaaa bbbbbbbb cccccccc", 0, 3 * s, &Options{MaxLineChars: 8, MaxLines: 1}, []time.Duration{0, s, 2 * s, 3 * s}},
		// 3, 11 and 3 of 17 would give the short ones 529 ms.
		{"at least 700 ms", "ab cdefghijkl mn", 0, 3 * s, &Options{MaxLineChars: 10, MaxLines: 1}, []time.Duration{0, 700 * ms, 2300 * ms, 3 * s}},
		// 17 and 29 of 46 of 14 s: 5.17 and 8.83 s, held within 7 s.
		{"at most MaxCueDuration", "Yes. I think so. Absolutely right. Of course.", 0, 14 * s, nil, []time.Duration{0, 7 * s, 14 * s}},
		{"at most MaxCueDuration, 20 s", "Yes. I think so. Absolutely right. Of course.", 0, 20 * s, nil, []time.Duration{0, 7 * s, 14 * s, 20 * s}},
		{"700 ms where it can", "ab cdefghijkl mn", 0, 2 * s, &Options{MaxLineChars: 10, MaxLines: 1}, []time.Duration{0, 353 * ms, 1647 * ms, 2 * s}},
		{"a millisecond each", "a b c d", 0, 4 * ms, &Options{MaxLineChars: 1, MaxLines: 1}, []time.Duration{0, 1 * ms, 2 * ms, 3 * ms, 4 * ms}},
		{"past the end", "a b c d", 0, 2 * ms, &Options{MaxLineChars: 1, MaxLines: 1}, []time.Duration{0, 1 * ms, 2 * ms, 3 * ms, 4 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			segs := []Segment{{Start: tt.start, End: tt.end, Text: tt.text}}
			cues := Cues(segs, tt.o)
			var got []time.Duration
			for _, c := range cues {
				got = append(got, c.Start)
			}
			if len(cues) > 0 {
				got = append(got, cues[len(cues)-1].End)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v (%q)", got, tt.want, cueText(cues))
			}
			checkCues(t, segs, tt.o, cues)
		})
	}
}

func TestCuesUntimed(t *testing.T) {
	s := time.Second
	type span struct {
		ch         int
		start, end time.Duration
	}
	tests := []struct {
		name string
		segs []Segment
		want []span // the cues, in order
	}{
		{"first at zero, a second at least", []Segment{{Text: "hi"}}, []span{{0, 0, s}}},
		{"60 ms a rune", []Segment{{Text: "this is twenty runes"}}, []span{{0, 0, 1200 * ms}}},
		{"after the previous", []Segment{{Start: s, End: 2 * s, Text: "a"}, {Text: "b"}}, []span{{0, s, 2 * s}, {0, 2 * s, 3 * s}}},
		{"before the next", []Segment{{Start: s, End: 2 * s, Text: "a"}, {Text: "b"}, {Start: 2500 * ms, End: 4 * s, Text: "c"}},
			[]span{{0, s, 2 * s}, {0, 2 * s, 2500 * ms}, {0, 2500 * ms, 4 * s}}},
		{"a run shares the gap", []Segment{{Text: "b"}, {Text: "c"}, {Start: 1500 * ms, End: 4 * s, Text: "d"}},
			[]span{{0, 0, 750 * ms}, {0, 750 * ms, 1500 * ms}, {0, 1500 * ms, 4 * s}}},
		{"400 ms at least, overlapping", []Segment{{Start: 0, End: s, Text: "a"}, {Text: "b"}, {Start: 1200 * ms, End: 4 * s, Text: "c"}},
			[]span{{0, 0, s}, {0, s, 1400 * ms}, {0, 1200 * ms, 4 * s}}},
		{"other channels do not count", []Segment{
			{Channel: 0, Start: 0, End: 3 * s, Text: "a"}, {Channel: 1, Start: s, End: 2 * s, Text: "b"},
			{Channel: 1, Text: "c"}, {Channel: 0, Start: 2500 * ms, End: 5 * s, Text: "d"},
		}, []span{{0, 0, 3 * s}, {1, s, 2 * s}, {1, 2 * s, 3 * s}, {0, 2500 * ms, 5 * s}}},
		{"next timed before the previous end", []Segment{{Start: 0, End: 3 * s, Text: "a"}, {Text: "b"}, {Start: 2 * s, End: 4 * s, Text: "c"}},
			[]span{{0, 0, 3 * s}, {0, 2 * s, 4 * s}, {0, 3 * s, 4 * s}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cues := Cues(tt.segs, nil)
			var got []span
			for _, c := range cues {
				got = append(got, span{c.Channel, c.Start, c.End})
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			checkCues(t, tt.segs, nil, cues)
		})
	}
}

// checkCues checks the invariants of cues, made by Cues(segs, o): times
// whole milliseconds, never negative, each cue lasting at least 1 ms and
// starting no earlier than the one before; lines within the layout, none
// blank or holding a line break or "-->"; a cue of several words no longer
// than MaxCueDuration; and the cues of each timed segment, laid out alone,
// among cues, one after another from its start to its end, and holding its
// text.
func checkCues(t testing.TB, segs []Segment, o *Options, cues []Cue) {
	t.Helper()
	for i, c := range cues {
		l := newLayout(o, c.Channel)
		switch {
		case c.Start < 0 || c.End <= c.Start || c.Start%ms != 0 || c.End%ms != 0:
			t.Fatalf("cue %d: bad span %v to %v", i, c.Start, c.End)
		case i > 0 && c.Start < cues[i-1].Start:
			t.Fatalf("cue %d starts at %v, before cue %d at %v", i, c.Start, i-1, cues[i-1].Start)
		case len(c.Lines) == 0 || len(c.Lines) > l.lines:
			t.Fatalf("cue %d: %d lines", i, len(c.Lines))
		case (len(c.Lines) > 1 || strings.Contains(c.Lines[0], " ")) && c.End-c.Start > l.maxDur+ms:
			t.Fatalf("cue %d of several words lasts %v: %q", i, c.End-c.Start, c.Lines)
		}
		for j, line := range c.Lines {
			width := l.width
			if j == 0 {
				width = l.first
			}
			if n := utf8.RuneCountInString(line); n > width || n == 0 {
				t.Fatalf("cue %d line %d: %d runes, want 1 to %d: %q", i, j, n, width, line)
			}
			if strings.TrimSpace(line) != line || strings.Contains(line, "  ") || strings.Contains(line, "-->") ||
				strings.ContainsAny(line, "\n\r") || !utf8.ValidString(line) {
				t.Fatalf("cue %d line %d: bad text %q", i, j, line)
			}
		}
	}
	key := func(c Cue) string { return fmt.Sprint(c.Start, c.End, c.Channel, c.Lines) }
	rest := make(map[string]int) // the cues not yet found a segment's
	for _, c := range cues {
		rest[key(c)]++
	}
	for k, s := range segs {
		if !s.Timed() || len(fields(s.Text)) == 0 {
			continue
		}
		own := Cues([]Segment{s}, o)
		start, end := roundMS(s.Start), max(roundMS(s.End), roundMS(s.Start)+ms)
		if want := int((end - start) / ms); len(own) > want {
			end = start + time.Duration(len(own))*ms // a millisecond a cue at least
		}
		at := start
		var text []string
		for i, c := range own {
			if c.Start != at {
				t.Fatalf("segment %d cue %d starts at %v, want %v", k, i, c.Start, at)
			}
			at = c.End
			text = append(text, c.Lines...)
			if rest[key(c)] == 0 {
				t.Fatalf("segment %d cue %d (%v) not among the cues", k, i, c)
			}
			rest[key(c)]--
		}
		if at != end {
			t.Fatalf("segment %d: cues end at %v, want %v", k, at, end)
		}
		checkWords(t, s.Text, strings.Join(text, " "), newLayout(o, s.Channel).first)
	}
}

// checkWords checks that got holds the words of text in order: all of its
// runes but white space and control characters, and every word that fits a
// line, whole.
func checkWords(t testing.TB, text, got string, width int) {
	t.Helper()
	var want []string
	for _, w := range fields(text) {
		want = append(want, noArrow(w))
	}
	squash := func(s []string) string { return strings.Join(s, "") }
	if squash(fields(got)) != squash(want) {
		t.Fatalf("cues hold %q, want the runes of %q", got, want)
	}
	words := fields(got)
	for _, w := range want {
		if utf8.RuneCountInString(w) > width {
			continue
		}
		i := slices.Index(words, w)
		if i < 0 {
			t.Fatalf("word %q not whole, or not in order, in %q", w, got)
		}
		words = words[i+1:]
	}
}

// corpus returns segments for the writers: two channels, timed and untimed,
// ASCII, Devanagari and Kannada, long and short, with markup to escape.
func corpus() []Segment {
	s := time.Second
	return []Segment{
		{Channel: 0, Start: 0, End: 2 * s, Text: "Hello, thank you for calling. How can I help?"},
		{Channel: 1, Start: 1500 * ms, End: 9 * s, Text: "Hi. I ordered a phone last week & it arrived broken <really> --> I want a refund, or a replacement, whichever is faster for you."},
		{Channel: 0, Start: 9500 * ms, End: 12 * s, Text: "नमस्ते, आप कैसे हैं? मैं ठीक हूँ।"},
		{Channel: 0, Text: "untimed after the Hindi"},
		{Channel: 1, Start: 12 * s, End: 30 * s, Text: "ನಮಸ್ಕಾರ, ನೀವು ಹೇಗಿದ್ದೀರಿ? ನಾನು ಚೆನ್ನಾಗಿದ್ದೇನೆ. ಇಂದು ಹವಾಮಾನ ತುಂಬಾ ಚೆನ್ನಾಗಿದೆ, ನಾವು ಹೊರಗೆ ಹೋಗುತ್ತಿದ್ದೇವೆ."},
		{Channel: 0, Start: time.Hour + 59*time.Minute + 58*s, End: 2*time.Hour + 1*s, Text: "Across the hour: supercalifragilisticexpialidociousandthensomemorewithoutspaces!"},
		{Channel: 1, Start: 100 * time.Hour, End: 100*time.Hour + 1*s, Text: "a hundred hours"},
	}
}

func TestWriteCaptions(t *testing.T) {
	opts := []struct {
		name string
		o    *Options
	}{
		{"defaults", nil},
		{"labels", &Options{Labels: true, Names: []string{"Agent <1>", "Customer & co"}}},
		{"default labels", &Options{Labels: true}},
		{"narrow", &Options{MaxLineChars: 16, MaxLines: 1, MaxCueDuration: 2 * time.Second}},
		{"three lines", &Options{MaxLineChars: 30, MaxLines: 3, Labels: true, Names: []string{"a-very-long-name-for-a-speaker"}}},
	}
	for _, tt := range opts {
		t.Run(tt.name, func(t *testing.T) {
			segs := corpus()
			cues := Cues(segs, tt.o)
			checkCues(t, segs, tt.o, cues)

			var srt, vtt bytes.Buffer
			if err := WriteSRT(&srt, segs, tt.o); err != nil {
				t.Fatal(err)
			}
			if err := WriteVTT(&vtt, segs, tt.o); err != nil {
				t.Fatal(err)
			}
			gotSRT, err := parseSRT(srt.String())
			if err != nil {
				t.Fatalf("SRT: %v\n%s", err, srt.String())
			}
			gotVTT, err := parseVTT(vtt.String())
			if err != nil {
				t.Fatalf("VTT: %v\n%s", err, vtt.String())
			}
			if len(gotSRT) != len(cues) || len(gotVTT) != len(cues) {
				t.Fatalf("%d cues, SRT has %d, VTT %d", len(cues), len(gotSRT), len(gotVTT))
			}
			for i, c := range cues {
				label := tt.o.label(c.Channel)
				want := parsedCue{Start: c.Start, End: c.End, Voice: label, Lines: c.Lines}
				if v := gotVTT[i]; !equalCue(v, want) {
					t.Errorf("VTT cue %d: got %+v, want %+v", i, v, want)
				}
				want.Voice, want.Lines = "", slices.Clone(c.Lines)
				if label != "" {
					want.Lines[0] = label + ": " + want.Lines[0]
				}
				if s := gotSRT[i]; !equalCue(s, want) {
					t.Errorf("SRT cue %d: got %+v, want %+v", i, s, want)
				}
			}
			ffmpegAccepts(t, "captions.srt", srt.Bytes(), cues)
			ffmpegAccepts(t, "captions.vtt", vtt.Bytes(), cues)
		})
	}
}

func equalCue(a, b parsedCue) bool {
	return a.Start == b.Start && a.End == b.End && a.Voice == b.Voice && slices.Equal(a.Lines, b.Lines)
}

func TestWriteSRTVTTExact(t *testing.T) {
	segs := []Segment{
		{Channel: 1, Start: 1234 * ms, End: 3 * time.Second, Text: "I <b>can't</b> hear you & --> sorry."},
		{Channel: 0, Start: time.Second, End: 2 * time.Second, Text: "Hello?"},
	}
	o := &Options{Labels: true, Names: []string{"agent", "caller"}}
	var srt, vtt bytes.Buffer
	if err := WriteSRT(&srt, segs, o); err != nil {
		t.Fatal(err)
	}
	if err := WriteVTT(&vtt, segs, o); err != nil {
		t.Fatal(err)
	}
	// "caller: " leaves 34 runes of the first line: the 35 of the text
	// take two.
	wantSRT := "1\n00:00:01,000 --> 00:00:02,000\nagent: Hello?\n\n" +
		"2\n00:00:01,234 --> 00:00:03,000\ncaller: I <b>can't</b> hear\nyou & -> sorry.\n\n"
	wantVTT := "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v agent>Hello?</v>\n\n" +
		"00:00:01.234 --> 00:00:03.000\n<v caller>I &lt;b&gt;can't&lt;/b&gt; hear\nyou &amp; -&gt; sorry.</v>\n\n"
	if srt.String() != wantSRT {
		t.Errorf("SRT: got\n%q\nwant\n%q", srt.String(), wantSRT)
	}
	if vtt.String() != wantVTT {
		t.Errorf("VTT: got\n%q\nwant\n%q", vtt.String(), wantVTT)
	}
}

func TestWriteCaptionsEmpty(t *testing.T) {
	var srt, vtt bytes.Buffer
	if err := WriteSRT(&srt, nil, nil); err != nil || srt.Len() != 0 {
		t.Fatalf("SRT: %q, %v", srt.String(), err)
	}
	if err := WriteVTT(&vtt, nil, nil); err != nil || vtt.String() != "WEBVTT\n\n" {
		t.Fatalf("VTT: %q, %v", vtt.String(), err)
	}
	if _, err := parseVTT(vtt.String()); err != nil {
		t.Fatal(err)
	}
	// ffmpeg finds nothing to read in an empty SubRip file (nor does it
	// make one): only the WebVTT one goes to it.
	ffmpegAccepts(t, "empty.vtt", vtt.Bytes(), nil)
}

// ffmpegAccepts checks that ffmpeg reads the caption file named name,
// holding data, without a complaint, and finds cues at the times of want.
// It skips the test when ffmpeg is not on PATH.
//
// ffmpeg 5 refuses "ffmpeg -i file.srt -f null -" for any file ("Output
// file #0 does not contain any stream": the null muxer takes no
// subtitles), so the file is converted to SubRip instead, which decodes and
// re-encodes every cue, and the result read with parseSRT.
func ffmpegAccepts(t *testing.T, name string, data []byte, want []Cue) {
	t.Helper()
	path, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg is not on PATH: the check that it reads our captions is skipped")
	}
	file := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(path, "-nostdin", "-v", "error", "-i", file, "-f", "srt", "-")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("ffmpeg -i %s: %v\n%s\nfile:\n%s", name, err, stderr.String(), data)
	}
	got, err := parseSRT(strings.ReplaceAll(stdout.String(), "\r\n", "\n")) // ffmpeg ends text lines with CRLF
	if err != nil {
		t.Fatalf("ffmpeg's SubRip of %s: %v\n%s", name, err, stdout.String())
	}
	if len(got) != len(want) {
		t.Fatalf("ffmpeg read %d cues in %s, want %d\n%s", len(got), name, len(want), stdout.String())
	}
	for i, c := range want {
		if got[i].Start != c.Start || got[i].End != c.End {
			t.Errorf("ffmpeg read cue %d of %s at %v to %v, want %v to %v", i, name, got[i].Start, got[i].End, c.Start, c.End)
		}
	}
}

func FuzzCues(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"a", "the", "hello,", "world.", "why?", "नमस्ते", "हैं।", "ಕನ್ನಡ", "-->", "&", "<i>", "supercalifragilisticexpialidocious", "x\u200dy", "\u094d"}
	for range 20 {
		var b strings.Builder
		for range r.IntN(60) {
			b.WriteString(words[r.IntN(len(words))])
			b.WriteString([]string{" ", "  ", "\n", "\t"}[r.IntN(4)])
		}
		f.Add(b.String(), r.Uint32N(100_000), r.Uint32N(30_000), uint8(r.IntN(60)), uint8(r.IntN(4)), uint16(r.IntN(10_000)), r.IntN(2) == 0, r.IntN(4) == 0)
	}
	f.Add("", uint32(0), uint32(0), uint8(0), uint8(0), uint16(0), false, false)
	f.Add("a b c d e f g", uint32(0), uint32(3), uint8(1), uint8(1), uint16(1), true, false)
	f.Add("\xff\xfe-->\x00", uint32(5), uint32(1), uint8(2), uint8(1), uint16(0), true, true)
	f.Fuzz(func(t *testing.T, text string, startMS, durMS uint32, width, lines uint8, maxDurMS uint16, labels, untimed bool) {
		o := &Options{
			MaxLineChars:   int(width),
			MaxLines:       int(lines % 5),
			MaxCueDuration: time.Duration(maxDurMS) * ms,
			Labels:         labels,
			Names:          []string{"spe-->aker"},
		}
		seg := Segment{Start: time.Duration(startMS) * ms, End: time.Duration(startMS+durMS) * ms, Text: text}
		if untimed {
			seg.Start, seg.End = 0, 0
		}
		segs := []Segment{{Start: 0, End: ms, Text: "before"}, seg}
		cues := Cues(segs, o)
		checkCues(t, segs, o, cues)
		var got []string
		for _, c := range Cues(segs[1:], o) {
			got = append(got, c.Lines...)
		}
		checkWords(t, text, strings.Join(got, " "), newLayout(o, 0).first)

		var srt, vtt bytes.Buffer
		if err := WriteSRT(&srt, segs, o); err != nil {
			t.Fatal(err)
		}
		if err := WriteVTT(&vtt, segs, o); err != nil {
			t.Fatal(err)
		}
		if c, err := parseSRT(srt.String()); err != nil || len(c) != len(cues) {
			t.Fatalf("SRT: %d cues, %v\n%s", len(c), err, srt.String())
		}
		if c, err := parseVTT(vtt.String()); err != nil || len(c) != len(cues) {
			t.Fatalf("VTT: %d cues, %v\n%s", len(c), err, vtt.String())
		}
	})
}

func BenchmarkCues(b *testing.B) {
	segs := corpus()
	n := 0
	for _, s := range segs {
		n += len(s.Text)
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		Cues(segs, nil)
	}
}

func BenchmarkWriteSRT(b *testing.B) {
	segs := corpus()
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteSRT(&bytes.Buffer{}, segs, nil); err != nil {
			b.Fatal(err)
		}
	}
}

package transcript

import (
	"math"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// This file shapes the cues of one segment: where its text breaks into
// cues and lines, and how its time is shared among them.

// layout is how the cues of one channel are shaped.
type layout struct {
	width  int // the most runes in a line
	first  int // the most runes in a cue's first line, after the label
	lines  int
	maxDur time.Duration
	minDur time.Duration
}

func newLayout(o *Options, ch int) layout {
	l := layout{width: defaultLineChars, lines: defaultLines, maxDur: defaultCueDuration}
	if o != nil {
		if o.MaxLineChars > 0 {
			l.width = o.MaxLineChars
		}
		if o.MaxLines > 0 {
			l.lines = o.MaxLines
		}
		if o.MaxCueDuration > 0 {
			l.maxDur = o.MaxCueDuration
		}
	}
	l.minDur = min(minCue, l.maxDur)
	l.first = l.width
	if label := o.label(ch); label != "" {
		l.first = max(l.width-runes(label)-len(": "), (l.width+1)/2)
	}
	return l
}

// capacity returns the most runes a cue holds, spaces between lines not
// counted.
func (l layout) capacity() int { return l.first + (l.lines-1)*l.width }

// Kinds of place between two words, best first for a break.
const (
	afterSentence = iota
	afterClause
	betweenWords
	insideWord // between the pieces of a word broken for being too long
)

// word is a word of a segment, or a piece of one too long for a line.
type word struct {
	text string
	n    int  // runes
	glue bool // a piece that continues the previous one: no space before it
	end  int  // the kind of place after it
}

// splitWords returns the words of text, with "-->" made "->" and words
// longer than max runes broken into pieces.
func splitWords(text string, max int) []word {
	var words []word
	for _, f := range fields(text) {
		f = noArrow(f)
		end := endKind(f)
		n := runes(f)
		if n <= max {
			words = append(words, word{text: f, n: n, end: end})
			continue
		}
		r := []rune(f)
		for pos := 0; pos < len(r); {
			cut := len(r)
			if cut-pos > max {
				cut = hardBreak(r, pos, pos+max)
			}
			w := word{text: string(r[pos:cut]), n: cut - pos, glue: pos > 0, end: insideWord}
			if cut == len(r) {
				w.end = end
			}
			words = append(words, w)
			pos = cut
		}
	}
	return words
}

// fields returns the words of text: what lies between white space and
// control characters, with invalid UTF-8 made U+FFFD.
func fields(text string) []string {
	return strings.FieldsFunc(strings.ToValidUTF8(text, "\ufffd"), func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	})
}

// noArrow returns s with every "-->", which ends a cue's timing in both
// caption formats, made "->".
func noArrow(s string) string {
	for strings.Contains(s, "-->") {
		s = strings.ReplaceAll(s, "-->", "->")
	}
	return s
}

// endKind returns the kind of place after word w: after a sentence or
// clause when w ends with their punctuation, closing quotes and brackets
// aside.
func endKind(w string) int {
	w = strings.TrimRight(w, "\"'”’»)]}")
	r, _ := utf8.DecodeLastRuneInString(w)
	switch r {
	case '.', '?', '!', '…', '।', '॥', '？', '！', '。':
		return afterSentence
	case ',', ';', ':', '–', '—', '،', '、', '，', '；':
		return afterClause
	}
	return betweenWords
}

// hardBreak returns where to break r, a word too long for a line, to end
// a piece that starts at pos and may end at limit at the latest: after the
// last hyphen or slash there, else before the last rune that canBreak
// allows, else at limit.
func hardBreak(r []rune, pos, limit int) int {
	for c := limit; c > pos+1; c-- {
		if (r[c-1] == '-' || r[c-1] == '/' || r[c-1] == '\u2010') && canBreak(r, c) {
			return c
		}
	}
	for c := limit; c > pos; c-- {
		if canBreak(r, c) {
			return c
		}
	}
	return limit
}

// canBreak reports whether a word may be broken before r[c] without
// tearing a grapheme apart, as far as a cheap look tells: not before a
// combining mark or a joiner, not after a virama or a zero-width joiner.
func canBreak(r []rune, c int) bool {
	if unicode.In(r[c], unicode.Mn, unicode.Mc, unicode.Me) || r[c] == '\u200c' || r[c] == '\u200d' {
		return false
	}
	switch r[c-1] {
	case '\u200d',
		'\u094d', '\u09cd', '\u0a4d', '\u0acd', '\u0b4d', '\u0bcd', '\u0c4d', '\u0ccd', '\u0d4d', '\u0dca': // viramas
		return false
	}
	return true
}

// chars returns the runes words take on one line.
func chars(words []word) int {
	n := 0
	for i, w := range words {
		n += w.n
		if i > 0 && !w.glue {
			n++
		}
	}
	return n
}

// breakPenalty returns what a break before words[i] costs.
func breakPenalty(words []word, i int, costs *[4]float64) float64 {
	if words[i].glue {
		return costs[insideWord]
	}
	return costs[words[i-1].end]
}

var (
	// cueBreak is what ending a cue at each kind of place costs, against
	// the square of the runes a cue leaves empty.
	cueBreak = [4]float64{afterSentence: 0, afterClause: 400, betweenWords: 900, insideWord: 1e5}
	// lineBreak is the same for a line break, against the sum of the
	// squares of the lines' runes.
	lineBreak = [4]float64{afterSentence: -120, afterClause: -70, betweenWords: 0, insideWord: 1e6}
)

// fits reports whether words fit in the layout's lines, filled greedily.
func (l layout) fits(words []word) bool { return l.countLines(words) <= l.lines }

// countLines returns the fewest lines words take.
func (l layout) countLines(words []word) int {
	lines, used, width := 1, 0, l.first
	for i, w := range words {
		add := w.n
		if i > 0 && !w.glue && used > 0 {
			add++
		}
		if used > 0 && used+add > width {
			lines, used, width = lines+1, w.n, l.width
			continue
		}
		used += add
	}
	return lines
}

// split appends to cues the cues of the segment of words on channel ch
// spanning start to end.
func (l layout) split(cues []Cue, ch int, words []word, start, end time.Duration) []Cue {
	n := len(words)
	span := (end - start).Seconds()

	// pre[i] is the runes of words[:i] with a space before each word
	// (not before a piece continuing one); length(j, i) those of
	// words[j:i] on one line.
	pre := make([]int, n+1)
	space := func(i int) int {
		if words[i].glue {
			return 0
		}
		return 1
	}
	for i, w := range words {
		pre[i+1] = pre[i] + space(i) + w.n
	}
	length := func(j, i int) int { return pre[i] - pre[j] - space(j) }
	total := length(0, n)
	// share is a cue's share of the time in proportion to its runes and
	// the space or line break after it. The shares of the cues add up to
	// the span or less (less when a word too long for a line is split
	// between cues).
	share := func(j, i int) float64 { return span * float64(length(j, i)+1) / float64(total+1) }

	// first[i] is the first word a cue ending before words[i] may start
	// with: it only grows with i.
	first := make([]int, n+1)
	for i := 1; i <= n; i++ {
		j := first[i-1]
		for length(j, i) > l.capacity()+l.lines-1 || !l.fits(words[j:i]) {
			j++
		}
		first[i] = j
	}

	// Choose where cues end: cost[i] is the least cost of words[:i],
	// from[i] where its last cue starts. A cue of several words whose
	// share is longer than stretch × maxDur is ruled out. The first pass
	// lets a cue take up to half as much again, so that it can end at a
	// sentence: shareTime then holds every cue within maxDur, as long as
	// there are cues enough for the span. When there are not, the second
	// pass chooses again with every cue of several words within maxDur by
	// its share alone.
	cost := make([]float64, n+1)
	from := make([]int, n+1)
	var bounds []int
	for _, stretch := range []float64{1.5, 1} {
		for i := 1; i <= n; i++ {
			cost[i] = math.Inf(1)
			var brk float64
			if i < n {
				brk = breakPenalty(words, i, &cueBreak)
			}
			for j := i - 1; j >= first[i]; j-- {
				d := share(j, i)
				if j < i-1 && d > stretch*l.maxDur.Seconds() {
					break
				}
				if v := cost[j] + l.cueCost(length(j, i), d) + brk; v < cost[i] {
					cost[i], from[i] = v, j
				}
			}
		}
		bounds = bounds[:0]
		for i := n; i > 0; i = from[i] {
			bounds = append(bounds, i)
		}
		if k := len(bounds); float64(k)*l.maxDur.Seconds() >= span || k == n {
			break
		}
	}
	bounds = append(bounds, 0)
	slices.Reverse(bounds)

	weights := make([]int, len(bounds)-1)
	for k := range weights {
		weights[k] = length(bounds[k], bounds[k+1]) + 1
	}
	times := shareTime(start, end, weights, l.minDur, l.maxDur)
	for k := range weights {
		cues = append(cues, Cue{
			Start:   times[k],
			End:     times[k+1],
			Channel: ch,
			Lines:   l.lineUp(words[bounds[k]:bounds[k+1]]),
		})
	}
	return cues
}

// cueCost returns what a cue of c runes costs whose share of the time, in
// proportion to its runes, is d seconds: the square of the room it leaves,
// in runes, where a cue as long as MaxCueDuration counts as full, and
// charges for a share shorter than minDur or longer than maxDur.
func (l layout) cueCost(c int, d float64) float64 {
	maxDur := l.maxDur.Seconds()
	fill := max(float64(c)/float64(l.capacity()), min(d, maxDur)/maxDur)
	empty := float64(l.capacity()) * (1 - min(fill, 1))
	k := empty * empty
	if under := l.minDur.Seconds() - d; under > 0 {
		k += 3000 * under
	}
	if over := d - maxDur; over > 0 {
		k += 2000 * over / maxDur
	}
	return k
}

// lineUp returns the lines of a cue of words: as few as they need, of as
// even a length as the places between words allow.
func (l layout) lineUp(words []word) []string {
	n := l.countLines(words)
	if n == 1 {
		return []string{join(words)}
	}
	// best[k][p] is the least cost of words[:p] in k+1 lines, from[k][p]
	// where the last of them starts.
	m := len(words)
	best := make([][]float64, n)
	from := make([][]int, n)
	for k := range n {
		best[k] = make([]float64, m+1)
		from[k] = make([]int, m+1)
		for p := range best[k] {
			best[k][p] = math.Inf(1)
		}
		width := l.width
		if k == 0 {
			width = l.first
		}
		for p := 1; p <= m; p++ {
			c := 0 // the runes of words[q:p]
			for q := p - 1; q >= 0; q-- {
				if q < p-1 && !words[q+1].glue {
					c++
				}
				c += words[q].n
				if c > width {
					break
				}
				var prev float64
				switch {
				case k == 0 && q > 0, k > 0 && q == 0:
					continue
				case k > 0:
					prev = best[k-1][q] + breakPenalty(words, q, &lineBreak)
				}
				// The sum of squares evens the lines out; the last term
				// breaks ties for a bottom-heavy cue.
				if v := prev + float64(c*c) - 1e-4*float64(k*c); v < best[k][p] {
					best[k][p], from[k][p] = v, q
				}
			}
		}
	}
	lines := make([]string, n)
	for k, p := n-1, m; k >= 0; k-- {
		q := from[k][p]
		lines[k] = join(words[q:p])
		p = q
	}
	return lines
}

// join returns words as text.
func join(words []word) string {
	var b strings.Builder
	for i, w := range words {
		if i > 0 && !w.glue {
			b.WriteByte(' ')
		}
		b.WriteString(w.text)
	}
	return b.String()
}

// shareTime divides start to end among cues of weights: it returns their
// bounds, whole milliseconds. Each cue's share is proportional to its
// weight, but no shorter than minDur and no longer than maxDur where the
// span allows, and at least a millisecond.
func shareTime(start, end time.Duration, weights []int, minDur, maxDur time.Duration) []time.Duration {
	k := len(weights)
	span := float64(end - start)
	lo, hi := float64(minDur), float64(maxDur)
	if float64(k)*lo > span {
		lo = 0
	}
	if float64(k)*hi < span {
		hi = math.Inf(1)
	}
	// Find the time per unit of weight that fills the span once each
	// share is held within lo and hi.
	share := func(rate float64, w int) float64 { return min(max(rate*float64(w), lo), hi) }
	var low, high float64 = 0, span
	for range 64 {
		rate := (low + high) / 2
		sum := 0.0
		for _, w := range weights {
			sum += share(rate, w)
		}
		if sum < span {
			low = rate
		} else {
			high = rate
		}
	}
	b := make([]time.Duration, k+1)
	b[0], b[k] = start, end
	at := float64(start)
	for c := 1; c < k; c++ {
		at += share(high, weights[c-1])
		b[c] = roundMS(time.Duration(at))
	}
	for c := 1; c <= k; c++ {
		b[c] = max(b[c], b[c-1]+time.Millisecond)
	}
	for c := k - 1; c > 0; c-- {
		b[c] = min(b[c], b[c+1]-time.Millisecond)
	}
	return b
}

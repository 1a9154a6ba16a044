package progress

import (
	"math/bits"
	"strconv"
	"time"
	"unicode/utf8"
)

// The shape of the lines.
const (
	maxItemLines  = 8  // lines of items; the others are counted on one line
	barWidth      = 20 // inside the brackets, when there is room
	minBar        = 8  // a narrower bar is left out
	minNameColumn = 12 // the names' column is a third of the line, or this
	minName       = 4  // a name is not squeezed narrower to keep a field
	ellipsis      = "…"
)

// fields holds the texts of one line, in buffers reused from line to line.
type fields struct {
	pos, left, transcripts []byte // of an item
	files, audio, elapsed  []byte // of the total line
}

// layout is a choice of the optional fields of an item's line.
type layout struct{ bar, pos, left, transcripts bool }

// knownLayouts are the layouts of an item whose length is known, from the
// widest: the transcripts go first, then the position, then the bar, which
// matters less than the time left.
var knownLayouts = [...]layout{
	{bar: true, pos: true, left: true, transcripts: true},
	{bar: true, pos: true, left: true},
	{bar: true, left: true},
	{left: true},
	{bar: true},
	{},
}

// unknownLayouts are the layouts of an item whose length is unknown.
var unknownLayouts = [...]layout{
	{pos: true, transcripts: true},
	{pos: true},
}

// nameColumn returns the width of the names' column: the widest name shown,
// but no more than a third of the line (or minNameColumn).
func nameColumn(items []*Item, maxw int) int {
	col := 0
	for _, it := range items {
		col = max(col, it.nameW)
	}
	return min(col, max(maxw/3, minNameColumn))
}

// appendItem appends the line of it, in at most maxw columns (as long as
// maxw leaves room for minName), its name in a column col wide:
//
//	name  [=========>          ]  47%  1:23 / 2:57  1:34 left  3 transcripts
//	name  2:03 sent  12 transcripts
func (d *Display) appendItem(b []byte, it *Item, col, maxw int, now time.Time) []byte {
	f := &d.f
	f.transcripts = appendCount(f.transcripts[:0], it.transcripts, "transcript")
	f.left = f.left[:0]
	pos := max(it.pos, 0)
	layouts := unknownLayouts[:]
	if it.total == 0 {
		f.pos = append(appendDuration(f.pos[:0], pos), " sent"...)
	} else {
		// The times as wide as the total, so that the line keeps its
		// shape as they change.
		layouts = knownLayouts[:]
		tw := durationWidth(it.total)
		f.pos = appendDuration(appendSpaces(f.pos[:0], tw-durationWidth(min(pos, it.total))), min(pos, it.total))
		f.pos = appendDuration(append(f.pos, " / "...), it.total)
		if left, ok := d.timeLeft(it, now); ok {
			f.left = appendDuration(appendSpaces(f.left, tw-durationWidth(left)), left)
			f.left = append(f.left, " left"...)
		}
	}
	// rest is the width of the fields other than the name and the bar.
	rest := func(l layout) int {
		n := 0
		if it.total > 0 {
			n += 1 + 4 // " 100%"
		}
		if l.pos {
			n += 2 + len(f.pos)
		}
		if l.left && len(f.left) > 0 {
			n += 2 + len(f.left)
		}
		if l.transcripts {
			n += 2 + len(f.transcripts)
		}
		return n
	}
	l, bar := layouts[len(layouts)-1], 0
	for _, c := range layouts {
		if !c.bar {
			if col+rest(c) <= maxw {
				l = c
				break
			}
			continue
		}
		if w := min(barWidth, maxw-col-rest(c)-4); w >= minBar { // 4: "  []"
			l, bar = c, w
			break
		}
	}
	if col+rest(l) > maxw { // even the narrowest layout: squeeze the name
		col = max(maxw-rest(l), min(it.nameW, minName))
	}
	b = appendName(b, it.name, it.nameW, col)
	if bar > 0 {
		b = append(b, "  ["...)
		b = appendBar(b, pos, it.total, bar)
		b = append(b, ']')
	}
	if it.total > 0 {
		b = append(b, ' ')
		b = appendPercent(b, pos, it.total)
	}
	if l.pos {
		b = append(append(b, "  "...), f.pos...)
	}
	if l.left && len(f.left) > 0 {
		b = append(append(b, "  "...), f.left...)
	}
	if l.transcripts {
		b = append(append(b, "  "...), f.transcripts...)
	}
	return b
}

// timeLeft returns the time it needs to send the rest of its audio: the
// audio left when streams are paced in real time; otherwise, an estimate at
// the rate observed since its first Update, once there is one (a second of
// observation, and some audio sent).
func (d *Display) timeLeft(it *Item, now time.Time) (time.Duration, bool) {
	if !d.opts.Unpaced {
		// In whole seconds, as shown: position + left = total.
		return max(it.total/time.Second-it.pos/time.Second, 0) * time.Second, true
	}
	elapsed, sent := now.Sub(it.t0), it.pos-it.pos0
	if !it.updated || elapsed < time.Second || sent <= 0 {
		return 0, false
	}
	left := max(it.total-it.pos, 0)
	return time.Duration(float64(left) * float64(elapsed) / float64(sent)), true
}

// appendTotal appends the total line of a batch, its label in a column col
// wide:
//
//	total  7/20 files done, 1 failed  12:40 of audio  elapsed 3:05
//
// The elapsed time goes first when the line is too wide, then the audio,
// then the label's padding and the word "files".
func (d *Display) appendTotal(b []byte, col, maxw int, now time.Time) []byte {
	const label = "total"
	f := &d.f
	audio := d.audio
	for _, it := range d.items {
		audio += max(it.pos, 0)
	}
	f.audio = append(appendDuration(f.audio[:0], audio), " of audio"...)
	f.elapsed = appendDuration(append(f.elapsed[:0], "elapsed "...), now.Sub(d.start))
	col = max(col, len(label))
	f.files = d.appendFiles(f.files[:0], " files done")
	if col+2+len(f.files) > maxw {
		col = len(label)
	}
	if col+2+len(f.files) > maxw {
		f.files = d.appendFiles(f.files[:0], " done")
	}
	w := col + 2 + len(f.files)
	b = appendSpaces(append(b, label...), col-len(label)+2)
	b = append(b, f.files...)
	if w += 2 + len(f.audio); w <= maxw {
		b = append(append(b, "  "...), f.audio...)
		if w += 2 + len(f.elapsed); w <= maxw {
			b = append(append(b, "  "...), f.elapsed...)
		}
	}
	return b
}

// appendFiles appends the count of inputs done, "7/20" and done, and the
// count of failures if there are any: ", 1 failed".
func (d *Display) appendFiles(b []byte, done string) []byte {
	b = appendInt(append(appendInt(b, int64(d.done)), '/'), int64(max(d.files, d.added)))
	b = append(b, done...)
	if d.failed > 0 {
		b = append(appendInt(append(b, ", "...), int64(d.failed)), " failed"...)
	}
	return b
}

// appendMore appends the line that counts the items not shown.
func appendMore(b []byte, n int) []byte {
	b = append(b, ellipsis+" and "...)
	return append(appendInt(b, int64(n)), " more"...)
}

// appendName appends name, nameW columns wide, in a column col wide: padded
// with spaces, or with its start replaced by an ellipsis (the end of a
// file's name tells more, as call-01.wav from call-02.wav).
func appendName(b []byte, name string, nameW, col int) []byte {
	if nameW <= col {
		return appendSpaces(append(b, name...), col-nameW)
	}
	if col <= 0 {
		return b
	}
	i, w := len(name), 0
	for i > 0 {
		r, size := utf8.DecodeLastRuneInString(name[:i])
		rw := runeWidth(r)
		if w+rw > col-1 {
			break
		}
		i, w = i-size, w+rw
	}
	for i < len(name) { // not a combining mark after the ellipsis
		r, size := utf8.DecodeRuneInString(name[i:])
		if runeWidth(r) > 0 {
			break
		}
		i += size
	}
	b = append(append(b, ellipsis...), name[i:]...)
	return appendSpaces(b, col-1-w)
}

// appendBar appends a bar width wide that shows pos of total: '=' for what
// is done, '>' at the front until it is all done.
func appendBar(b []byte, pos, total time.Duration, width int) []byte {
	done := int(share(pos, total, int64(width)))
	for i := range width {
		switch {
		case i < done:
			b = append(b, '=')
		case i == done:
			b = append(b, '>')
		default:
			b = append(b, ' ')
		}
	}
	return b
}

// appendPercent appends pos as a percentage of total, right-aligned in 4
// columns; 100% only once pos reaches total.
func appendPercent(b []byte, pos, total time.Duration) []byte {
	p := share(pos, total, 100)
	switch {
	case p < 10:
		b = append(b, "  "...)
	case p < 100:
		b = append(b, ' ')
	}
	return append(appendInt(b, p), '%')
}

// share returns n × pos / total, rounded down, without overflow: n once pos
// reaches total. total must be positive, and pos not negative.
func share(pos, total time.Duration, n int64) int64 {
	if pos >= total {
		return n
	}
	hi, lo := bits.Mul64(uint64(pos), uint64(n))
	q, _ := bits.Div64(hi, lo, uint64(total)) // hi < total: pos < total
	return int64(q)
}

// appendDuration appends d in whole seconds as m:ss, or h:mm:ss from one
// hour; a negative d as 0:00.
func appendDuration(b []byte, d time.Duration) []byte {
	s := int64(max(d, 0) / time.Second)
	h, m := s/3600, s/60%60
	if h > 0 {
		b = append(appendInt(b, h), ':')
		if m < 10 {
			b = append(b, '0')
		}
	}
	b = append(appendInt(b, m), ':')
	if s%60 < 10 {
		b = append(b, '0')
	}
	return appendInt(b, s%60)
}

// durationWidth returns the width of d as appendDuration writes it.
func durationWidth(d time.Duration) int {
	s := int64(max(d, 0) / time.Second)
	w := 4 // m:ss
	if s >= 3600 {
		w, s = 7, s/3600 // h:mm:ss
	} else {
		s /= 60
	}
	for ; s >= 10; s /= 10 {
		w++
	}
	return w
}

// appendCount appends n and noun, in the plural unless n is 1.
func appendCount(b []byte, n int64, noun string) []byte {
	b = append(append(appendInt(b, n), ' '), noun...)
	if n != 1 {
		b = append(b, 's')
	}
	return b
}

func appendInt(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }

func appendSpaces(b []byte, n int) []byte {
	for range n {
		b = append(b, ' ')
	}
	return b
}

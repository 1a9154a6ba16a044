package progress

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// clip shortens the line b[start:] to maxw columns, its end replaced by an
// ellipsis, if it is wider.
func clip(b []byte, start, maxw int) []byte {
	line := b[start:]
	if width(line) <= maxw {
		return b
	}
	if maxw <= 0 {
		return b[:start]
	}
	i, w := 0, 0
	for i < len(line) {
		r, size := utf8.DecodeRune(line[i:])
		rw := runeWidth(r)
		if w+rw > maxw-1 {
			break
		}
		i, w = i+size, w+rw
	}
	return append(b[:start+i], ellipsis...)
}

// width returns the columns that text takes on a terminal.
func width(text []byte) int {
	n := 0
	for i := 0; i < len(text); {
		if text[i] < utf8.RuneSelf {
			n, i = n+1, i+1
			continue
		}
		r, size := utf8.DecodeRune(text[i:])
		n, i = n+runeWidth(r), i+size
	}
	return n
}

// sanitize returns name fit to be written on a terminal, control characters
// (and bytes that are not UTF-8) replaced by '?', and its width in columns.
func sanitize(name string) (string, int) {
	clean := true
	n := 0
	for i, r := range name {
		if !printable(r, name[i:]) {
			clean = false
		}
		n += runeWidth(r)
	}
	if clean {
		return name, n
	}
	var s strings.Builder
	n = 0
	for i, r := range name {
		if !printable(r, name[i:]) {
			r = '?'
		}
		s.WriteRune(r)
		n += runeWidth(r)
	}
	return s.String(), n
}

// printable reports whether r, the rune at the start of rest, can be
// written to a terminal as it is: not a control character (which could
// move the cursor or start an escape sequence), nor a line or paragraph
// separator, nor a formatting character but for the zero-width joiner and
// non-joiner (which Indic scripts and emoji use), nor a byte that is not
// UTF-8.
func printable(r rune, rest string) bool {
	switch {
	case r == utf8.RuneError:
		_, size := utf8.DecodeRuneInString(rest)
		return size > 1
	case r == '\u200c' || r == '\u200d':
		return true
	}
	return !unicode.IsControl(r) && !unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
}

// runeWidth returns the columns r takes on a terminal: 0 for a combining
// mark and the zero-width joiners, 2 for the wide characters of East Asian
// scripts and for emoji, 1 otherwise. It is an approximation of Unicode's
// East Asian Width, good for file names; the line left one column free
// absorbs a misjudged character.
func runeWidth(r rune) int {
	switch {
	case r < 0x300:
		return 1
	case r == '\u200c' || r == '\u200d' || unicode.In(r, unicode.Mn, unicode.Me):
		return 0
	}
	for _, w := range wide {
		if r < w[0] {
			return 1
		}
		if r <= w[1] {
			return 2
		}
	}
	return 1
}

// wide holds the ranges of wide characters, in order.
var wide = [...][2]rune{
	{0x1100, 0x115f},   // Hangul jamo
	{0x231a, 0x231b},   // watch, hourglass
	{0x2329, 0x232a},   // angle brackets
	{0x23e9, 0x23f3},   // media symbols
	{0x25fd, 0x25fe},   // squares
	{0x2614, 0x2615},   // umbrella, hot beverage
	{0x2648, 0x2653},   // zodiac
	{0x26a1, 0x26a1},   // high voltage
	{0x26bd, 0x26be},   // balls
	{0x2705, 0x2705},   // check mark
	{0x270a, 0x270b},   // fists
	{0x2728, 0x2728},   // sparkles
	{0x274c, 0x274c},   // cross mark
	{0x2753, 0x2757},   // question and exclamation marks
	{0x2b1b, 0x2b1c},   // large squares
	{0x2b50, 0x2b50},   // star
	{0x2b55, 0x2b55},   // circle
	{0x2e80, 0x303e},   // CJK radicals, punctuation
	{0x3041, 0x33ff},   // kana, CJK compatibility
	{0x3400, 0x4dbf},   // CJK extension A
	{0x4e00, 0x9fff},   // CJK unified ideographs
	{0xa000, 0xa4cf},   // Yi
	{0xa960, 0xa97f},   // Hangul jamo extended A
	{0xac00, 0xd7a3},   // Hangul syllables
	{0xf900, 0xfaff},   // CJK compatibility ideographs
	{0xfe10, 0xfe19},   // vertical forms
	{0xfe30, 0xfe6f},   // CJK compatibility forms, small forms
	{0xff00, 0xff60},   // fullwidth forms
	{0xffe0, 0xffe6},   // fullwidth signs
	{0x16fe0, 0x18aff}, // Tangut
	{0x1b000, 0x1b2ff}, // kana supplement, Nushu
	{0x1f004, 0x1f004}, // mahjong tile
	{0x1f0cf, 0x1f0cf}, // playing card
	{0x1f18e, 0x1f18e}, // AB button
	{0x1f191, 0x1f19a}, // squared words
	{0x1f200, 0x1f251}, // enclosed ideographs
	{0x1f300, 0x1f64f}, // pictographs, emoticons
	{0x1f680, 0x1f6ff}, // transport and map symbols
	{0x1f7e0, 0x1f7eb}, // coloured circles and squares
	{0x1f90c, 0x1f9ff}, // supplemental symbols and pictographs
	{0x1fa70, 0x1faff}, // symbols and pictographs extended A
	{0x20000, 0x3fffd}, // CJK extensions B to H
}

package progress

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// screen is a tiny terminal, enough to check what a Display leaves visible:
// it knows carriage return, newline, cursor up (ESC [ n A), erase to the
// end of the line (ESC [ K) and of the screen (ESC [ J), and printable
// characters, which take runeWidth cells. Anything else, a cursor moved
// above the first line, or a character past the last column, is recorded
// as an error. It has no height: lines are never scrolled away.
type screen struct {
	cols  int
	onlcr bool // a newline also returns the carriage, as the tty's ONLCR
	lines [][]string
	row   int
	col   int
	errs  []string
}

func newScreen(cols int) *screen { return &screen{cols: cols, onlcr: true, lines: [][]string{nil}} }

func (s *screen) errorf(format string, args ...any) {
	s.errs = append(s.errs, fmt.Sprintf(format, args...))
}

// Write interprets p, which must hold whole escape sequences and runes.
func (s *screen) Write(p []byte) (int, error) {
	for i := 0; i < len(p); {
		switch c := p[i]; {
		case c == '\r':
			s.col = 0
			i++
		case c == '\n':
			s.row++
			if s.row == len(s.lines) {
				s.lines = append(s.lines, nil)
			}
			if s.onlcr {
				s.col = 0
			}
			i++
		case c == '\033':
			j := i + 1
			if j >= len(p) || p[j] != '[' {
				s.errorf("escape not followed by [ at %d in %q", i, p)
				return len(p), nil
			}
			j++
			for j < len(p) && p[j] >= '0' && p[j] <= '9' {
				j++
			}
			if j >= len(p) {
				s.errorf("unfinished escape sequence in %q", p)
				return len(p), nil
			}
			n := 1
			if j > i+2 {
				n, _ = strconv.Atoi(string(p[i+2 : j]))
			}
			s.escape(p[j], n, p[i:j+1])
			i = j + 1
		case c < ' ' || c == 0x7f:
			s.errorf("control character %q in %q", c, p)
			i++
		default:
			r, size := utf8.DecodeRune(p[i:])
			if r == utf8.RuneError && size == 1 {
				s.errorf("invalid UTF-8 in %q", p)
			}
			s.put(string(p[i:i+size]), runeWidth(r))
			i += size
		}
	}
	return len(p), nil
}

func (s *screen) escape(final byte, n int, seq []byte) {
	line := &s.lines[s.row]
	switch final {
	case 'A':
		if n > s.row {
			s.errorf("cursor up %d from line %d", n, s.row)
			n = s.row
		}
		s.row -= n
	case 'K':
		if s.col < len(*line) {
			*line = (*line)[:s.col]
		}
	case 'J':
		if s.col < len(*line) {
			*line = (*line)[:s.col]
		}
		for k := s.row + 1; k < len(s.lines); k++ {
			s.lines[k] = nil
		}
	default:
		s.errorf("unknown escape sequence %q", seq)
	}
}

// put writes a character w cells wide at the cursor.
func (s *screen) put(ch string, w int) {
	line := &s.lines[s.row]
	if w == 0 { // a combining mark joins the character before
		if s.col > 0 && s.col <= len(*line) {
			(*line)[s.col-1] += ch
		}
		return
	}
	if s.col+w > s.cols {
		s.errorf("%q written past column %d on line %d", ch, s.cols, s.row)
	}
	for len(*line) < s.col+w {
		*line = append(*line, " ")
	}
	(*line)[s.col] = ch
	if w == 2 {
		(*line)[s.col+1] = ""
	}
	s.col += w
}

// String returns the visible lines, without trailing spaces or empty lines
// at the end, each ended by a newline.
func (s *screen) String() string {
	var b strings.Builder
	var blank int
	for _, l := range s.lines {
		text := strings.TrimRight(strings.Join(l, ""), " ")
		if text == "" {
			blank++
			continue
		}
		for ; blank > 0; blank-- {
			b.WriteByte('\n')
		}
		b.WriteString(text)
		b.WriteByte('\n')
	}
	return b.String()
}

// cursor returns the cursor's position.
func (s *screen) cursor() (row, col int) { return s.row, s.col }

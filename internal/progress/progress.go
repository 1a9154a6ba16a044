// Package progress draws the progress of audio streams on a terminal: a line
// per stream, with a bar when the length of its input is known, and in a
// batch a total line, redrawn in place with ANSI escape sequences.
//
// A [Display] starts no goroutine: it draws inside the calls that change
// what it shows, at most every 200 ms. A nil *Display, and the nil *Item its
// Add returns, do nothing, so a caller that shows no progress (its stderr is
// not a terminal) keeps one code path and pays one nil check per call.
package progress

import (
	"io"
	"slices"
	"sync"
	"time"
)

// interval is the least time between two throttled draws.
const interval = 200 * time.Millisecond

// Display draws the progress of one or more streams on a terminal, below
// whatever was printed before, from the start of the line the cursor is on:
// a line per stream (the first 8, then a line that counts the others) and,
// in a batch, a total line. While something is drawn, the cursor is at the
// end of its last line; Clear and Close leave it at the start of the first,
// on an empty line. It draws each frame with one Write, moving up with
// carriage return and ESC [ n A, erasing with ESC [ K and ESC [ J; a write
// that fails stops the drawing for good.
//
// It counts on being alone on the terminal between its draws: whoever prints
// there (transcripts on stdout, warnings on stderr) calls Clear first and
// Redraw after, and no method that draws (Add, Update, Done, SetTotal,
// Redraw) may run in between, or its lines end up above the printed ones
// and stay. A caller that prints from several goroutines therefore holds one
// lock of its own around its printing and around every call to the Display
// and its Items. The Display's methods are nonetheless safe for concurrent
// use on their own.
//
// It assumes the terminal is at least as high as the lines drawn (10 at
// most) and keeps its width between draws: lines drawn before the terminal
// was made narrower may wrap, and then are not all erased.
type Display struct {
	mu    sync.Mutex
	w     io.Writer
	width func() int
	opts  Options
	now   func() time.Time // time.Now; tests set a clock

	items   []*Item // active, in the order they were added
	added   int
	done    int           // items ended, failed or not
	failed  int           // items ended with an error
	audio   time.Duration // final positions of the ended items
	files   int           // from SetTotal
	start   time.Time     // the first draw
	last    time.Time     // the last draw
	drawn   int           // lines on screen
	cleared bool          // Clear erased lines: the next Update draws
	closed  bool          // Close was called, or a write failed
	buf     []byte        // the frame, reused
	f       fields        // the fields of one line, reused
}

// Options adjusts a [Display]. The zero value is the default.
type Options struct {
	// Unpaced says the streams are sent as fast as they can be, not at
	// real-time speed: the time left is estimated from the rate observed
	// since the first Update, rather than being the audio left.
	Unpaced bool
}

// New returns a Display that writes to w, a terminal, and asks width for its
// number of columns before every draw (80 when width is nil or returns 0 or
// less), with the Display's lock held. No line drawn is wider than the
// columns less one, so the cursor never reaches the last column, where
// terminals differ in when they wrap. opts may be nil.
func New(w io.Writer, width func() int, opts *Options) *Display {
	d := &Display{w: w, width: width, now: time.Now}
	if opts != nil {
		d.opts = *opts
	}
	return d
}

// Item is the progress of one stream, shown by the Display that added it
// until Done is called. Its methods are safe for concurrent use.
type Item struct {
	d     *Display
	name  string // sanitised for the terminal
	nameW int    // columns of name
	total time.Duration

	pos         time.Duration
	transcripts int64
	updated     bool          // Update was called
	t0          time.Time     // the first Update
	pos0        time.Duration // pos at the first Update
	ended       bool
}

// Add adds a stream named name (an input file, "stdin") whose audio lasts
// total, or whose length is unknown when total is 0, and draws at once. Its
// line stays until [Item.Done]. Control characters in name are shown as '?'.
// On a nil Display, Add returns nil.
func (d *Display) Add(name string, total time.Duration) *Item {
	if d == nil {
		return nil
	}
	it := &Item{d: d, total: max(total, 0)}
	it.name, it.nameW = sanitize(name)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.added++
	d.items = append(d.items, it)
	d.draw(d.now())
	return it
}

// Update records that the stream has sent pos of audio and received
// transcripts final transcripts, and redraws if nothing was drawn for 200 ms
// or if Clear erased the display. It is meant to be called from
// pipeline.Options.OnProgress, about twice a second. It does nothing after
// Done, or on a nil Item.
func (it *Item) Update(pos time.Duration, transcripts int64) {
	if it == nil {
		return
	}
	d := it.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if it.ended {
		return
	}
	now := d.now()
	if !it.updated {
		it.updated, it.t0, it.pos0 = true, now, pos
	}
	it.pos, it.transcripts = pos, transcripts
	if d.cleared || now.Sub(d.last) >= interval {
		d.draw(now)
	}
}

// Done records that the stream ended, with err nil when it succeeded, and
// redraws at once: its line goes away, and the total line counts it as done
// (and, if err is not nil, as failed). Only the first call counts. The
// error is not shown: printing it is the caller's business. Done does
// nothing on a nil Item.
func (it *Item) Done(err error) {
	if it == nil {
		return
	}
	d := it.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if it.ended {
		return
	}
	it.ended = true
	d.done++
	if err != nil {
		d.failed++
	}
	d.audio += max(it.pos, 0)
	if i := slices.Index(d.items, it); i >= 0 {
		d.items = slices.Delete(d.items, i, i+1)
	}
	d.draw(d.now())
}

// SetTotal sets the number of inputs of a batch, and redraws at once. When
// it is more than 1, a total line under the streams' lines counts the
// inputs done and failed, the audio sent and the time elapsed since the
// Display first drew.
func (d *Display) SetTotal(files int) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.files = files
	d.draw(d.now())
}

// Clear erases what is drawn, so that the caller can print a line on the
// terminal where the display was; the next Update, or Redraw, draws again
// below it.
func (d *Display) Clear() {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.drawn > 0 {
		d.erase()
		d.cleared = true
	}
}

// Redraw draws now, without waiting for the next Update: after the caller
// printed what it cleared the display for.
func (d *Display) Redraw() {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.draw(d.now())
}

// Close erases what is drawn and stops drawing for good; the Items keep
// counting but are not shown. Close is idempotent.
func (d *Display) Close() {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.erase()
	d.closed = true
}

// erase removes the lines drawn, leaving the cursor at the start of the
// first.
func (d *Display) erase() {
	if d.closed || d.drawn == 0 {
		return
	}
	d.buf = d.appendHome(d.buf[:0])
	d.buf = append(d.buf, eraseDown...)
	d.drawn = 0
	d.write()
}

// draw draws the lines of the active items and the total line in place of
// what was drawn.
func (d *Display) draw(now time.Time) {
	if d.closed {
		return
	}
	if d.start.IsZero() {
		d.start = now
	}
	d.last, d.cleared = now, false
	maxw := d.columns() - 1
	b := d.appendHome(d.buf[:0])
	n := 0
	line := func() int { // starts a line, returns where its text starts
		switch {
		case n > 0:
			b = append(b, "\n\r"...)
		case d.drawn == 0: // not after appendHome
			b = append(b, '\r')
		}
		n++
		return len(b)
	}
	shown := d.items[:min(len(d.items), maxItemLines)]
	col := nameColumn(shown, maxw)
	for _, it := range shown {
		start := line()
		b = d.appendItem(b, it, col, maxw, now)
		b = clip(b, start, maxw)
		b = append(b, eraseLine...)
	}
	if more := len(d.items) - len(shown); more > 0 {
		start := line()
		b = appendMore(b, more)
		b = clip(b, start, maxw)
		b = append(b, eraseLine...)
	}
	if d.files > 1 {
		start := line()
		b = d.appendTotal(b, col, maxw, now)
		b = clip(b, start, maxw)
		b = append(b, eraseLine...)
	}
	if n < d.drawn {
		b = append(b, eraseDown...) // the lines left over
	}
	d.buf, d.drawn = b, n
	d.write()
}

// columns returns the terminal's width.
func (d *Display) columns() int {
	if d.width != nil {
		if w := d.width(); w > 0 {
			return w
		}
	}
	return 80
}

// appendHome appends the moves to the start of the first line drawn.
func (d *Display) appendHome(b []byte) []byte {
	if d.drawn == 0 {
		return b
	}
	b = append(b, '\r')
	if d.drawn > 1 {
		b = append(b, "\033["...)
		b = appendInt(b, int64(d.drawn-1))
		b = append(b, 'A')
	}
	return b
}

// write writes the frame in d.buf with one Write, and stops drawing for
// good if it fails: the terminal is gone.
func (d *Display) write() {
	if len(d.buf) == 0 {
		return
	}
	if _, err := d.w.Write(d.buf); err != nil {
		d.closed = true
	}
}

// ANSI escape sequences.
const (
	eraseLine = "\033[K" // from the cursor to the end of the line
	eraseDown = "\033[J" // from the cursor to the end of the screen
)

package progress

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// fakeClock is a clock that moves only when told; safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func (c *fakeClock) now() time.Time          { return epoch.Add(time.Duration(c.ns.Load())) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// newTest returns a Display of cols columns drawing on a screen, on a fake
// clock.
func newTest(cols int, opts *Options) (*Display, *screen, *fakeClock) {
	s := newScreen(cols)
	d := New(s, func() int { return cols }, opts)
	c := new(fakeClock)
	d.now = c.now
	return d, s, c
}

// check fails t if s recorded errors, has a line as wide as its columns
// (a Display leaves the last one free), or does not show want.
func check(t *testing.T, s *screen, want string) {
	t.Helper()
	for _, e := range s.errs {
		t.Error(e)
	}
	s.errs = nil
	got := s.String()
	for _, l := range strings.Split(got, "\n") {
		if w := width([]byte(l)); w >= s.cols {
			t.Errorf("line %q is %d columns wide, on a screen of %d", l, w, s.cols)
		}
	}
	if got != want {
		t.Errorf("screen:\n%s\nwant:\n%s", got, want)
	}
}

func TestBatch(t *testing.T) {
	d, s, c := newTest(80, nil)
	d.SetTotal(20)
	check(t, s, "total  0/20 files done  0:00 of audio  elapsed 0:00\n")
	a := d.Add("call-01.wav", callLen)
	b := d.Add("call-2.wav", time.Minute)
	p := d.Add("stdin", 0)
	c.advance(90 * time.Second)
	a.Update(callPos, 3)
	b.Update(30*time.Second, 1)
	p.Update(75*time.Second, 2)
	d.Redraw()
	check(t, s, ""+
		"call-01.wav  [=========>          ]  47%  1:23 / 2:57  1:34 left  3 transcripts\n"+
		"call-2.wav   [==========>         ]  50%  0:30 / 1:00  0:30 left  1 transcript\n"+
		"stdin        1:15 sent  2 transcripts\n"+
		"total        0/20 files done  3:08 of audio  elapsed 1:30\n")

	b.Done(nil)
	check(t, s, ""+
		"call-01.wav  [=========>          ]  47%  1:23 / 2:57  1:34 left  3 transcripts\n"+
		"stdin        1:15 sent  2 transcripts\n"+
		"total        1/20 files done  3:08 of audio  elapsed 1:30\n")
	p.Done(errors.New("lost"))
	b.Done(errors.New("counted once"))
	b.Update(time.Hour, 0) // after Done: ignored
	check(t, s, ""+
		"call-01.wav  [=========>          ]  47%  1:23 / 2:57  1:34 left  3 transcripts\n"+
		"total        2/20 files done, 1 failed  3:08 of audio  elapsed 1:30\n")

	// Narrow: the fields of the total line go, elapsed time first.
	for _, tt := range []struct {
		cols int
		want string
	}{
		{60, "call-01.wav  [=======>       ]  47%  1:23 / 2:57  1:34 left\n" +
			"total        2/20 files done, 1 failed  3:08 of audio\n"},
		{40, "call-01.wav  [===>    ]  47%  1:34 left\n" +
			"total        2/20 files done, 1 failed\n"},
		{36, "call-01.wav  47%  1:34 left\n" +
			"total  2/20 files done, 1 failed\n"},
		{30, "call-01.wav  47%  1:34 left\n" +
			"total  2/20 done, 1 failed\n"},
		{20, "call-01.wav  47%\n" +
			"total  2/20 done, …\n"},
	} {
		d.width = func() int { return tt.cols }
		s.cols = tt.cols
		d.Redraw()
		check(t, s, tt.want)
	}
	a.Done(nil)
	check(t, s, "total  3/20 done, …\n")
	d.Close()
	check(t, s, "")
}

func TestBatchMore(t *testing.T) {
	d, s, _ := newTest(60, nil)
	d.SetTotal(12)
	var items []*Item
	for i := range 11 {
		items = append(items, d.Add(fmt.Sprintf("f%02d.raw", i), 0))
	}
	var want strings.Builder
	for i := range 8 {
		fmt.Fprintf(&want, "f%02d.raw  0:00 sent  0 transcripts\n", i)
	}
	want.WriteString("… and 3 more\ntotal    0/12 files done  0:00 of audio  elapsed 0:00\n")
	check(t, s, want.String())

	for _, it := range items[:9] {
		it.Done(nil)
	}
	check(t, s, ""+
		"f09.raw  0:00 sent  0 transcripts\n"+
		"f10.raw  0:00 sent  0 transcripts\n"+
		"total    9/12 files done  0:00 of audio  elapsed 0:00\n")
	// More inputs than SetTotal said: the total follows.
	d.SetTotal(2)
	check(t, s, ""+
		"f09.raw  0:00 sent  0 transcripts\n"+
		"f10.raw  0:00 sent  0 transcripts\n"+
		"total    9/11 files done  0:00 of audio  elapsed 0:00\n")
	d.SetTotal(1)
	check(t, s, ""+
		"f09.raw  0:00 sent  0 transcripts\n"+
		"f10.raw  0:00 sent  0 transcripts\n")
	items[9].Done(nil)
	items[10].Done(nil)
	check(t, s, "")
	d.Close()
}

// TestClearRedraw prints lines between Clear and Redraw, as the command
// prints transcripts: they stay above the display, which ends up below
// them, with nothing left of its earlier drawings.
func TestClearRedraw(t *testing.T) {
	for _, onlcr := range []bool{true, false} {
		t.Run(fmt.Sprintf("onlcr=%v", onlcr), func(t *testing.T) {
			d, s, c := newTest(80, nil)
			s.onlcr = onlcr
			nl := "\n"
			if !onlcr {
				nl = "\r\n"
			}
			print := func(line string) {
				d.Clear()
				fmt.Fprint(s, line+nl)
				d.Redraw()
			}
			fmt.Fprint(s, "$ vachana-pipe -j 3 *.wav"+nl)
			d.SetTotal(3)
			a := d.Add("a.wav", time.Minute)
			b := d.Add("b.wav", time.Minute)
			print("first transcript")
			c.advance(time.Second)
			a.Update(30*time.Second, 1)
			b.Update(15*time.Second, 0)
			print("second transcript")
			check(t, s, ""+
				"$ vachana-pipe -j 3 *.wav\n"+
				"first transcript\n"+
				"second transcript\n"+
				"a.wav  [==========>         ]  50%  0:30 / 1:00  0:30 left  1 transcript\n"+
				"b.wav  [=====>              ]  25%  0:15 / 1:00  0:45 left  0 transcripts\n"+
				"total  0/3 files done  0:45 of audio  elapsed 0:01\n")
			if row, _ := s.cursor(); row != 5 {
				t.Errorf("cursor on line %d, want 5, the display's last", row)
			}

			// Clear without Redraw: the next Update draws, unthrottled.
			d.Clear()
			fmt.Fprint(s, "vachana-pipe: warning: reconnected"+nl)
			c.advance(time.Millisecond)
			a.Done(nil)
			fmt.Fprint(s, "") // nothing between
			d.Clear()
			fmt.Fprint(s, "third"+nl)
			b.Update(16*time.Second, 1)
			check(t, s, ""+
				"$ vachana-pipe -j 3 *.wav\n"+
				"first transcript\n"+
				"second transcript\n"+
				"vachana-pipe: warning: reconnected\n"+
				"third\n"+
				"b.wav  [=====>              ]  26%  0:16 / 1:00  0:44 left  1 transcript\n"+
				"total  1/3 files done  0:46 of audio  elapsed 0:01\n")

			// The display shrinks and grows in place.
			b.Done(nil)
			cc := d.Add("c.wav", 0)
			check(t, s, ""+
				"$ vachana-pipe -j 3 *.wav\n"+
				"first transcript\n"+
				"second transcript\n"+
				"vachana-pipe: warning: reconnected\n"+
				"third\n"+
				"c.wav  0:00 sent  0 transcripts\n"+
				"total  2/3 files done  0:46 of audio  elapsed 0:01\n")
			cc.Done(errors.New("failed"))
			d.Close()
			fmt.Fprint(s, "done"+nl)
			check(t, s, ""+
				"$ vachana-pipe -j 3 *.wav\n"+
				"first transcript\n"+
				"second transcript\n"+
				"vachana-pipe: warning: reconnected\n"+
				"third\n"+
				"done\n")
			// Closed for good.
			n := len(s.lines)
			d.Redraw()
			d.Add("d.wav", 0).Update(time.Second, 1)
			d.Clear()
			d.Close()
			if len(s.lines) != n || s.String() != strings.Join([]string{"$ vachana-pipe -j 3 *.wav", "first transcript", "second transcript", "vachana-pipe: warning: reconnected", "third", "done", ""}, "\n") {
				t.Errorf("drawn after Close:\n%s", s)
			}
		})
	}
}

// countingWriter counts Writes.
type countingWriter struct{ n int }

func (w *countingWriter) Write(p []byte) (int, error) { w.n++; return len(p), nil }

func TestThrottle(t *testing.T) {
	w := new(countingWriter)
	d := New(w, nil, nil)
	c := new(fakeClock)
	d.now = c.now
	a := d.Add("a", time.Minute) // draws
	b := d.Add("b", 0)           // draws
	steps := []struct {
		advance time.Duration
		update  *Item
		draws   bool
	}{
		{0, a, false},
		{100 * time.Millisecond, b, false},
		{99 * time.Millisecond, a, false},
		{time.Millisecond, b, true}, // 200 ms after the last draw
		{199 * time.Millisecond, a, false},
		{time.Millisecond, a, true},
		{time.Hour, b, true},
	}
	for i, st := range steps {
		c.advance(st.advance)
		before := w.n
		st.update.Update(time.Second, 0)
		if drew := w.n > before; drew != st.draws {
			t.Errorf("step %d: drew %v, want %v", i, drew, st.draws)
		}
		if w.n > before+1 {
			t.Errorf("step %d: %d writes for one frame", i, w.n-before)
		}
	}
	// Clear makes the next Update draw; Done, SetTotal and Redraw draw
	// at once.
	for _, f := range []func(){
		func() { d.Clear(); a.Update(2*time.Second, 0) },
		func() { d.Redraw() },
		func() { d.SetTotal(2) },
		func() { b.Done(nil) },
	} {
		before := w.n
		f()
		if w.n == before {
			t.Errorf("no draw at once")
		}
	}
	// Clear on what is not drawn writes nothing.
	d.Clear()
	before := w.n
	d.Clear()
	if w.n != before {
		t.Errorf("Clear of nothing wrote")
	}
	d.Close()
}

func TestUnpaced(t *testing.T) {
	d, s, c := newTest(80, &Options{Unpaced: true})
	it := d.Add("a.wav", 10*time.Minute)
	c.advance(2 * time.Second) // connecting
	it.Update(0, 0)
	c.advance(500 * time.Millisecond)
	it.Update(5*time.Second, 0)
	d.Redraw()
	// Less than a second observed: no estimate yet.
	check(t, s, "a.wav  [>                   ]   0%   0:05 / 10:00  0 transcripts\n")
	c.advance(500 * time.Millisecond)
	it.Update(10*time.Second, 0) // 10× real time
	check(t, s, "a.wav  [>                   ]   1%   0:10 / 10:00   0:59 left  0 transcripts\n")
	c.advance(30 * time.Second)
	it.Update(5*time.Minute+10*time.Second, 1) // 10× still
	check(t, s, "a.wav  [==========>         ]  51%   5:10 / 10:00   0:29 left  1 transcript\n")
	d.Close()
}

func TestWriteError(t *testing.T) {
	w := &failingWriter{}
	d := New(w, nil, nil)
	it := d.Add("a", 0)
	it.Update(time.Second, 0)
	d.Redraw()
	d.Clear()
	d.Close()
	if w.n != 1 {
		t.Errorf("%d writes, want 1: a failed write stops the drawing", w.n)
	}
}

type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) { w.n++; return 0, errors.New("gone") }

// TestNil: a nil Display, the one a caller that shows no progress holds,
// does nothing.
func TestNil(t *testing.T) {
	var d *Display
	it := d.Add("a", time.Minute)
	if it != nil {
		t.Fatal("Add on a nil Display returned an Item")
	}
	it.Update(time.Second, 1)
	it.Done(nil)
	d.SetTotal(3)
	d.Clear()
	d.Redraw()
	d.Close()
}

// TestConcurrent updates streams from their own goroutines while another
// prints lines between Clear and Redraw under the caller's lock, as the
// command does: under -race, and leaving a consistent screen.
func TestConcurrent(t *testing.T) {
	s := newScreen(80)
	var mu sync.Mutex // the command's console lock
	d := New(s, func() int { return 80 }, nil)
	const streams, updates = 6, 200
	d.SetTotal(streams)
	var wg sync.WaitGroup
	for i := range streams {
		mu.Lock()
		it := d.Add(fmt.Sprintf("s%d.wav", i), time.Hour)
		mu.Unlock()
		wg.Go(func() {
			for k := range updates {
				mu.Lock()
				it.Update(time.Duration(k)*time.Second, int64(k/10))
				mu.Unlock()
			}
			mu.Lock()
			it.Done(nil)
			mu.Unlock()
		})
	}
	wg.Go(func() {
		for k := range 100 {
			mu.Lock()
			d.Clear()
			fmt.Fprintf(s, "line %d\n", k)
			d.Redraw()
			mu.Unlock()
		}
	})
	wg.Wait()
	d.Close()
	var want strings.Builder
	for k := range 100 {
		fmt.Fprintf(&want, "line %d\n", k)
	}
	check(t, s, want.String())
}

func BenchmarkUpdate(b *testing.B) {
	d := New(discard{}, func() int { return 120 }, nil)
	c := new(fakeClock)
	d.now = c.now
	d.SetTotal(4)
	items := []*Item{d.Add("call-01.wav", time.Hour), d.Add("call-02.wav", 0), d.Add("call-03.wav", time.Hour)}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.advance(interval) // every Update draws
		items[i%len(items)].Update(time.Duration(i)*time.Millisecond, int64(i/100))
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

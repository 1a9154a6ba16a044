package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/internal/progress"
	"github.com/vachana-pipe/vachana-pipe/internal/term"
	"github.com/vachana-pipe/vachana-pipe/pipeline"
	"github.com/vachana-pipe/vachana-pipe/source"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
)

// console serialises what the command prints on the terminal: transcripts
// on stdout, warnings and the progress display on stderr. Its methods are
// safe for concurrent use. With a progress display it runs one goroutine,
// which draws it: the streams only record their progress, so drawing it
// never holds up their cadence (a warning printed to a terminal that
// does not take it, paused with Ctrl-S, still waits). close joins it.
type console struct {
	mu             sync.Mutex
	stdout, stderr io.Writer
	quiet          bool
	disp           *progress.Display // nil: no progress shown
	tracked        []*jobProgress    // the inputs on the display
	stop           chan struct{}     // ends the drawing goroutine
	drawn          sync.WaitGroup
}

// progressShown says a console draws a progress display, which a forced
// exit (main) erases.
var progressShown atomic.Bool

// progressTick is how often the display is brought up to date.
const progressTick = 250 * time.Millisecond

// newConsole returns a console that shows progress when stderr is a
// terminal, and neither progress nor warnings when quiet. unpaced says the
// streams go faster than real time, for the time left.
func newConsole(stdout, stderr io.Writer, quiet, unpaced bool) *console {
	c := &console{stdout: stdout, stderr: stderr, quiet: quiet, stop: make(chan struct{})}
	f, ok := stderr.(*os.File)
	if !ok || quiet || !isTerminal(f) {
		return c
	}
	c.disp = progress.New(f, func() int { w, _ := term.Width(f); return w }, &progress.Options{Unpaced: unpaced})
	progressShown.Store(true)
	c.drawn.Go(func() {
		t := time.NewTicker(progressTick)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
				c.mu.Lock()
				for _, p := range c.tracked {
					p.show()
				}
				c.mu.Unlock()
			}
		}
	})
	return c
}

// isTerminal reports whether stream, the command's stdin, stdout or
// stderr, is a terminal. Only an *os.File can be one.
func isTerminal(stream any) bool {
	f, ok := stream.(*os.File)
	return ok && term.Is(f)
}

// clearProgress erases the progress display before something is printed.
// It runs under c.mu.
func (c *console) clearProgress() { c.disp.Clear() }

// print prints under the lock, with the progress display cleared and drawn
// again after.
func (c *console) print(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.disp.Clear()
	f()
	c.disp.Redraw()
}

// warn prints err as a warning on stderr, unless quiet.
func (c *console) warn(err error) {
	if c.quiet {
		return
	}
	c.print(func() { fmt.Fprintf(c.stderr, "vachana-pipe: warning: %v\n", err) })
}

// warnFunc returns the pipeline's OnWarning handler: warn, with prefix
// (the input's name in a batch, the channel's label when split) before
// the message.
func (c *console) warnFunc(prefix string) func(error) {
	return func(err error) { c.warn(fmt.Errorf("%s%w", prefix, err)) }
}

// serverError prints a server's error event on stderr, even when quiet.
func (c *console) serverError(msg string) {
	c.print(func() { fmt.Fprintf(c.stderr, "vachana-pipe: server error: %s\n", msg) })
}

// stats prints what write writes (the -stats summary) on stderr.
func (c *console) stats(write func(io.Writer)) { c.print(func() { write(c.stderr) }) }

// batch says the run is a batch of files inputs, for the display's total.
func (c *console) batch(files int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.disp.SetTotal(files)
}

// summary prints a batch's summary on stderr: head, then a line for each
// failure. It is printed even when quiet.
func (c *console) summary(head string, failures []string) {
	c.print(func() {
		fmt.Fprintf(c.stderr, "vachana-pipe: %s\n", head)
		for _, l := range failures {
			fmt.Fprintln(c.stderr, l)
		}
	})
}

// close stops the drawing and removes the progress display for good.
func (c *console) close() {
	close(c.stop)
	c.drawn.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.disp.Close()
}

// track adds an input named name, whose audio lasts length (0: unknown),
// streamed as channels streams at rate, to the progress display.
func (c *console) track(name string, length time.Duration, channels int, rate frame.Rate) *jobProgress {
	p := &jobProgress{con: c, rate: rate, pos: make([]atomic.Int64, channels), trans: make([]atomic.Int64, channels)}
	if c.disp == nil {
		return p
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p.item = c.disp.Add(name, length)
	c.tracked = append(c.tracked, p)
	return p
}

// jobProgress is an input's progress on the display: the position of its
// slowest channel, the transcripts of all.
type jobProgress struct {
	con   *console
	item  *progress.Item // nil: no display
	rate  frame.Rate
	pos   []atomic.Int64 // frames sent, per channel
	trans []atomic.Int64 // final transcripts, per channel
}

// update returns the pipeline's OnProgress handler of channel k, nil when
// no progress is shown. It only records: the console's goroutine draws.
func (p *jobProgress) update(k int) func(frames, transcripts int64) {
	if p.item == nil {
		return nil
	}
	return func(frames, transcripts int64) {
		p.pos[k].Store(frames)
		p.trans[k].Store(transcripts)
	}
}

// show brings the input's line up to date. It runs under p.con.mu.
func (p *jobProgress) show() {
	pos, n := p.pos[0].Load(), int64(0)
	for k := range p.pos {
		pos = min(pos, p.pos[k].Load())
		n += p.trans[k].Load()
	}
	p.item.Update(p.rate.FrameAt(pos), n)
}

// failed counts an input that failed before it could be streamed in the
// display's total.
func (c *console) failed(name string, err error) {
	if c.disp == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.disp.Add(name, 0).Done(err)
}

// aborting says, once the run is aborted (a second interrupt), that it is.
func (c *console) aborting() {
	c.print(func() {
		fmt.Fprintln(c.stderr, "vachana-pipe: interrupted again: aborting (a third interrupt exits at once)")
	})
}

// done ends the input's line on the display.
func (p *jobProgress) done(err error) {
	if p.item == nil {
		return
	}
	p.con.mu.Lock()
	defer p.con.mu.Unlock()
	p.show()
	p.item.Done(err)
	p.con.tracked = slices.DeleteFunc(p.con.tracked, func(q *jobProgress) bool { return q == p })
}

// appendNumbering adds the client's session and segment numbers to the JSON
// object that ends line: the server's segment_index restarts with every
// session, client_segment only grows.
func appendNumbering(line []byte, session, segment int) []byte {
	line, ok := openObject(line)
	if !ok {
		return line
	}
	return fmt.Appendf(line, `"client_session":%d,"client_segment":%d}`, session, segment)
}

// appendField adds "name":value (a string) to the JSON object that ends
// line.
func appendField(line []byte, name, value string) []byte {
	line, ok := openObject(line)
	if !ok {
		return line
	}
	q, _ := json.Marshal(value)
	return append(fmt.Appendf(line, "%q:%s", name, q), '}')
}

// openObject removes the closing brace of the JSON object that ends line
// and adds a comma if it has members, or reports that line does not end
// with an object.
func openObject(line []byte) ([]byte, bool) {
	if len(line) < 2 || line[len(line)-1] != '}' {
		return line, false
	}
	line = line[:len(line)-1]
	if line[len(line)-1] != '{' {
		line = append(line, ',')
	}
	return line, true
}

// appendCompact appends raw JSON to dst on one line. Input that is not valid
// JSON is appended as a JSON string, so every output line stays parseable.
func appendCompact(dst []byte, raw []byte) []byte {
	var b bytes.Buffer
	if json.Compact(&b, raw) == nil {
		return append(dst, b.Bytes()...)
	}
	q, _ := json.Marshal(string(raw))
	return append(dst, q...)
}

// printStats prints the -stats summary on w: the input, what the run did
// and, with the -local server, what the server saw.
func printStats(w io.Writer, name string, src *source.Reader, c *config, stats *pipeline.Stats, local *refserver.Server) {
	kind := "raw"
	if src.WAV() != nil {
		kind = "WAV"
	}
	conv := "no resampling"
	if r := src.Format().Rate; r != c.rate {
		conv = fmt.Sprintf("resampled %d → %d Hz, %s quality", r, c.rate, c.quality)
	}
	fmt.Fprintf(w, "source:      %s (%s, %v; %s)\n%s", name, kind, src.Format(), conv, stats)
	if local == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if reps, err := local.WaitReports(ctx, 1); err == nil {
		fmt.Fprintf(w, "server saw:  %s\n", reps[0])
	}
}

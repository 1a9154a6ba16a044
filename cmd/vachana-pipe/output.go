package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/internal/term"
	"github.com/vachana-pipe/vachana-pipe/pipeline"
	"github.com/vachana-pipe/vachana-pipe/source"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
)

// console serialises what the command prints: transcripts and events on
// stdout, warnings and the progress line on stderr. Its methods are safe
// for concurrent use.
type console struct {
	mu             sync.Mutex
	stdout, stderr io.Writer
	quiet          bool
	progress       bool // show a progress line
	shown          bool // a progress line is on screen
}

// newConsole returns a console that shows a progress line when stderr is a
// terminal, and neither progress nor warnings when quiet.
func newConsole(stdout, stderr io.Writer, quiet bool) *console {
	return &console{stdout: stdout, stderr: stderr, quiet: quiet, progress: !quiet && isTerminal(stderr)}
}

// isTerminal reports whether stream, the command's stdin, stdout or
// stderr, is a terminal. Only an *os.File can be one.
func isTerminal(stream any) bool {
	f, ok := stream.(*os.File)
	return ok && term.Is(f)
}

func (c *console) clearProgress() {
	if c.shown {
		fmt.Fprint(c.stderr, "\r\033[K")
		c.shown = false
	}
}

// progressFunc returns the pipeline's OnProgress handler for a stream at
// rate, or nil when no progress line is shown.
func (c *console) progressFunc(rate frame.Rate) func(frames, transcripts int64) {
	if !c.progress {
		return nil
	}
	return func(frames, transcripts int64) {
		c.mu.Lock()
		defer c.mu.Unlock()
		audio := rate.D(frames * frame.Samples)
		fmt.Fprintf(c.stderr, "\r%v sent, %d transcripts\033[K", audio.Round(100*time.Millisecond), transcripts)
		c.shown = true
	}
}

// endProgress removes the progress line.
func (c *console) endProgress() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clearProgress()
}

// warn prints err as a warning on stderr, unless quiet.
func (c *console) warn(err error) {
	if c.quiet {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clearProgress()
	fmt.Fprintf(c.stderr, "vachana-pipe: warning: %v\n", err)
}

// eventPrinter returns the OnEvent handler: every event as a JSON line, or
// the text of final transcripts (and of translations, marked), one per
// line, with server errors on stderr. named says the service's payloads do
// not carry their event's name (aiOla's Socket.IO events): the JSON lines
// then get it as client_event, and a payload that is not an object is
// wrapped as {"data":…}.
func (c *console) eventPrinter(jsonLines, named bool) func(pipeline.Event) {
	var line []byte
	return func(ev pipeline.Event) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.clearProgress()
		if jsonLines {
			line = appendCompact(line[:0], ev.Raw)
			if named {
				if len(line) < 2 || line[len(line)-1] != '}' {
					// Not an object (an event with no argument or
					// several): wrapped, so that the name is said.
					line = append(append([]byte(`{"data":`), line...), '}')
				}
				line = appendField(line, "client_event", ev.Type)
			}
			if ev.Kind == transport.SegmentEnded || ev.Kind == transport.Transcript {
				line = appendNumbering(line, ev.Session, ev.Segment)
			}
			line = append(line, '\n')
			c.stdout.Write(line)
			return
		}
		switch {
		case ev.Kind == transport.Transcript && ev.Final:
			if text := strings.TrimSpace(ev.Text); text != "" {
				fmt.Fprintln(c.stdout, text)
			}
		case ev.Kind == transport.Translation:
			if text := strings.TrimSpace(ev.Text); text != "" {
				fmt.Fprintf(c.stdout, "[translation] %s\n", text)
			}
		case ev.Kind == transport.Error:
			fmt.Fprintf(c.stderr, "vachana-pipe: server error: %s\n", ev.Message)
		}
	}
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

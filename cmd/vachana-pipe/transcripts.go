package main

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/vachana-pipe/vachana-pipe/pipeline"
	"github.com/vachana-pipe/vachana-pipe/pipeline/transcript"
	"github.com/vachana-pipe/vachana-pipe/transport"
)

// output writes the transcript of one input, in the -output format, to
// stdout or to its file under -out-dir. JSON lines, and text for a mono
// stream or on a terminal, are written as the events come; text of split
// channels to a file, and captions, once the input has ended, every
// channel's segments interleaved in time order. Its methods are safe for
// concurrent use: the channels' streams call its handlers at once.
type output struct {
	mu     sync.Mutex
	w      io.Writer
	con    *console // server errors go there; when w is stdout, its lock orders the writes with the progress display
	stdout bool
	format transcript.Format
	opts   transcript.Options
	live   bool // write text as it comes
	named  bool // aiOla: JSON lines get client_event
	split  bool // channels are streamed apart: JSON lines get client_channel
	asm    transcript.Assembler
	line   []byte
	err    error // the first write error
}

// newOutput returns the output of an input for c, writing to w, which is
// the command's stdout (shared with con) or not. terminal says w is a
// terminal, where split channels' text is printed as it comes.
func newOutput(c *config, w io.Writer, con *console, stdout, terminal bool) *output {
	o := &output{w: w, con: con, stdout: stdout, format: c.output, named: c.service.name == "aiola", split: c.split}
	o.opts = transcript.Options{Timestamps: c.timestamps, Labels: c.split, Names: c.channelNames}
	o.live = c.output == transcript.Text && (!c.split || terminal)
	return o
}

// handler returns the pipeline's OnEvent handler for channel ch.
func (o *output) handler(ch int) func(pipeline.Event) {
	return func(ev pipeline.Event) { o.event(ch, ev) }
}

func (o *output) event(ch int, ev pipeline.Event) {
	if ev.Kind == transport.Error && o.format != transcript.JSON {
		o.con.serverError(ev.Message)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	switch o.format {
	case transcript.JSON:
		o.line = o.appendJSON(o.line[:0], ch, ev)
		o.write(o.line)
		return
	}
	if ev.Kind == transport.Translation {
		// Kept with the transcripts, right after the channel's latest.
		text := strings.TrimSpace(ev.Text)
		if text == "" {
			return
		}
		ev.Kind, ev.Final, ev.Text = transport.Transcript, true, "[translation] "+text
	}
	seg, ok := o.asm.Add(ch, ev)
	if !ok || !o.live {
		return
	}
	o.line = transcript.AppendText(o.line[:0], seg, &o.opts)
	o.write(o.line)
}

// appendJSON appends ev as one JSON line: the server's message as it came,
// compacted, with the client's fields added.
func (o *output) appendJSON(line []byte, ch int, ev pipeline.Event) []byte {
	line = appendCompact(line, ev.Raw)
	if o.named {
		if len(line) < 2 || line[len(line)-1] != '}' {
			// Not an object (an event with no argument or several):
			// wrapped, so that the name is said.
			line = append(append([]byte(`{"data":`), line...), '}')
		}
		line = appendField(line, "client_event", ev.Type)
	}
	if ev.Kind == transport.SegmentEnded || ev.Kind == transport.Transcript {
		line = appendNumbering(line, ev.Session, ev.Segment)
	}
	if o.split {
		line = appendInt(line, "client_channel", int64(ch))
		if name := channelName(o.opts.Names, ch); name != "" {
			line = appendField(line, "client_channel_name", name)
		}
	}
	if ev.End > 0 {
		line = appendInt(line, "client_start_ms", ev.Start.Milliseconds())
		line = appendInt(line, "client_end_ms", ev.End.Milliseconds())
	}
	return append(line, '\n')
}

// write writes p, through the console's lock when it goes to stdout. It
// runs under o.mu.
func (o *output) write(p []byte) {
	if o.err != nil {
		return
	}
	if o.stdout {
		o.con.mu.Lock()
		defer o.con.mu.Unlock()
		o.con.clearProgress()
	}
	_, o.err = o.w.Write(p)
}

// finish writes what was kept for the end: captions, or the text of split
// channels in time order. It returns the first write error.
func (o *output) finish() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil || o.live || o.format == transcript.JSON {
		return o.writeErr()
	}
	var b strings.Builder
	if err := transcript.Write(&b, o.format, o.asm.Segments(), &o.opts); err != nil {
		return err
	}
	o.write([]byte(b.String()))
	return o.writeErr()
}

func (o *output) writeErr() error {
	if o.err != nil {
		return fmt.Errorf("writing the transcript: %w", o.err)
	}
	return nil
}

// appendInt adds "name":value to the JSON object that ends line.
func appendInt(line []byte, name string, value int64) []byte {
	line, ok := openObject(line)
	if !ok {
		return line
	}
	return fmt.Appendf(line, "%q:%d}", name, value)
}

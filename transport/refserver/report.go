package refserver

import (
	"fmt"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// Report describes one ended session: what the client sent, how regularly it
// sent it, and what the server answered. A published Report is never
// modified; its slices are shared by every copy and must not be modified.
type Report struct {
	// RequestID is the client's x-api-request-id, or the ref_<hex> id the
	// server generated when it was absent.
	RequestID string
	// Lang is the lang_code header.
	Lang string
	// UserAgent is the User-Agent header.
	UserAgent string
	// SampleRate is the session's rate from x-sample-rate (16000 if absent).
	SampleRate frame.Rate
	// Frames is the number of binary messages received, whatever their size.
	Frames int
	// Bytes is the total size of the binary messages received.
	Bytes int64
	// SizeViolations counts binary messages whose length is not exactly
	// [frame.Size] (1024) bytes.
	SizeViolations int
	// TextMessages counts text messages from the client; the protocol has
	// none, and the server ignores them.
	TextMessages int
	// Arrivals holds the arrival time of every binary message, measured on
	// the monotonic clock from the first one (so Arrivals[0] is 0).
	Arrivals []time.Duration
	// Cadence summarises Arrivals against the frame period at SampleRate:
	// how far each inter-arrival time was from it (percentiles by the rule
	// of [frame.Cadence]) and the end drift.
	Cadence frame.Cadence
	// Segments lists the speech segments the VAD found, in order. A segment
	// still open when the session ended (audio that ended mid-speech) is last,
	// with an empty Text: it was never sent for transcription.
	Segments []Segment
	// CloseCode is the status of the client's close frame, or -1 if the
	// connection ended without one. After a server-initiated close
	// ([Faults.CloseAfterError]) it is the status the client echoed.
	CloseCode websocket.StatusCode
	// Audio holds every binary byte received, when [Options.RecordAudio].
	Audio []byte
	// Err says why the session ended abnormally: a broken connection, an
	// injected fault, a message over the 64 KiB read limit, a client close
	// status that is not a normal end ([transport.NormalClose]), or the server
	// closing. It is empty for a normal close.
	Err string
}

// Segment is one speech segment found by the server's VAD.
type Segment struct {
	// Index counts segments from 0 (the segment_index of its events).
	Index int
	// StartMS is the start of its first loud frame, in ms from the start of
	// the stream; DurationMS runs from there to the end of its last loud frame.
	StartMS, DurationMS int
	// Text is the transcript text, "[segment K: N ms of speech]"; empty if the
	// segment never ended.
	Text string
	// Transcribed reports that its transcript event was written successfully.
	Transcribed bool
}

// String returns a one-line summary of r: frames, bytes, size violations,
// cadence, segments and close code. It never contains the API key.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "session %s lang=%s rate=%d: frames=%d bytes=%d violations=%d",
		r.RequestID, r.Lang, int(r.SampleRate), r.Frames, r.Bytes, r.SizeViolations)
	if r.TextMessages > 0 {
		fmt.Fprintf(&b, " text_messages=%d", r.TextMessages)
	}
	c := r.Cadence
	fmt.Fprintf(&b, " cadence p50=%v p99=%v max=%v drift=%v", c.P50, c.P99, c.Max, c.Drift)
	transcribed := 0
	for _, s := range r.Segments {
		if s.Transcribed {
			transcribed++
		}
	}
	fmt.Fprintf(&b, " segments=%d transcribed=%d close=%d", len(r.Segments), transcribed, int(r.CloseCode))
	if r.Err != "" {
		fmt.Fprintf(&b, " err=%q", r.Err)
	}
	return b.String()
}

// cadence summarises arrival times at rate r, measured from any fixed
// moment, as a [frame.Cadence].
func cadence(arrivals []time.Duration, r frame.Rate) frame.Cadence {
	c := frame.NewCadenceRecorder(r)
	var origin time.Time
	for _, a := range arrivals {
		c.Add(origin.Add(a))
	}
	return c.Cadence()
}

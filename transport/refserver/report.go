package refserver

import (
	"fmt"
	"slices"
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
	// Cadence summarises Arrivals against the frame period at SampleRate.
	Cadence Cadence
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
	// status other than 1000 (normal) or 1001 (going away), or the server
	// closing. It is empty for a normal close.
	Err string
}

// Cadence measures how evenly frames arrived. Deviations are
// |inter-arrival − frame period| for frames 1..N−1; P50 and P99 are
// nearest-rank percentiles of them. All fields are zero with fewer than two
// arrivals.
type Cadence struct {
	P50, P99, Max time.Duration
	// Drift is (last arrival − first arrival) − [frame.Rate.FrameAt](N−1):
	// positive when the client fell behind real time, negative when it sent
	// faster than real time.
	Drift time.Duration
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

// cadence computes a [Cadence] from arrival times at rate r.
func cadence(arrivals []time.Duration, r frame.Rate) Cadence {
	n := len(arrivals)
	if n < 2 {
		return Cadence{}
	}
	dev := make([]time.Duration, 0, n-1)
	for i := 1; i < n; i++ {
		period := r.FrameAt(int64(i)) - r.FrameAt(int64(i-1))
		d := arrivals[i] - arrivals[i-1] - period
		if d < 0 {
			d = -d
		}
		dev = append(dev, d)
	}
	slices.Sort(dev)
	return Cadence{
		P50:   percentile(dev, 50),
		P99:   percentile(dev, 99),
		Max:   dev[len(dev)-1],
		Drift: arrivals[n-1] - arrivals[0] - r.FrameAt(int64(n-1)),
	}
}

// percentile returns the nearest-rank p-th percentile of sorted, which must
// not be empty: the smallest value with at least p % of the values at or
// below it.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 × n)
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

package refserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/transport"
)

// readLimit is the largest message a session accepts; the real frames are
// 1024 bytes.
const readLimit = 64 << 10

// session is one upgraded connection. Its reader loop runs on the handler's
// goroutine; transcript and drop timers run on their own and are stopped or
// waited for before the report is published.
type session struct {
	opts   *Options
	faults Faults // the server's, or none past Faults.Sessions
	conn   *websocket.Conn
	hs     handshake
	// ctx is cancelled when the session ends or the server closes; every
	// Read and Write uses it.
	ctx    context.Context
	cancel context.CancelFunc
	closed <-chan struct{} // the server's: closed by Server.Close

	vad     *segmenter
	rep     Report
	first   time.Time // arrival of the first binary message
	dropped atomic.Bool

	mu     sync.Mutex // guards rep.Segments: timers set Transcribed
	timers []*time.Timer
	// lastTranscript is closed when the latest segment's transcript has
	// been sent (or given up); reader goroutine only.
	lastTranscript chan struct{}
	wg             sync.WaitGroup // one per timer whose function may run
}

func newSession(s *Server, c *websocket.Conn, hs handshake, faults Faults) *session {
	ctx, cancel := context.WithCancel(context.Background())
	return &session{
		opts:   &s.opts,
		faults: faults,
		conn:   c,
		hs:     hs,
		ctx:    ctx,
		cancel: cancel,
		closed: s.closedCh,
		vad:    newSegmenter(hs.rate, s.opts.Threshold, s.opts.Hangover),
		rep: Report{
			RequestID:  hs.requestID,
			Lang:       hs.lang,
			UserAgent:  hs.userAgent,
			SampleRate: hs.rate,
			CloseCode:  -1,
		},
	}
}

// abort ends the session from outside: Server.Close calls it.
func (ss *session) abort() {
	ss.cancel()
	_ = ss.conn.CloseNow()
}

// run serves the session until it ends and returns its report. When run
// returns, every timer it started has finished and the connection is closed.
func (ss *session) run() Report {
	ss.rep.Err = ss.serve()
	return ss.finish()
}

// serve runs the reader loop. It returns why the session ended, "" for a
// normal close by the client.
func (ss *session) serve() string {
	f := &ss.faults
	if !f.NoConnected {
		err := ss.send(connectedEvent{
			Type:      "connected",
			Message:   "Connected to the Vachana v3 reference server; it recognises no words",
			Timestamp: timestamp(),
			Config:    connectedConfig{SampleRate: int(ss.hs.rate), ChunkSize: frame.Samples},
			RequestID: ss.hs.requestID,
		})
		if err != nil {
			return ss.readErr(err)
		}
	}
	if f.DropAfter > 0 {
		ss.after(f.DropAfter, func() {
			ss.dropped.Store(true)
			ss.abort()
		})
	}
	for {
		typ, p, err := ss.conn.Read(ss.ctx)
		now := time.Now()
		if err != nil {
			return ss.readErr(err)
		}
		if typ != websocket.MessageBinary {
			ss.rep.TextMessages++
			continue
		}
		ss.receive(now, p)
		if why, end := ss.fault(); end {
			return why
		}
	}
}

// receive records one binary message and acts on the VAD's boundaries.
func (ss *session) receive(now time.Time, p []byte) {
	r := &ss.rep
	if r.Frames == 0 {
		ss.first = now
	}
	r.Arrivals = append(r.Arrivals, now.Sub(ss.first))
	r.Frames++
	r.Bytes += int64(len(p))
	if len(p) != frame.Size {
		r.SizeViolations++
	}
	if ss.opts.RecordAudio {
		r.Audio = append(r.Audio, p...)
	}
	for _, ev := range ss.vad.Feed(p) {
		if !ev.end {
			if ss.opts.VADEvents {
				_ = ss.send(newSegmentEvent("speech_start", ev.seg.Index))
			}
			continue
		}
		ss.endSegment(ev.seg)
	}
}

// endSegment announces an ended segment and schedules its transcript.
func (ss *session) endSegment(seg Segment) {
	ss.mu.Lock()
	i := len(ss.rep.Segments)
	ss.rep.Segments = append(ss.rep.Segments, seg)
	ss.mu.Unlock()
	if ss.opts.VADEvents {
		_ = ss.send(newSegmentEvent("speech_end", seg.Index))
	}
	if ss.send(newSegmentEvent("processing", seg.Index)) != nil {
		return // the connection is failing; the next Read says why
	}
	delay := ss.opts.ProcessingDelay
	// Transcripts leave in segment order, like the service's: each waits
	// for the one before it.
	prev, done := ss.lastTranscript, make(chan struct{})
	ss.lastTranscript = done
	ss.after(delay, func() {
		defer close(done)
		if prev != nil {
			select {
			case <-prev:
			case <-ss.ctx.Done():
				return
			}
		}
		if ss.send(newTranscriptEvent(ss.hs.requestID, seg, delay)) != nil {
			return
		}
		ss.mu.Lock()
		ss.rep.Segments[i].Transcribed = true
		ss.mu.Unlock()
	})
}

// fault applies the frame-count faults after a frame. end reports that the
// session is over, and why says why.
func (ss *session) fault() (why string, end bool) {
	f := &ss.faults
	n := ss.rep.Frames
	if n == f.SendAfterFrames {
		typ := websocket.MessageText
		if f.SendBinary {
			typ = websocket.MessageBinary
		}
		_ = ss.conn.Write(ss.ctx, typ, f.Send)
	}
	if n == f.ErrorAfterFrames {
		_ = ss.send(errorEvent{Type: "error", Message: f.ErrorMessage, Timestamp: timestamp()})
		if f.CloseAfterError {
			if ss.conn.Close(websocket.StatusInternalError, "reference server: injected error") == nil {
				// Close succeeds only once the client echoed our status.
				ss.rep.CloseCode = websocket.StatusInternalError
			}
			return fmt.Sprintf("fault: closed with status 1011 after the error event at frame %d", n), true
		}
	}
	if n == f.DropAfterFrames {
		ss.abort()
		return fmt.Sprintf("fault: dropped the connection after %d frames", n), true
	}
	if n == f.StallAfterFrames {
		select {
		case <-ss.closed:
		case <-ss.ctx.Done(): // DropAfter fired
		}
		return fmt.Sprintf("fault: stopped reading after %d frames until the server closed", n), true
	}
	return "", false
}

// readErr explains an error from Read (or from the first Write), recording
// the client's close status when there is one.
func (ss *session) readErr(err error) string {
	if ss.dropped.Load() {
		return fmt.Sprintf("fault: dropped the connection %v after the upgrade", ss.faults.DropAfter)
	}
	select {
	case <-ss.closed:
		return "server closed while the session was open"
	default:
	}
	if errors.Is(err, websocket.ErrMessageTooBig) {
		return fmt.Sprintf("closed with status 1009: a message exceeded the %d-byte read limit (frames are %d bytes)", readLimit, frame.Size)
	}
	code := websocket.CloseStatus(err)
	ss.rep.CloseCode = code
	switch {
	case transport.NormalClose(int(code)):
		return ""
	case code == -1:
		return "connection broke: " + err.Error()
	}
	return "client closed with status " + fmt.Sprint(int(code)) + " (" + code.String() + ")"
}

// after runs fn after d on a timer that finish stops or waits for.
func (ss *session) after(d time.Duration, fn func()) {
	ss.wg.Add(1)
	ss.timers = append(ss.timers, time.AfterFunc(d, func() {
		defer ss.wg.Done()
		fn()
	}))
}

// finish closes the connection, stops or waits for every timer and
// completes the report.
func (ss *session) finish() Report {
	ss.abort()
	for _, t := range ss.timers {
		if t.Stop() {
			ss.wg.Done() // its function will never run
		}
	}
	ss.wg.Wait()
	r := ss.rep
	if seg, ok := ss.vad.Open(); ok {
		r.Segments = append(r.Segments, seg)
	}
	r.Cadence = cadence(r.Arrivals, r.SampleRate)
	return r
}

// send writes v as one JSON text message.
func (ss *session) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return ss.conn.Write(ss.ctx, websocket.MessageText, b)
}

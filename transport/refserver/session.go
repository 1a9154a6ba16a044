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

// session is one upgraded connection of either service; its [dialect] words
// the messages. Its reader loop runs on the handler's goroutine; transcript,
// drop and idle timers run on their own and are stopped or waited for before
// the report is published.
type session struct {
	opts   *Options
	faults Faults // the server's, or none past Faults.Sessions
	conn   *websocket.Conn
	hs     handshake
	d      dialect
	// ctx is cancelled when the session ends or the server closes; every
	// Read and Write uses it.
	ctx    context.Context
	cancel context.CancelFunc
	closed <-chan struct{} // the server's: closed by Server.Close

	vad   *segmenter
	rep   Report
	first time.Time // arrival of the first audio message
	// why, once set by a timer (DropAfter, idle), says why the session
	// ended; the reader reports it instead of the Read error it caused.
	why atomic.Pointer[string]

	mu     sync.Mutex // guards rep.Segments: timers set Transcribed
	timers []*time.Timer
	idle   *time.Timer // Sarvam's idle limit, nil without one
	// lastTranscript is closed when the latest segment's transcript has
	// been sent (or given up); reader goroutine only.
	lastTranscript chan struct{}
	wg             sync.WaitGroup // one per timer whose function may run
}

func newSession(s *Server, c *websocket.Conn, hs handshake, faults Faults) *session {
	ctx, cancel := context.WithCancel(context.Background())
	ss := &session{
		opts:   &s.opts,
		faults: faults,
		conn:   c,
		hs:     hs,
		ctx:    ctx,
		cancel: cancel,
		closed: s.closedCh,
		vad:    newSegmenter(hs.rate, s.opts.Threshold, hs.hangover),
		rep: Report{
			Service:    hs.service,
			RequestID:  hs.requestID,
			Lang:       hs.lang,
			UserAgent:  hs.userAgent,
			SampleRate: hs.rate,
			CloseCode:  -1,
		},
	}
	if p := hs.sarvam; p != nil {
		ss.d = newSarvamDialect(hs, faults.ErrorField)
		ss.rep.Params = p.all
		ss.rep.Subprotocol = p.subprotocol
	} else {
		ss.d = vachanaDialect{hs: hs, vadEvents: s.opts.VADEvents, noConnected: faults.NoConnected}
	}
	n, _ := ss.d.readLimit()
	c.SetReadLimit(n)
	return ss
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
	if g := ss.d.greeting(); g != nil {
		if err := ss.send(g); err != nil {
			return ss.readErr(err)
		}
	}
	if d := ss.faults.DropAfter; d > 0 {
		ss.after(d, func() {
			why := fmt.Sprintf("fault: dropped the connection %v after the upgrade", d)
			ss.why.Store(&why)
			ss.abort()
		})
	}
	if d := ss.opts.IdleTimeout; d > 0 {
		ss.idle = ss.after(d, ss.idleClose)
	}
	for {
		typ, p, err := ss.conn.Read(ss.ctx)
		now := time.Now()
		if err != nil {
			return ss.readErr(err)
		}
		if typ == websocket.MessageText {
			ss.rep.TextMessages++
		}
		m := ss.d.parse(typ, p)
		switch m.kind {
		case msgIgnored:
		case msgConfig:
			ss.rep.Configs++
		case msgBad:
			ss.rep.BadMessages++
			_ = ss.send(ss.d.errorMsg(m.problem, m.code))
		case msgFlush:
			ss.rep.Flushes++
			if seg, ok := ss.vad.End(); ok {
				ss.endSegment(seg, true)
			}
		case msgAudio:
			ss.receive(now, m.audio)
			if why, end := ss.fault(); end {
				return why
			}
		}
	}
}

// receive records one audio message and acts on the VAD's boundaries.
func (ss *session) receive(now time.Time, p []byte) {
	if ss.idle != nil && ss.idle.Stop() {
		ss.idle.Reset(ss.opts.IdleTimeout) // still one run pending: wg unchanged
	}
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
			for _, m := range ss.d.started(ev.seg) {
				_ = ss.send(m)
			}
			continue
		}
		ss.endSegment(ev.seg, false)
	}
}

// endSegment announces an ended segment and schedules its transcript;
// flushed says a flush message ended it.
func (ss *session) endSegment(seg Segment, flushed bool) {
	ss.mu.Lock()
	i := len(ss.rep.Segments)
	ss.rep.Segments = append(ss.rep.Segments, seg)
	ss.mu.Unlock()
	msgs := ss.d.ended(seg, flushed)
	for k, m := range msgs {
		if ss.send(m) != nil && k == len(msgs)-1 {
			return // the connection is failing; the next Read says why
		}
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
		if ss.send(ss.d.transcript(seg, delay)) != nil {
			return
		}
		ss.mu.Lock()
		ss.rep.Segments[i].Transcribed = true
		ss.mu.Unlock()
	})
}

// fault applies the frame-count faults after an audio message. end reports
// that the session is over, and why says why.
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
		_ = ss.send(ss.d.errorMsg(f.ErrorMessage, "injected_error"))
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
		// A stalled server does nothing more, not even close an idle session.
		if ss.idle != nil && ss.idle.Stop() {
			ss.wg.Done()
		}
		select {
		case <-ss.closed:
		case <-ss.ctx.Done(): // DropAfter fired
		}
		return fmt.Sprintf("fault: stopped reading after %d frames until the server closed", n), true
	}
	return "", false
}

// idleClose ends a session that has received no audio for
// [Options.IdleTimeout]: an idle_timeout error, then a close with status
// 1000. It runs on the idle timer's goroutine.
func (ss *session) idleClose() {
	d := seconds(ss.opts.IdleTimeout)
	why := "idle: no audio received for " + d + "; closed with status 1000"
	ss.why.Store(&why)
	_ = ss.send(ss.d.errorMsg("no audio received for "+d+"; the connection is closed", "idle_timeout"))
	_ = ss.conn.Close(websocket.StatusNormalClosure, "no audio received for "+d)
}

// readErr explains an error from Read (or from the first Write), recording
// the client's close status when there is one.
func (ss *session) readErr(err error) string {
	code := websocket.CloseStatus(err)
	if why := ss.why.Load(); why != nil {
		if code != -1 {
			ss.rep.CloseCode = code // the client echoed the idle close
		}
		return *why
	}
	select {
	case <-ss.closed:
		return "server closed while the session was open"
	default:
	}
	if errors.Is(err, websocket.ErrMessageTooBig) {
		_, why := ss.d.readLimit()
		return "closed with status 1009: " + why
	}
	ss.rep.CloseCode = code
	switch {
	case transport.NormalClose(int(code)):
		return ""
	case code == -1:
		return "connection broke: " + err.Error()
	}
	return "client closed with status " + fmt.Sprint(int(code)) + " (" + code.String() + ")"
}

// after runs fn after d on a timer that finish stops or waits for. Only the
// reader goroutine calls it.
func (ss *session) after(d time.Duration, fn func()) *time.Timer {
	ss.wg.Add(1)
	t := time.AfterFunc(d, func() {
		defer ss.wg.Done()
		fn()
	})
	ss.timers = append(ss.timers, t)
	return t
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

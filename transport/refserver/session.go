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

// session is one upgraded connection of any service; its [dialect] words
// the messages. Its reader loop runs on the handler's goroutine; transcript,
// drop and idle timers, and the heartbeat of a dialect that pings, run on
// their own and are stopped or waited for before the report is published.
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
	// chunks says the audio messages are chunks of any size (aiOla's), not
	// frames: due then holds when each was due (see [Report.Cadence]), and
	// ragged says the last one was not a whole number of frames, a size
	// violation unless it stays the last (see [Report.SizeViolations]).
	// Reader goroutine only.
	chunks bool
	due    []time.Duration
	ragged bool
	// why, once set by a timer (DropAfter, idle), says why the session
	// ended; the reader reports it instead of the Read error it caused.
	why atomic.Pointer[string]

	mu     sync.Mutex // guards rep.Segments: timers set Transcribed
	timers []*time.Timer
	idle   *time.Timer // Sarvam's idle limit, nil without one
	// pongs carries the client's answers to the heartbeat's pings (one
	// buffered); stopBeat, closed by a stall, stops the heartbeat.
	pongs    chan struct{}
	stopBeat chan struct{}
	// left says the client ended the session (msgDisconnect, msgClose):
	// however the connection then ends, the end is normal. Reader only.
	left bool
	// lastTranscript is closed when the latest segment's transcript has
	// been sent (or given up); reader goroutine only.
	lastTranscript chan struct{}
	wg             sync.WaitGroup // one per timer whose function may run
}

func newSession(s *Server, c *websocket.Conn, hs handshake, faults Faults) *session {
	ctx, cancel := context.WithCancel(context.Background())
	ss := &session{
		opts:     &s.opts,
		faults:   faults,
		conn:     c,
		hs:       hs,
		ctx:      ctx,
		cancel:   cancel,
		closed:   s.closedCh,
		pongs:    make(chan struct{}, 1),
		stopBeat: make(chan struct{}),
		vad:      newSegmenter(hs.rate, s.opts.Threshold, hs.hangover),
		rep: Report{
			Service:    hs.service,
			RequestID:  hs.requestID,
			Lang:       hs.lang,
			UserAgent:  hs.userAgent,
			SampleRate: hs.rate,
			CloseCode:  -1,
		},
	}
	switch {
	case hs.sarvam != nil:
		ss.d = newSarvamDialect(hs, faults.ErrorField)
		ss.rep.Params = hs.sarvam.all
		ss.rep.Subprotocol = hs.sarvam.subprotocol
	case hs.aiola != nil:
		ss.d = newAiolaDialect(s.opts.PingInterval, s.opts.PingTimeout, faults.NoConnected)
		ss.rep.Params = hs.aiola.all
		ss.rep.AuthSession = hs.aiola.authSession
		ss.rep.Events = map[string]int{}
		ss.chunks = true
	default:
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
	if ping, interval, timeout := ss.d.heartbeat(); interval > 0 {
		ss.wg.Add(1)
		go ss.heartbeat(ping, interval, timeout)
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
		for _, r := range m.replies {
			_ = ss.send(r)
		}
		if m.event != "" {
			ss.countEvent(m.event)
		}
		switch m.kind {
		case msgIgnored:
		case msgConfig:
			ss.rep.Configs++
			if m.keywords != "" && len(ss.rep.Keywords) < maxKeywords {
				// Bounded, as Events is: a long-running server must not
				// grow with a client that sends them in a loop.
				ss.rep.Keywords = append(ss.rep.Keywords, m.keywords[:min(len(m.keywords), maxKeywordBytes)])
			}
		case msgPong:
			ss.rep.Pongs++
			select {
			case ss.pongs <- struct{}{}:
			default: // one is waiting already
			}
		case msgDisconnect, msgClose:
			if m.kind == msgDisconnect {
				ss.rep.Disconnected = true
			}
			if !ss.left {
				ss.left = true
				// The client closes the connection next; if it does not,
				// the server does.
				ss.after(leaveGrace, func() { _ = ss.conn.Close(websocket.StatusNormalClosure, "the client left") })
			}
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
	if ss.chunks {
		// Due when the audio before it has played: its whole samples.
		ss.due = append(ss.due, r.SampleRate.D(r.Bytes/2))
		ss.judgeChunk(len(p))
	} else if len(p) != frame.Size {
		r.SizeViolations++
	}
	r.Frames++
	r.Bytes += int64(len(p))
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

// judgeChunk counts the size violations of a chunk of n bytes, as
// [Report.SizeViolations] defines them for chunks: at once when it is empty
// or ends in half a sample; when the next chunk comes when it is not a
// whole number of frames, since only the last chunk may end between two.
func (ss *session) judgeChunk(n int) {
	if ss.ragged {
		ss.rep.SizeViolations++ // it was not the last
	}
	ss.ragged = false
	switch {
	case n == 0 || n%2 != 0:
		ss.rep.SizeViolations++
	case n%frame.Size != 0:
		ss.ragged = true
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
		// A stalled server does nothing more, not even close an idle
		// session or ping.
		if ss.idle != nil && ss.idle.Stop() {
			ss.wg.Done()
		}
		close(ss.stopBeat)
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

// maxEventNames bounds the names [Report.Events] keeps; the events of
// further names are counted under "(other)", and a name is cut to 64 bytes,
// so that a hostile client cannot grow a report without bound.
const maxEventNames = 64

// countEvent counts an event by name in the report.
func (ss *session) countEvent(name string) {
	if len(name) > 64 {
		name = name[:64] + "…"
	}
	if _, ok := ss.rep.Events[name]; !ok && len(ss.rep.Events) >= maxEventNames {
		name = "(other)"
	}
	ss.rep.Events[name]++
}

// leaveGrace is how long a session waits, after the client left
// (msgDisconnect, msgClose), for the client to close the connection before
// the server closes it with status 1000.
const leaveGrace = 5 * time.Second

// heartbeat sends ping every interval and drops the connection when no pong
// comes within timeout of one, as an Engine.IO server does. It runs on its
// own goroutine, counted in ss.wg, until the session ends or stalls.
func (ss *session) heartbeat(ping any, interval, timeout time.Duration) {
	defer ss.wg.Done()
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ss.ctx.Done():
			return
		case <-ss.stopBeat:
			return
		}
		select {
		case <-ss.pongs: // an unsolicited pong answers nothing
		default:
		}
		if ss.send(ping) != nil {
			return // the connection is failing; the reader says why
		}
		t.Reset(timeout)
		select {
		case <-ss.pongs:
		case <-t.C:
			why := fmt.Sprintf("ping timeout: no pong within %v of a ping; dropped the connection", timeout)
			ss.why.Store(&why)
			ss.abort()
			return
		case <-ss.ctx.Done():
			return
		case <-ss.stopBeat:
			return
		}
		t.Reset(interval)
	}
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
	if ss.left {
		ss.rep.CloseCode = code
		return "" // the client had left: however it went, the end is normal
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
	r.Cadence = cadence(r.Arrivals, ss.due, r.SampleRate)
	return r
}

// send writes v as one text message: a rawText as it is, anything else as
// JSON.
func (ss *session) send(v any) error {
	if r, ok := v.(rawText); ok {
		return ss.conn.Write(ss.ctx, websocket.MessageText, r)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return ss.conn.Write(ss.ctx, websocket.MessageText, b)
}

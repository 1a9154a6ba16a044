package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vachana-pipe/vachana-pipe/transport"
)

// settle is how long the drain waits, once nothing is outstanding, for a
// late segment end: a server may answer the ping while audio is still
// queued for its detector. Tests of many streams against the reference
// server, whose detector keeps up with its reading, shorten it.
var settle = 750 * time.Millisecond

// session is one open session and the two goroutines that serve it while
// the sender writes to it: the listener, which reads its events, and the
// pinger. The sender opens it with start and ends it with end, which joins
// both; nothing of a session outlives it.
type session struct {
	transport.Session
	n     int   // 1 for the first session, 2 after the first reconnection…
	start int64 // the stream's frame index of the session's first frame

	written   atomic.Int64 // sender: frames written to this session
	confirmed atomic.Int64 // listener: the stream position a finished segment ended at (Transcript after SegmentEnded); -1 for none
	flushAt   atomic.Int64 // sender: the stream position when the flush was sent; -1 for none
	finished  atomic.Int64 // listener: flushAt, once a transcript answered the flush: the service is done with everything before; -1 for none
	ponged    atomic.Int64 // pinger: the stream position the last pong confirmed; -1 for none

	// transcribed: for a service without segment ends, the final
	// transcripts of this session, each the answer to the next utterance
	// (the listener adds under the tally's lock; the sender reads).
	transcribed atomic.Int64
	inEvent     atomic.Bool // listener: OnEvent is running, pongs are not being read
	cause       atomic.Pointer[error]

	tally tally
	gone  chan struct{} // listener: closed when the session has ended
	lost  chan error    // listener: its one value when the session ends, after gone
	done  chan struct{} // sender: closed when it has finished with the session
	wg    sync.WaitGroup

	endOnce sync.Once
	ended   error // what end returns
}

// start opens the goroutines of sess. Exactly one value arrives on
// sess.lost when the session ends, whatever ends it.
func (r *run) start(ctx context.Context, s transport.Session, n int, start int64) *session {
	sess := &session{Session: s, n: n, start: start, gone: make(chan struct{}), lost: make(chan error, 1), done: make(chan struct{})}
	sess.confirmed.Store(-1)
	sess.flushAt.Store(-1)
	sess.finished.Store(-1)
	sess.ponged.Store(-1)
	sess.tally.changed = make(chan struct{}, 1)
	r.place.reset(start) // before the listener starts: it places what this session is sent
	sess.wg.Go(func() {
		err := r.listen(sess)
		close(sess.gone)
		sess.lost <- err
	})
	if !r.o.NoPing {
		sess.wg.Go(func() { r.ping(ctx, sess) })
	}
	return sess
}

// drop records why the pipeline ends sess (no pong, a stall), unless a
// reason is already recorded, and closes it at once.
func (sess *session) drop(why error) {
	sess.cause.CompareAndSwap(nil, &why)
	sess.CloseNow()
}

// end closes sess at once (harmless after a normal Close), waits for its
// goroutines and returns why it ended: the pipeline's reason if it
// dropped the session, otherwise what the listener saw (io.EOF after a
// normal close). Later calls return the same.
func (sess *session) end() error {
	sess.endOnce.Do(func() {
		sess.CloseNow()
		sess.ended = <-sess.lost
		close(sess.done)
		sess.wg.Wait()
		if c := sess.cause.Load(); c != nil {
			sess.ended = *c
		}
	})
	return sess.ended
}

// position returns the stream's frame index of the next frame the session
// receives.
func (sess *session) position() int64 { return sess.start + sess.written.Load() }

// tally counts the segments a session has ended and not yet transcribed,
// for the drain. The listener writes it, but for the flush expectation the
// sender adds in the drain; the sender waits on it. It is the one place
// segments are counted.
type tally struct {
	mu    sync.Mutex
	state tallyState
	// changed has a value when the state changed since it was last taken.
	changed chan struct{}
}

// tallyState is what the tally knows at one moment.
type tallyState struct {
	pending  int       // segment ends not yet answered by a final transcript, and the flush's answer if awaited
	lastSeen time.Time // when the last segment end or final transcript came
	ended    error     // why the session ended, once it has

	// open: the service said speech started and has not ended it. A
	// flush while speech is open awaits a transcript (flushWait, counted
	// in pending), which a transcript without a segment end answers, or
	// the segment end of that speech, whose own transcript then follows.
	open      bool
	flushWait bool

	// owed: for a service without segment ends, the transcripts the drain
	// awaits (counted in pending), one for each utterance sent.
	owed int
}

func (t *tally) update(f func(*tallyState)) {
	t.mu.Lock()
	f(&t.state)
	t.mu.Unlock()
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

func (t *tally) get() tallyState {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state
}

// segmentMark is a segment the service is transcribing.
type segmentMark struct {
	pos        int64 // the stream position when its SegmentEnded came
	segment    int   // its number across sessions
	at         time.Time
	start, end time.Duration // where it lies in the input, if known
	placed     placement
}

// segmentMarks is what the listener holds to pair segment ends with their
// transcripts, in order.
type segmentMarks struct {
	ends []segmentMark // SegmentEnded events awaiting their transcript
	// early holds the numbers of final transcripts that came while speech
	// was open, before any segment end: a service may send a segment's
	// transcript before its end (Sarvam's data before END_SPEECH), and
	// that end then needs no transcript of its own. A SpeechStarted
	// clears it.
	early []int
}

// listen reads the events of sess until it ends, hands each to account and
// OnEvent, and returns why the session ended.
func (r *run) listen(sess *session) error {
	var (
		lastError string // the message of the session's last error event
		marks     segmentMarks
	)
	for {
		ev, err := sess.ReadEvent()
		var me *transport.MalformedError
		if errors.As(err, &me) {
			r.stats.Warnings++
			r.warn(err)
			continue
		}
		if err != nil {
			if lastError != "" && err != io.EOF {
				err = fmt.Errorf("%w (the server's last error event said %q)", err, lastError)
			}
			sess.tally.update(func(t *tallyState) { t.ended = err })
			if err != io.EOF {
				// The session is over: release a Ping or a write waiting
				// on the dead connection (after recording why).
				sess.CloseNow()
			}
			return err
		}
		if ev.Kind == transport.Error {
			lastError = ev.Message
		}
		out := r.account(sess, ev, &marks)
		if r.o.OnEvent != nil {
			sess.inEvent.Store(true)
			r.o.OnEvent(out)
			sess.inEvent.Store(false)
		}
		if ev.Kind == transport.Error && ev.Fatal {
			// The dialect knows the session cannot go on: end it, so that
			// the sender replaces it (or reports it) now.
			sess.drop(&transport.ClosedError{Code: -1, Err: fmt.Errorf("the server reported a fatal error: %s", ev.Message)})
		}
	}
}

// account counts ev in the stats and the session's tally, numbers it,
// publishes the confirmation a final transcript brings for the replay, and
// returns it numbered. marks pairs segment ends with their transcripts.
func (r *run) account(sess *session, ev transport.Event, marks *segmentMarks) Event {
	now := time.Now()
	r.stats.Events++
	out := Event{Event: ev, Session: sess.n}
	switch ev.Kind {
	case transport.SpeechStarted:
		marks.early = marks.early[:0]
		flushed := sess.flushAt.Load() >= 0
		sess.tally.update(func(t *tallyState) {
			t.open = true
			if flushed && !t.flushWait {
				// Speech before the flush, reported after it was sent:
				// the flush's answer is awaited all the same.
				t.flushWait = true
				t.pending++
			}
		})
	case transport.SegmentEnded:
		r.stats.Segments++
		pos := sess.position()
		answered := len(marks.early) > 0
		sess.tally.update(func(t *tallyState) {
			t.open = false
			if t.flushWait { // the open speech ended: its transcript follows as any other
				t.flushWait = false
				t.pending--
			}
			if !answered {
				t.pending++
				t.lastSeen = now
			}
		})
		if answered { // its transcript came first
			out.Segment = marks.early[0]
			marks.early = marks.early[1:]
			r.confirm(sess, pos)
			break
		}
		out.Segment = r.next
		var pl placement
		out.Start, out.End, pl = r.times(pos, ev.AudioDuration)
		marks.ends = append(marks.ends, segmentMark{pos: pos, segment: r.next, at: now, start: out.Start, end: out.End, placed: pl})
		r.next++
	case transport.Transcript:
		if !ev.Final {
			r.stats.Partials++
			out.Segment = r.next
			if len(marks.ends) > 0 {
				out.Segment = marks.ends[0].segment
			}
			break
		}
		r.stats.Transcripts++
		r.transcripts.Add(1)
		if ev.Latency > 0 {
			r.lat.add(ev.Latency)
		}
		if len(marks.ends) > 0 {
			m := marks.ends[0]
			marks.ends = marks.ends[1:]
			out.Segment = m.segment
			out.Start, out.End = m.start, m.end
			switch {
			case m.placed.exact || ev.AudioDuration <= 0:
			case !m.placed.ok:
				// Nothing detected here where the segment ended (speech
				// below the client's threshold): its length, said now,
				// places it before its end.
				out.Start, out.End = r.estimate(m.placed, ev.AudioDuration)
			default:
				// Estimated in speech that never paused (noise above the
				// client's threshold): its length bounds its start.
				out.Start = max(out.Start, out.End-ev.AudioDuration)
			}
			r.turn.add(now.Sub(m.at))
			sess.tally.update(func(t *tallyState) { t.pending--; t.lastSeen = now })
			r.confirm(sess, m.pos)
			break
		}
		// A transcript without a segment end: the answer to a flush, a
		// segment's transcript that came before its end, or any
		// transcript of a service that sends no segment ends, which
		// confirms the speech before it (see replayBuffer).
		out.Segment = r.next
		r.next++
		var open, flushed bool
		pos := sess.position()
		out.Start, out.End, _ = r.times(pos, ev.AudioDuration)
		sess.tally.update(func(t *tallyState) {
			t.lastSeen = now
			open = t.open
			if t.flushWait {
				t.flushWait = false
				t.pending--
				flushed = true
			}
			if r.noEnds {
				sess.transcribed.Add(1)
				r.finals.Add(1)
				if pos > r.lastFinal.Load() {
					r.lastFinal.Store(pos)
				}
				if t.owed > 0 {
					t.owed--
					t.pending--
					flushed = t.owed == 0 // the last utterance sent is answered
				}
			}
		})
		if open {
			marks.early = append(marks.early, out.Segment)
		}
		if flushed && !r.o.Unpaced {
			sess.finished.Store(sess.flushAt.Load())
		}
	case transport.Error:
		r.stats.Errors++
	case transport.Connected:
		if ev.SampleRate != 0 && ev.SampleRate != int(r.o.Rate) || ev.ChunkSize != 0 && ev.ChunkSize != 512 {
			r.warn(fmt.Errorf("the server expects %d Hz in chunks of %d samples; this stream sends %d Hz in chunks of 512", ev.SampleRate, ev.ChunkSize, int(r.o.Rate)))
		}
	}
	return out
}

// times places the segment whose end came at stream position pos (see
// placer) and returns its bounds in the input, zero when not known, and the
// placement. dur is its audio as the service counts it, if it says.
func (r *run) times(pos int64, dur time.Duration) (start, end time.Duration, pl placement) {
	if r.place.m == nil {
		return 0, 0, placement{at: -1}
	}
	pl = r.place.place(pos, r.o.Rate.FramesIn(dur))
	if !pl.ok {
		return 0, 0, pl
	}
	return r.o.Rate.FrameAt(pl.start), r.o.Rate.FrameAt(pl.end), pl
}

// estimate places a segment that times could not place from its audio, dur,
// as the service says it with its transcript (see placer.estimate).
func (r *run) estimate(pl placement, dur time.Duration) (start, end time.Duration) {
	s, e, ok := r.place.estimate(pl, r.o.Rate.FramesIn(dur))
	if !ok {
		return 0, 0
	}
	return r.o.Rate.FrameAt(s), r.o.Rate.FrameAt(e)
}

// confirm publishes, for the replay, that the service finished the segment
// whose end came at stream position pos. The reasoning of where a replay
// starts needs real-time pacing: an unpaced stream replays its whole
// session.
func (r *run) confirm(sess *session, pos int64) {
	if !r.o.Unpaced {
		sess.confirmed.Store(pos)
	}
}

// errNoPong is the cause of a ping that timed out.
var errNoPong = errors.New("pipeline: no pong")

// ping keeps sess alive and detects a dead peer: a pong that does not come
// within PingInterval drops the session, which the sender then replaces or
// reports.
func (r *run) ping(ctx context.Context, sess *session) {
	t := time.NewTicker(r.o.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-sess.done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sent := sess.position()
		pctx, cancel := context.WithTimeoutCause(ctx, r.o.PingInterval, errNoPong)
		err := sess.Ping(pctx)
		cancel()
		if err == nil {
			sess.ponged.Store(sent) // the server has read every frame before the ping
			continue
		}
		if ctx.Err() != nil || !errors.Is(context.Cause(pctx), errNoPong) || sess.inEvent.Load() {
			// A ping on a session that ended fails (the listener says
			// why); a pong unread while OnEvent blocks proves nothing.
			continue
		}
		err = fmt.Errorf("pipeline: no pong from the server within %v: the server stopped reading or the connection is dead", r.o.PingInterval)
		if r.o.Reconnects > 0 {
			r.warn(err) // the session will be replaced
		}
		sess.drop(&transport.ClosedError{Code: -1, Err: err})
	}
}

func (r *run) warn(err error) {
	if r.o.OnWarning != nil {
		r.o.OnWarning(err)
	}
}

package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/transport"
)

// StallError reports a frame that could not be written for StallTimeout:
// the server stopped reading.
type StallError struct {
	Frame int64
	After time.Duration
}

func (e *StallError) Error() string {
	return fmt.Sprintf("pipeline: frame %d could not be sent for %v: the server stopped reading; check the service, or raise the limit if the network is that slow", e.Frame, e.After)
}

// sender is the state of the sending goroutine.
type sender struct {
	r      *run
	pacer  *frame.Pacer  // nil when unpaced
	replay *replayBuffer // frames to send again to a new session; nil without reconnection
	spare  []*frame.Frame

	// A service that takes chunks of several frames (transport.Audio's
	// ChunkFrames) gets chunk frames at a time, in chunks aligned on
	// multiples of unit counted from the stream's first frame: only the
	// last chunk, and the first of a replay that starts between two
	// boundaries, are shorter. The pacer and the cadence then count chunks.
	unit  int64
	chunk []byte // the chunk being gathered; nil when unit is 1
	held  *frame.Frame

	// Speech as the client detects it, for a service that sends no
	// segment ends (transport.Audio's NoSegmentEnds), in the frames
	// taken from the queue: utterances begins with a loud frame after at
	// least gapMin of quiet (or the first), and lastLoud is the stream
	// index of the last loud frame, -1 for none.
	utterances int64
	lastLoud   int64
	quietRun   int64 // quiet frames since the last loud one
	loudEnergy int64 // the Energy of a loud frame; 0: no detection
	need       int64 // gapMin, in frames

	live   int64 // frames taken from the queue, filler included
	cursor int64 // next frame to write; below live while replaying
	high   int64 // frames of the stream written at least once
	eof    bool  // the queue is closed

	cadence frame.CadenceRecorder // send times of the current session's paced frames
	past    frame.CadenceRecorder // those of the sessions before, merged
	first   time.Time             // when the first frame was sent
	tick    time.Time             // last progress report

	// The crew that sends the stream's frames in its steady state (see
	// crew); nil: never (unpaced, a sink, a test's clock).
	crew   *crew
	seat   seat
	noRide bool         // the sessions cannot write without waiting
	rideAt int64        // the crew refused the stream: it asks again from this frame on
	rider  func() error // hands the stream to the crew; nil: no crew

	failures   int   // reconnections since the stream last made progress
	progressAt int64 // the furthest progress confirmed at any reconnection

	// Keep-alive: when the queue stays empty for keepAlive (the dialer's
	// transport.Audio.KeepAlive; zero for none), the sender fills the
	// pause with silence at cadence until the input gives audio again.
	keepAlive time.Duration
	idle      *time.Timer  // reused for each wait on an empty queue; nil without keep-alive
	filling   bool         // the input paused: the sender is sending silence
	silence   *frame.Frame // the filler, never written to
	fillerRun int64        // filler frames taken in a row
	settled   int64        // filler frames after which, with no speech open or pending, the service is done with what came before
}

func newSender(r *run) *sender {
	s := &sender{r: r, spare: make([]*frame.Frame, 0, max(1, min(16, r.o.ReadAhead/4))), keepAlive: r.keepAlive, unit: 1, lastLoud: -1}
	if r.unit > 1 {
		s.unit = int64(r.unit)
		s.chunk = make([]byte, 0, r.unit*frame.Size)
	}
	if !r.o.Unpaced {
		s.pacer = newPacer(s.rate())
	}
	if s.keepAlive > 0 {
		s.idle = time.NewTimer(time.Hour)
		s.idle.Stop()
		s.silence = new(frame.Frame)
		s.settled = r.o.Rate.FramesIn(r.o.TailSilence + time.Second)
	}
	s.cadence.Reset(s.rate())
	s.past.Reset(s.rate())
	return s
}

// rate returns the rate of the pacer and the cadence: the stream's, or for
// chunks of several frames the rate at which one frame period of it lasts
// as long as a chunk, so that the pacer's frame k is chunk k, due exactly
// at the start of the chunk's audio (Stream checks that the rate divides).
func (s *sender) rate() frame.Rate { return s.r.o.Rate / frame.Rate(s.unit) }

// sendTo paces every frame to dst and closes it.
func (r *run) sendTo(ctx context.Context, dst Sink) error {
	s := newSender(r)
	defer s.record()
	defer s.giveBack()
	err := s.sendAll(ctx, nil, func(p []byte, _ int64, _ time.Time) error {
		if err := dst.WriteFrame((*frame.Frame)(p)); err != nil {
			return fmt.Errorf("writing frame %d: %w", s.cursor, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.recordCadence()
	r.closed = true
	return dst.Close()
}

// stream paces every frame to sessions of d, the first being first;
// replaces a lost session and replays; drains and closes the last one.
func (r *run) stream(ctx context.Context, d transport.Dialer, first transport.Session) error {
	s := newSender(r)
	defer s.record()
	defer s.giveBack()
	// Speech detection: for the timestamps, and for a service without
	// segment ends, for the replay and the drain.
	s.loudEnergy = frame.EnergyAt(quietDBFS)
	s.need = r.o.Rate.FramesIn(gapMin)
	r.place = placer{m: &r.speech, need: s.need, hang: r.o.Rate.FramesIn(segmentHangover), paced: !r.o.Unpaced, single: r.noEnds || r.o.Unpaced}
	r.speech.window = r.o.Rate.FramesIn(max(forgetAfter, r.o.Replay))
	if r.o.Reconnects > 0 {
		r.place.keep = r.o.Rate.FramesIn(r.o.Replay) + 1
		s.replay = newReplayBuffer(r.o.Rate, r.o.Replay, &r.frames)
		s.replay.byTranscript = r.noEnds
		defer s.replay.Free()
	}
	if s.pacer != nil && s.unit == 1 && pacerClock() == nil {
		s.crew = pickCrew()
	}
	sess := r.start(ctx, first, 1, 0)
	defer func() {
		if sess != nil {
			sess.end()
		}
	}()
	for {
		w := newWatchdog(sess, r.o.StallTimeout)
		if s.crew != nil {
			s.rider = func() error { return s.ride(ctx, sess, w) }
		}
		err := s.sendAll(ctx, sess.gone, func(p []byte, n int64, now time.Time) error { return s.write(sess, w, p, n, now) })
		s.rider = nil
		w.stop()
		if err == nil {
			s.recordCadence()
			err = r.drain(ctx, sess, s)
		}
		if err == nil {
			break
		}
		if sess, err = s.recover(ctx, d, sess, err); err != nil {
			return err
		}
	}
	s.recordCadence()
	var closeErr error
	if sess.tally.get().ended == nil {
		closeErr = sess.Close() // else the service ended it normally: the drain saw to that
	}
	pending := sess.tally.get().pending
	sess.end()
	sess = nil
	r.closed = true
	if closeErr != nil {
		// Every transcript has come; a botched closing handshake loses
		// nothing.
		r.warn(fmt.Errorf("closing the session: %w", closeErr))
	}
	if pending > 0 {
		r.warn(fmt.Errorf("%d transcript(s) the server started after the drain were cut off by the close", pending))
	}
	if r.o.OnProgress != nil {
		r.o.OnProgress(s.high, r.transcripts.Load())
	}
	return nil
}

// sendAll writes chunks with write (one frame each unless s.unit says
// otherwise; n is the frames in p) until the queue is closed and nothing is
// left to replay. A close of gone (the session ended) while it waits for
// the next frame ends it with a *transport.ClosedError, so that a lost
// session is replaced at once, not when the input next gives audio.
func (s *sender) sendAll(ctx context.Context, gone <-chan struct{}, write func(p []byte, n int64, now time.Time) error) error {
	r := s.r
	for {
		p, n, err := s.gather(ctx, gone)
		if err != nil || n == 0 {
			return err
		}
		if s.pacer != nil {
			if _, err := s.pacer.Wait(ctx); err != nil {
				return err
			}
		}
		now := time.Now()
		s.mark(now)
		err = write(p, n, now)
		if s.held != nil {
			s.release(s.held)
			s.held = nil
		}
		if err != nil {
			return err
		}
		s.cursor += n
		s.high = max(s.high, s.cursor)
		if r.o.OnProgress != nil && time.Since(s.tick) >= 500*time.Millisecond {
			s.tick = time.Now()
			r.o.OnProgress(s.high, r.transcripts.Load())
		}
		if s.rider != nil {
			if err := s.rider(); err != nil {
				return err
			}
		}
	}
}

// gather returns the next chunk to write from s.cursor on and the frames in
// it, 0 when there is nothing left. A chunk of one frame is the frame
// itself, from the replay buffer or the queue (then held, to be released
// after the write); a longer one is copied into s.chunk. Frames taken from
// the queue are pushed to the replay buffer and counted in s.live at once,
// so a session lost while a chunk is gathered replays them.
func (s *sender) gather(ctx context.Context, gone <-chan struct{}) ([]byte, int64, error) {
	p := s.chunk[:0]
	var n int64
	for {
		var f, copied *frame.Frame
		if i := s.cursor + n; i < s.live {
			f = s.replay.Frame(i)
		} else {
			if s.eof {
				return p, n, nil
			}
			buf, err := s.next(ctx, gone)
			if err != nil {
				return nil, 0, err
			}
			if buf == nil {
				s.eof = true
				return p, n, nil
			}
			f, copied = s.take(buf)
		}
		n++
		if s.unit == 1 {
			return f[:], 1, nil
		}
		p = append(p, f[:]...)
		if copied != nil {
			s.release(copied)
		}
		if (s.cursor+n)%s.unit == 0 {
			return p, n, nil
		}
	}
}

// take counts buf, the next frame from the queue, as frame s.live of the
// stream, and returns the frame to write, and the buffer to release once
// it is copied into a chunk (nil unless s.unit is more than 1): it
// detects speech in it and pushes it to the replay buffer, or holds it to
// be released after the write.
func (s *sender) take(buf *frame.Frame) (f, copied *frame.Frame) {
	if buf == s.silence {
		s.fillerRun++
	} else {
		if s.fillerRun > 0 && s.loudEnergy > 0 {
			s.r.speech.filled(s.live-s.fillerRun, s.fillerRun)
		}
		s.fillerRun = 0
	}
	var energy int64
	if s.loudEnergy > 0 || s.replay != nil {
		energy = buf.Energy()
	}
	if s.loudEnergy > 0 {
		s.detect(energy)
	}
	f = buf
	if s.replay != nil {
		if buf == s.silence {
			f = s.replay.Take() // the filler is never written to, nor given back
			clear(f[:])
		} else {
			s.release(s.replay.Take()) // the buffer stays in the replay buffer: the queue gets another
		}
		s.replay.Push(f, energy)
	} else if s.unit == 1 {
		s.held = buf // released after the write
	} else {
		copied = buf // released once copied
	}
	s.live++
	return f, copied
}

// owed returns the transcripts sess still owes, for a service without
// segment ends, once every frame has been written: the utterances in what
// it was sent that no transcript has answered (with a replay buffer, those
// after the last confirmed one; without, every utterance of the stream,
// the only session), and at least one when speech was sent and no
// transcript came after its last loud frame (a service that split an
// utterance in two). It runs under the session's tally lock, where the listener counts.
func (s *sender) owed(sess *session) int64 {
	var owed int64
	if s.replay != nil {
		n := sess.transcribed.Load()
		if s.pacer != nil {
			s.replay.ConfirmTranscripts(n, sess.position())
		}
		owed = s.replay.Utterances(sess.position()) - s.replay.Unconsumed(n)
	} else {
		owed = s.utterances - s.r.finals.Load()
	}
	if s.lastLoud >= 0 && owed <= 0 && s.r.lastFinal.Load() <= s.lastLoud {
		owed = 1 // (a service that ends utterances sooner than gapMin answers after the last loud frame all the same)
	}
	return max(0, owed)
}

// detect counts frame s.live, of Energy energy, in the client's detection
// of speech, and records where utterances begin and end for the
// timestamps.
func (s *sender) detect(energy int64) {
	if energy < s.loudEnergy {
		if s.quietRun++; s.quietRun == s.need && s.lastLoud >= 0 {
			s.r.speech.end(s.lastLoud + 1)
		}
		return
	}
	if s.lastLoud < 0 || s.quietRun >= s.need {
		s.utterances++
		s.r.speech.begin(s.live)
	}
	s.lastLoud, s.quietRun = s.live, 0
	s.r.speech.loud.Store(s.live + 1)
}

// next returns the next frame from the queue, or nil at its end. With a
// keep-alive, once the queue has stayed empty that long it returns the
// filler instead (the pacer postponed, so the silence leaves at cadence
// from now), and keeps returning it while the queue is empty when the next
// frame is asked for.
func (s *sender) next(ctx context.Context, gone <-chan struct{}) (*frame.Frame, error) {
	select {
	case buf, ok := <-s.r.full:
		s.filling = false
		if !ok {
			return nil, nil
		}
		return buf, nil
	default:
	}
	if s.filling && s.pacer != nil {
		return s.fill(), nil // the pacer spaces the filler
	}
	// Nothing to send: give the held buffers back before waiting, so the
	// reader can read as far ahead as ReadAhead allows while the sender
	// waits for it.
	s.flush()
	var idle <-chan time.Time
	if s.idle != nil {
		wait := s.keepAlive
		if s.filling {
			wait = s.r.o.Rate.FrameDuration() // unpaced: the filler at cadence all the same
		}
		s.idle.Reset(wait)
		defer s.idle.Stop()
		idle = s.idle.C
	}
	select {
	case buf, ok := <-s.r.full:
		s.filling = false
		if !ok {
			return nil, nil
		}
		return buf, nil
	case <-idle:
		if !s.filling {
			s.filling = true
			if s.pacer != nil {
				s.pacer.Postpone(time.Now())
				s.past.Merge(&s.cadence) // the pause is no interval of the cadence
				s.cadence.Reset(s.rate())
			}
		}
		return s.fill(), nil
	case <-gone:
		return nil, &transport.ClosedError{Code: -1, Err: errors.New("the session ended while the input gave no audio")}
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// fill counts and returns the filler frame.
func (s *sender) fill() *frame.Frame {
	s.r.stats.Filler++
	return s.silence
}

// mark records the send time of the next frame for the cadence.
func (s *sender) mark(now time.Time) {
	if s.first.IsZero() {
		s.first, s.tick = now, now
	}
	if s.pacer != nil {
		s.cadence.Add(now)
	}
}

// release gives a buffer back to the reader, in batches: the reader,
// blocked on a full queue, then wakes once per batch instead of once per
// frame (with a thousand streams, a wake-up per frame cost a few percent of
// the CPU).
func (s *sender) release(buf *frame.Frame) {
	if buf == s.silence {
		return // the filler is no buffer of the reader's
	}
	s.spare = append(s.spare, buf)
	if len(s.spare) == cap(s.spare) {
		s.flush()
	}
}

// giveBack gives the queue every buffer the sender holds, as it ends: the
// run's slabs then all go back to the pool.
func (s *sender) giveBack() {
	if s.held != nil {
		s.release(s.held)
		s.held = nil
	}
	s.flush()
}

// flush gives every held buffer back. It never blocks: the free queue has
// room for every buffer.
func (s *sender) flush() {
	for _, b := range s.spare {
		s.r.free <- b
	}
	clear(s.spare)
	s.spare = s.spare[:0]
}

// write sends one chunk of n frames to sess, failing it after
// StallTimeout, and passes the session's confirmations on to the replay
// buffer.
func (s *sender) write(sess *session, w *watchdog, p []byte, n int64, now time.Time) error {
	w.arm(now)
	err := sess.WriteAudio(p)
	stalled := w.disarm()
	if stalled {
		return &StallError{Frame: s.cursor, After: s.r.o.StallTimeout}
	}
	if err != nil {
		return fmt.Errorf("writing frame %d: %w", s.cursor, err)
	}
	s.wrote(sess, n)
	return nil
}

// wrote counts n frames written to sess and passes the session's
// confirmations on to the replay buffer.
func (s *sender) wrote(sess *session, n int64) {
	sess.written.Add(n)
	if s.replay != nil {
		if c := sess.confirmed.Load(); c >= 0 {
			s.replay.Confirm(c)
		}
		if s.r.noEnds && s.pacer != nil {
			s.replay.ConfirmTranscripts(sess.transcribed.Load(), sess.position())
		}
		if s.fillerRun >= s.settled && s.settled > 0 && s.cursor+n == s.live && s.pacer != nil && !s.r.noEnds {
			// (A service without segment ends never says speech is open
			// or pending: its transcripts confirm, by Confirm.)
			// A long pause filled with silence: once the service has
			// ended and transcribed all the speech before it, a replay
			// need not send the pause again.
			if st := sess.tally.get(); st.pending == 0 && !st.open {
				s.replay.ConfirmAll(sess.position())
			}
		}
	}
}

// watchdog ends a session whose write does not return within a limit. A
// write costs it two uncontended locks, not a timer reset: one timer per
// session looks at the write in progress, each time one could have run
// for the limit. Its callback has always finished by the time disarm
// returns, so it never touches a session the sender has moved on from.
type watchdog struct {
	t     *time.Timer
	sess  *session
	limit time.Duration

	mu      sync.Mutex
	since   time.Time // when the write in progress began; zero between writes
	fired   bool      // the callback is ending the session
	stopped bool
	dropped chan struct{} // closed once the callback has ended the session
}

func newWatchdog(sess *session, limit time.Duration) *watchdog {
	w := &watchdog{sess: sess, limit: limit, dropped: make(chan struct{})}
	w.mu.Lock() // check reads w.t under it, however short the limit
	w.t = time.AfterFunc(limit, w.check)
	w.mu.Unlock()
	return w
}

var errStalled = errors.New("pipeline: the write stalled")

// check ends the session if the write in progress began at least the limit
// ago, and otherwise looks again when it could have.
func (w *watchdog) check() {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	next := w.limit // a write that begins now
	if !w.since.IsZero() {
		next = w.limit - time.Since(w.since)
	}
	if next > 0 {
		w.t.Reset(next)
		w.mu.Unlock()
		return
	}
	w.fired = true
	w.mu.Unlock()
	w.sess.drop(errStalled) // unblocks the write
	close(w.dropped)
}

// arm marks the start of a write, at now.
func (w *watchdog) arm(now time.Time) {
	w.mu.Lock()
	w.since = now
	w.mu.Unlock()
}

// disarm marks the end of the write and reports whether the watchdog ended
// the session meanwhile.
func (w *watchdog) disarm() bool {
	w.mu.Lock()
	w.since = time.Time{}
	fired := w.fired
	w.mu.Unlock()
	if fired {
		<-w.dropped
	}
	return fired
}

// stop ends the watch, once the session is done with.
func (w *watchdog) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	w.t.Stop()
}

// MissingTranscriptsError reports that transcripts were still outstanding
// when the drain gave up waiting.
type MissingTranscriptsError struct {
	Missing int
	Waited  time.Duration
}

func (e *MissingTranscriptsError) Error() string {
	return fmt.Sprintf("pipeline: %d transcript(s) still missing after waiting %v for the server; raise the limit (-drain-timeout) if the service is slow", e.Missing, e.Waited.Round(time.Millisecond))
}

// drain waits until the service has read every frame sent and transcribed
// every segment it ended: it asks the service to finish (awaiting the
// answer to a flush when speech was open; for a service without segment
// ends, awaiting a transcript for each of the utterances the client
// detected in what it sent that none has answered yet), pings it (a pong comes after
// the server has read all the frames before it), then waits until nothing
// is outstanding and neither a segment end nor a final transcript has come
// for the settle time, for a server whose detector lags its reading. A
// session the service ends normally with nothing outstanding counts as
// drained when it has settled; a session lost otherwise returns its error,
// for a replay.
func (r *run) drain(ctx context.Context, sess *session, s *sender) error {
	start := time.Now()
	limit := time.NewTimer(r.o.DrainTimeout)
	defer limit.Stop()
	utterances, lastLoud := s.utterances, s.lastLoud
	if r.noEnds {
		// Each utterance sent is answered by a transcript, in order.
		sess.flushAt.Store(sess.position())
		sess.tally.update(func(t *tallyState) { // the listener counts transcripts under the same lock
			t.owed = int(s.owed(sess))
			t.pending += t.owed
		})
	}
	if r.flush {
		// Speech the service has not ended will be finalised by the
		// flush: await its transcript.
		sess.flushAt.Store(sess.position())
		sess.tally.update(func(t *tallyState) {
			if t.open {
				t.flushWait = true
				t.pending++
			}
		})
	}
	fctx, cancel := context.WithTimeout(ctx, r.o.DrainTimeout)
	err := sess.Finish(fctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return fmt.Errorf("asking the service to finish: %w", err) // a *transport.ClosedError, for a replay, if the session ended
	}
	pctx, cancel := context.WithTimeout(ctx, r.o.DrainTimeout)
	err = sess.Ping(pctx)
	cancel()
	pong := time.Now()
	switch {
	case ctx.Err() != nil:
		return context.Cause(ctx)
	case err != nil && errors.Is(err, context.DeadlineExceeded):
		// A dead peer, as for the pinger: replace the session, or report it.
		sess.drop(&transport.ClosedError{Code: -1, Err: fmt.Errorf("pipeline: the server did not answer a ping within %v after the last frame: %w", r.o.DrainTimeout, err)})
		return sess.end()
	case err != nil:
		// The connection broke: the listener says why.
		return sess.end()
	}
	wait := time.NewTimer(settle)
	defer wait.Stop()
	for {
		st := sess.tally.get()
		quiet := pong
		if st.lastSeen.After(quiet) {
			quiet = st.lastSeen
		}
		settled := time.Since(quiet) >= settle
		var ce *transport.ClosedError
		switch {
		case st.ended != nil && st.pending == 0 && errors.As(st.ended, &ce) && ce.Normal():
			if settled || r.o.Reconnects == 0 {
				if !settled {
					r.warn(errors.New("the server closed the session before the drain settled; if it had not ended the last segment yet, that segment is missing"))
				}
				return nil // the server closed normally after everything was delivered
			}
			return sess.end() // replay the unsettled end to a new session
		case st.ended != nil:
			return sess.end()
		case st.pending == 0 && settled:
			return nil
		case st.pending == 0:
			wait.Reset(settle - time.Since(quiet))
		}
		select {
		case <-sess.tally.changed:
		case <-wait.C:
		case <-limit.C:
			var flushOnly bool
			var owed int
			sess.tally.update(func(t *tallyState) {
				if flushOnly = t.flushWait && t.pending == 1; flushOnly {
					t.flushWait, t.pending = false, 0
				}
				if t.owed > 0 && t.pending == t.owed {
					owed, t.owed, t.pending = t.owed, 0, 0
				}
			})
			switch st = sess.tally.get(); {
			case owed > 0:
				// A service without segment ends never says a
				// transcript is owed: the detection here may have
				// taken noise for speech, or the service merged two
				// utterances into one transcript.
				r.warn(fmt.Errorf("%d transcript(s) did not come within %v (-drain-timeout) for the %d utterance(s) detected in what was sent (the last ending at %v of the stream): the service may have found nothing to transcribe, merged utterances, or be slower than the limit",
					owed, time.Since(start).Round(time.Millisecond), utterances, r.o.Rate.FrameAt(lastLoud+1).Round(time.Millisecond)))
				return nil
			case flushOnly:
				// The service may have found nothing to transcribe in the
				// speech it had not ended; say so rather than fail.
				r.warn(fmt.Errorf("the service did not answer the flush within %v (-drain-timeout): the speech it had not ended when the input ended may not be transcribed", time.Since(start).Round(time.Millisecond)))
				return nil
			case st.pending == 0:
				return nil
			}
			return &MissingTranscriptsError{Missing: st.pending, Waited: time.Since(start)}
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// recover ends the lost session sess and opens a new one, setting up the
// replay, or returns the error that ends the run.
func (s *sender) recover(ctx context.Context, d transport.Dialer, sess *session, cause error) (*session, error) {
	r := s.r
	ended := sess.end() // the listener's account, or the pipeline's reason
	if ctx.Err() != nil {
		return sess, context.Cause(ctx)
	}
	var ce *transport.ClosedError
	if !errors.As(cause, &ce) {
		return sess, cause // not a lost session: a stall, transcripts missing…
	}
	if errors.As(ended, &ce) {
		cause = ended // the listener's account of the end says more than a failed write
	}
	if s.replay == nil {
		return sess, cause
	}
	// Progress is what the server confirmed: a transcript, or a pong after
	// frames. Frames written into socket buffers prove nothing.
	if progress := max(sess.confirmed.Load(), sess.ponged.Load()); progress > s.progressAt {
		s.failures = 0
		s.progressAt = progress // a replay confirms old frames again: only new ones count
	}
	next, err := s.redial(ctx, d, cause)
	if err != nil {
		return sess, err
	}
	if c := sess.confirmed.Load(); c >= 0 {
		s.replay.Confirm(c) // a confirmation that came after the last write
	}
	if f := sess.finished.Load(); f >= 0 {
		s.replay.ConfirmAll(f) // the flush was answered: nothing before it is needed again
	}
	if r.noEnds && s.pacer != nil {
		s.replay.ConfirmTranscripts(sess.transcribed.Load(), sess.position()) // transcripts that came after the last write
	}
	start, lost := s.replay.Resume(s.cursor)
	if lost > 0 {
		r.stats.GivenUp += lost
		r.warn(fmt.Errorf("AUDIO LOST: %v of audio (frames %d to %d) had not been transcribed when the session was lost and no longer fits the %v replay buffer; raise it to keep it",
			r.o.Rate.FrameAt(lost), start-lost, start-1, r.o.Replay))
	}
	s.replay.NewSession(start)
	r.stats.Reconnects++
	r.stats.Sessions++
	r.stats.Replayed += max(0, s.high-start)
	r.warn(fmt.Errorf("session lost (%v); reconnected, replaying %v of audio from frame %d", cause, r.o.Rate.FrameAt(s.live-start).Round(time.Millisecond), start))
	s.cursor = start
	s.filling = false        // a pause goes on: wait for the keep-alive again, then postpone the schedule
	s.past.Merge(&s.cadence) // the outage is no interval of the cadence
	s.cadence.Reset(s.rate())
	if s.pacer != nil {
		s.pacer.Rebase(start/s.unit, time.Now()) // the chunk of frame start
	}
	return r.start(ctx, next, r.stats.Sessions, start), nil
}

// redial opens a new session, backing off between attempts, until one
// opens, the attempts run out, the run ends (ctx) or it is stopped.
func (s *sender) redial(ctx context.Context, d transport.Dialer, cause error) (transport.Session, error) {
	r := s.r
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(r.stopCtx, cancel)()
	ended := func() error {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return fmt.Errorf("%w while a lost session was being replaced (%v)", ErrStopped, cause)
	}
	var err error
	for {
		s.failures++
		if s.failures > r.o.Reconnects {
			if err == nil {
				err = cause
			}
			return nil, fmt.Errorf("pipeline: the session was lost and %d reconnections did not bring the stream forward: %w", r.o.Reconnects, err)
		}
		if sleep(rctx, backoff(s.failures)) != nil {
			return nil, ended()
		}
		dctx, dcancel := r.dialContext(rctx)
		var next transport.Session
		next, err = d.Dial(dctx) // a timeout's error names the limit, through dctx's cause
		dcancel()
		if err == nil {
			return next, nil
		}
		if rctx.Err() != nil {
			return nil, ended()
		}
		var he *transport.HandshakeError
		if errors.As(err, &he) && he.Final() {
			return nil, err // retrying a refused key does not help
		}
		r.warn(fmt.Errorf("reconnection attempt %d failed: %v", s.failures, err))
	}
}

// Where a replay starts (see replayBuffer). The server's segment ended at
// least its 500 ms of silence (Vachana's detector) before the stream
// position at which its end (SegmentEnded) arrived (mark), and the next
// speech may have begun since. Looking back from mark
// over gapWindow, the latest stretch of at least gapMin of quiet frames
// (RMS below quietDBFS) is the silence after the finished segment; the
// replay starts preRoll before its end, or at its start if it is shorter.
// This holds whatever the delay of the segment end, up to gapWindow;
// without such a stretch (noisy audio), the replay starts replayMargin
// before mark: the service ends a segment after 500 ms of silence, so going
// back 450 ms never reaches into the finished speech, and covers a
// segment end up to 450 ms late.
const (
	gapWindow    = 5 * time.Second
	gapMin       = 450 * time.Millisecond
	preRoll      = 250 * time.Millisecond
	quietDBFS    = -40
	replayMargin = 450 * time.Millisecond
)

// pacerClock returns the clock of the pacers Run and Stream make: nil, the
// precise one, except in tests on a fake clock.
var pacerClock = func() frame.Clock { return nil }

func newPacer(r frame.Rate) *frame.Pacer { return frame.NewPacerClock(r, pacerClock()) }

// backoff returns the wait before reconnection attempt n (1-based):
// exponential from 250 ms, at most 5 s, with full jitter in its upper half.
func backoff(n int) time.Duration {
	d := min(5*time.Second, 250*time.Millisecond<<min(n-1, 5))
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// recordCadence summarises the send times of the paced frames.
func (s *sender) recordCadence() {
	if s.pacer == nil {
		return
	}
	all := s.past
	all.Merge(&s.cadence)
	s.r.stats.Cadence = all.Cadence()
	s.r.stats.Pace = s.pacer.Stats()
}

// record copies the sender's counts into the stats.
func (s *sender) record() {
	s.r.stats.Frames = s.high
	if !s.first.IsZero() {
		s.r.stats.Elapsed = time.Since(s.first)
	}
}

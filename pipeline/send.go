package pipeline

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
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
	stream Stream   // nil for plain sinks
	redial Redialer // nil when the sink cannot reconnect or Reconnects < 0

	ring   []frame.Frame  // the last frames sent, for replay; nil without redial
	spare  []*frame.Frame // buffers to give back to the reader; see release
	live   int64          // frames taken from the queue
	cursor int64          // next frame to write; below live while replaying
	high   int64          // frames of the stream written at least once
	writes int64          // writes, replays included
	eof    bool           // the queue is closed

	pacer  *frame.Pacer // live frames; nil when unpaced
	replay *frame.Pacer // replayed frames, from each reconnection
	hist   histogram
	first  time.Time
	prev   time.Time
	tick   time.Time

	stall   *time.Timer
	stalled atomic.Bool

	failures   int   // reconnections since the stream last made progress
	progressAt int64 // the furthest progress confirmed at any reconnection
}

// send paces frames to the sink, replays them after a reconnection, then
// drains and closes the sink.
func (r *run) send(ctx context.Context, stream Stream) error {
	defer close(r.done)
	s := &sender{r: r, stream: stream, spare: make([]*frame.Frame, 0, max(1, min(16, r.o.ReadAhead/4)))}
	if !r.o.Unpaced {
		s.pacer = newPacer(r.o.Rate)
	}
	if stream != nil {
		s.stall = time.AfterFunc(time.Hour, func() {
			s.stalled.Store(true)
			stream.CloseNow()
		})
		s.stall.Stop()
		defer s.stall.Stop()
		if rd, ok := stream.(Redialer); ok && r.o.Reconnects > 0 {
			s.redial = rd
			s.ring = make([]frame.Frame, r.o.Rate.FramesIn(r.o.Replay)+1)
		}
	}
	defer s.record()
	for {
		err := s.sendAll(ctx)
		if err == nil && stream != nil {
			s.recordCadence()
			err = stream.Drain(ctx, r.o.DrainTimeout)
			var ce *transport.ClosedError
			if o, ok := stream.(interface{ Outstanding() int }); ok && err != nil && s.redial == nil &&
				errors.As(err, &ce) && ce.Normal() && o.Outstanding() == 0 {
				// The server ended the session normally with nothing
				// outstanding, before the drain settled. Without a new
				// session to replay to, accept it, but say so.
				if r.o.OnWarning != nil {
					r.o.OnWarning(errors.New("the server closed the session before the drain settled; if it had not ended the last segment yet, that segment is missing"))
				}
				r.closed = true
				return nil
			}
		}
		if err == nil {
			break
		}
		if err := s.recover(ctx, err); err != nil {
			return err
		}
	}
	s.recordCadence()
	err := r.dst.Close()
	r.closed = true
	if err != nil && stream != nil {
		// Every transcript has come; a botched closing handshake loses
		// nothing.
		if r.o.OnWarning != nil {
			r.o.OnWarning(fmt.Errorf("closing the session: %w", err))
		}
		err = nil
	}
	if o, ok := stream.(interface{ Outstanding() int }); ok && o.Outstanding() > 0 && r.o.OnWarning != nil {
		r.o.OnWarning(fmt.Errorf("%d transcript(s) the server started after the drain were cut off by the close", o.Outstanding()))
	}
	if r.o.OnProgress != nil {
		r.o.OnProgress(s.high, r.transcripts.Load())
	}
	return err
}

// sendAll writes frames until the queue is closed and nothing is left to
// replay.
func (s *sender) sendAll(ctx context.Context) error {
	r := s.r
	for {
		var f, buf *frame.Frame
		replaying := s.cursor < s.live
		if replaying {
			f = &s.ring[s.cursor%int64(len(s.ring))]
			if s.replay != nil {
				if _, err := s.replay.Wait(ctx); err != nil {
					return err
				}
			}
		} else {
			if s.eof {
				return nil
			}
			var ok bool
			select {
			case buf, ok = <-r.full:
			default:
				// Nothing to send: give the held buffers back before
				// waiting, so the reader can read as far ahead as
				// ReadAhead allows while the sender waits for it.
				s.flush()
				select {
				case buf, ok = <-r.full:
				case <-ctx.Done():
					return context.Cause(ctx)
				}
			}
			if !ok {
				s.eof = true
				return nil
			}
			f = buf
			if s.ring != nil {
				slot := &s.ring[s.live%int64(len(s.ring))]
				*slot = *buf
				s.release(buf)
				f, buf = slot, nil
			}
			s.live++
			if s.pacer != nil {
				if _, err := s.pacer.Wait(ctx); err != nil {
					return err
				}
			}
			now := time.Now()
			if s.first.IsZero() {
				s.first, s.tick = now, now
			} else if s.pacer != nil {
				s.hist.add(now.Sub(s.prev) - r.o.Rate.FrameDuration())
			}
			s.prev = now
		}
		err := s.write(ctx, f)
		if buf != nil {
			s.release(buf)
		}
		if err != nil {
			return err
		}
		if replaying && s.pacer != nil {
			s.pacer.After(time.Now()) // the live pacer keeps its gap from replayed frames too
		}
		s.cursor++
		s.writes++
		s.high = max(s.high, s.cursor)
		r.pos.Store(s.cursor)
		if r.o.OnProgress != nil && time.Since(s.tick) >= 500*time.Millisecond {
			s.tick = time.Now()
			r.o.OnProgress(s.high, r.transcripts.Load())
		}
	}
}

// release gives a buffer back to the reader, in batches: the reader,
// blocked on a full queue, then wakes once per batch instead of once per
// frame (with a thousand streams, a wake-up per frame cost a few percent of
// the CPU).
func (s *sender) release(buf *frame.Frame) {
	s.spare = append(s.spare, buf)
	if len(s.spare) == cap(s.spare) {
		s.flush()
	}
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

// write sends one frame, failing it after StallTimeout.
func (s *sender) write(ctx context.Context, f *frame.Frame) error {
	if s.stall != nil {
		s.stall.Reset(s.r.o.StallTimeout)
	}
	err := s.r.dst.WriteFrame(f)
	if s.stall != nil {
		s.stall.Stop()
	}
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return context.Cause(ctx)
	case s.stalled.Load():
		return &StallError{Frame: s.cursor, After: s.r.o.StallTimeout}
	}
	return fmt.Errorf("writing frame %d: %w", s.cursor, err)
}

// recover replaces a lost session and sets up the replay, or returns the
// error that ends the run.
func (s *sender) recover(ctx context.Context, cause error) error {
	r := s.r
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	var ce *transport.ClosedError
	if !errors.As(cause, &ce) || s.stalled.Load() {
		return cause
	}
	if s.redial == nil {
		// The reader's account of the end is better than the writer's
		// "use of closed connection": wait for it, briefly.
		select {
		case lerr := <-r.lost:
			if errors.As(lerr, &ce) {
				return lerr
			}
		case <-time.After(200 * time.Millisecond):
		}
		return cause
	}
	// Progress is what the server confirmed: a transcript, or a pong after
	// frames. Frames written into socket buffers prove nothing.
	r.ackMu.Lock()
	progress := max(r.ackMark, r.confirmed.Load())
	r.ackMu.Unlock()
	if progress > s.progressAt {
		s.failures = 0
	}
	s.progressAt = max(s.progressAt, progress) // a replay confirms old frames again: only new ones count
	s.stream.CloseNow()
	select { // the events goroutine has parked; its error says most
	case lerr := <-r.lost:
		if errors.As(lerr, &ce) {
			cause = lerr
		}
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	r.ackMu.Lock()
	if r.pingErr != nil {
		cause = &transport.ClosedError{Code: -1, Err: r.pingErr}
		r.pingErr = nil
	}
	r.ackMu.Unlock()
	warn := func(format string, args ...any) {
		if r.o.OnWarning != nil {
			r.o.OnWarning(fmt.Errorf(format, args...))
		}
	}
	var err error
	for {
		s.failures++
		if s.failures > r.o.Reconnects {
			if err == nil {
				err = cause
			}
			return fmt.Errorf("pipeline: the session was lost and %d reconnections did not bring the stream forward: %w", r.o.Reconnects, err)
		}
		stopped := func() error {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return fmt.Errorf("%w while a lost session was being replaced (%v)", ErrStopped, cause)
		}
		if sleep(r.stopCtx, backoff(s.failures)) != nil {
			return stopped()
		}
		dctx, cancel := context.WithTimeout(r.stopCtx, r.o.ConnectTimeout)
		err = s.redial.Redial(dctx)
		cancel()
		if err == nil {
			break
		}
		if r.stopCtx.Err() != nil {
			return stopped()
		}
		var he *transport.HandshakeError
		if errors.As(err, &he) && (he.StatusCode == http.StatusUnauthorized || he.StatusCode == http.StatusForbidden) {
			return err // retrying a refused key does not help
		}
		warn("reconnection attempt %d failed: %v", s.failures, err)
	}

	r.ackMu.Lock()
	start, mark, floor := r.ack, r.ackMark, r.sessionStart
	r.ackMu.Unlock()
	if mark > floor {
		if g, ok := s.silentGap(max(floor, mark-r.o.Rate.FramesIn(gapWindow)), mark); ok {
			start = g
		}
	}
	if oldest := max(0, s.live-int64(len(s.ring))); start < oldest {
		gone := oldest - start
		r.stats.GivenUp += gone
		warn("AUDIO LOST: %v of audio (frames %d to %d) had not been transcribed when the session was lost and no longer fits the %v replay buffer; raise it to keep it",
			r.o.Rate.FrameAt(gone), start, oldest-1, r.o.Replay)
		start = oldest
	}
	start = min(start, s.cursor)
	r.stats.Reconnects++
	r.stats.Replayed += max(0, s.high-start)
	warn("session lost (%v); reconnected, replaying %v of audio from frame %d", cause, r.o.Rate.FrameAt(s.live-start).Round(time.Millisecond), start)
	s.cursor = start
	r.pos.Store(start)
	if !r.o.Unpaced {
		s.replay = newPacer(r.o.Rate) // the replay keeps the cadence from now
	}
	select {
	case r.resume <- start:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	return nil
}

// Where a replay starts. The server's segment ended at least its 500 ms of
// silence before the processing event's position (mark), and the next speech
// may have begun since. Looking back from mark over gapWindow, the latest
// stretch of at least gapMin of quiet frames (RMS below quietDBFS) is the
// silence after the finished segment; the replay starts preRoll before its
// end, or at its start if it is shorter. This holds whatever the delay of
// the processing event, up to gapWindow; without such a stretch (noisy
// audio), the replay starts replayMargin before mark.
const (
	gapWindow = 5 * time.Second
	gapMin    = 450 * time.Millisecond
	preRoll   = 250 * time.Millisecond
	quietDBFS = -40
)

// quietSumSquares is the sum of squared samples of a frame at quietDBFS.
var quietSumSquares = func() int64 {
	a := 32768 * math.Pow(10, quietDBFS/20.0)
	return int64(a * a * frame.Samples)
}()

func quiet(f *frame.Frame) bool {
	var sum int64
	for i := 0; i < frame.Size; i += 2 {
		v := int64(int16(binary.LittleEndian.Uint16(f[i:])))
		sum += v * v
	}
	return sum < quietSumSquares
}

// silentGap finds the replay start in frames [lo, hi) of the ring, as
// described at gapWindow.
func (s *sender) silentGap(lo, hi int64) (int64, bool) {
	lo = max(lo, s.live-int64(len(s.ring)))
	need := s.r.o.Rate.FramesIn(gapMin)
	run, end := int64(0), hi // quiet frames counted back from end
	for i := hi - 1; i >= lo; i-- {
		if quiet(&s.ring[i%int64(len(s.ring))]) {
			run++
			continue
		}
		if run >= need {
			break
		}
		run, end = 0, i
	}
	if run < need {
		return 0, false
	}
	startOfRun := end - run
	return max(startOfRun, end-s.r.o.Rate.FramesIn(preRoll)), true
}

// pacerFine is the Fine of the pacers Run makes; tests on a fake clock
// set it to 0.
var pacerFine = frame.DefaultFine

func newPacer(r frame.Rate) *frame.Pacer {
	p := frame.NewPacer(r)
	p.Fine = pacerFine
	return p
}

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

// recordCadence summarises the live frames' send times.
func (s *sender) recordCadence() {
	r := s.r
	if s.pacer == nil || s.live < 2 {
		return
	}
	r.stats.Pace = s.pacer.Stats()
	r.stats.Cadence = Cadence{
		Frames: s.live,
		P50:    s.hist.quantile(0.5),
		P99:    s.hist.quantile(0.99),
		Max:    s.hist.max,
		Drift:  s.prev.Sub(s.first) - r.o.Rate.FrameAt(s.live-1),
	}
}

// record copies the sender's counts into the stats.
func (s *sender) record() {
	s.r.stats.Frames = s.high
	if !s.first.IsZero() {
		s.r.stats.Elapsed = time.Since(s.first)
	}
}

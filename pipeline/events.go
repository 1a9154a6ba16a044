package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/vachana-pipe/vachana-pipe/transport"
)

// replayMargin is how far before a finished segment's processing event a
// replay starts when no silent stretch is found before it (see gapWindow in
// send.go). The service ends a segment after 500 ms of silence, so going
// back 450 ms never reaches into the finished speech, and covers a
// processing event up to 450 ms late. The reasoning needs real-time pacing:
// an unpaced stream can be seconds ahead of the server, so for it a replay
// goes back to the start of the lost session.
const replayMargin = 450 * time.Millisecond

// segmentMark is a segment the server is transcribing.
type segmentMark struct {
	pos     int64 // frames written to the session when its processing event came
	segment int   // its number across sessions
	at      time.Time
}

// events reads the stream's events until the session ends; when the sender
// can reconnect, it hands a lost session over and goes on with the next.
func (r *run) events(ctx context.Context, stream Stream) error {
	var lastError string // the message of the session's last error event
	var (
		lat, turn summary
		session   = 1
		start     int64         // first frame of this session
		marks     []segmentMark // processing events awaiting their transcript
		next      int           // number of the next segment
		margin    = r.o.Rate.FramesIn(replayMargin)
	)
	defer func() {
		r.stats.Latency = lat.result()
		r.stats.Turnaround = turn.result()
		r.stats.Sessions = session
	}()
	for {
		ev, err := stream.ReadEvent()
		if err == io.EOF {
			return nil
		}
		var me *transport.MalformedError
		if errors.As(err, &me) {
			r.stats.Warnings++
			if r.o.OnWarning != nil {
				r.o.OnWarning(err)
			}
			continue
		}
		if err != nil {
			if lastError != "" {
				err = fmt.Errorf("%w (the server's last error event said %q)", err, lastError)
			}
			// The sender decides: replace the session, finish (a normal
			// close after everything was delivered), or fail with err.
			select { // tell the sender, unless it knows already
			case r.lost <- err:
			default:
			}
			select {
			case start = <-r.resume:
				session++
				marks = marks[:0]
				lastError = ""
				r.ackMu.Lock()
				r.ack, r.ackMark, r.sessionStart = start, start, start
				r.ackMu.Unlock()
				continue
			case <-r.done:
				return nil // the sender has given up and says why
			case <-ctx.Done():
				return nil
			}
		}
		now := time.Now()
		r.stats.Events++
		ev.Session = session
		switch ev.Type {
		case transport.Processing:
			r.stats.Processing++
			ev.Segment = next
			marks = append(marks, segmentMark{pos: r.pos.Load(), segment: next, at: now})
			next++
		case transport.Transcript:
			if !ev.IsFinal {
				r.stats.Partials++
				ev.Segment = next
				if len(marks) > 0 {
					ev.Segment = marks[0].segment
				}
				break
			}
			r.stats.Transcripts++
			r.transcripts.Add(1)
			if ev.LatencyMS > 0 {
				lat.add(time.Duration(ev.LatencyMS * float64(time.Millisecond)))
			}
			if len(marks) == 0 { // a transcript without processing
				ev.Segment = next
				next++
				break
			}
			m := marks[0]
			marks = marks[1:]
			ev.Segment = m.segment
			turn.add(now.Sub(m.at))
			// Everything before this segment's end is done with: a
			// replay need not go further back.
			if !r.o.Unpaced {
				r.ackMu.Lock()
				r.ack = max(start, m.pos-margin)
				r.ackMark = m.pos
				r.ackMu.Unlock()
			}
		case transport.Error:
			r.stats.Errors++
			lastError = ev.Message
		case transport.Connected:
			if ev.SampleRate != 0 && ev.SampleRate != int(r.o.Rate) || ev.ChunkSize != 0 && ev.ChunkSize != 512 {
				if r.o.OnWarning != nil {
					r.o.OnWarning(fmt.Errorf("the server expects %d Hz in chunks of %d samples; this stream sends %d Hz in chunks of 512", ev.SampleRate, ev.ChunkSize, int(r.o.Rate)))
				}
			}
		}
		if r.o.OnEvent != nil {
			r.inEvent.Store(true)
			r.o.OnEvent(ev)
			r.inEvent.Store(false)
		}
	}
}

// errNoPong is the cause of a ping that timed out.
var errNoPong = errors.New("pipeline: no pong")

// ping keeps the session alive and detects a dead peer: a pong that does not
// come within PingInterval ends the session (which the sender then replaces)
// or, without reconnection, fails the run.
func (r *run) ping(ctx context.Context, stream Stream) error {
	_, redial := stream.(Redialer)
	redial = redial && r.o.Reconnects > 0
	t := time.NewTicker(r.o.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return nil
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		sent := r.pos.Load()
		pctx, cancel := context.WithTimeoutCause(ctx, r.o.PingInterval, errNoPong)
		err := stream.Ping(pctx)
		cancel()
		if err == nil {
			r.confirmed.Store(sent) // the server has read every frame before the ping
		}
		if err == nil || ctx.Err() != nil || !errors.Is(context.Cause(pctx), errNoPong) || r.inEvent.Load() {
			// A ping on a session being replaced fails (the reader says
			// why); a pong unread while OnEvent blocks proves nothing.
			continue
		}
		err = fmt.Errorf("pipeline: no pong from the server within %v: the server stopped reading or the connection is dead", r.o.PingInterval)
		if !redial {
			return err
		}
		if r.o.OnWarning != nil {
			r.o.OnWarning(err)
		}
		r.ackMu.Lock()
		r.pingErr = err // the reader will only see a closed connection
		r.ackMu.Unlock()
		stream.CloseNow() // the reader sees the end; the sender reconnects
	}
}

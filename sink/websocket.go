// Package sink holds the places frames go: a Vachana v3 session
// ([WebSocket]), a file or pipe ([File]) and nowhere ([Discard]).
//
// Every sink has WriteFrame and Close and is driven by the pipeline package,
// which paces the frames. Sinks start no goroutines: the WebSocket sink has
// blocking methods (ReadEvent, Ping, Drain) that the pipeline calls from its
// own goroutines.
package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/transport"
)

// WebSocket streams frames to a Vachana v3 session and reads its events. It
// keeps count of segments the server has started transcribing (processing)
// and finished (a final transcript), so [WebSocket.Drain] can wait until no
// transcript is outstanding before the session is closed. A WebSocket made
// by [Dial] can open a new session with the same settings ([WebSocket.Redial]).
//
// WriteFrame, Ping, Drain, Close and CloseNow may be called concurrently with
// ReadEvent; ReadEvent must be called from one goroutine, continuously, for
// the whole session. Redial must not be called while ReadEvent runs.
type WebSocket struct {
	cfg     *transport.Config // for Redial; nil when made by NewWebSocket
	conn    atomic.Pointer[transport.Conn]
	closing atomic.Bool // Close was called: a normal closure is the expected end

	// Settle is how long Drain waits, once nothing is outstanding, for a
	// late processing event: a server may answer the ping while audio is
	// still queued for its detector. NewWebSocket and Dial set DefaultSettle.
	Settle time.Duration

	mu       sync.Mutex
	greeting *transport.Event // the connected event Dial read, for ReadEvent
	pending  int              // processing events not yet answered by a final transcript
	lastProc time.Time        // when the last processing event came
	readErr  error            // why ReadEvent stopped, once it has
	changed  chan struct{}
}

// DefaultSettle is the default [WebSocket.Settle].
const DefaultSettle = 750 * time.Millisecond

// NewWebSocket returns a sink writing to conn. The sink owns conn from then
// on. It cannot Redial.
func NewWebSocket(conn *transport.Conn) *WebSocket {
	s := &WebSocket{Settle: DefaultSettle, changed: make(chan struct{}, 1)}
	s.conn.Store(conn)
	return s
}

// ErrNoGreeting reports a server that accepted the connection but did not
// send its connected event in time.
var ErrNoGreeting = errors.New("sink: the server accepted the connection but sent no connected event")

// Dial opens a session with [transport.Dial] and waits for the server's
// first event, normally connected, until ctx ends: a server that never
// greets gives [ErrNoGreeting], one whose first event is an error gives that
// error. The first event is still delivered by ReadEvent.
func Dial(ctx context.Context, cfg transport.Config) (*WebSocket, error) {
	conn, first, err := dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &WebSocket{cfg: &cfg, greeting: first, Settle: DefaultSettle, changed: make(chan struct{}, 1)}
	s.conn.Store(conn)
	return s, nil
}

func dial(ctx context.Context, cfg transport.Config) (*transport.Conn, *transport.Event, error) {
	conn, err := transport.Dial(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.CloseNow() })
	ev, err := conn.ReadEvent()
	timedOut := !stop()
	var me *transport.MalformedError
	switch {
	case timedOut:
		conn.CloseNow()
		return nil, nil, fmt.Errorf("%w (%v)", ErrNoGreeting, context.Cause(ctx))
	case errors.As(err, &me):
		// A first message we cannot read is no refusal: go on, keep it.
		return conn, &ev, nil
	case err != nil:
		conn.CloseNow()
		return nil, nil, fmt.Errorf("sink: the session ended before it started: %w", err)
	case ev.Type == transport.Error:
		conn.CloseNow()
		return nil, nil, fmt.Errorf("sink: the server refused the session: %s", ev.Message)
	}
	return conn, &ev, nil
}

// Redial abandons the current session and opens a new one with the same
// settings (and a fresh request id), waiting for its greeting as Dial does.
// The transcript count starts again from zero.
func (s *WebSocket) Redial(ctx context.Context) error {
	if s.cfg == nil {
		return errors.New("sink: this WebSocket was not made by Dial and cannot redial")
	}
	s.conn.Load().CloseNow()
	cfg := *s.cfg
	cfg.RequestID = ""
	conn, first, err := dial(ctx, cfg)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.greeting, s.pending, s.readErr = first, 0, nil
	s.mu.Unlock()
	s.closing.Store(false)
	s.conn.Store(conn)
	return nil
}

// Rate returns the sample rate the session was opened with (x-sample-rate),
// or 0 when the WebSocket was made by NewWebSocket. pipeline.Run paces at it.
func (s *WebSocket) Rate() frame.Rate {
	if s.cfg == nil {
		return 0
	}
	if s.cfg.SampleRate == 0 {
		return frame.Rate16k
	}
	return s.cfg.SampleRate
}

// RequestID returns the current session's x-api-request-id.
func (s *WebSocket) RequestID() string { return s.conn.Load().RequestID() }

// WriteFrame sends f. It does not allocate and does not retain f.
func (s *WebSocket) WriteFrame(f *frame.Frame) error { return s.conn.Load().WriteFrame(f) }

// ReadEvent returns the next server event, as [transport.Conn.ReadEvent]
// does, and counts processing and final transcript events for Drain. Once
// Close has been called, the end of the session is io.EOF (Close itself
// reports a failed closing handshake); before that it is a
// *[transport.ClosedError].
func (s *WebSocket) ReadEvent() (transport.Event, error) {
	s.mu.Lock()
	g := s.greeting
	s.greeting = nil
	s.mu.Unlock()
	if g != nil {
		return *g, nil
	}
	conn := s.conn.Load()
	ev, err := conn.ReadEvent()
	var ce *transport.ClosedError
	if errors.As(err, &ce) {
		closing := s.closing.Load()
		if closing {
			// Close reports whether the closing handshake succeeded; the
			// read side sees either the server's close frame or the closed
			// connection, depending on timing.
			err = io.EOF
		}
		s.mu.Lock()
		s.readErr = err
		s.mu.Unlock()
		s.poke()
		if !closing {
			// The session is over: release a Ping or WriteFrame waiting on
			// the dead connection (after recording why, for Drain).
			conn.CloseNow()
		}
		return ev, err
	}
	if err != nil {
		return ev, err // malformed message: the session goes on
	}
	switch {
	case ev.Type == transport.Processing:
		s.mu.Lock()
		s.pending++
		s.lastProc = time.Now()
		s.mu.Unlock()
		s.poke()
	case ev.Type == transport.Transcript && ev.IsFinal:
		s.mu.Lock()
		if s.pending > 0 {
			s.pending--
		}
		s.mu.Unlock()
		s.poke()
	}
	return ev, nil
}

func (s *WebSocket) poke() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Outstanding returns the number of segments the server has started
// transcribing whose final transcript has not arrived yet.
func (s *WebSocket) Outstanding() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// MissingTranscriptsError reports that transcripts were still outstanding
// when Drain gave up waiting.
type MissingTranscriptsError struct {
	Missing int
	Waited  time.Duration
}

func (e *MissingTranscriptsError) Error() string {
	return fmt.Sprintf("sink: %d transcript(s) still missing after waiting %v for the server; raise the limit (-drain-timeout) if the service is slow", e.Missing, e.Waited.Round(time.Millisecond))
}

// SessionLostError reports that the session ended while Drain waited: the
// transcripts it was waiting for will not come on this session.
type SessionLostError struct {
	Outstanding int
	Err         error
}

func (e *SessionLostError) Error() string {
	return fmt.Sprintf("sink: session lost with %d transcript(s) outstanding: %v", e.Outstanding, e.Err)
}

func (e *SessionLostError) Unwrap() error { return e.Err }

// Drain waits until the server has read every frame sent and answered every
// processing event with its final transcript.
//
// It first pings the server: a pong comes after the server has read all the
// frames before it. Then it waits until no transcript is outstanding and no
// new processing event has come for Settle, for a server whose detector
// lags its reading. A session the server ended normally (1000, 1001) with
// nothing outstanding counts as drained. Drain returns a
// *[MissingTranscriptsError] after limit, a *[SessionLostError] if the
// session ends first with transcripts outstanding, or the cause of ctx.
// Another goroutine must be in ReadEvent.
func (s *WebSocket) Drain(ctx context.Context, limit time.Duration) error {
	start := time.Now()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	pctx, cancel := context.WithTimeout(ctx, limit)
	err := s.conn.Load().Ping(pctx)
	cancel()
	pong := time.Now()
	settle := time.NewTimer(s.Settle)
	defer settle.Stop()
	for {
		s.mu.Lock()
		pending, readErr, lastProc := s.pending, s.readErr, s.lastProc
		s.mu.Unlock()
		quiet := pong
		if lastProc.After(quiet) {
			quiet = lastProc
		}
		settled := err == nil && time.Since(quiet) >= s.Settle
		var ce *transport.ClosedError
		switch {
		case ctx.Err() != nil:
			return context.Cause(ctx)
		case readErr != nil && pending == 0 && settled && errors.As(readErr, &ce) && (ce.Normal() || ce.Code == 1001):
			return nil // the server closed normally after everything was delivered
		case readErr != nil:
			return &SessionLostError{Outstanding: pending, Err: readErr}
		case err != nil && errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("sink: the server did not answer a ping within %v after the last frame: %w", limit, err)
		case err != nil:
			// The ping failed on a broken connection the reader has not
			// reported yet: wait for it, briefly.
			select {
			case <-s.changed:
			case <-time.After(time.Second):
				return &SessionLostError{Outstanding: pending, Err: &transport.ClosedError{Code: -1, Err: err}}
			}
			continue
		}
		if pending == 0 && settled {
			return nil
		}
		if pending == 0 {
			settle.Reset(s.Settle - time.Since(quiet))
		}
		select {
		case <-s.changed:
		case <-settle.C:
		case <-timer.C:
			s.mu.Lock()
			pending = s.pending
			s.mu.Unlock()
			if pending == 0 {
				return nil
			}
			return &MissingTranscriptsError{Missing: pending, Waited: time.Since(start)}
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// Ping sends a WebSocket ping and waits for the pong or for ctx to end.
func (s *WebSocket) Ping(ctx context.Context) error { return s.conn.Load().Ping(ctx) }

// Close ends the session with a normal closure (1000) and waits for the
// server's close frame, up to 5 s, while ReadEvent goes on reading. Call
// Drain first or transcripts may be lost.
func (s *WebSocket) Close() error {
	s.closing.Store(true)
	err := s.conn.Load().Close()
	s.mu.Lock()
	ended := s.readErr
	s.mu.Unlock()
	var ce *transport.ClosedError
	if err != nil && errors.As(ended, &ce) && (ce.Normal() || ce.Code == 1001) {
		return nil // the server had already ended the session normally
	}
	return err
}

// CloseNow drops the session at once; blocked calls return.
func (s *WebSocket) CloseNow() error { return s.conn.Load().CloseNow() }

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
// transcript is outstanding before the session is closed.
//
// WriteFrame, Ping, Drain, Close and CloseNow may be called concurrently with
// ReadEvent; ReadEvent must be called from one goroutine, continuously, for
// the whole session.
type WebSocket struct {
	conn    *transport.Conn
	closing atomic.Bool // Close was called: a normal closure is the expected end

	mu      sync.Mutex
	pending int   // processing events not yet answered by a final transcript
	readErr error // why ReadEvent stopped, once it has
	changed chan struct{}
}

// NewWebSocket returns a sink writing to conn. The sink owns conn from then on.
func NewWebSocket(conn *transport.Conn) *WebSocket {
	return &WebSocket{conn: conn, changed: make(chan struct{}, 1)}
}

// Dial opens a session with [transport.Dial] and returns a sink for it.
func Dial(ctx context.Context, cfg transport.Config) (*WebSocket, error) {
	conn, err := transport.Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return NewWebSocket(conn), nil
}

// RequestID returns the session's x-api-request-id.
func (s *WebSocket) RequestID() string { return s.conn.RequestID() }

// WriteFrame sends f. It does not allocate and does not retain f.
func (s *WebSocket) WriteFrame(f *frame.Frame) error { return s.conn.WriteFrame(f) }

// ReadEvent returns the next server event, as [transport.Conn.ReadEvent]
// does, and counts processing and final transcript events for Drain. Once
// Close has been called, the end of the session is io.EOF (Close itself
// reports a failed closing handshake); before that it is a
// *[transport.ClosedError].
func (s *WebSocket) ReadEvent() (transport.Event, error) {
	ev, err := s.conn.ReadEvent()
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
			s.conn.CloseNow()
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
		s.mu.Unlock()
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

// Drain waits until the server has read every frame sent and answered every
// processing event with its final transcript.
//
// It first pings the server: a pong comes after the server has read all the
// frames before it, so the processing events for those frames are already
// on their way. Then it waits for the transcripts. It returns a
// *[MissingTranscriptsError] after limit, the error that ended ReadEvent if
// the session ends first, or the cause of ctx. Another goroutine must be in
// ReadEvent.
func (s *WebSocket) Drain(ctx context.Context, limit time.Duration) error {
	start := time.Now()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	pctx, cancel := context.WithTimeout(ctx, limit)
	err := s.conn.Ping(pctx)
	cancel()
	if err != nil {
		s.mu.Lock()
		readErr := s.readErr
		s.mu.Unlock()
		switch {
		case readErr != nil:
			return fmt.Errorf("sink: session ended before its end was acknowledged: %w", readErr)
		case ctx.Err() != nil:
			return context.Cause(ctx)
		case errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("sink: the server did not answer a ping within %v after the last frame: %w", limit, err)
		default:
			return fmt.Errorf("sink: session lost after the last frame: %w", err)
		}
	}
	for {
		s.mu.Lock()
		pending, readErr := s.pending, s.readErr
		s.mu.Unlock()
		if pending == 0 {
			return nil
		}
		if readErr != nil {
			return fmt.Errorf("sink: session ended with %d transcript(s) outstanding: %w", pending, readErr)
		}
		select {
		case <-s.changed:
		case <-timer.C:
			return &MissingTranscriptsError{Missing: pending, Waited: time.Since(start)}
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// Ping sends a WebSocket ping and waits for the pong or for ctx to end.
func (s *WebSocket) Ping(ctx context.Context) error { return s.conn.Ping(ctx) }

// Close ends the session with a normal closure (1000) and waits for the
// server's close frame, up to 5 s, while ReadEvent goes on reading. Call
// Drain first or transcripts may be lost.
func (s *WebSocket) Close() error {
	s.closing.Store(true)
	return s.conn.Close()
}

// CloseNow drops the session at once; blocked calls return.
func (s *WebSocket) CloseNow() error { return s.conn.CloseNow() }

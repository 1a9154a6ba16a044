package aiola

import (
	"context"
	"errors"
	"fmt"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/socketio"
)

// Session is an open aiOla session; it implements [transport.Session].
type Session struct {
	c           *socketio.Conn
	executionID string
}

// ExecutionID returns the session's execution_id, for finding it in
// aiOla's logs.
func (s *Session) ExecutionID() string { return s.executionID }

// WriteAudio sends one chunk, 1 to [ChunkFrames] whole frames of s16le
// mono at 16 kHz, as a binary_data event with the chunk as its attachment
// (two WebSocket messages, never interleaved with another emit). It does
// not allocate and does not retain chunk. It blocks while the network is
// congested; CloseNow releases it. An error after the session ended is a
// *[transport.ClosedError].
func (s *Session) WriteAudio(chunk []byte) error {
	if n := len(chunk); n == 0 || n%frame.Size != 0 || n > ChunkFrames*frame.Size {
		return fmt.Errorf("aiola: a chunk is 1 to %d frames of %d bytes, got %d bytes", ChunkFrames, frame.Size, n)
	}
	return s.c.EmitBinary(EventAudio, chunk)
}

// SetNoWait reports false: a chunk is two WebSocket messages, which a
// write that does not wait could split from each other.
func (s *Session) SetNoWait(bool) (bool, error) { return false, nil }

// Backlog reports false: see SetNoWait.
func (s *Session) Backlog() bool { return false }

// ReadEvent blocks for the next event and returns it decoded (see
// [ParseEvent]), answering the server's pings meanwhile. The binary
// attachments of an event are not kept (aiOla's events carry none); their
// placeholders stay in Raw. A packet it
// cannot decode returns a *[transport.MalformedError] and the session goes
// on. When the session ends it returns a *[transport.ClosedError] (wrapping
// [socketio.ErrServerDisconnect] when the server disconnected the
// namespace, whereupon the connection is dropped and writes fail), or
// io.EOF once Close was called and the server agreed.
func (s *Session) ReadEvent() (transport.Event, error) {
	ev, err := s.c.ReadEvent()
	if err != nil {
		if errors.Is(err, socketio.ErrServerDisconnect) {
			// The namespace was the connection's only one: drop the
			// connection, as socket.io-client's manager closes its engine,
			// so that writes fail from now on.
			s.c.CloseNow()
		}
		return transport.Event{Raw: ev.Raw}, err
	}
	return ParseEvent(ev.Name, ev.Args)
}

// Ping returns once the server has read everything written before it (a
// WebSocket ping and its pong), or when ctx ends. Another goroutine must
// be in ReadEvent.
func (s *Session) Ping(ctx context.Context) error { return s.c.Ping(ctx) }

// Finish sends nothing: aiOla has no end-of-stream message, and the tail
// silence after the last speech ([TailSilence]) ends the last utterance.
func (s *Session) Finish(context.Context) error { return nil }

// Close leaves the namespace (the server sees "client namespace
// disconnect") and closes the WebSocket normally, waiting briefly for the
// server; ReadEvent goes on delivering what the server still sends, then
// returns io.EOF.
func (s *Session) Close() error { return s.c.Disconnect() }

// CloseNow drops the session at once; blocked calls return.
func (s *Session) CloseNow() error { return s.c.CloseNow() }

// compile-time checks of the contract.
var (
	_ transport.Dialer  = (*Dialer)(nil)
	_ transport.Session = (*Session)(nil)
)

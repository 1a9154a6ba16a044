package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"

	"github.com/coder/websocket"
)

// Conn is the part of a [Session] every WebSocket dialect shares: reading
// messages with the end of the session reported as the contract says,
// writing without allocating, pings, and the two ways to close. A dialect
// wraps one around the connection [DialWebSocket] returned and adds its
// encoding of audio and its decoding of events.
//
// Like the connection, a Conn has no goroutine of its own: pings, pongs and
// close frames are processed only while someone is in Read.
type Conn struct {
	ws      *websocket.Conn
	closing atomic.Bool // Close was called
}

// NewConn returns a Conn over ws, which it takes over.
func NewConn(ws *websocket.Conn) *Conn { return &Conn{ws: ws} }

// Read blocks for the next message. When the session ends it returns a
// *[ClosedError], or io.EOF once Close was called and the peer ended the
// session normally.
func (c *Conn) Read() (websocket.MessageType, []byte, error) {
	typ, msg, err := c.ws.Read(context.Background())
	if err == nil {
		return typ, msg, nil
	}
	ce := Closed(err)
	if c.closing.Load() && (ce.Normal() || errors.Is(err, net.ErrClosed)) {
		// Close reports whether the closing handshake succeeded; the read
		// side sees either the peer's close frame or the connection Close
		// closed, depending on timing.
		return 0, nil, io.EOF
	}
	return 0, nil, ce
}

// ReadText is Read for the dialects whose peer sends only JSON text: a
// binary message is a *[MalformedError], and the session goes on.
func (c *Conn) ReadText() ([]byte, error) {
	typ, msg, err := c.Read()
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageText {
		return msg, &MalformedError{Raw: msg, Err: errors.New("binary message from the server")}
	}
	return msg, nil
}

// Write sends one message. It does not allocate: a context that cannot be
// cancelled keeps coder/websocket from starting a watch per call, and
// cancellation reaches a blocked write through CloseNow instead. An error
// after the session ended is a *[ClosedError].
func (c *Conn) Write(typ websocket.MessageType, msg []byte) error {
	if err := c.ws.Write(context.Background(), typ, msg); err != nil {
		return Closed(err)
	}
	return nil
}

// WriteContext sends one message, giving up when ctx ends: the connection
// is then closed (coder/websocket cannot abandon half a message), and the
// error is a *[ClosedError] wrapping ctx's cause, so that the session is
// treated as lost. It allocates, unlike Write: for messages outside the
// stream of audio.
func (c *Conn) WriteContext(ctx context.Context, typ websocket.MessageType, msg []byte) error {
	if err := c.ws.Write(ctx, typ, msg); err != nil {
		if ctx.Err() != nil {
			c.ws.CloseNow()
			return &ClosedError{Code: -1, Err: fmt.Errorf("a write blocked until it was given up: %w", context.Cause(ctx))}
		}
		return Closed(err)
	}
	return nil
}

// Ping sends a ping and waits for the pong, which the peer sends after
// reading every message before the ping, or for ctx to end. Another
// goroutine must be in Read for the pong to be seen.
func (c *Conn) Ping(ctx context.Context) error { return c.ws.Ping(ctx) }

// Close ends the session normally: it sends a close frame with status 1000
// and waits for the peer's (up to 5 s), while the goroutine in Read goes on
// receiving whatever the peer still sends. A peer answering with a normal
// status ([NormalClose]) counts as a normal end.
func (c *Conn) Close() error {
	c.closing.Store(true)
	return CloseNormally(c.ws)
}

// CloseNow drops the connection without a close handshake. Blocked calls
// return at once.
func (c *Conn) CloseNow() error { return c.ws.CloseNow() }

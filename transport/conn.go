package transport

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
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
	flow    *flowConn   // the TCP connection under ws, if DialWebSocket opened it (on Linux); else nil
	raw     net.Conn    // the connection ws writes to (flow, or TLS over it), if there is a flow and DialWebSocket saw it; else nil
	closing atomic.Bool // Close was called; set under wmu unless a write held it (see Close)

	// Write's own framing, to raw: see Write. wmu is held by every write
	// of a data message, so that one framed here never lands inside one
	// coder/websocket writes in several pieces.
	wmu  sync.Mutex
	rng  *rand.ChaCha8 // masking keys
	wbuf []byte        // the frame being written
}

// NewConn returns a Conn over ws, which it takes over. Its writes always
// wait for the network: [Conn.SetNoWait] reports false.
func NewConn(ws *websocket.Conn) *Conn { return &Conn{ws: ws} }

// SetNoWait is [Session.SetNoWait]: it reports false for a Conn that
// DialWebSocket did not open over TCP (NewConn's, or one whose HTTP client
// dials otherwise), and on systems other than Linux.
func (c *Conn) SetNoWait(on bool) (bool, error) {
	if c.flow == nil {
		return false, nil
	}
	if err := c.flow.setNoWait(on); err != nil {
		return true, Closed(err)
	}
	return true, nil
}

// Backlog is [Session.Backlog].
func (c *Conn) Backlog() bool { return c.flow != nil && c.flow.backlogged() }

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

// Write sends one message. It does not allocate in the steady state, and
// cancellation reaches a blocked write through CloseNow. An error after the
// session ended is a *[ClosedError].
//
// On a connection DialWebSocket opened on Linux, a message of up to [MaxOwnFrame]
// bytes is framed here, as one unfragmented, masked frame (RFC 6455,
// section 5.2; each masking key from a ChaCha8 generator seeded from
// crypto/rand), and written in one write to the connection coder/websocket
// writes to (TCP, or TLS over it), whose writes each go out whole: about
// 2.5 µs less a message than coder/websocket's write (measured at 1 000
// streams), whose lock, buffer and framing it leaves out. The control frames coder/websocket writes on its
// own (pings, pongs, close frames) are small, so each is one write of that
// connection too, and the data messages it writes hold the same lock as
// these: frames never interleave. Larger messages, and every message on
// other connections (NewConn's, or on other systems), go through coder/websocket, with a
// context that cannot be cancelled, so that it starts no watch per call.
//
// After Close no message is written; a write in progress when Close is
// called, or one written between the close frame coder/websocket sends in
// answer to the peer's and the end of Read, may follow the close frame,
// and the peer discards it.
func (c *Conn) Write(typ websocket.MessageType, msg []byte) error {
	if c.raw != nil && len(msg) <= MaxOwnFrame {
		return c.writeOwn(typ, msg)
	}
	if c.raw != nil {
		c.wmu.Lock()
		defer c.wmu.Unlock()
	}
	if err := c.ws.Write(context.Background(), typ, msg); err != nil {
		return Closed(err)
	}
	return nil
}

// MaxOwnFrame is the largest message [Conn.Write] frames itself.
const MaxOwnFrame = 65535

// writeOwn writes msg as one masked frame of type typ.
func (c *Conn) writeOwn(typ websocket.MessageType, msg []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closing.Load() {
		return &ClosedError{Code: -1, Err: net.ErrClosed}
	}
	if c.rng == nil {
		var seed [32]byte
		crand.Read(seed[:])
		c.rng = rand.NewChaCha8(seed)
	}
	b := append(c.wbuf[:0], 0x80|byte(typ)) // FIN, opcode
	if n := len(msg); n < 126 {
		b = append(b, 0x80|byte(n)) // MASK, length
	} else {
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	}
	key := uint32(c.rng.Uint64())
	b = binary.LittleEndian.AppendUint32(b, key)
	b = append(b, msg...)
	mask(b[len(b)-len(msg):], key)
	c.wbuf = b
	if _, err := c.raw.Write(b); err != nil {
		return Closed(err)
	}
	return nil
}

// mask masks p in place with key, whose first byte on the wire is its
// lowest: byte i is XORed with byte i%4 of the key as written.
func mask(p []byte, key uint32) {
	k := uint64(key) | uint64(key)<<32
	i := 0
	for ; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^k)
	}
	for ; i < len(p); i++ {
		p[i] ^= byte(key >> (8 * (i % 4)))
	}
}

// WriteContext sends one message, giving up when ctx ends: the connection
// is then closed (coder/websocket cannot abandon half a message), and the
// error is a *[ClosedError] wrapping ctx's cause, so that the session is
// treated as lost. It allocates, unlike Write: for messages outside the
// stream of audio.
func (c *Conn) WriteContext(ctx context.Context, typ websocket.MessageType, msg []byte) error {
	if c.raw != nil {
		c.wmu.Lock() // (see Write)
		defer c.wmu.Unlock()
	}
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
	if c.wmu.TryLock() {
		c.closing.Store(true) // no frame of Write's after the close frame
		c.wmu.Unlock()
	} else {
		// A write in progress, perhaps waiting for the network: Close
		// does not wait for it (coder/websocket gives its close frame 5 s
		// and then drops the connection), and its message may follow the
		// close frame.
		c.closing.Store(true)
	}
	return CloseNormally(c.ws)
}

// CloseNow drops the connection without a close handshake. Blocked calls
// return at once.
func (c *Conn) CloseNow() error {
	if c.flow != nil {
		// First the TCP connection: a write of the backlog blocked under
		// TLS would otherwise hold up TLS's close, which writes an alert
		// first, for the 5 s TLS allows it.
		c.flow.Close()
	}
	if err := c.ws.CloseNow(); err != nil && (c.flow == nil || !errors.Is(err, net.ErrClosed)) {
		return err
	}
	return nil
}

// Package socketio is a Socket.IO v4 client over coder/websocket: the
// Engine.IO protocol 4 on a WebSocket only (no long polling, no upgrade),
// and the Socket.IO packets of one namespace on it, as aiOla's streaming
// speech-to-text speaks them.
//
// [Dial] opens the connection and joins the namespace. A [Conn] has no
// goroutine of its own: the caller must keep one goroutine in
// [Conn.ReadEvent] for the whole session, because the server's pings are
// answered, and pings, pongs and close frames processed, only while someone
// reads. A server that stops pinging is detected by a timer, which closes
// the connection. Cancellation is by closing: [Conn.CloseNow] unblocks
// every call at once.
//
// The codec itself — [ParsePacket], [AppendPacket], [ParseHandshake] —
// is pure and may serve a server too.
//
// Why a codec of our own rather than a Go Socket.IO client library:
// RESEARCH.md in this directory measured the candidates against the
// official socket.io 4.8.4 server. The one usable library pulled in 37
// modules, allocated about 60 times (14 KB) and started a goroutine per
// binary emit, installed a signal handler at import, and lost its
// disconnect packet; this package adds no module and allocates nothing per
// emit.
package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/transport"
)

// Event is one event from the server. A placeholder
// {"_placeholder":true,"num":i} in Args stands for Attachments[i], as the
// server's parser wrote it. The caller owns every slice.
type Event struct {
	Name string
	// Args is the JSON array of the arguments after the name ([] when
	// there are none).
	Args json.RawMessage
	// Attachments holds the binary messages of a binary event, in order.
	Attachments [][]byte
	// AckID is the id the server wants acknowledged with [Conn.Ack], when
	// WantsAck.
	AckID    uint64
	WantsAck bool
	// Raw is the text message as received, e.g. 42/events,["transcript",{…}].
	Raw []byte
}

// The ends of a session that are not the WebSocket's, wrapped in the
// *[transport.ClosedError] that ReadEvent returns: with Code 1000 (a
// normal end) for ErrServerDisconnect, the server's own way of ending a
// session, and -1 for the others.
var (
	ErrServerDisconnect = errors.New("socketio: the server disconnected the namespace")
	ErrEngineClosed     = errors.New("socketio: the server closed the Engine.IO session")
	ErrServerSilent     = errors.New("socketio: the server stopped pinging, or ReadEvent was not called")
)

// maxCachedNames bounds the event names whose binary packet EmitBinary
// keeps.
const maxCachedNames = 64

// pendingLimits is how many times the read limit the attachments of one
// binary packet may hold in all.
const pendingLimits = 4

// Conn is a Socket.IO connection joined to one namespace.
//
// ReadEvent must be called from one goroutine, continuously. The emitting
// methods, Ping, Disconnect and CloseNow may be called from any goroutine,
// concurrently with ReadEvent and with each other: the messages of one
// emit are never interleaved with another's.
type Conn struct {
	conn      *transport.Conn
	namespace string
	hs        Handshake
	sid       string // the namespace session's id
	closing   atomic.Bool
	maxHeld   int64 // bytes the attachments of one binary packet may hold in all

	emitMu  sync.Mutex
	packets map[string][]byte // EmitBinary's text packet per event name; under emitMu

	timerMu  sync.Mutex
	timer    *time.Timer // closes the connection when the server stops pinging
	timerOff bool
	silent   atomic.Bool // the timer fired

	// ReadEvent's goroutine only.
	pending *pending // a binary packet awaiting attachments
	stash   []byte   // a text message to handle before reading on
	ended   error    // sticky end of the session
	step    string   // what Dial awaits
}

// pending is a binary packet whose attachments are being read. Every
// attachment it announced is read as its own, whether kept or not, so that
// none is taken for a packet of its own.
type pending struct {
	ev   Event
	want int   // attachments announced
	got  int   // attachments read
	held int64 // bytes in ev.Attachments
	err  error // reported instead of the event once complete, unless drop; set, the attachments are not kept
	drop bool  // an acknowledgement: nothing to report, nothing kept
}

// add takes the next attachment, keeping it unless the packet is dropped,
// failed, or would hold more than limit bytes in all (then it fails).
func (p *pending) add(msg []byte, limit int64) {
	p.got++
	if p.drop || p.err != nil {
		return
	}
	if p.held += int64(len(msg)); p.held > limit {
		p.err = &transport.MalformedError{Raw: p.ev.Raw, Err: fmt.Errorf(
			"socketio: the attachments of a binary packet hold more than %d bytes; the event is dropped", limit)}
		p.ev.Attachments = nil
		return
	}
	p.ev.Attachments = append(p.ev.Attachments, msg)
}

// Handshake returns what the server said in its OPEN packet: its session
// id and ping timing.
func (c *Conn) Handshake() Handshake { return c.hs }

// SID returns the id the server gave the namespace session.
func (c *Conn) SID() string { return c.sid }

// rearm starts or restarts the timer that takes the server for dead.
func (c *Conn) rearm() {
	c.timerMu.Lock()
	defer c.timerMu.Unlock()
	switch {
	case c.timerOff:
	case c.timer == nil:
		c.timer = time.AfterFunc(c.hs.Silence(), c.giveUp)
	default:
		c.timer.Reset(c.hs.Silence())
	}
}

// giveUp is what the timer does when the server has stayed silent too long.
func (c *Conn) giveUp() {
	c.silent.Store(true)
	c.conn.CloseNow()
}

// lost returns the error to report for err, an error of the connection:
// the server's silence when the timer closed it.
func (c *Conn) lost(err error) error {
	if !c.silent.Load() {
		return err
	}
	return &transport.ClosedError{Code: -1, Err: fmt.Errorf("%w: no ping within %v (pingInterval %d ms + pingTimeout %d ms)",
		ErrServerSilent, c.hs.Silence(), c.hs.PingInterval, c.hs.PingTimeout)}
}

func (c *Conn) stopTimer() {
	c.timerMu.Lock()
	defer c.timerMu.Unlock()
	c.timerOff = true
	if c.timer != nil {
		c.timer.Stop()
	}
}

// readEngine returns the next Engine.IO MESSAGE: a text message starting
// with '4' or a binary message. It answers pings and skips the packets that
// carry nothing.
func (c *Conn) readEngine() (websocket.MessageType, []byte, error) {
	if msg := c.stash; msg != nil {
		c.stash = nil
		return websocket.MessageText, msg, nil
	}
	for {
		typ, msg, err := c.conn.Read()
		if err != nil {
			return 0, nil, c.lost(err)
		}
		if typ == websocket.MessageBinary {
			return typ, msg, nil
		}
		if len(msg) == 0 {
			return typ, msg, &transport.MalformedError{Raw: msg, Err: errors.New("socketio: empty Engine.IO packet")}
		}
		switch msg[0] {
		case EngineMessage:
			return typ, msg, nil
		case EnginePing:
			c.rearm()
			if c.closing.Load() {
				break // Disconnect is closing: no pong
			}
			msg[0] = EnginePong // with the ping's payload, if any
			if testHookBeforePong != nil {
				testHookBeforePong(c)
			}
			if err := c.conn.Write(websocket.MessageText, msg); err != nil {
				return 0, nil, c.lost(err)
			}
		case EnginePong, EngineNoop, EngineUpgrade:
		case EngineClose:
			if c.closing.Load() {
				return 0, nil, io.EOF
			}
			return 0, nil, &transport.ClosedError{Code: -1, Err: ErrEngineClosed}
		default:
			return typ, msg, &transport.MalformedError{Raw: msg, Err: fmt.Errorf("socketio: unexpected Engine.IO packet type %q", msg[0])}
		}
	}
}

// ReadEvent blocks for the next event of the namespace, answering the
// server's pings meanwhile; a binary event's attachments are reassembled.
// Acknowledgements are skipped: Conn never asks for one. A packet it cannot
// decode (or one for another namespace, a binary event whose placeholders
// name no attachment, or whose attachments hold more than 4 times the read
// limit in all) returns a *[transport.MalformedError] and the session goes
// on; the attachments of such a packet are read and dropped. When the session
// ends it returns a *[transport.ClosedError] — wrapping [ErrServerDisconnect],
// [ErrEngineClosed] or [ErrServerSilent] when the end was not the
// WebSocket's own — or io.EOF once Disconnect was called and the server
// agreed. The end is sticky: later calls return it again.
func (c *Conn) ReadEvent() (Event, error) {
	if c.ended != nil {
		return Event{}, c.ended
	}
	for {
		typ, msg, err := c.readEngine()
		var me *transport.MalformedError
		switch {
		case errors.As(err, &me):
			return Event{Raw: msg}, err
		case err != nil:
			c.ended = err
			c.stopTimer()
			return Event{}, err
		}
		if typ == websocket.MessageBinary {
			p := c.pending
			if p == nil {
				return Event{Raw: msg}, &transport.MalformedError{Raw: msg, Err: errors.New("socketio: a binary message that no packet announced")}
			}
			if p.add(msg, c.maxHeld); p.got < p.want {
				continue
			}
			c.pending = nil
			switch {
			case p.drop:
				continue
			case p.err != nil:
				return Event{Raw: p.ev.Raw}, p.err
			}
			if err := checkPlaceholders(p.ev.Args, len(p.ev.Attachments)); err != nil {
				return Event{Raw: p.ev.Raw}, &transport.MalformedError{Raw: p.ev.Raw, Err: err}
			}
			return p.ev, nil
		}
		if p := c.pending; p != nil {
			c.pending, c.stash = nil, msg
			return Event{Raw: p.ev.Raw}, &transport.MalformedError{Raw: p.ev.Raw,
				Err: fmt.Errorf("socketio: a text message came after %d of the %d attachments of a binary packet", p.got, p.want)}
		}
		ev, ok, err := c.packet(msg)
		if ok || err != nil {
			return ev, err
		}
	}
}

// packet handles one Socket.IO packet (a text message starting with '4').
// It returns an event, an error, or ok == false when there is nothing to
// report yet.
func (c *Conn) packet(msg []byte) (ev Event, ok bool, err error) {
	malformed := func(err error) (Event, bool, error) {
		return Event{Raw: msg}, false, &transport.MalformedError{Raw: msg, Err: err}
	}
	p, err := ParsePacket(msg[1:])
	if err != nil {
		return malformed(err)
	}
	var wrong error
	if p.Namespace != c.namespace {
		wrong = fmt.Errorf("socketio: a %s packet for namespace %s, not %s", p.Type, p.Namespace, c.namespace)
	}
	switch p.Type {
	case PacketEvent, PacketBinaryEvent:
		ev.Raw, ev.AckID, ev.WantsAck = msg, p.ID, p.HasID
		name, rest, err := splitEvent(p.Data)
		if err != nil && wrong == nil {
			wrong = fmt.Errorf("socketio: %w", err)
		}
		ev.Name, ev.Args = name, eventArgs(rest)
		if p.Type == PacketBinaryEvent {
			ev.Attachments = make([][]byte, 0, p.Attachments)
			c.pending = &pending{ev: ev, want: p.Attachments, err: malformedOrNil(msg, wrong)}
			return Event{}, false, nil
		}
		if wrong != nil {
			return malformed(wrong)
		}
		return ev, true, nil
	case PacketAck, PacketBinaryAck:
		if p.Type == PacketBinaryAck {
			c.pending = &pending{ev: Event{Raw: msg}, want: p.Attachments, drop: true}
		}
		return Event{}, false, nil
	case PacketDisconnect:
		if wrong != nil {
			return malformed(wrong)
		}
		// The server ended the session as Socket.IO ends one normally
		// (socket.disconnect() on its side): a normal end, like a close
		// with 1000, whatever the WebSocket does next.
		err := error(&transport.ClosedError{Code: int(websocket.StatusNormalClosure), Reason: "the server disconnected namespace " + c.namespace,
			Err: fmt.Errorf("%w %s", ErrServerDisconnect, c.namespace)})
		if c.closing.Load() {
			err = io.EOF
		}
		c.ended = err
		c.stopTimer()
		return Event{}, false, err
	}
	return malformed(fmt.Errorf("socketio: an unexpected %s packet after the namespace was joined", p.Type))
}

func malformedOrNil(msg []byte, err error) error {
	if err == nil {
		return nil
	}
	return &transport.MalformedError{Raw: msg, Err: err}
}

// testHookBeforePong, when set by a test, runs between reading a ping and
// writing its pong.
var testHookBeforePong func(*Conn)

// checkPlaceholders checks that every placeholder {"_placeholder":true,…}
// in args, the JSON array of a binary event's arguments, has a "num" that
// is an integer from 0 to n-1, as socket.io-parser's reconstructPacket
// requires.
func checkPlaceholders(args []byte, n int) error {
	d := json.NewDecoder(bytes.NewReader(args))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return fmt.Errorf("socketio: binary event arguments: %w", err)
	}
	return walkPlaceholders(v, n)
}

func walkPlaceholders(v any, n int) error {
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			if err := walkPlaceholders(e, n); err != nil {
				return err
			}
		}
	case map[string]any:
		if v["_placeholder"] == true {
			num, ok := v["num"].(json.Number)
			i, err := strconv.ParseInt(string(num), 10, 64)
			if !ok || err != nil || i < 0 || i >= int64(n) {
				return fmt.Errorf("socketio: a placeholder's num %v names none of the %d attachments", v["num"], n)
			}
			return nil
		}
		for _, e := range v {
			if err := walkPlaceholders(e, n); err != nil {
				return err
			}
		}
	}
	return nil
}

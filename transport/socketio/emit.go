package socketio

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/coder/websocket"
)

// EmitBinary sends the event ["event", <data>] with data as its one binary
// attachment, as socket.io-client sends emit(event, buffer):
//
//	451-/events,["binary_data",{"_placeholder":true,"num":0}]
//
// followed by a binary message holding data. The two messages are atomic
// with respect to other emits: no other emit comes between them (a pong may,
// which Engine.IO handles below the Socket.IO decoder: harmless). It does
// not retain data. The text packet of each of the first 64 event names is
// cached, so that a name used before costs no allocation; other names
// allocate on every call. It blocks while the network is congested;
// CloseNow releases it. An error after the session ended is a
// *[transport.ClosedError].
func (c *Conn) EmitBinary(event string, data []byte) error {
	if m := c.hs.MaxPayload; m > 0 && int64(len(data)) > m {
		return fmt.Errorf("socketio: %d bytes are more than the %d the server takes in one message", len(data), m)
	}
	c.emitMu.Lock()
	defer c.emitMu.Unlock()
	pkt, ok := c.packets[event]
	if !ok {
		if reserved(event) {
			return fmt.Errorf("socketio: %q is an event name socket.io reserves", event)
		}
		name, _ := json.Marshal(event)
		args := append(append([]byte{'['}, name...), `,{"_placeholder":true,"num":0}]`...)
		pkt = AppendPacket([]byte{EngineMessage}, Packet{Type: PacketBinaryEvent, Attachments: 1, Namespace: c.namespace, Data: args})
		if len(c.packets) < maxCachedNames {
			c.packets[event] = pkt
		}
	}
	if err := c.conn.Write(websocket.MessageText, pkt); err != nil {
		return err
	}
	return c.conn.Write(websocket.MessageBinary, data)
}

// Emit sends the event ["event", args…], each argument encoded with
// encoding/json, except a []byte argument, which is sent as a binary
// attachment (a binary event) as socket.io-client sends a Buffer; a []byte
// nested deeper is encoded by encoding/json (base64). It allocates: for
// the messages outside the stream of audio (set_keywords…).
func (c *Conn) Emit(event string, args ...any) error {
	if reserved(event) {
		return fmt.Errorf("socketio: %q is an event name socket.io reserves", event)
	}
	name, _ := json.Marshal(event)
	return c.send(PacketEvent, 0, false, name, args)
}

// Ack answers an event that asked for an acknowledgement (ev.WantsAck) with
// args, encoded as [Conn.Emit] encodes them.
func (c *Conn) Ack(ev Event, args ...any) error {
	if !ev.WantsAck {
		return fmt.Errorf("socketio: event %q asked for no acknowledgement", ev.Name)
	}
	return c.send(PacketAck, ev.AckID, true, nil, args)
}

// send encodes and writes an event (name set) or an acknowledgement.
func (c *Conn) send(typ PacketType, id uint64, hasID bool, name []byte, args []any) error {
	data := append([]byte{'['}, name...)
	var bins [][]byte
	for i, a := range args {
		if i > 0 || name != nil {
			data = append(data, ',')
		}
		if b, ok := a.([]byte); ok {
			data = fmt.Appendf(data, `{"_placeholder":true,"num":%d}`, len(bins))
			bins = append(bins, b)
			continue
		}
		j, err := json.Marshal(a)
		if err != nil {
			return fmt.Errorf("socketio: argument %d: %w", i+1, err)
		}
		data = append(data, j...)
	}
	data = append(data, ']')
	if len(bins) > 0 {
		typ += PacketBinaryEvent - PacketEvent // EVENT → BINARY_EVENT, ACK → BINARY_ACK
	}
	pkt := AppendPacket([]byte{EngineMessage}, Packet{Type: typ, Attachments: len(bins), Namespace: c.namespace, ID: id, HasID: hasID, Data: data})
	if m := c.hs.MaxPayload; m > 0 && int64(len(pkt)) > m {
		return fmt.Errorf("socketio: the packet's %d bytes are more than the %d the server takes in one message", len(pkt), m)
	}
	for _, b := range bins {
		if m := c.hs.MaxPayload; m > 0 && int64(len(b)) > m {
			return fmt.Errorf("socketio: %d bytes are more than the %d the server takes in one message", len(b), m)
		}
	}
	c.emitMu.Lock()
	defer c.emitMu.Unlock()
	if err := c.conn.Write(websocket.MessageText, pkt); err != nil {
		return err
	}
	for _, b := range bins {
		if err := c.conn.Write(websocket.MessageBinary, b); err != nil {
			return err
		}
	}
	return nil
}

// Ping sends a WebSocket ping and waits for the pong, which the server
// sends after reading every message before the ping, or for ctx to end.
// (Engine.IO 4 has no client ping.) Another goroutine must be in ReadEvent
// for the pong to be seen.
func (c *Conn) Ping(ctx context.Context) error { return c.conn.Ping(ctx) }

// disconnectWait bounds the write of Disconnect's DISCONNECT packet.
const disconnectWait = 5 * time.Second

// Disconnect leaves the namespace (the DISCONNECT packet 41/events,), then
// closes the WebSocket with status 1000 and waits for the server's close
// frame, while the goroutine in ReadEvent goes on receiving what the server
// still sends; ReadEvent then returns io.EOF. It never waits on a blocked
// emit: when an emit is under way, the DISCONNECT packet is left out (the
// server sees the transport close instead). It waits up to 5 s to write the
// packet (then drops the connection) and up to 5 s for the close
// handshake. Emits that come after it fail.
func (c *Conn) Disconnect() error {
	c.closing.Store(true)
	c.stopTimer()
	if !c.emitMu.TryLock() {
		return c.conn.Close()
	}
	defer c.emitMu.Unlock() // held through the close: no emit blocks its close frame
	ctx, cancel := context.WithTimeout(context.Background(), disconnectWait)
	defer cancel()
	pkt := AppendPacket([]byte{EngineMessage}, Packet{Type: PacketDisconnect, Namespace: c.namespace})
	err := c.conn.WriteContext(ctx, websocket.MessageText, pkt)
	if cerr := c.conn.Close(); err == nil {
		err = cerr
	}
	return err
}

// CloseNow drops the connection without a DISCONNECT or a close handshake.
// Blocked calls return at once.
func (c *Conn) CloseNow() error {
	c.stopTimer()
	return c.conn.CloseNow()
}

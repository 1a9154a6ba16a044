package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Engine.IO 4 packet types: the first byte of every text message on the
// WebSocket. A binary message is always a whole MESSAGE packet's payload,
// without a type byte.
const (
	EngineOpen    = '0' // server → client, first: the handshake JSON ([Handshake])
	EngineClose   = '1' // either side: the Engine.IO session ends
	EnginePing    = '2' // server → client in protocol 4: answer with EnginePong
	EnginePong    = '3' // client → server
	EngineMessage = '4' // a Socket.IO packet follows ([Packet])
	EngineUpgrade = '5' // transport upgrade; unused on a WebSocket-only session
	EngineNoop    = '6' // nothing
)

// PacketType is the type of a Socket.IO 5 packet (the protocol of
// socket.io 3 and 4).
type PacketType byte

// The Socket.IO packet types.
const (
	PacketConnect      PacketType = iota // client: join a namespace; server: accepted, {"sid":…}
	PacketDisconnect                     // leave a namespace (either side)
	PacketEvent                          // ["name", args…]
	PacketAck                            // the answer to an event that carried an id: [args…]
	PacketConnectError                   // server: the namespace refused, {"message":…} (or a string)
	PacketBinaryEvent                    // a PacketEvent with Attachments binary messages following
	PacketBinaryAck                      // a PacketAck with Attachments binary messages following
)

var packetTypeNames = [...]string{"CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK"}

func (t PacketType) String() string {
	if int(t) < len(packetTypeNames) {
		return packetTypeNames[t]
	}
	return fmt.Sprintf("PacketType(%d)", byte(t))
}

// Binary reports whether packets of type t are followed by binary
// attachments.
func (t PacketType) Binary() bool { return t == PacketBinaryEvent || t == PacketBinaryAck }

// MaxAttachments bounds the binary attachments one packet may announce:
// socket.io-parser's default maxAttachments.
const MaxAttachments = 10

// Packet is one Socket.IO packet: the text of an Engine.IO MESSAGE after its
// type byte '4', as in
//
//	451-/events,["binary_data",{"_placeholder":true,"num":0}]
//	 ^^ ^       ^ data
//	 |  namespace
//	 type 5, 1 attachment
//
// Data aliases the buffer the packet was parsed from.
type Packet struct {
	Type        PacketType
	Attachments int    // binary types only: how many binary messages follow
	Namespace   string // "/" (the default) when the packet names none
	ID          uint64 // the acknowledgement id, when HasID
	HasID       bool
	Data        []byte // JSON, or nil when the packet carries none
}

// errBadPacket is wrapped by every error of ParsePacket.
var errBadPacket = errors.New("socketio: malformed packet")

// ParsePacket decodes a Socket.IO packet (without the Engine.IO type
// byte) as the official parser (socket.io-parser 4) does: a namespace may
// end at its comma or at the end of the packet, and the data must be JSON
// of the shape the type allows (an object for CONNECT, none for
// DISCONNECT, an object or a string for CONNECT_ERROR, an array whose first
// element is a number or a name socket.io does not reserve for events, an
// array for acknowledgements). Data aliases b. It never panics.
//
// It differs from socket.io-parser on purpose in what it refuses:
//   - EVENT, ACK and CONNECT_ERROR packets without data (2, 3/events,):
//     socket.io-parser lets them through and the receiver gets an event
//     without a name or an acknowledgement without arguments;
//   - an attachment count that is not plain decimal digits: socket.io-parser
//     takes whatever JavaScript's Number takes ("1e0", "0x1", " 1");
//     leading zeros are accepted by both, and both take 1 to
//     [MaxAttachments];
//   - an acknowledgement id beyond 2^53-1, which a JavaScript number cannot
//     hold exactly.
func ParsePacket(b []byte) (Packet, error) {
	var p Packet
	if len(b) == 0 {
		return p, fmt.Errorf("%w: empty", errBadPacket)
	}
	if b[0] < '0' || b[0] > '6' {
		return p, fmt.Errorf("%w: unknown type %q", errBadPacket, b[0])
	}
	p.Type = PacketType(b[0] - '0')
	i := 1
	if p.Type.Binary() {
		j, n := i, 0
		for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
			n = min(n*10+int(b[j]-'0'), MaxAttachments+1) // saturates: no overflow
		}
		if j == i || j == len(b) || b[j] != '-' || n < 1 {
			return p, fmt.Errorf("%w: %s without a valid attachment count", errBadPacket, p.Type)
		}
		if n > MaxAttachments {
			return p, fmt.Errorf("%w: more than %d attachments announced", errBadPacket, MaxAttachments)
		}
		p.Attachments = n
		i = j + 1
	}
	p.Namespace = "/"
	if i < len(b) && b[i] == '/' {
		j := bytes.IndexByte(b[i:], ',')
		if j < 0 {
			p.Namespace, i = string(b[i:]), len(b)
		} else {
			p.Namespace, i = string(b[i:i+j]), i+j+1
		}
	}
	j := i
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	if j > i {
		id, err := strconv.ParseUint(string(b[i:j]), 10, 53) // a JavaScript number stays exact
		if err != nil {
			return p, fmt.Errorf("%w: acknowledgement id %q", errBadPacket, b[i:j])
		}
		p.ID, p.HasID, i = id, true, j
	}
	if i < len(b) {
		p.Data = b[i:]
		if !json.Valid(p.Data) {
			return p, fmt.Errorf("%w: %s data is not JSON", errBadPacket, p.Type)
		}
	}
	if !payloadValid(p.Type, p.Data) {
		return p, fmt.Errorf("%w: %s cannot carry this data", errBadPacket, p.Type)
	}
	return p, nil
}

// payloadValid mirrors socket.io-parser's Decoder.isPayloadValid; data is
// valid JSON or nil.
func payloadValid(t PacketType, data []byte) bool {
	first := byte(0)
	if d := bytes.TrimLeft(data, " \t\r\n"); len(d) > 0 {
		first = d[0]
	}
	switch t {
	case PacketConnect:
		return data == nil || first == '{'
	case PacketDisconnect:
		return data == nil
	case PacketConnectError:
		return first == '{' || first == '"'
	case PacketEvent, PacketBinaryEvent:
		if first != '[' {
			return false
		}
		name, _, err := splitEvent(data)
		if err == nil {
			return !reserved(name)
		}
		return firstIsNumber(data)
	case PacketAck, PacketBinaryAck:
		return first == '['
	}
	return false
}

// reserved reports the event names socket.io keeps for itself and never
// delivers.
func reserved(name string) bool {
	switch name {
	case "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener":
		return true
	}
	return false
}

func firstIsNumber(data []byte) bool {
	var v []json.RawMessage
	if json.Unmarshal(data, &v) != nil || len(v) == 0 {
		return false
	}
	var f float64
	return json.Unmarshal(v[0], &f) == nil
}

// AppendPacket appends the text of p (without the Engine.IO type byte) to
// dst as the official encoder writes it: the default namespace "/" (or "")
// is left out, any other is followed by a comma. p.Data is written as is
// and must be JSON. It does not allocate when dst has room.
func AppendPacket(dst []byte, p Packet) []byte {
	dst = append(dst, '0'+byte(p.Type))
	if p.Type.Binary() {
		dst = strconv.AppendInt(dst, int64(p.Attachments), 10)
		dst = append(dst, '-')
	}
	if p.Namespace != "" && p.Namespace != "/" {
		dst = append(dst, p.Namespace...)
		dst = append(dst, ',')
	}
	if p.HasID {
		dst = strconv.AppendUint(dst, p.ID, 10)
	}
	return append(dst, p.Data...)
}

// splitEvent splits the data of an event, ["name", args…], into the name
// and the text after the comma that follows it (the other arguments and the
// closing bracket; empty when the name is the only element). rest aliases
// data, which must be valid JSON.
func splitEvent(data []byte) (name string, rest []byte, err error) {
	d := bytes.TrimLeft(data, " \t\r\n")
	if len(d) == 0 || d[0] != '[' {
		return "", nil, errors.New("event data is not an array")
	}
	d = bytes.TrimLeft(d[1:], " \t\r\n")
	end := stringEnd(d)
	if end < 0 {
		return "", nil, errors.New("event data does not start with a name")
	}
	if err := json.Unmarshal(d[:end], &name); err != nil {
		return "", nil, fmt.Errorf("event name: %w", err)
	}
	d = bytes.TrimLeft(d[end:], " \t\r\n")
	switch {
	case len(d) > 0 && d[0] == ']':
		return name, nil, nil
	case len(d) > 0 && d[0] == ',':
		return name, d[1:], nil
	}
	return "", nil, errors.New("event data is not an array")
}

// eventArgs returns the JSON array of an event's arguments, given the rest
// splitEvent returned, in a new slice.
func eventArgs(rest []byte) []byte {
	if len(rest) == 0 {
		return []byte("[]")
	}
	args := make([]byte, 0, 1+len(rest))
	return append(append(args, '['), rest...)
}

// stringEnd returns the length of the JSON string at the start of d, or -1
// when d does not start with a complete one.
func stringEnd(d []byte) int {
	if len(d) == 0 || d[0] != '"' {
		return -1
	}
	for i := 1; i < len(d); i++ {
		switch d[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// Handshake is the JSON of the Engine.IO OPEN packet the server sends first.
type Handshake struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"` // milliseconds between the server's pings
	PingTimeout  int64    `json:"pingTimeout"`  // milliseconds the server waits for a pong
	MaxPayload   int64    `json:"maxPayload"`   // bytes in one message the server takes; 0: not said
}

// maxPingMillis bounds pingInterval and pingTimeout: a day, far beyond any
// server's, and far below what overflows a [time.Duration].
const maxPingMillis = 24 * 60 * 60 * 1000

// ParseHandshake decodes the OPEN packet's JSON (after the type byte '0')
// and checks that it gives a session id, a pingInterval and a pingTimeout
// each above 0 ms and at most 24 h, and no negative maxPayload.
func ParseHandshake(b []byte) (Handshake, error) {
	var h Handshake
	if err := json.Unmarshal(b, &h); err != nil {
		return h, fmt.Errorf("socketio: the OPEN packet is not the handshake JSON: %w", err)
	}
	if h.SID == "" {
		return h, fmt.Errorf("socketio: the OPEN packet lacks a sid: %.200s", b)
	}
	for _, f := range []struct {
		name string
		ms   int64
	}{{"pingInterval", h.PingInterval}, {"pingTimeout", h.PingTimeout}} {
		if f.ms <= 0 || f.ms > maxPingMillis {
			return h, fmt.Errorf("socketio: the OPEN packet's %s %d ms is not above 0 and at most 24 h: %.200s", f.name, f.ms, b)
		}
	}
	if h.MaxPayload < 0 {
		return h, fmt.Errorf("socketio: the OPEN packet's maxPayload %d is negative: %.200s", h.MaxPayload, b)
	}
	return h, nil
}

// Silence returns how long the server may stay silent before the client
// takes it for dead: pingInterval + pingTimeout, as socket.io-client waits.
func (h Handshake) Silence() time.Duration {
	return time.Duration(h.PingInterval+h.PingTimeout) * time.Millisecond
}

package refserver

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/transport/socketio"
)

// aiolaDialect is the aiOla streaming STT [dialect]: Socket.IO v4 over
// Engine.IO 4 on a WebSocket. In: pongs, the namespace CONNECT and
// DISCONNECT, and the events binary_data (a binary event: its text packet,
// then its attachment, the audio) and set_keywords; any other event is
// counted (set_schema_values acknowledged). Out: the OPEN packet, pings, the
// namespace's answer and the events transcript and error. It sends no
// segment start or end markers, as aiOla sends none.
type aiolaDialect struct {
	interval, timeout time.Duration
	noConnected       bool   // Faults.NoConnected: the CONNECT goes unanswered
	sid, nspSID       string // the Engine.IO session's id, the namespace's

	// Reader goroutine only.
	joined  bool          // the namespace CONNECT was answered, no DISCONNECT since
	pending *aiolaPending // a binary packet whose attachments are being read
}

// aiolaPending is a binary packet (BINARY_EVENT or BINARY_ACK) whose
// attachments, each one binary message, are being read. Every attachment
// it announced is read as its own, whether used or not, so that none is
// taken for a message of its own.
type aiolaPending struct {
	name      string // the event: binary_data, set_keywords or another
	want, got int
	skip      bool // already answered (bad) or meaningless (an ack): read and drop
	ack       any  // the acknowledgement to send once complete, or nil
}

// aiolaMaxPayload is the largest message an aiOla session accepts, and the
// maxPayload its OPEN packet announces: socket.io's default
// maxHttpBufferSize.
const aiolaMaxPayload = 1_000_000

func newAiolaDialect(interval, timeout time.Duration, noConnected bool) *aiolaDialect {
	return &aiolaDialect{interval: interval, timeout: timeout, noConnected: noConnected, sid: engineID(), nspSID: engineID()}
}

// engineID returns a random id of 20 URL-safe characters, like the ids of
// the Engine.IO server.
func engineID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// millis returns d in whole milliseconds, at least 1.
func millis(d time.Duration) int64 { return max(1, d.Milliseconds()) }

// greeting is the Engine.IO OPEN packet.
func (d *aiolaDialect) greeting() any {
	b, _ := json.Marshal(socketio.Handshake{
		SID:          d.sid,
		Upgrades:     []string{},
		PingInterval: millis(d.interval),
		PingTimeout:  millis(d.timeout),
		MaxPayload:   aiolaMaxPayload,
	})
	return rawText(append([]byte{socketio.EngineOpen}, b...))
}

// parse reads one Engine.IO packet (a text message) or binary attachment.
func (d *aiolaDialect) parse(typ websocket.MessageType, p []byte) clientMsg {
	if typ == websocket.MessageBinary {
		return d.attachment(p)
	}
	if len(p) == 0 {
		return aiolaBad("an empty text message is no Engine.IO packet", "INVALID_PACKET")
	}
	switch p[0] {
	case socketio.EngineMessage:
	case socketio.EnginePong:
		return clientMsg{kind: msgPong}
	case socketio.EngineClose:
		return clientMsg{kind: msgClose}
	case socketio.EnginePing, socketio.EngineNoop, socketio.EngineUpgrade:
		return clientMsg{kind: msgIgnored} // nothing for a server to do in Engine.IO 4 on a WebSocket
	default:
		return aiolaBad(fmt.Sprintf("%.40q is no Engine.IO packet: the first byte must be 0 to 6", p), "INVALID_PACKET")
	}
	if pd := d.pending; pd != nil {
		// socket.io-parser throws here and the server closes the
		// connection; the reference server answers and goes on.
		d.pending = nil
		return aiolaBad(fmt.Sprintf("a text packet came after %d of the %d binary attachments of a %q packet; both are dropped", pd.got, pd.want, pd.name), "INVALID_PACKET")
	}
	pkt, err := socketio.ParsePacket(p[1:])
	if err != nil {
		return aiolaBad(err.Error(), "INVALID_PACKET")
	}
	switch pkt.Type {
	case socketio.PacketConnect:
		return d.connect(pkt)
	case socketio.PacketDisconnect:
		if pkt.Namespace == AiolaNamespace && d.joined {
			d.joined = false
			return clientMsg{kind: msgDisconnect}
		}
		return clientMsg{kind: msgIgnored}
	case socketio.PacketEvent, socketio.PacketBinaryEvent:
		return d.event(pkt)
	case socketio.PacketAck:
		return clientMsg{kind: msgIgnored} // the server asks for none
	case socketio.PacketBinaryAck:
		d.pending = &aiolaPending{want: pkt.Attachments, skip: true}
		return clientMsg{kind: msgIgnored}
	}
	return aiolaBad(pkt.Type.String()+" packets come from servers only", "INVALID_PACKET")
}

// connect answers a namespace CONNECT as socket.io does: the namespace's
// sid, or CONNECT_ERROR "Invalid namespace" for any other namespace.
func (d *aiolaDialect) connect(pkt socketio.Packet) clientMsg {
	if pkt.Namespace != AiolaNamespace {
		return clientMsg{kind: msgIgnored, replies: []any{
			aiolaPacket(socketio.PacketConnectError, pkt.Namespace, []byte(`{"message":"Invalid namespace"}`)),
		}}
	}
	if d.noConnected {
		return clientMsg{kind: msgIgnored}
	}
	d.joined = true
	return clientMsg{kind: msgIgnored, replies: []any{
		aiolaPacket(socketio.PacketConnect, AiolaNamespace, []byte(`{"sid":"`+d.nspSID+`"}`)),
	}}
}

// event reads an EVENT or the text packet of a BINARY_EVENT.
func (d *aiolaDialect) event(pkt socketio.Packet) clientMsg {
	var args []json.RawMessage
	var name string
	if json.Unmarshal(pkt.Data, &args) != nil || len(args) == 0 || json.Unmarshal(args[0], &name) != nil {
		return d.refuse(pkt, "an event without a name: the first element of its array must be the event's name")
	}
	switch {
	case pkt.Namespace != AiolaNamespace:
		return d.refuse(pkt, "an event for namespace "+pkt.Namespace+"; this server serves "+AiolaNamespace+" only")
	case !d.joined:
		return d.refuse(pkt, "an event before the namespace was joined: send 40"+AiolaNamespace+", and wait for the server's answer")
	}
	binary := pkt.Type == socketio.PacketBinaryEvent
	oneAttachment := binary && pkt.Attachments == 1 && len(args) >= 2 && isPlaceholder(args[1], 0)
	switch name {
	case "binary_data": // a second argument, the JS SDK's metadata, is allowed
		if !oneAttachment {
			return d.refuse(pkt, `binary_data must carry the audio as its one binary attachment: `+
				`451-/events,["binary_data",{"_placeholder":true,"num":0}] (optionally with a metadata object after it), then the bytes`)
		}
	case "set_keywords":
		if !binary {
			if len(args) < 2 {
				return aiolaBad("set_keywords without keywords: send a JSON object of strings", "INVALID_KEYWORDS")
			}
			return keywordsMsg(args[1])
		}
		if !oneAttachment {
			return d.refuse(pkt, "set_keywords must carry its keywords as one argument: a JSON object, or one binary attachment holding it")
		}
	default:
		if !binary {
			return clientMsg{kind: msgIgnored, event: name, replies: ackOf(name, pkt)}
		}
	}
	d.pending = &aiolaPending{name: name, want: pkt.Attachments}
	if acks := ackOf(name, pkt); acks != nil {
		d.pending.ack = acks[0]
	}
	return clientMsg{kind: msgIgnored} // the attachments complete it
}

// ackOf returns the acknowledgement of an event that asked for one and
// gets one: set_schema_values, answered {"status":"ok"} as the JS SDK's
// setSchemaValues callback expects. Other events get none.
func ackOf(name string, pkt socketio.Packet) []any {
	if !pkt.HasID || name != "set_schema_values" {
		return nil
	}
	return []any{rawText(socketio.AppendPacket([]byte{socketio.EngineMessage}, socketio.Packet{
		Type: socketio.PacketAck, Namespace: AiolaNamespace, ID: pkt.ID, HasID: true, Data: []byte(`[{"status":"ok"}]`),
	}))}
}

// refuse answers a bad event with an error event; a binary event's
// attachments are then read and dropped.
func (d *aiolaDialect) refuse(pkt socketio.Packet, problem string) clientMsg {
	if pkt.Type == socketio.PacketBinaryEvent {
		d.pending = &aiolaPending{want: pkt.Attachments, skip: true}
	}
	return aiolaBad(problem, "INVALID_EVENT")
}

// attachment reads a binary message: the next attachment of the pending
// packet.
func (d *aiolaDialect) attachment(p []byte) clientMsg {
	pd := d.pending
	if pd == nil {
		return aiolaBad(fmt.Sprintf("a binary message of %d bytes that no packet announced: send binary_data as "+
			`451-/events,["binary_data",{"_placeholder":true,"num":0}], then the bytes`, len(p)), "INVALID_PACKET")
	}
	if pd.got++; pd.got == pd.want {
		d.pending = nil
	}
	switch {
	case pd.skip || pd.got < pd.want:
		return clientMsg{kind: msgIgnored}
	case pd.name == "binary_data":
		return clientMsg{kind: msgAudio, audio: p, event: pd.name}
	case pd.name == "set_keywords":
		return keywordsMsg(p)
	}
	m := clientMsg{kind: msgIgnored, event: pd.name}
	if pd.ack != nil {
		m.replies = []any{pd.ack}
	}
	return m
}

// keywordsMsg reads the keywords of set_keywords: a JSON object of strings
// (spoken → written).
func keywordsMsg(b []byte) clientMsg {
	var kw map[string]string
	if json.Unmarshal(b, &kw) != nil || kw == nil {
		return aiolaBad(fmt.Sprintf(`set_keywords needs a JSON object of strings, e.g. {"eye ola":"aiOla"}; got %.80q`, b), "INVALID_KEYWORDS")
	}
	var c bytes.Buffer
	_ = json.Compact(&c, b)
	return clientMsg{kind: msgConfig, event: "set_keywords", keywords: c.String()}
}

// isPlaceholder reports whether raw is {"_placeholder":true,"num":num}.
func isPlaceholder(raw json.RawMessage, num int) bool {
	var p struct {
		Placeholder bool         `json:"_placeholder"`
		Num         *json.Number `json:"num"`
	}
	return json.Unmarshal(raw, &p) == nil && p.Placeholder && p.Num != nil && p.Num.String() == fmt.Sprint(num)
}

func aiolaBad(problem, code string) clientMsg {
	return clientMsg{kind: msgBad, problem: problem, code: code}
}

// aiolaPacket returns the Engine.IO MESSAGE of a Socket.IO packet.
func aiolaPacket(typ socketio.PacketType, namespace string, data []byte) rawText {
	return rawText(socketio.AppendPacket([]byte{socketio.EngineMessage}, socketio.Packet{Type: typ, Namespace: namespace, Data: data}))
}

// emit returns the event [name, v] on the namespace.
func emit(name string, v any) rawText {
	b, _ := json.Marshal([]any{name, v})
	return aiolaPacket(socketio.PacketEvent, AiolaNamespace, b)
}

// The payloads of the events an aiOla server sends. transcript is the JS
// SDK's TranscriptEvent, field for field. The SDKs declare no shape for
// error (the JS SDK's type says Error); it carries message and code like
// the service's HTTP errors.
type aiolaTranscript struct {
	Transcript string `json:"transcript"`
}

type aiolaErrorEvent struct {
	Message string `json:"message"`
	Code    string `json:"code"`
}

func (d *aiolaDialect) started(Segment) []any     { return nil }
func (d *aiolaDialect) ended(Segment, bool) []any { return nil }
func (d *aiolaDialect) transcript(seg Segment, _ time.Duration) any {
	return emit("transcript", aiolaTranscript{Transcript: seg.Text})
}

// errorMsg returns an error event; codes are upper case, as the SDKs'.
func (d *aiolaDialect) errorMsg(text, code string) any {
	return emit("error", aiolaErrorEvent{Message: text, Code: strings.ToUpper(code)})
}

func (d *aiolaDialect) readLimit() (int64, string) {
	return aiolaMaxPayload, fmt.Sprintf("a message exceeded the maxPayload of %d bytes the OPEN packet announced", aiolaMaxPayload)
}

// heartbeat is the Engine.IO ping, "2", every interval; the pong must come
// within timeout.
func (d *aiolaDialect) heartbeat() (any, time.Duration, time.Duration) {
	return rawText{socketio.EnginePing}, d.interval, d.timeout
}

package refserver

import (
	"time"

	"github.com/coder/websocket"
)

// dialect is what a service's protocol adds to the shared [session]: how a
// client message is read and how every answer is worded. A session makes
// its dialect from its handshake. parse runs on the session's reader
// goroutine only; the other methods may run on timer and heartbeat
// goroutines too and must not change the dialect.
//
// An answer (the any values below) is sent as one text message: a [rawText]
// as it is, anything else encoded with encoding/json. Vachana and Sarvam
// answer with JSON values; aiOla, whose messages are Engine.IO and
// Socket.IO packets (42/events,[…]), with rawText.
type dialect interface {
	// greeting returns the message sent right after the upgrade, or nil.
	greeting() any
	// parse reads one client message of type typ. The audio it returns may
	// alias p or the dialect's own buffer: it is valid until the next parse.
	parse(typ websocket.MessageType, p []byte) clientMsg
	// started returns the messages announcing that seg started.
	started(seg Segment) []any
	// ended returns the messages announcing that seg ended, before its
	// transcript; flushed says a flush message ended it, not silence.
	ended(seg Segment, flushed bool) []any
	// transcript returns seg's transcript message, sent delay after it ended.
	transcript(seg Segment, delay time.Duration) any
	// errorMsg returns an error message with text and a machine-readable
	// code (which a dialect may leave out).
	errorMsg(text, code string) any
	// readLimit returns the largest message the session accepts and what to
	// say when one is larger.
	readLimit() (n int64, why string)
	// heartbeat returns the ping the server sends every interval, and how
	// long it then waits for the client's answer (a msgPong) before it
	// drops the connection. A zero interval means the protocol has no
	// server pings (Vachana and Sarvam: their clients ping, and
	// coder/websocket answers).
	heartbeat() (ping any, interval, timeout time.Duration)
}

// rawText is an answer sent as one text message exactly as it is, not
// encoded as JSON.
type rawText []byte

// msgKind says what a client message asks of the session.
type msgKind int

const (
	msgIgnored    msgKind = iota // no meaning in the protocol: only counted
	msgAudio                     // audio to judge
	msgFlush                     // end the open segment now
	msgConfig                    // settings the server records only
	msgBad                       // unusable: answered with an error, counted
	msgPong                      // the answer to the heartbeat's ping
	msgDisconnect                // the client left (aiOla: 41/events,): a normal end once it closes
	msgClose                     // the client closes the session (Engine.IO CLOSE): as msgDisconnect
)

// clientMsg is one parsed client message.
type clientMsg struct {
	kind  msgKind
	audio []byte // msgAudio: s16le PCM, valid until the next parse
	// problem and code explain a msgBad to the client.
	problem, code string
	// replies are sent back at once, in order, whatever the kind (aiOla's
	// answer to a namespace CONNECT).
	replies []any
	// event names the Socket.IO event the message carried, counted in
	// [Report.Events]; "" for none.
	event string
	// keywords is, for an aiOla set_keywords (a msgConfig), the keywords
	// object as JSON, recorded in [Report.Keywords].
	keywords string
}

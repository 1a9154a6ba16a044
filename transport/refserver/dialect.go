package refserver

import (
	"time"

	"github.com/coder/websocket"
)

// dialect is what a service's protocol adds to the shared [session]: how a
// client message is read and how every answer is worded. A session makes
// its dialect from its handshake. parse runs on the session's reader
// goroutine only; the other methods may run on timer goroutines too and must
// not change the dialect.
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
}

// msgKind says what a client message asks of the session.
type msgKind int

const (
	msgIgnored msgKind = iota // no meaning in the protocol: only counted
	msgAudio                  // audio to judge
	msgFlush                  // end the open segment now
	msgConfig                 // settings the server records only
	msgBad                    // unusable: answered with an error, counted
)

// clientMsg is one parsed client message.
type clientMsg struct {
	kind  msgKind
	audio []byte // msgAudio: s16le PCM, valid until the next parse
	// problem and code explain a msgBad to the client.
	problem, code string
}

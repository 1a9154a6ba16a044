package aiola

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"

	"github.com/vachana-pipe/vachana-pipe/transport"
)

// wirePayload holds the fields of every event's payload: a transcript
// ({"transcript":…}; the JS SDK's doc comments also speak of text, isFinal
// and timestamp), a translation ({"translation":…}) and an error, whose
// text aiOla documents nowhere and is looked for in message, error (text or
// {message, code}), detail and reason.
type wirePayload struct {
	Transcript  transport.Lenient `json:"transcript"`
	Translation transport.Lenient `json:"translation"`
	Text        transport.Lenient `json:"text"`
	Timestamp   transport.Lenient `json:"timestamp"`
	IsFinal     json.RawMessage   `json:"isFinal"`
	IsFinalPy   json.RawMessage   `json:"is_final"`

	Message transport.Lenient `json:"message"`
	Error   json.RawMessage   `json:"error"`
	Detail  transport.Lenient `json:"detail"`
	Reason  transport.Lenient `json:"reason"`
	Code    transport.Lenient `json:"code"`
	Fatal   json.RawMessage   `json:"fatal"`
}

var errNotArray = errors.New("aiola: the event's arguments are not a JSON array")

// ParseEvent decodes one event of the server, named name with args its
// arguments as a JSON array (as [socketio.Event] holds them). Event.Type is
// name; Event.Raw is the first argument's JSON — the payload the SDKs hand
// their listeners, so that Raw is the JSON object the service sent, as it
// is with the other dialects — or the whole array when the event has no
// argument or more than one, so that nothing is lost.
//
// Fields are read leniently ([transport.Lenient]): a payload of an
// unexpected shape gives an event with what could be read (a transcript
// sent as a bare string is its text), never an error. A transcript is
// final unless it says isFinal (or is_final) false. An error is Fatal only
// when its payload says "fatal": true: no SDK says that any error ends a
// session, and a session the server ends is seen through ReadEvent's
// *transport.ClosedError. Only args that are not a JSON array give a
// *[transport.MalformedError]. ParseEvent never panics; the event's Raw
// aliases args, which the caller must not modify afterwards.
func ParseEvent(name string, args []byte) (transport.Event, error) {
	var list []json.RawMessage
	t := bytes.TrimSpace(args)
	if len(t) == 0 || t[0] != '[' || json.Unmarshal(t, &list) != nil {
		return transport.Event{Type: name, Raw: args}, &transport.MalformedError{Raw: args, Err: errNotArray}
	}
	ev := transport.Event{Type: name, Raw: args}
	var arg []byte // the first argument, trimmed
	if len(list) > 0 {
		arg = bytes.TrimSpace(list[0])
	}
	if len(list) == 1 {
		ev.Raw = list[0]
	}
	var p wirePayload
	var text transport.Lenient // the argument itself, when it is not an object
	switch {
	case len(arg) > 0 && arg[0] == '{':
		json.Unmarshal(arg, &p) // valid JSON (the array was); a field of a wrong type only leaves it out
	case len(arg) > 0 && arg[0] != '[':
		json.Unmarshal(arg, &text)
	}
	switch name {
	case EventTranscript:
		ev.Kind = transport.Transcript
		ev.Text = string(cmp.Or(p.Transcript, p.Text, text))
		ev.Final = !isFalse(p.IsFinal) && !isFalse(p.IsFinalPy)
		ev.Timestamp = string(p.Timestamp)
	case EventTranslation:
		ev.Kind = transport.Translation
		ev.Text = string(cmp.Or(p.Translation, p.Text, text))
		ev.Timestamp = string(p.Timestamp)
	case EventStructured:
		ev.Kind = transport.Structured
		ev.Timestamp = string(p.Timestamp)
	case EventError:
		ev.Kind = transport.Error
		var inner struct {
			Message transport.Lenient `json:"message"`
			Code    transport.Lenient `json:"code"`
		}
		var errText transport.Lenient
		if e := bytes.TrimSpace(p.Error); len(e) > 0 && e[0] == '{' {
			json.Unmarshal(e, &inner)
		} else if len(e) > 0 && e[0] != '[' {
			json.Unmarshal(e, &errText)
		}
		ev.Message = string(cmp.Or(p.Message, inner.Message, errText, p.Detail, p.Reason, text))
		if ev.Message == "" {
			ev.Message = "the server sent an error without a message"
		}
		if code := cmp.Or(p.Code, inner.Code); code != "" {
			ev.Message += " (code " + string(code) + ")"
		}
		ev.Fatal = bytes.Equal(bytes.TrimSpace(p.Fatal), []byte("true"))
	}
	return ev, nil
}

// isFalse reports whether v is the JSON false (or the text "false").
func isFalse(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return bytes.Equal(v, []byte("false")) || bytes.Equal(v, []byte(`"false"`))
}

package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// EventType is the "type" field of a server message.
type EventType string

// The event types of Vachana v3. Any other type may arrive and is passed
// through in [Event.Raw].
const (
	Connected  EventType = "connected"
	Processing EventType = "processing"
	Transcript EventType = "transcript"
	Error      EventType = "error"

	SpeechStart EventType = "speech_start"
	SpeechEnd   EventType = "speech_end"
	VADStart    EventType = "vad_start"
	VADEnd      EventType = "vad_end"
)

// Event is one message from the server. Fields the message does not carry
// are zero; Raw always holds the message exactly as received, so events of
// types this package does not know, and fields it does not decode, are never
// lost.
type Event struct {
	Type      EventType
	Timestamp string // ISO-8601, as sent
	Message   string // connected, error

	// connected
	SampleRate int    // config.sample_rate
	ChunkSize  int    // config.chunk_size, in samples
	RequestID  string // request_id, when the server sends one

	// transcript
	Text            string
	AudioDurationMS float64
	SegmentID       string
	SegmentIndex    string  // sent as a string or a number; kept as its text
	LatencyMS       float64 // the server's processing latency, "latency"
	IsFinal         bool    // true unless the server sent "is_final": false

	Raw json.RawMessage

	// Set by pipeline.Run, not sent by the server: the session the event
	// came on (1, then 2 after the first reconnection…) and, for processing
	// and transcript events, the segment's number from 0, counted across
	// sessions so it only grows.
	Session int
	Segment int
}

// flex decodes a JSON string, number, boolean or null into its text form, so a
// field documented as a string that arrives as a number (or the other way
// round) is still read.
type flex string

func (f *flex) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flex(s)
	case bytes.Equal(b, []byte("null")):
		*f = ""
	case len(b) > 0 && (b[0] == '{' || b[0] == '['):
		*f = flex(b) // an unexpected object: keep its text rather than fail
	default:
		*f = flex(b)
	}
	return nil
}

func (f flex) float() float64 {
	v, err := strconv.ParseFloat(string(f), 64)
	if err != nil {
		return 0
	}
	return v
}

func (f flex) int() int {
	return int(f.float())
}

type wireEvent struct {
	Type            flex            `json:"type"`
	Timestamp       flex            `json:"timestamp"`
	Message         flex            `json:"message"`
	Text            flex            `json:"text"`
	AudioDurationMS flex            `json:"audio_duration_ms"`
	SegmentID       flex            `json:"segment_id"`
	SegmentIndex    flex            `json:"segment_index"`
	Latency         flex            `json:"latency"`
	IsFinal         *flex           `json:"is_final"`
	RequestID       flex            `json:"request_id"`
	Config          json.RawMessage `json:"config"`
}

type wireConfig struct {
	SampleRate flex `json:"sample_rate"`
	ChunkSize  flex `json:"chunk_size"`
}

var errNotObject = errors.New("not an object")

// MalformedError reports a server message that is not a JSON object. The
// connection is still usable; the message is in Raw.
type MalformedError struct {
	Raw []byte
	Err error
}

func (e *MalformedError) Error() string {
	const max = 120
	raw := e.Raw
	if len(raw) > max {
		raw = raw[:max]
	}
	return fmt.Sprintf("transport: server sent a message that is not a JSON object (%v): %q", e.Err, raw)
}

func (e *MalformedError) Unwrap() error { return e.Err }

// ParseEvent decodes one server message. Fields of unexpected JSON types are
// read leniently (a number where a string was documented, and the reverse).
// A message that is not a JSON object gives a *[MalformedError]. ParseEvent
// keeps msg as Event.Raw; the caller must not modify it afterwards.
func ParseEvent(msg []byte) (Event, error) {
	var w wireEvent
	err := errNotObject
	if t := bytes.TrimSpace(msg); len(t) > 0 && t[0] == '{' {
		err = json.Unmarshal(msg, &w)
	}
	if err != nil {
		return Event{Raw: msg}, &MalformedError{Raw: msg, Err: err}
	}
	ev := Event{
		Type:            EventType(w.Type),
		Timestamp:       string(w.Timestamp),
		Message:         string(w.Message),
		Text:            string(w.Text),
		AudioDurationMS: w.AudioDurationMS.float(),
		SegmentID:       string(w.SegmentID),
		SegmentIndex:    string(w.SegmentIndex),
		LatencyMS:       w.Latency.float(),
		IsFinal:         true,
		RequestID:       string(w.RequestID),
		Raw:             msg,
	}
	if w.IsFinal != nil {
		switch string(*w.IsFinal) {
		case "false", "False", "0":
			ev.IsFinal = false
		}
	}
	var c wireConfig
	if len(w.Config) > 0 && json.Unmarshal(w.Config, &c) == nil {
		ev.SampleRate = c.SampleRate.int()
		ev.ChunkSize = c.ChunkSize.int()
	}
	return ev, nil
}

package vachana

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/vachana-pipe/vachana-pipe/transport"
)

// The message types of Vachana v3, as [transport.Event.Type]. Any other
// type may arrive and is passed through as [transport.Other], its message
// in Raw.
const (
	TypeConnected  = "connected"
	TypeProcessing = "processing"
	TypeTranscript = "transcript"
	TypeError      = "error"

	TypeSpeechStart = "speech_start"
	TypeSpeechEnd   = "speech_end"
	TypeVADStart    = "vad_start"
	TypeVADEnd      = "vad_end"
)

// kinds maps Vachana's message types onto the normalised kinds.
var kinds = map[string]transport.Kind{
	TypeConnected:   transport.Connected,
	TypeProcessing:  transport.SegmentEnded,
	TypeTranscript:  transport.Transcript,
	TypeError:       transport.Error,
	TypeSpeechStart: transport.SpeechStarted,
	TypeVADStart:    transport.SpeechStarted,
	TypeSpeechEnd:   transport.SpeechEnded,
	TypeVADEnd:      transport.SpeechEnded,
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

// ParseEvent decodes one server message. Fields of unexpected JSON types are
// read leniently (a number where a string was documented, and the reverse).
// A message that is not a JSON object gives a *[transport.MalformedError]. ParseEvent
// keeps msg as Event.Raw; the caller must not modify it afterwards.
func ParseEvent(msg []byte) (transport.Event, error) {
	var w wireEvent
	err := errNotObject
	if t := bytes.TrimSpace(msg); len(t) > 0 && t[0] == '{' {
		err = json.Unmarshal(msg, &w)
	}
	if err != nil {
		return transport.Event{Raw: msg}, &transport.MalformedError{Raw: msg, Err: err}
	}
	ev := transport.Event{
		Kind:          kinds[string(w.Type)],
		Type:          string(w.Type),
		Timestamp:     string(w.Timestamp),
		Message:       string(w.Message),
		Text:          string(w.Text),
		AudioDuration: ms(w.AudioDurationMS.float()),
		SegmentID:     string(w.SegmentID),
		SegmentIndex:  string(w.SegmentIndex),
		Latency:       ms(w.Latency.float()),
		Final:         true,
		RequestID:     string(w.RequestID),
		Raw:           msg,
	}
	if w.IsFinal != nil {
		switch string(*w.IsFinal) {
		case "false", "False", "0":
			ev.Final = false
		}
	}
	var c wireConfig
	if len(w.Config) > 0 && json.Unmarshal(w.Config, &c) == nil {
		ev.SampleRate = c.SampleRate.int()
		ev.ChunkSize = c.ChunkSize.int()
	}
	return ev, nil
}

// ms converts milliseconds, as the service sends them, to a duration.
func ms(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

package vachana

import (
	"bytes"
	"encoding/json"
	"errors"
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

type wireEvent struct {
	Type            transport.Lenient  `json:"type"`
	Timestamp       transport.Lenient  `json:"timestamp"`
	Message         transport.Lenient  `json:"message"`
	Text            transport.Lenient  `json:"text"`
	AudioDurationMS transport.Lenient  `json:"audio_duration_ms"`
	SegmentID       transport.Lenient  `json:"segment_id"`
	SegmentIndex    transport.Lenient  `json:"segment_index"`
	Latency         transport.Lenient  `json:"latency"`
	IsFinal         *transport.Lenient `json:"is_final"`
	RequestID       transport.Lenient  `json:"request_id"`
	Config          json.RawMessage    `json:"config"`
}

type wireConfig struct {
	SampleRate transport.Lenient `json:"sample_rate"`
	ChunkSize  transport.Lenient `json:"chunk_size"`
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
		AudioDuration: ms(w.AudioDurationMS.Float()),
		SegmentID:     string(w.SegmentID),
		SegmentIndex:  string(w.SegmentIndex),
		Latency:       ms(w.Latency.Float()),
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
		ev.SampleRate = c.SampleRate.Int()
		ev.ChunkSize = c.ChunkSize.Int()
	}
	return ev, nil
}

// ms converts milliseconds, as the service sends them, to a duration.
func ms(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

package sarvam

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"time"

	"github.com/vachana-pipe/vachana-pipe/transport"
)

// The message types of Sarvam's streaming STT, as [transport.Event.Type]
// (events messages take their signal_type instead, so that the two kinds
// of voice activity are told apart). Any other type is passed through as
// [transport.Other], its message in Raw.
const (
	TypeData  = "data"
	TypeError = "error"

	TypeEvents      = "events"
	TypeStartSpeech = "START_SPEECH"
	TypeEndSpeech   = "END_SPEECH"
)

// wireMessage is every message: {"type":…,"data":{…}}. Error text found
// beside data rather than in it is read as well.
type wireMessage struct {
	Type    transport.Lenient `json:"type"`
	Data    json.RawMessage   `json:"data"`
	Error   transport.Lenient `json:"error"`
	Message transport.Lenient `json:"message"`
}

// wireData holds the fields of the three data shapes: a transcript
// (SpeechToTextTranscriptionData), voice activity (EventsData) and an error
// (ErrorData, whose text is in error or in message).
type wireData struct {
	RequestID           transport.Lenient `json:"request_id"`
	Transcript          transport.Lenient `json:"transcript"`
	LanguageCode        transport.Lenient `json:"language_code"`
	LanguageProbability transport.Lenient `json:"language_probability"`
	Metrics             json.RawMessage   `json:"metrics"` // wireMetrics, when it is an object

	EventType  transport.Lenient `json:"event_type"`
	SignalType transport.Lenient `json:"signal_type"`
	Timestamp  transport.Lenient `json:"timestamp"`
	OccuredAt  transport.Lenient `json:"occured_at"` // sic

	Error   transport.Lenient `json:"error"`
	Message transport.Lenient `json:"message"`
	Code    transport.Lenient `json:"code"`
}

type wireMetrics struct {
	AudioDuration     transport.Lenient `json:"audio_duration"`     // seconds
	ProcessingLatency transport.Lenient `json:"processing_latency"` // seconds
}

var errNotObject = errors.New("not an object")

// ParseEvent decodes one server message. Fields of unexpected JSON types are
// read leniently ([transport.Lenient]); metrics that are not an object are
// left out rather than losing the transcript. A message that is not a JSON
// object gives a *[transport.MalformedError]. ParseEvent keeps msg as Event.Raw; the
// caller must not modify it afterwards.
func ParseEvent(msg []byte) (transport.Event, error) {
	var w wireMessage
	err := errNotObject
	if t := bytes.TrimSpace(msg); len(t) > 0 && t[0] == '{' {
		err = json.Unmarshal(msg, &w)
	}
	var d wireData
	if t := bytes.TrimSpace(w.Data); err == nil && len(t) > 0 && t[0] == '{' {
		err = json.Unmarshal(w.Data, &d)
	}
	if err != nil {
		return transport.Event{Raw: msg}, &transport.MalformedError{Raw: msg, Err: err}
	}
	ev := transport.Event{Type: string(w.Type), Raw: msg, Timestamp: string(d.Timestamp), RequestID: string(d.RequestID)}
	switch ev.Type {
	case TypeData:
		ev.Kind = transport.Transcript
		ev.Final = true // Sarvam sends finals only, one per utterance
		ev.Text = string(d.Transcript)
		ev.Language = string(d.LanguageCode)
		ev.LanguageProb = d.LanguageProbability.Float()
		var m wireMetrics
		if t := bytes.TrimSpace(d.Metrics); len(t) > 0 && t[0] == '{' && json.Unmarshal(t, &m) == nil {
			ev.AudioDuration = seconds(m.AudioDuration.Float())
			ev.Latency = seconds(m.ProcessingLatency.Float())
		}
	case TypeEvents:
		ev.Type = string(d.SignalType)
		switch ev.Type {
		case TypeStartSpeech:
			ev.Kind = transport.SpeechStarted
		case TypeEndSpeech:
			ev.Kind = transport.SegmentEnded
		default:
			ev.Type = TypeEvents // an event this version does not know: keep the message's type
		}
	case TypeError:
		ev.Kind = transport.Error
		var text transport.Lenient // data as plain text: {"type":"error","data":"quota exceeded"}
		if t := bytes.TrimSpace(w.Data); len(t) > 0 && t[0] == '"' {
			json.Unmarshal(t, &text)
		}
		ev.Message = string(cmp.Or(d.Error, d.Message, text, w.Error, w.Message))
		if ev.Message == "" {
			ev.Message = "the server sent an error without a message"
		}
		if d.Code != "" {
			ev.Message += " (code " + string(d.Code) + ")"
		}
	}
	return ev, nil
}

// seconds converts seconds, as the service sends them, to a duration:
// zero for a negative value, at most a day.
func seconds(v float64) time.Duration {
	return time.Duration(min(max(v, 0), 86400) * float64(time.Second))
}

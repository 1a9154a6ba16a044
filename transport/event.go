package transport

import (
	"encoding/json"
	"fmt"
	"time"
)

// Kind is what an [Event] means, whatever the service called it.
type Kind int

// The kinds of event. Every dialect maps its messages onto these; a
// message of a type it does not know is [Other], with its raw text kept.
const (
	Other Kind = iota
	// Connected: the service greeted the session (Vachana's connected).
	Connected
	// SegmentEnded: the service closed a speech segment and is
	// transcribing it; a final [Transcript] follows for each. It is the unit
	// the pipeline's drain counts and its replay's marker (Vachana's
	// processing, Sarvam's END_SPEECH).
	SegmentEnded
	// SpeechStarted and SpeechEnded: voice activity as the service sees
	// it (Vachana's speech_start/vad_start and speech_end/vad_end, Sarvam's
	// START_SPEECH). Passed on, never counted as segments.
	SpeechStarted
	SpeechEnded
	// Transcript: text, final or partial.
	Transcript
	// Error: the service reported a problem; Fatal when the dialect knows
	// the session cannot go on.
	Error
	// Translation: a translation of what was said, in Text (aiOla's
	// translation event). Passed on, never counted as a transcript.
	Translation
	// Structured: data the service extracted from what was said (aiOla's
	// structured event); the payload is in Raw. Passed on.
	Structured
)

var kindNames = [...]string{"other", "connected", "segment ended", "speech started", "speech ended", "transcript", "error", "translation", "structured"}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Event is one message from a service, normalised. Fields the message does
// not carry are zero. Raw always holds the message exactly as received, so
// events of unknown types, and fields no dialect decodes, are never lost.
type Event struct {
	Kind Kind
	Type string // the service's own name for the message ("processing", "vad_start"…)

	Timestamp string // as sent, when the service sends one
	Message   string // connected, error

	// Connected.
	SampleRate int    // the rate the service expects, if it says
	ChunkSize  int    // the samples per chunk it expects, if it says
	RequestID  string // the service's id for the session, if it says

	// Transcript (SegmentID and SegmentIndex also on SegmentEnded and voice
	// activity, when sent).
	Text          string
	Final         bool          // false for a partial transcript
	SegmentID     string        // the service's id of the segment
	SegmentIndex  string        // the service's index of the segment, as text (sent as a string or a number)
	Language      string        // the language the service detected, when it says
	LanguageProb  float64       // the service's confidence in Language, 0 to 1, when it says
	AudioDuration time.Duration // the segment's audio, as the service counts it
	Latency       time.Duration // the service's own processing latency

	// Error.
	Fatal bool

	Raw json.RawMessage
}

// MalformedError reports a message from the service that could not be
// decoded (for the JSON dialects: not a JSON object, or a binary message). The session goes on; the message is in Raw.
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

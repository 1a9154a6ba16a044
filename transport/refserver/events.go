package refserver

import (
	"strconv"
	"time"
)

// The JSON events the server sends, field for field as documented for the
// real service. segment_index is a string, as in the vendor's documentation.

type connectedEvent struct {
	Type      string          `json:"type"`
	Message   string          `json:"message"`
	Timestamp string          `json:"timestamp"`
	Config    connectedConfig `json:"config"`
	RequestID string          `json:"request_id"`
}

type connectedConfig struct {
	SampleRate int `json:"sample_rate"`
	ChunkSize  int `json:"chunk_size"` // samples per frame
}

// segmentEvent is processing, speech_start or speech_end.
type segmentEvent struct {
	Type         string `json:"type"`
	Timestamp    string `json:"timestamp"`
	SegmentIndex string `json:"segment_index"`
}

type transcriptEvent struct {
	Type            string  `json:"type"`
	Text            string  `json:"text"`
	AudioDurationMS int     `json:"audio_duration_ms"`
	SegmentID       string  `json:"segment_id"`
	SegmentIndex    string  `json:"segment_index"`
	Latency         float64 `json:"latency"` // ms
	Timestamp       string  `json:"timestamp"`
}

type errorEvent struct {
	Type      string `json:"type"`
	Message   string `json:"message"`
	Timestamp string `json:"timestamp"`
}

// timestamp returns the current time as the events carry it.
func timestamp() string { return time.Now().UTC().Format(time.RFC3339Nano) }

func newSegmentEvent(typ string, index int) segmentEvent {
	return segmentEvent{Type: typ, Timestamp: timestamp(), SegmentIndex: strconv.Itoa(index)}
}

func newTranscriptEvent(requestID string, seg Segment, delay time.Duration) transcriptEvent {
	k := strconv.Itoa(seg.Index)
	return transcriptEvent{
		Type:            "transcript",
		Text:            seg.Text,
		AudioDurationMS: seg.DurationMS,
		SegmentID:       requestID + "-" + k,
		SegmentIndex:    k,
		Latency:         float64(delay) / float64(time.Millisecond),
		Timestamp:       timestamp(),
	}
}

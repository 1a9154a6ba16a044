package refserver

import (
	"fmt"
	"strconv"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// vachanaDialect is the Vachana v3 [dialect]: binary audio in; connected,
// processing, transcript, error and (with [Options.VADEvents]) speech_start
// and speech_end out.
type vachanaDialect struct {
	hs          handshake
	vadEvents   bool
	noConnected bool
}

func (d vachanaDialect) greeting() any {
	if d.noConnected {
		return nil
	}
	return connectedEvent{
		Type:      "connected",
		Message:   "Connected to the Vachana v3 reference server; it recognises no words",
		Timestamp: timestamp(),
		Config:    connectedConfig{SampleRate: int(d.hs.rate), ChunkSize: frame.Samples},
		RequestID: d.hs.requestID,
	}
}

// parse takes every binary message as audio, whatever its size, and
// ignores text messages, which the protocol does not have.
func (d vachanaDialect) parse(typ websocket.MessageType, p []byte) clientMsg {
	if typ != websocket.MessageBinary {
		return clientMsg{kind: msgIgnored}
	}
	return clientMsg{kind: msgAudio, audio: p}
}

func (d vachanaDialect) started(seg Segment) []any {
	if !d.vadEvents {
		return nil
	}
	return []any{newSegmentEvent("speech_start", seg.Index)}
}

func (d vachanaDialect) ended(seg Segment, _ bool) []any {
	if !d.vadEvents {
		return []any{newSegmentEvent("processing", seg.Index)}
	}
	return []any{newSegmentEvent("speech_end", seg.Index), newSegmentEvent("processing", seg.Index)}
}

func (d vachanaDialect) transcript(seg Segment, delay time.Duration) any {
	return newTranscriptEvent(d.hs.requestID, seg, delay)
}

func (d vachanaDialect) errorMsg(text, _ string) any {
	return errorEvent{Type: "error", Message: text, Timestamp: timestamp()}
}

// heartbeat is none: Vachana clients ping.
func (d vachanaDialect) heartbeat() (any, time.Duration, time.Duration) { return nil, 0, 0 }

// vachanaReadLimit is the largest message a Vachana session accepts; the
// real frames are 1024 bytes.
const vachanaReadLimit = 64 << 10

func (d vachanaDialect) readLimit() (int64, string) {
	return vachanaReadLimit, fmt.Sprintf("a message exceeded the %d-byte read limit (frames are %d bytes)", vachanaReadLimit, frame.Size)
}

// The JSON events a Vachana server sends, field for field as documented for
// the real service. segment_index is a string, as in the vendor's
// documentation.

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

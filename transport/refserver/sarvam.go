package refserver

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/coder/websocket"
)

// sarvamDialect is the Sarvam streaming STT [dialect]: JSON audio, flush
// and config messages in; data, events (with vad_signals=true) and error
// messages out, each {"type":…,"data":{…}}.
type sarvamDialect struct {
	hs         handshake
	p          *sarvamParams
	errorField string // "error" or "message"
	pcm        []byte // decode buffer, reused by every parse
}

func newSarvamDialect(hs handshake, errorField string) *sarvamDialect {
	if errorField == "" {
		errorField = "error"
	}
	return &sarvamDialect{hs: hs, p: hs.sarvam, errorField: errorField}
}

// sarvamIn is any client message: an audio message has Audio; flush and
// config messages have Type.
type sarvamIn struct {
	Type  *string `json:"type"`
	Audio *struct {
		Data       *string         `json:"data"`
		SampleRate json.RawMessage `json:"sample_rate"`
		Encoding   string          `json:"encoding"`
	} `json:"audio"`
}

// greeting is nil: the session is ready when the upgrade succeeds.
func (d *sarvamDialect) greeting() any { return nil }

// parse reads one JSON message. Binary messages, messages that are not a
// JSON object, unknown shapes, bad base64, a sample_rate other than the
// connection's, a broken WAV header and a flush without flush_signal=true
// are all bad.
func (d *sarvamDialect) parse(typ websocket.MessageType, p []byte) clientMsg {
	if typ != websocket.MessageText {
		return bad("binary messages are not supported; send audio as JSON text: "+
			`{"audio":{"data":"<base64>","sample_rate":`+strconv.Itoa(int(d.hs.rate))+`,"encoding":"audio/wav"}}`, "invalid_message")
	}
	var in sarvamIn
	err := json.Unmarshal(p, &in)
	if se := (*json.SyntaxError)(nil); errors.As(err, &se) {
		return bad("the message is not JSON: "+err.Error(), "invalid_message")
	}
	switch {
	case err != nil: // a known field of the wrong JSON type, or not an object
	case in.Audio != nil:
		return d.audio(in)
	case in.Type == nil:
	case *in.Type == "flush":
		if !d.p.flushSignal {
			return bad("flush needs flush_signal=true on the connection; reconnect with it to flush", "flush_disabled")
		}
		return clientMsg{kind: msgFlush}
	case *in.Type == "config":
		return clientMsg{kind: msgConfig}
	}
	return bad(`unknown message; send {"audio":{…}}, {"type":"flush"} or {"type":"config",…}`, "invalid_message")
}

// audio decodes an audio message into d.pcm.
func (d *sarvamDialect) audio(in sarvamIn) clientMsg {
	a := in.Audio
	if a.Data == nil {
		return bad("audio.data is missing; send the audio as base64 in it", "invalid_message")
	}
	if raw := string(a.SampleRate); raw != "" && raw != "null" {
		v, err := strconv.Unquote(raw) // "16000" is taken as well as 16000
		if err != nil {
			v = raw
		}
		if n, err := strconv.Atoi(v); err != nil || n != int(d.hs.rate) {
			return bad(fmt.Sprintf("audio.sample_rate %s differs from the connection's %d Hz; send %d in every message, or set the rate with the sample_rate query parameter when connecting",
				raw, d.hs.rate, d.hs.rate), "invalid_sample_rate")
		}
	}
	n := base64.StdEncoding.DecodedLen(len(*a.Data))
	if cap(d.pcm) < n {
		d.pcm = make([]byte, n)
	}
	n, err := base64.StdEncoding.Decode(d.pcm[:n], []byte(*a.Data))
	if err != nil {
		return bad("audio.data is not standard base64: "+err.Error(), "invalid_audio")
	}
	pcm := d.pcm[:n]
	if d.p.codec == "wav" || d.p.codec == "" {
		if pcm, err = stripWAV(pcm, d.hs.rate); err != nil {
			return bad("audio.data: "+err.Error(), "invalid_audio")
		}
	}
	return clientMsg{kind: msgAudio, audio: pcm}
}

func bad(problem, code string) clientMsg {
	return clientMsg{kind: msgBad, problem: problem, code: code}
}

// started announces START_SPEECH when the client asked for VAD signals.
func (d *sarvamDialect) started(Segment) []any {
	if !d.p.vadSignals {
		return nil
	}
	return []any{newSarvamEvent("START_SPEECH")}
}

// ended announces END_SPEECH when the client asked for VAD signals, unless
// a flush ended the segment: the speech did not end.
func (d *sarvamDialect) ended(_ Segment, flushed bool) []any {
	if !d.p.vadSignals || flushed {
		return nil
	}
	return []any{newSarvamEvent("END_SPEECH")}
}

// transcript returns the data message of seg. A requested language is
// returned with probability 1; "unknown" is "detected" as en-IN.
func (d *sarvamDialect) transcript(seg Segment, delay time.Duration) any {
	lang, prob := d.hs.lang, 1.0
	if lang == "unknown" {
		lang, prob = "en-IN", detectedProbability
	}
	return sarvamOut{Type: "data", Data: sarvamData{
		RequestID:           d.hs.requestID,
		Transcript:          seg.Text,
		LanguageCode:        lang,
		LanguageProbability: prob,
		Metrics: sarvamMetrics{
			AudioDuration:     float64(seg.DurationMS) / 1000,
			ProcessingLatency: delay.Seconds(),
		},
	}}
}

// detectedProbability is the language_probability of a "detected" language.
const detectedProbability = 0.95

// errorMsg puts text in data.error or data.message, as
// [Faults.ErrorField] says.
func (d *sarvamDialect) errorMsg(text, code string) any {
	e := sarvamError{Code: code}
	if d.errorField == "message" {
		e.Message = text
	} else {
		e.Error = text
	}
	return sarvamOut{Type: "error", Data: e}
}

// sarvamReadLimit is the largest message a Sarvam session accepts: about
// 24 s of 16 kHz audio in base64. The real limit is not published.
const sarvamReadLimit = 1 << 20

func (d *sarvamDialect) readLimit() (int64, string) {
	return sarvamReadLimit, fmt.Sprintf("a message exceeded the %d-byte read limit; send the audio in smaller messages", sarvamReadLimit)
}

// heartbeat is none: the server closes idle sessions instead
// ([Options.IdleTimeout]).
func (d *sarvamDialect) heartbeat() (any, time.Duration, time.Duration) { return nil, 0, 0 }

// The JSON messages a Sarvam server sends, field for field as in the
// sarvamai SDK's types (SpeechToTextStreamingResponse and its data types).

type sarvamOut struct {
	Type string `json:"type"` // data, events or error
	Data any    `json:"data"`
}

type sarvamData struct {
	RequestID           string          `json:"request_id"`
	Transcript          string          `json:"transcript"`
	Timestamps          *map[string]any `json:"timestamps"`          // always null
	DiarizedTranscript  *map[string]any `json:"diarized_transcript"` // always null
	LanguageCode        string          `json:"language_code"`
	LanguageProbability float64         `json:"language_probability"`
	Metrics             sarvamMetrics   `json:"metrics"`
}

type sarvamMetrics struct {
	AudioDuration     float64 `json:"audio_duration"`     // seconds
	ProcessingLatency float64 `json:"processing_latency"` // seconds
}

type sarvamEvent struct {
	EventType  string  `json:"event_type"` // vad
	SignalType string  `json:"signal_type"`
	OccuredAt  float64 `json:"occured_at"` // sic; Unix seconds
	Timestamp  string  `json:"timestamp"`
}

type sarvamError struct {
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
	Code    string `json:"code"`
}

func newSarvamEvent(signal string) sarvamOut {
	now := time.Now()
	return sarvamOut{Type: "events", Data: sarvamEvent{
		EventType:  "vad",
		SignalType: signal,
		OccuredAt:  float64(now.UnixNano()) / 1e9,
		Timestamp:  now.UTC().Format(time.RFC3339Nano),
	}}
}

// seconds formats d as a number of seconds: "60s", "0.3s".
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}

package refserver

import (
	"fmt"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// Report describes one ended session: what the client sent, how regularly it
// sent it, and what the server answered. A published Report is never
// modified; its slices and map are shared by every copy and must not be
// modified. It never holds the API key.
//
// An audio message is a binary message for Vachana and an audio JSON
// message ({"audio":{"data":…}}) for Sarvam; its audio is the message
// itself for Vachana and the decoded PCM (after any WAV header) for Sarvam.
type Report struct {
	// Service is the protocol spoken: [ServiceVachana] or [ServiceSarvam].
	Service string
	// RequestID is, for Vachana, the client's x-api-request-id, or the
	// ref_<hex> id the server generated when it was absent; for Sarvam, the
	// generated ref_<hex> id sent as request_id in every data message.
	RequestID string
	// Lang is the lang_code header (Vachana) or the language-code query
	// parameter (Sarvam).
	Lang string
	// UserAgent is the User-Agent header.
	UserAgent string
	// SampleRate is the session's rate from x-sample-rate (Vachana) or the
	// sample_rate query parameter (Sarvam); 16000 if absent.
	SampleRate frame.Rate
	// Params holds, for Sarvam, every query parameter received, as sent (the
	// first value of a repeated one). A parameter whose name contains "key",
	// or whose value is the API key, is stored as "…". Nil for Vachana.
	Params map[string]string
	// Subprotocol is, for Sarvam, the WebSocket subprotocol the server
	// selected, the key offered in it replaced by "…"
	// ("api-subscription-key.…"); empty when none was offered.
	Subprotocol string
	// Frames is the number of audio messages received, whatever their size.
	Frames int
	// Bytes is the total size of the audio they carried.
	Bytes int64
	// SizeViolations counts audio messages whose audio is not exactly
	// [frame.Size] (1024) bytes. For Sarvam, which documents no chunk
	// size, it is informative only: the audio is processed all the same.
	SizeViolations int
	// TextMessages counts text messages from the client. The Vachana
	// protocol has none, and the server ignores them; every Sarvam message
	// is one.
	TextMessages int
	// Flushes counts the Sarvam flush messages honoured (the connection had
	// flush_signal=true), including those that found no speech to end.
	Flushes int
	// Configs counts the Sarvam config messages ({"type":"config",…}).
	Configs int
	// BadMessages counts the Sarvam messages the server could not use and
	// answered with an error message: binary messages, text that is not a
	// JSON object or has an unknown shape, audio that is not base64 or whose
	// sample_rate differs from the connection's, a broken WAV header, and a
	// flush without flush_signal=true. The session goes on after each.
	BadMessages int
	// Arrivals holds the arrival time of every audio message, measured on
	// the monotonic clock from the first one (so Arrivals[0] is 0).
	Arrivals []time.Duration
	// Cadence summarises Arrivals against the frame period at SampleRate:
	// how far each inter-arrival time was from it (percentiles by the rule
	// of [frame.Cadence]) and the end drift.
	Cadence frame.Cadence
	// Segments lists the speech segments the VAD found, in order. A segment
	// still open when the session ended (audio that ended mid-speech) is last,
	// with an empty Text: it was never sent for transcription.
	Segments []Segment
	// CloseCode is the status of the client's close frame, or -1 if the
	// connection ended without one. After a server-initiated close
	// ([Faults.CloseAfterError], the Sarvam idle limit) it is the status the
	// client echoed.
	CloseCode websocket.StatusCode
	// Audio holds the audio of every audio message, when
	// [Options.RecordAudio].
	Audio []byte
	// Err says why the session ended abnormally: a broken connection, an
	// injected fault, a message over the read limit (64 KiB for Vachana,
	// 1 MiB for Sarvam), a client close status that is not a normal end
	// ([transport.NormalClose]), the server closing, or (Sarvam) no audio for
	// [Options.IdleTimeout], even though the server then closes with 1000.
	// It is empty for a normal close.
	Err string
}

// Segment is one speech segment found by the server's VAD.
type Segment struct {
	// Index counts segments from 0 (the Vachana events' segment_index).
	Index int
	// StartMS is the start of its first loud frame, in ms from the start of
	// the stream; DurationMS runs from there to the end of its last loud
	// frame, or, for a segment a Sarvam flush ended, to the end of the
	// audio judged when the flush arrived.
	StartMS, DurationMS int
	// Text is the transcript text, "[segment K: N ms of speech]"; empty if the
	// segment never ended.
	Text string
	// Transcribed reports that its transcript (a Vachana transcript event,
	// a Sarvam data message) was written successfully.
	Transcribed bool
	// Flushed reports that a Sarvam flush message ended it, not silence:
	// no END_SPEECH event was sent for it.
	Flushed bool
}

// String returns a one-line summary of r: frames, bytes, size violations,
// cadence, segments and close code; for Sarvam also the model, mode and
// codec asked for, and the flush, config and bad message counts. It never
// contains the API key or the audio.
func (r Report) String() string {
	var b strings.Builder
	if r.Service == ServiceSarvam {
		fmt.Fprintf(&b, "sarvam session %s lang=%s rate=%d model=%s mode=%s codec=%s: frames=%d bytes=%d violations=%d flushes=%d configs=%d",
			r.RequestID, r.Lang, int(r.SampleRate), r.param("model", sarvamModels[0]), r.param("mode", sarvamModes[0]),
			r.param("input_audio_codec", "wav"), r.Frames, r.Bytes, r.SizeViolations, r.Flushes, r.Configs)
		if r.BadMessages > 0 {
			fmt.Fprintf(&b, " bad_messages=%d", r.BadMessages)
		}
	} else {
		fmt.Fprintf(&b, "session %s lang=%s rate=%d: frames=%d bytes=%d violations=%d",
			r.RequestID, r.Lang, int(r.SampleRate), r.Frames, r.Bytes, r.SizeViolations)
		if r.TextMessages > 0 {
			fmt.Fprintf(&b, " text_messages=%d", r.TextMessages)
		}
	}
	c := r.Cadence
	fmt.Fprintf(&b, " cadence p50=%v p99=%v max=%v drift=%v", c.P50, c.P99, c.Max, c.Drift)
	transcribed := 0
	for _, s := range r.Segments {
		if s.Transcribed {
			transcribed++
		}
	}
	fmt.Fprintf(&b, " segments=%d transcribed=%d close=%d", len(r.Segments), transcribed, int(r.CloseCode))
	if r.Err != "" {
		fmt.Fprintf(&b, " err=%q", r.Err)
	}
	return b.String()
}

// param returns the Sarvam query parameter name, or def when it was absent.
func (r Report) param(name, def string) string {
	if v, ok := r.Params[name]; ok {
		return v
	}
	return def
}

// cadence summarises arrival times at rate r, measured from any fixed
// moment, as a [frame.Cadence].
func cadence(arrivals []time.Duration, r frame.Rate) frame.Cadence {
	c := frame.NewCadenceRecorder(r)
	var origin time.Time
	for _, a := range arrivals {
		c.Add(origin.Add(a))
	}
	return c.Cadence()
}

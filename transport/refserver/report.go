package refserver

import (
	"fmt"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// Bounds on what a Report keeps of a session's set_keywords events.
const (
	maxKeywords     = 64
	maxKeywordBytes = 4 << 10
)

// Report describes one ended session: what the client sent, how regularly it
// sent it, and what the server answered. A published Report is never
// modified; its slices and map are shared by every copy and must not be
// modified. It never holds the API key.
//
// An audio message is a binary message for Vachana, an audio JSON message
// ({"audio":{"data":…}}) for Sarvam and a binary_data event (its text packet
// and its binary attachment) for aiOla; its audio is the message itself for
// Vachana, the decoded PCM (after any WAV header) for Sarvam and the
// attachment for aiOla.
type Report struct {
	// Service is the protocol spoken: [ServiceVachana], [ServiceSarvam] or
	// [ServiceAiola].
	Service string
	// RequestID is, for Vachana, the client's x-api-request-id, or the
	// ref_<hex> id the server generated when it was absent; for Sarvam, the
	// generated ref_<hex> id sent as request_id in every data message; for
	// aiOla, the client's execution_id.
	RequestID string
	// Lang is the lang_code header (Vachana), the language-code query
	// parameter (Sarvam) or the lang_code query parameter (aiOla; empty
	// when absent, as the JS SDK leaves it out unless asked).
	Lang string
	// UserAgent is the User-Agent header.
	UserAgent string
	// SampleRate is the session's rate from x-sample-rate (Vachana) or the
	// sample_rate query parameter (Sarvam); 16000 if absent.
	SampleRate frame.Rate
	// Params holds, for Sarvam and aiOla, every query parameter received, as
	// sent (the first value of a repeated one; for aiOla EIO and transport
	// too). For Sarvam a parameter whose name contains "key", or whose value
	// is the API key, is stored as "…"; for aiOla x-aiola-api-token and any
	// value that is the JWT. Nil for Vachana.
	Params map[string]string
	// Subprotocol is, for Sarvam, the WebSocket subprotocol the server
	// selected, the key offered in it replaced by "…"
	// ("api-subscription-key.…"); empty when none was offered.
	Subprotocol string
	// AuthSession is, for aiOla, the id (sessionId) of the auth session
	// whose JWT opened the connection.
	AuthSession string
	// Events counts, for aiOla, the Socket.IO events received by name
	// (binary_data, set_keywords, and any other), malformed ones left out;
	// past 64 names, events of new names are counted under "(other)". Nil
	// for the other services.
	Events map[string]int
	// Keywords holds, for aiOla, the keywords object of every set_keywords
	// event, as the JSON the client sent (from its binary attachment, as the
	// JS SDK sends it, or from its argument, as the Python SDK does): the
	// first 64 events, each cut to 4 KiB.
	Keywords []string
	// Pongs counts, for aiOla, the Engine.IO pongs ("3") received: the
	// answers to the server's pings.
	Pongs int
	// Disconnected reports, for aiOla, that the client left the namespace
	// with a DISCONNECT packet (41/events,), the normal end of a session;
	// the connection may then end in any way without an Err.
	Disconnected bool
	// Frames is the number of audio messages received, whatever their size:
	// for aiOla, chunks.
	Frames int
	// Bytes is the total size of the audio they carried.
	Bytes int64
	// SizeViolations counts audio messages of a size the protocol does not
	// expect. For Vachana and Sarvam, whose messages are frames, it is a
	// message whose audio is not exactly [frame.Size] (1024) bytes; for
	// Sarvam, which documents no chunk size, it is informative only. For
	// aiOla, whose chunks may hold any whole number of frames (this
	// module's client sends 4, 4096 bytes; the SDKs 4096 samples, 8192
	// bytes), it is a chunk that is empty or ends in half an s16le sample
	// (an odd size), or that is not a whole number of 1024-byte frames
	// and is not the session's last (the end of the audio may fall
	// anywhere); informative only too. Either way the audio is processed
	// all the same.
	SizeViolations int
	// TextMessages counts text messages from the client. The Vachana
	// protocol has none, and the server ignores them; every Sarvam message
	// is one, and every aiOla packet but the binary attachments (pongs
	// included).
	TextMessages int
	// Flushes counts the Sarvam flush messages honoured (the connection had
	// flush_signal=true), including those that found no speech to end.
	Flushes int
	// Configs counts the Sarvam config messages ({"type":"config",…}) and
	// the aiOla set_keywords events.
	Configs int
	// BadMessages counts the Sarvam messages the server could not use and
	// answered with an error message: binary messages, text that is not a
	// JSON object or has an unknown shape, audio that is not base64 or whose
	// sample_rate differs from the connection's, a broken WAV header, and a
	// flush without flush_signal=true. For aiOla it counts the messages
	// answered with an error event: a packet Engine.IO or Socket.IO cannot
	// decode, an event before the namespace was joined, a binary
	// attachment no packet announced, a binary_data without exactly one
	// attachment, a set_keywords that is not a JSON object of strings. The
	// session goes on after each.
	BadMessages int
	// Arrivals holds the arrival time of every audio message, measured on
	// the monotonic clock from the first one (so Arrivals[0] is 0).
	Arrivals []time.Duration
	// Cadence summarises Arrivals against when each audio message was due
	// at real time: how far each inter-arrival time was from the time
	// between their due times (percentiles by the rule of [frame.Cadence])
	// and the drift of the last one; Cadence.Frames counts the messages.
	// For Vachana and Sarvam a message is due one frame period (at
	// SampleRate) after the one before it, which means something only when
	// the messages are frames, as Vachana's are. For aiOla a chunk is due
	// when the audio before it in the session has played: after one of N
	// bytes at 16 kHz the next is due N/32 ms later (128 ms after this
	// module's chunks of 4096 bytes, 256 ms after the SDKs' 8192), whatever
	// the sizes.
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
	// 1 MiB for Sarvam, the maxPayload of 1,000,000 bytes for aiOla), a
	// client close status that is not a normal end
	// ([transport.NormalClose]), the server closing, (Sarvam) no audio for
	// [Options.IdleTimeout], even though the server then closes with 1000,
	// or (aiOla) no pong within [Options.PingTimeout]. It is empty for a
	// normal close, and for aiOla after the client left the namespace
	// ([Report.Disconnected]) or closed the Engine.IO session.
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
// codec asked for, and the flush, config and bad message counts; for aiOla
// the workflow, auth session, keyword, pong and bad message counts and
// whether the client disconnected. It never contains the API key, a token
// or the audio.
func (r Report) String() string {
	var b strings.Builder
	switch r.Service {
	case ServiceAiola:
		fmt.Fprintf(&b, "aiola session %s lang=%s flow=%s auth=%s: frames=%d bytes=%d violations=%d keywords=%d pongs=%d disconnected=%t",
			r.RequestID, r.param("lang_code", ""), r.param("flow_id", ""), r.AuthSession, r.Frames, r.Bytes, r.SizeViolations, len(r.Keywords), r.Pongs, r.Disconnected)
		if r.BadMessages > 0 {
			fmt.Fprintf(&b, " bad_messages=%d", r.BadMessages)
		}
	case ServiceSarvam:
		fmt.Fprintf(&b, "sarvam session %s lang=%s rate=%d model=%s mode=%s codec=%s: frames=%d bytes=%d violations=%d flushes=%d configs=%d",
			r.RequestID, r.Lang, int(r.SampleRate), r.param("model", sarvamModels[0]), r.param("mode", sarvamModes[0]),
			r.param("input_audio_codec", "wav"), r.Frames, r.Bytes, r.SizeViolations, r.Flushes, r.Configs)
		if r.BadMessages > 0 {
			fmt.Fprintf(&b, " bad_messages=%d", r.BadMessages)
		}
	default:
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

// param returns the query parameter name, or def when it was absent.
func (r Report) param(name, def string) string {
	if v, ok := r.Params[name]; ok {
		return v
	}
	return def
}

// cadence summarises arrival times, measured from any fixed moment, as a
// [frame.Cadence]: against frames at rate r when due is nil, else against
// due, when each message was due from the first one's (due[0] is 0).
func cadence(arrivals, due []time.Duration, r frame.Rate) frame.Cadence {
	c := frame.NewCadenceRecorder(r)
	var origin time.Time
	for i, a := range arrivals {
		if due != nil {
			// The recorder expects message i at FrameAt(i): moved by as much
			// as that is from due[i], the arrival is judged against due[i].
			a += r.FrameAt(int64(i)) - due[i]
		}
		c.Add(origin.Add(a))
	}
	return c.Cadence()
}

package refserver

import (
	"fmt"
	"math"
	"time"
)

// The services a [Server] can speak, the values of [Options.Service].
const (
	ServiceVachana = "vachana" // Gnani Vachana realtime STT v3, at [Path]
	ServiceSarvam  = "sarvam"  // Sarvam AI streaming STT, at [SarvamPath]
	ServiceAiola   = "aiola"   // aiOla streaming STT (Socket.IO v4), at [AiolaPath] and the token endpoints
)

// Defaults applied to zero [Options] fields.
const (
	DefaultHangover        = 500 * time.Millisecond // silence that ends a segment
	DefaultProcessingDelay = 40 * time.Millisecond  // processing → transcript
	DefaultIdleTimeout     = 60 * time.Second       // Sarvam: no audio → close
	DefaultTokenTTL        = time.Hour              // aiOla: life of an auth session (its JWT's exp)
	DefaultPingInterval    = 25 * time.Second       // aiOla: Engine.IO pingInterval, as socket.io's
	DefaultPingTimeout     = 20 * time.Second       // aiOla: Engine.IO pingTimeout, as socket.io's

	defaultThreshold    = -45.0 // dBFS
	defaultErrorMessage = "reference server: injected error"
)

// Options configures a [Server]. A nil *Options means all defaults. The
// server copies the options when it is created; later changes have no effect.
type Options struct {
	// Service selects the protocol: [ServiceVachana] ("" means it too),
	// [ServiceSarvam] or [ServiceAiola]. Any other value is an error.
	Service string
	// Keys lists the accepted API keys: x-api-key-id values for Vachana,
	// Api-Subscription-Key values for Sarvam, the Bearer keys of aiOla's
	// apiKey2Token endpoint. Empty means any non-empty key is accepted. The
	// server never stores or logs the key it receives.
	Keys []string
	// Threshold is the VAD threshold in dBFS of a frame's RMS (full scale
	// 32768): a frame at or above it is speech. 0 means -45.
	Threshold float64
	// Hangover is the amount of quiet audio, counted in samples at the
	// session's rate (not wall time), that ends a segment after its last loud
	// frame. 0 means 500 ms; negative means a segment ends at its
	// first quiet frame. A Sarvam session with high_vad_sensitivity=true
	// uses half of it, as the real service ends an utterance sooner then.
	Hangover time.Duration
	// ProcessingDelay is the time between a segment's processing event and its
	// transcript (for Sarvam: between its end or flush and its data message;
	// for aiOla: between its end and its transcript event).
	// 0 means 40 ms; negative means none.
	ProcessingDelay time.Duration
	// VADEvents makes a Vachana server also send speech_start when a segment
	// starts and speech_end when it ends (just before processing). A Sarvam
	// client asks for its VAD events itself, with vad_signals=true; aiOla
	// has none.
	VADEvents bool
	// IdleTimeout is how long a Sarvam session may go without an audio
	// message (flush, config and bad messages do not count) before the
	// server sends an idle_timeout error and closes it with status 1000, as
	// the real service does after about a minute. 0 means 60 s; negative
	// means never. Vachana sessions have no idle limit (their clients ping
	// instead), aiOla sessions neither (the server pings:
	// [Options.PingInterval]), and neither has a session stalled by
	// [Faults.StallAfterFrames].
	IdleTimeout time.Duration
	// MaxSessions, if positive, is how many aiOla auth sessions may be live
	// at once (created by POST /voip-auth/session, neither deleted nor
	// expired), counted over the whole server as if every client used one
	// key: one more is refused with 409 and code MAX_CONCURRENCY_REACHED,
	// like the real service's per-key limit. 0 means no limit; negative is
	// an error. Other services ignore it.
	MaxSessions int
	// TokenTTL is how long an aiOla auth session (and the token of
	// apiKey2Token that creates it) lives; its JWT's exp claim is its iat
	// plus TokenTTL rounded up to whole seconds. An expired session is no longer live, and its JWT is
	// refused at the socket upgrade with 401 TOKEN_EXPIRED. 0 means 1 h;
	// negative is an error. The official SDKs refuse a JWT that expires
	// within 5 minutes, so give them more than that. Other services ignore
	// it.
	TokenTTL time.Duration
	// PingInterval and PingTimeout are the Engine.IO heartbeat of aiOla
	// sessions, announced in the OPEN packet: the server sends a ping ("2")
	// every PingInterval and drops the connection when no pong ("3") comes
	// within PingTimeout of it. 0 means 25 s and 20 s, socket.io's
	// defaults; negative is an error. They are sent in whole milliseconds
	// (at least 1). Other services ignore them.
	PingInterval, PingTimeout time.Duration
	// RecordAudio keeps every received audio byte in [Report.Audio]: the
	// binary messages for Vachana, the decoded PCM for Sarvam, the
	// binary_data attachments for aiOla.
	RecordAudio bool
	// MaxReports, if positive, keeps only the reports of the last
	// MaxReports sessions, so a long-running server does not grow.
	MaxReports int
	// Faults injects failures; the zero value injects none.
	Faults Faults
	// Logf, if set, receives one line per ended session: its
	// [Report.String]; for aiOla also one line per auth session created,
	// deleted or refused for concurrency, with the number then live. It may
	// be called from several goroutines at once.
	Logf func(format string, args ...any)
}

// Faults selects failures the server injects into every session. Frame
// counts are audio messages received: binary messages for Vachana, audio JSON
// messages for Sarvam, binary_data events for aiOla. Zero or negative counts and durations disable their
// fault. When several frame faults fire on the same frame they apply in this
// order: error event (and its close), drop, stall.
type Faults struct {
	// RejectStatus, if non-zero, answers every handshake at the service's
	// path with this HTTP status (400–599) and a JSON body shaped like the
	// real service's, before any header is checked. A 429 also carries
	// Retry-After: 1. For aiOla it refuses the socket upgrade, not the
	// token endpoints.
	RejectStatus int
	// DropAfterFrames closes the TCP connection abruptly (no close frame)
	// after this many frames.
	DropAfterFrames int
	// DropAfter does the same this long after the upgrade.
	DropAfter time.Duration
	// ErrorAfterFrames sends one error event after this many frames (for
	// Sarvam an error message with code "injected_error", for aiOla an
	// error event with code "INJECTED_ERROR").
	ErrorAfterFrames int
	// ErrorMessage is the error event's message; empty means
	// "reference server: injected error".
	ErrorMessage string
	// ErrorField names the field of a Sarvam error message's data that
	// carries its text: "error" (the default, as in the SDK's ErrorData) or
	// "message" (as in its ErrorResponse); both shapes are seen in the wild.
	// It applies to every error message of the sessions these faults apply
	// to; Vachana ignores it.
	ErrorField string
	// CloseAfterError closes the connection with status 1011 (internal
	// error) right after the injected error event.
	CloseAfterError bool
	// StallAfterFrames makes the session stop reading after this many frames
	// until the server is closed: the client's writes then block once the TCP
	// buffers fill.
	StallAfterFrames int
	// NoConnected suppresses the Vachana connected event; an aiOla server
	// then leaves the client's namespace CONNECT (40/events,) unanswered
	// (the Engine.IO OPEN packet and pings still go out). It has no effect
	// on Sarvam, which sends no greeting.
	NoConnected bool
	// SendAfterFrames sends Send, as it is, after this many frames: a
	// malformed, unknown, oversized or (with SendBinary) binary message.
	// For aiOla, Send is the whole WebSocket message, Engine.IO type byte
	// included (42/events,[…]).
	SendAfterFrames int
	Send            []byte
	SendBinary      bool
	// Sessions, if positive, limits the faults to the first Sessions
	// connection attempts (handshakes), so a client that reconnects meets a
	// healthy server afterwards. Zero applies them to every attempt.
	Sessions int
}

// withDefaults returns a copy of o (nil means defaults) with defaults
// applied, or an error naming the first invalid field.
func (o *Options) withDefaults() (Options, error) {
	var c Options
	if o != nil {
		c = *o
		c.Keys = append([]string(nil), o.Keys...)
	}
	switch c.Service {
	case "":
		c.Service = ServiceVachana
	case ServiceVachana, ServiceSarvam, ServiceAiola:
	default:
		return c, fmt.Errorf("refserver: Options.Service %q is not a service; use %q (the default), %q or %q",
			c.Service, ServiceVachana, ServiceSarvam, ServiceAiola)
	}
	for _, f := range []struct {
		name string
		d    *time.Duration
		def  time.Duration
	}{
		{"TokenTTL", &c.TokenTTL, DefaultTokenTTL},
		{"PingInterval", &c.PingInterval, DefaultPingInterval},
		{"PingTimeout", &c.PingTimeout, DefaultPingTimeout},
	} {
		switch {
		case *f.d < 0:
			return c, fmt.Errorf("refserver: Options.%s %v is negative; use 0 for the default %v", f.name, *f.d, f.def)
		case *f.d == 0:
			*f.d = f.def
		}
	}
	if c.MaxSessions < 0 {
		return c, fmt.Errorf("refserver: Options.MaxSessions %d is negative; use 0 for no limit", c.MaxSessions)
	}
	if math.IsNaN(c.Threshold) || math.IsInf(c.Threshold, 0) {
		return c, fmt.Errorf("refserver: Options.Threshold %v is not a number of dBFS; use e.g. -45", c.Threshold)
	}
	if c.Threshold == 0 {
		c.Threshold = defaultThreshold
	}
	switch {
	case c.Hangover == 0:
		c.Hangover = DefaultHangover
	case c.Hangover < 0:
		c.Hangover = 0
	}
	switch {
	case c.ProcessingDelay == 0:
		c.ProcessingDelay = DefaultProcessingDelay
	case c.ProcessingDelay < 0:
		c.ProcessingDelay = 0
	}
	if s := c.Faults.RejectStatus; s != 0 && (s < 400 || s > 599) {
		return c, fmt.Errorf("refserver: Faults.RejectStatus %d is not an HTTP error status; use 400–599 or 0 to accept handshakes", s)
	}
	if c.Faults.ErrorMessage == "" {
		c.Faults.ErrorMessage = defaultErrorMessage
	}
	switch c.Faults.ErrorField {
	case "", "error", "message":
	default:
		return c, fmt.Errorf("refserver: Faults.ErrorField %q is not a field of a Sarvam error; use \"error\" (the default) or \"message\"", c.Faults.ErrorField)
	}
	switch {
	case c.Service != ServiceSarvam || c.IdleTimeout < 0:
		c.IdleTimeout = 0 // none
	case c.IdleTimeout == 0:
		c.IdleTimeout = DefaultIdleTimeout
	}
	return c, nil
}

package refserver

import (
	"fmt"
	"math"
	"time"
)

// Defaults applied to zero [Options] fields.
const (
	DefaultHangover        = 500 * time.Millisecond // silence that ends a segment
	DefaultProcessingDelay = 40 * time.Millisecond  // processing → transcript

	defaultThreshold    = -45.0 // dBFS
	defaultErrorMessage = "reference server: injected error"
)

// Options configures a [Server]. A nil *Options means all defaults. The
// server copies the options when it is created; later changes have no effect.
type Options struct {
	// Keys lists the accepted x-api-key-id values. Empty means any non-empty
	// key is accepted. The server never stores or logs the key it receives.
	Keys []string
	// Threshold is the VAD threshold in dBFS of a frame's RMS (full scale
	// 32768): a frame at or above it is speech. 0 means -45.
	Threshold float64
	// Hangover is the amount of quiet audio, counted in samples at the
	// session's rate (not wall time), that ends a segment after its last loud
	// frame. 0 means 500 ms; negative means a segment ends at its
	// first quiet frame.
	Hangover time.Duration
	// ProcessingDelay is the time between a segment's processing event and its
	// transcript. 0 means 40 ms; negative means none.
	ProcessingDelay time.Duration
	// VADEvents makes the server also send speech_start when a segment starts
	// and speech_end when it ends (just before processing).
	VADEvents bool
	// RecordAudio keeps every received binary byte in [Report.Audio].
	RecordAudio bool
	// MaxReports, if positive, keeps only the reports of the last
	// MaxReports sessions, so a long-running server does not grow.
	MaxReports int
	// Faults injects failures; the zero value injects none.
	Faults Faults
	// Logf, if set, receives one line per ended session: its [Report.String].
	// It may be called from several goroutines at once.
	Logf func(format string, args ...any)
}

// Faults selects failures the server injects into every session. Frame
// counts are binary messages received; zero or negative counts and durations
// disable their fault. When several frame faults fire on the same frame they
// apply in this order: error event (and its close), drop, stall.
type Faults struct {
	// RejectStatus, if non-zero, answers every handshake at [Path] with this
	// HTTP status (400–599) and a JSON body shaped like the real service's,
	// before any header is checked. A 429 also carries Retry-After: 1.
	RejectStatus int
	// DropAfterFrames closes the TCP connection abruptly (no close frame)
	// after this many frames.
	DropAfterFrames int
	// DropAfter does the same this long after the upgrade.
	DropAfter time.Duration
	// ErrorAfterFrames sends one error event after this many frames.
	ErrorAfterFrames int
	// ErrorMessage is the error event's message; empty means
	// "reference server: injected error".
	ErrorMessage string
	// CloseAfterError closes the connection with status 1011 (internal
	// error) right after the injected error event.
	CloseAfterError bool
	// StallAfterFrames makes the session stop reading after this many frames
	// until the server is closed: the client's writes then block once the TCP
	// buffers fill.
	StallAfterFrames int
	// NoConnected suppresses the connected event.
	NoConnected bool
	// SendAfterFrames sends Send, as it is, after this many frames: a
	// malformed, unknown, oversized or (with SendBinary) binary message.
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
	return c, nil
}

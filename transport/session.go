// Package transport is the contract between the pipeline and a realtime
// speech-to-text service: a [Dialer] opens [Session]s, a Session takes
// audio and gives back normalised [Event]s. Each service's protocol (its
// dialect) lives in a subpackage — [github.com/vachana-pipe/vachana-pipe/transport/vachana]
// for Gnani's Vachana v3, [github.com/vachana-pipe/vachana-pipe/transport/sarvam]
// for Sarvam AI's streaming STT, [github.com/vachana-pipe/vachana-pipe/transport/aiola]
// for aiOla's (Socket.IO) — and the reference server that speaks them
// on loopback, for tests and demos, in refserver.
//
// The contract is written down here once; the pipeline relies on nothing
// else (no optional methods found by type assertion).
package transport

import (
	"context"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// Version is the version of vachana-pipe, sent in the User-Agent header of
// every dialect.
const Version = "0.2.0"

// Audio describes the audio a service's sessions take: s16le mono samples
// at Rate, written ChunkFrames frames ([frame.Size] bytes each) at a time,
// and what the service needs of the stream around the input.
type Audio struct {
	Rate frame.Rate

	// ChunkFrames is the frames per [Session.WriteAudio]: 1 for Vachana v3
	// and Sarvam, 4 (128 ms) for aiOla. Chunks of a stream are aligned on
	// multiples of ChunkFrames counted from the stream's first frame, so a
	// chunk is shorter only at the end of the stream and where a replay
	// starts between two boundaries.
	ChunkFrames int

	// TailSilence is the silence the service needs after the last speech
	// to end its last segment; zero leaves it to the caller's default.
	TailSilence time.Duration

	// KeepAlive, if positive, says the service closes a session that gets
	// no audio for a while (Sarvam: about 60 s), so when the input gives
	// nothing for KeepAlive the session must be fed silence at cadence
	// until it resumes. Zero: the service needs no audio to stay open
	// (Vachana keeps sessions alive with WebSocket pings).
	KeepAlive time.Duration

	// Flush says that [Session.Finish] makes the service finalise speech
	// it has not ended, and that its answer is a transcript without a
	// segment end (Sarvam's flush). The pipeline then awaits that
	// transcript when the service said speech started and did not end it.
	Flush bool

	// NoSegmentEnds says the service sends final transcripts but never a
	// [SegmentEnded] (aiOla). The pipeline then pairs the transcripts, in
	// order, with the utterances it detects itself in what it sent
	// (speech followed by at least 450 ms of quiet): for the replay, each
	// transcript confirms the next utterance not confirmed yet; and the
	// drain awaits a transcript for each utterance sent after the last
	// one confirmed.
	NoSegmentEnds bool
}

// ChunkBytes returns the size of one chunk in bytes.
func (a Audio) ChunkBytes() int { return a.ChunkFrames * frame.Size }

// Dialer opens sessions with one service, every one with the same settings,
// so a lost session can be replaced by dialling again. Its methods may be
// called from any goroutine.
type Dialer interface {
	// Audio returns what the sessions take. It does not change.
	Audio() Audio

	// Dial opens a fresh session and returns once it is ready for audio
	// (for Vachana, once the connected event has come; that event is still
	// the first ReadEvent returns). ctx bounds the whole opening. A refusal
	// with an HTTP status is a *[HandshakeError]; a refusal no retry can
	// mend (a rejected key) says so through [HandshakeError.Final].
	Dial(ctx context.Context) (Session, error)

	// Close releases what outlives one session (an auth session some
	// services keep), once no session of the dialer is open any more. It
	// is safe to call more than once; dialects with nothing to release
	// return nil.
	Close(ctx context.Context) error
}

// Session is one open session with a service.
//
// WriteAudio, Ping, Finish, Close and CloseNow may be called concurrently
// with ReadEvent and with each other, but WriteAudio and Finish not with
// themselves. ReadEvent must be called from one goroutine, continuously for
// the whole session: control messages (pings, close frames) are processed
// only while someone reads. A Session starts no goroutine of its own.
type Session interface {
	// WriteAudio sends one chunk: [Audio.ChunkBytes] bytes of s16le mono
	// audio, or a whole number of frames fewer where [Audio.ChunkFrames]
	// says. It does not retain chunk and does not allocate in the steady
	// state. It blocks while the network is congested (outside the
	// no-wait mode); CloseNow releases it. An error after the session
	// ended is a *[ClosedError].
	WriteAudio(chunk []byte) error

	// SetNoWait(true) puts the session in a mode in which none of its
	// writes waits for the network: neither WriteAudio nor the pings,
	// pongs and close frames it writes for its other methods. What the
	// network does not take at once is kept, in order, with every write
	// after it, and Backlog reports it. The mode is for a sender that
	// writes many sessions from one goroutine and must not wait for one
	// of them; such a sender stops writing a session with a backlog and
	// leaves the mode. Entering it waits for a write in progress that
	// waits for the network (CloseNow releases it). It reports false, and
	// changes nothing, for a session that cannot write so (a connection it
	// did not open over TCP itself, audio in more than one message, or a
	// system other than Linux).
	//
	// SetNoWait(false) leaves the mode and writes what was kept, blocking
	// while the network is congested (CloseNow releases it); an error is
	// a *[ClosedError].
	SetNoWait(on bool) (ok bool, err error)

	// Backlog reports whether writes in the no-wait mode left something
	// that the network has not taken yet.
	Backlog() bool

	// ReadEvent blocks for the next event. A message it cannot decode
	// gives a *[MalformedError] and the session goes on. When the session
	// ends it returns a *[ClosedError] — or io.EOF once Close was called
	// and the service ended the session normally.
	ReadEvent() (Event, error)

	// Ping returns once the service has read everything written before it
	// (a WebSocket ping and its pong), or when ctx ends.
	Ping(ctx context.Context) error

	// Finish asks the service to finish what it was sent, whatever that
	// means for it (nothing for Vachana, whose detector ends the last
	// segment on the tail silence; a flush message for Sarvam). It does not
	// wait for the results: they come through ReadEvent.
	Finish(ctx context.Context) error

	// Close ends the session normally and waits briefly for the service
	// to agree; ReadEvent goes on delivering what the service still sends.
	Close() error

	// CloseNow drops the session at once; blocked calls return.
	CloseNow() error
}

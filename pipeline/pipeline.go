// Package pipeline runs the stages of vachana-pipe together: it reads a
// source of s16le mono audio, cuts it into frames, paces them in real time
// and writes them to a service's sessions ([Stream]) or to a [Sink] such as
// a file ([Run]). For a service it also reads the session's events,
// reconnects and replays after a lost session, and drains outstanding
// transcripts before closing.
//
// Resampling is a stage the caller composes in front (package resample),
// so this package builds without cgo.
//
// Run and Stream start goroutines and join every one before they return,
// on success, error or cancellation:
//
//	reader ─▶ [free/full queue, ReadAhead frames] ─▶ sender (replay buffer, pacer, watchdog)
//	                                                    │ per session, joined before the next:
//	                                  listener ◀────────┤ events: numbering, segment tally, confirmations
//	                                  pinger   ─────────┘ keep-alive, dead-peer check
//
// and, when Options.Stop is set, one that waits for it. A lost session
// reaches the sender as one value on one channel (the listener's last);
// the replay is a synchronous buffer the sender owns; one pacer, rebased at
// each reconnection, paces live and replayed frames alike.
//
// Many streams in one process share the sending: a paced stream in its
// steady state (frames queued, nothing to replay, a session that can write
// without waiting, see transport.Session's SetNoWait) parks its sender in
// one of the process's crews, one per CPU, whose leader, one of the parked
// senders' goroutines, writes every stream's frames as they come due, with
// one wake-up for all the frames due together instead of one per frame.
// Anything else (an empty queue, a lost session, a backlog on the network,
// the end of the run) hands the stream back to its own sender, at the
// latest when its next frame is due (a stream stopped while a crew holds it
// stops up to a frame period later, as one whose pacer sleeps does). No
// write in a crew waits for the network, so one service's stall never
// holds up another stream's frames; the crews start no goroutine.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/transport"
)

// Sink receives frames: a file, a pipe, nowhere (see package sink).
// WriteFrame must not retain f. Close is called once, after the last frame,
// and also after a failure, so a file keeps what was written.
type Sink interface {
	WriteFrame(f *frame.Frame) error
	Close() error
}

// Defaults for [Options].
const (
	DefaultRate           = frame.Rate16k
	DefaultTailSilence    = time.Second
	DefaultDrainTimeout   = 10 * time.Second
	DefaultPingInterval   = 20 * time.Second
	DefaultReadAhead      = 64
	DefaultReconnects     = 5
	DefaultReplay         = 30 * time.Second
	DefaultStallTimeout   = 15 * time.Second
	DefaultConnectTimeout = 15 * time.Second
)

// Options configures [Run] and [Stream]. In every field zero means the
// documented default; "none" is said with the No… fields. Negative values
// are refused with an error naming the field.
type Options struct {
	// Rate is the sample rate of the stream; default DefaultRate. Stream
	// takes it from the dialer (transport.Dialer.Audio) and refuses a
	// different one.
	Rate frame.Rate

	// Unpaced sends frames as fast as the sink takes them. Never use it
	// with a service, which degrades on bursts; it is for files.
	Unpaced bool

	// TailSilence is the silence sent after the input, so the service's
	// voice activity detector ends the last segment; default what the
	// dialer asks for (transport.Audio.TailSilence), else
	// DefaultTailSilence. Rounded up to whole frames. NoTailSilence sends
	// none.
	TailSilence   time.Duration
	NoTailSilence bool

	// DrainTimeout bounds the wait for outstanding transcripts after the
	// last frame; default DefaultDrainTimeout.
	DrainTimeout time.Duration

	// PingInterval is the time between WebSocket pings, which also bounds
	// the wait for each pong; default DefaultPingInterval. NoPing sends
	// none (a dead peer is then only noticed when a write fails).
	PingInterval time.Duration
	NoPing       bool

	// ReadAhead is the number of frames read ahead of the pacer; default
	// DefaultReadAhead (2 s at 16 kHz). It bounds memory, not latency. The
	// buffers are taken 32 at a time (see HeldAudio): a ReadAhead that is
	// not a multiple of 32 holds the rest of its last slab too.
	ReadAhead int

	// Reconnects is how many times in a row Stream tries to open a new
	// session after one is lost mid-stream (dropped connection, abnormal or
	// early close, fatal server error, no pong); default
	// DefaultReconnects. Attempts back off exponentially from 250 ms to 5 s,
	// with jitter. A refused key is not retried. NoReconnect makes a lost
	// session end the run.
	Reconnects  int
	NoReconnect bool

	// Replay is how much of the audio already sent is kept to be sent again
	// to a new session; default DefaultReplay. If a lost session had not
	// finished with older audio, that audio is given up and OnWarning says
	// exactly how much. It bounds the largest part of a stream's memory,
	// 32 KB per second at 16 kHz, about 1 MB at the default; but the replay
	// buffer holds only what a replay could need (what the service has not
	// confirmed, from where a replay would start), so a paced stream to a
	// service that ends and transcribes segments holds a few seconds. It
	// holds Replay in full when nothing is confirmed that long: an unpaced
	// stream, or a service that never answers. See [HeldAudio].
	Replay time.Duration

	// StallTimeout fails the run when a frame cannot be written for this
	// long (a server that stopped reading); default DefaultStallTimeout.
	StallTimeout time.Duration

	// ConnectTimeout bounds the opening of each session, the first one
	// and every reconnection; default DefaultConnectTimeout.
	ConnectTimeout time.Duration

	// Stop, when closed, ends the stream gracefully: a lost session is no
	// longer replaced, and Run returns [ErrStopped] once it has sent what
	// the source gave, the tail silence, drained the transcripts and closed
	// the session normally. Stop does not end the source: make the source
	// end as well (source.Input.Stop does, so every stage between — the
	// WAV reader, the resampler — flushes what it holds).
	Stop <-chan struct{}

	// Interrupt, if set, is called once when the run is cancelled or fails,
	// to make a Read blocked on the source return (source.Input.Interrupt
	// does). Run waits for its reading goroutine; without Interrupt, a
	// source blocked in Read holds Run until the Read returns.
	Interrupt func()

	// OnEvent, if set, receives every event of the service in order, from
	// one goroutine at a time, with the client's session and segment
	// numbers. It should return quickly: events are not read meanwhile.
	OnEvent func(Event)

	// OnWarning, if set, receives problems that do not end the run: a
	// malformed server message, a lost session being replaced, audio given
	// up. It may be called from several goroutines at once.
	OnWarning func(error)

	// OnProgress, if set, is called from the sending goroutine about twice a
	// second with the number of frames sent and final transcripts received.
	OnProgress func(frames, transcripts int64)
}

// Event is an event of the service with the client's numbering.
type Event struct {
	transport.Event

	// Session is the session the event came on: 1, then 2 after the first
	// reconnection…
	Session int
	// Segment numbers SegmentEnded and Transcript events from 0 across
	// sessions, so it only grows (the service's own index restarts with
	// each session).
	Segment int

	// Start and End, on a final transcript (and on the segment end it
	// answers, when it could be placed there), are the bounds of the speech it transcribes in the
	// input's timeline: from the input's first sample, however many
	// sessions and replays the stream took, without the silence a
	// keep-alive sent while the input paused. They are found from where
	// in the audio sent the segment's end came, refined by the client's
	// own detection of speech in that audio (frames at −40 dBFS or more,
	// so exact to a frame). Where that detection cannot tell (speech
	// quieter than that, or noise louder, so that the speech never seems
	// to pause), the segment ends 500 ms of quiet before its end came and
	// starts by its length, when the service says it (Vachana, Sarvam),
	// else where the previous one ended; that is less exact, by the delay
	// of the segment's end. Speech heard only in fragments is placed by
	// the fragments. Unpaced (Options.Unpaced), where the stream runs
	// ahead of the service, segments are paired in order with the
	// utterances the client detects: exact while the service ends its
	// segments where the client ends its utterances (pauses of 450 ms or
	// more), shifted after a difference; stream paced for exact times.
	// Both are zero when not known: on other events, on every event of
	// Run, and on an aiOla transcript of speech the client did not hear.
	Start, End time.Duration
}

// withDefaults returns o with its defaults filled in, or an error naming
// the first invalid field.
func (o Options) withDefaults() (Options, error) {
	type field struct {
		name string
		d    *time.Duration
		def  time.Duration
	}
	for _, f := range []field{
		{"TailSilence", &o.TailSilence, DefaultTailSilence},
		{"DrainTimeout", &o.DrainTimeout, DefaultDrainTimeout},
		{"PingInterval", &o.PingInterval, DefaultPingInterval},
		{"Replay", &o.Replay, DefaultReplay},
		{"StallTimeout", &o.StallTimeout, DefaultStallTimeout},
		{"ConnectTimeout", &o.ConnectTimeout, DefaultConnectTimeout},
	} {
		switch {
		case *f.d < 0:
			return o, fmt.Errorf("pipeline: Options.%s is %v; it must not be negative (zero means the default, %v)", f.name, *f.d, f.def)
		case *f.d == 0:
			*f.d = f.def
		}
	}
	if o.ReadAhead < 0 || o.Reconnects < 0 {
		return o, fmt.Errorf("pipeline: Options.ReadAhead (%d) and Options.Reconnects (%d) must not be negative; zero means the default", o.ReadAhead, o.Reconnects)
	}
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	if o.Rate < 0 || o.Rate > frame.MaxRate {
		return o, fmt.Errorf("pipeline: Options.Rate %d Hz is out of range (1 to %d Hz)", int(o.Rate), int(frame.MaxRate))
	}
	if o.ReadAhead == 0 {
		o.ReadAhead = DefaultReadAhead
	}
	if o.Reconnects == 0 {
		o.Reconnects = DefaultReconnects
	}
	if o.NoTailSilence {
		o.TailSilence = 0
	}
	if o.NoReconnect {
		o.Reconnects = 0
	}
	return o, nil
}

// InputError reports that reading the source failed.
type InputError struct{ Err error }

func (e *InputError) Error() string { return "reading input: " + e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// ConnectError reports that the first session could not be opened.
type ConnectError struct{ Err error }

func (e *ConnectError) Error() string { return e.Err.Error() }
func (e *ConnectError) Unwrap() error { return e.Err }

// ErrStopped is returned by Run and Stream after a graceful stop through
// Options.Stop.
var ErrStopped = errors.New("pipeline: stopped before the end of the input")

// Run streams src, s16le mono audio at opts.Rate, to dst and returns what
// it did. It returns the first error of any stage: an *[InputError] when
// reading src fails, the sink's error when writing fails, or the cause of
// ctx. The stats are valid in every case. Run closes dst (also on error,
// so a file keeps what was written) but not src.
func Run(ctx context.Context, src io.Reader, dst Sink, opts *Options) (*Stats, error) {
	r, err := newRun(ctx, src, opts, 0)
	if err != nil {
		dst.Close()
		return &r.stats, err
	}
	err = r.run(ctx, func(ctx context.Context) error { return r.sendTo(ctx, dst) })
	if err != nil && !r.closed {
		dst.Close() // a file keeps what was written
	}
	return &r.stats, err
}

// Stream streams src, s16le mono audio at the dialer's rate, to sessions
// opened by d, and returns what it did. It opens the first session (a
// failure is a *[ConnectError]), replaces a lost one up to
// Options.Reconnects times in a row, replaying what the lost one had not
// finished with, and after the last frame and the tail silence asks the
// service to finish, drains outstanding transcripts and closes the session
// normally. The dialer's [transport.Audio] sets the default tail silence
// and, for a service that closes silent sessions, the keep-alive: when src
// gives no audio for that long, silence goes out at cadence until it gives
// audio again (counted in Stats.Filler; the pacer's schedule moves by the
// pause, so nothing is sent faster than real time). A dialer that takes
// chunks of several frames gets them paced a chunk at a time, aligned on
// multiples of its ChunkFrames from the stream's first frame (a replay may
// start with a shorter one, and the stream ends with one). For a service
// that sends no segment ends, each final transcript confirms the speech the
// pipeline detects before it, and the drain awaits a transcript for the
// speech sent last (see [transport.Audio.NoSegmentEnds]). Each final
// transcript carries where its speech lies in the input (Event.Start, End). It returns the first error of any
// stage: an *[InputError] when reading src fails, the session's error when
// it is lost for good, a *[StallError], a *[MissingTranscriptsError], or
// the cause of ctx. The stats are valid in every case. Stream does not close
// d or src.
func Stream(ctx context.Context, src io.Reader, d transport.Dialer, opts *Options) (*Stats, error) {
	audio := d.Audio()
	if n := audio.ChunkFrames; n < 1 || n > 64 || int(audio.Rate)%n != 0 {
		return &Stats{Rate: audio.Rate}, fmt.Errorf("pipeline: the dialer takes chunks of %d frames at %d Hz; the pipeline sends chunks of 1 to 64 frames whose number divides the rate", n, int(audio.Rate))
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Rate != 0 && o.Rate != audio.Rate {
		return &Stats{Rate: o.Rate}, fmt.Errorf("pipeline: Options.Rate is %d Hz but the dialer opens sessions at %d Hz; they must agree (leave Rate zero)", int(o.Rate), int(audio.Rate))
	}
	o.Rate = audio.Rate
	if o.TailSilence == 0 {
		o.TailSilence = audio.TailSilence // the service's need, else the default
	}
	r, err := newRun(ctx, src, &o, 1)
	if err != nil {
		return &r.stats, err
	}
	r.keepAlive, r.flush = audio.KeepAlive, audio.Flush
	r.unit, r.noEnds = audio.ChunkFrames, audio.NoSegmentEnds
	r.stats.ChunkFrames = audio.ChunkFrames
	sess, err := r.dial(ctx, d)
	if err != nil {
		r.endWatch()
		r.freeQueue()
		return &r.stats, err
	}
	err = r.run(ctx, func(ctx context.Context) error { return r.stream(ctx, d, sess) })
	return &r.stats, err
}

// dial opens the first session, giving up on ctx, Stop and ConnectTimeout.
func (r *run) dial(ctx context.Context, d transport.Dialer) (transport.Session, error) {
	dctx, cancel := r.dialContext(ctx)
	defer cancel()
	sess, err := d.Dial(dctx)
	switch {
	case err == nil:
		return sess, nil
	case ctx.Err() != nil:
		return nil, context.Cause(ctx)
	case r.stopCtx.Err() != nil:
		return nil, fmt.Errorf("%w while connecting", ErrStopped)
	}
	return nil, &ConnectError{Err: err}
}

// dialContext returns the context of one attempt to open a session: it
// ends with ctx, with Options.Stop, or after ConnectTimeout with a cause
// that names the limit.
func (r *run) dialContext(ctx context.Context) (context.Context, context.CancelFunc) {
	dctx, cancel := context.WithTimeoutCause(ctx, r.o.ConnectTimeout, fmt.Errorf("no session within the connect limit, %v (-connect-timeout)", r.o.ConnectTimeout))
	stop := context.AfterFunc(r.stopCtx, cancel)
	return dctx, func() {
		stop()
		cancel()
	}
}

// run is the state of one Run or Stream. Each field is written by one
// goroutine only, or read only after the goroutines are joined, unless it
// says otherwise.
type run struct {
	o      Options
	src    io.Reader
	frames arena             // every frame buffer of the run: newRun, then the sender, then freeQueue use it
	free   chan *frame.Frame // empty buffers, to the reader
	full   chan *frame.Frame // frames in order, to the sender

	stopCtx   context.Context // ends with the run's context or Options.Stop; reconnections give up on it
	endWatch  func() bool     // ends the watch of Options.Stop; reports whether Stop had closed
	closed    bool            // the sender closed the sink or the last session normally
	keepAlive time.Duration   // the dialer's transport.Audio.KeepAlive; zero for Run
	flush     bool            // the dialer's transport.Audio.Flush
	unit      int             // the dialer's transport.Audio.ChunkFrames; 1 for Run
	noEnds    bool            // the dialer's transport.Audio.NoSegmentEnds

	// finals counts the final transcripts of a service that sends no
	// segment ends, across sessions, and lastFinal is the stream position
	// at which the latest came (-1: none). The listeners write them and
	// the drain reads them, each under the current session's tally lock.
	finals    atomic.Int64
	lastFinal atomic.Int64

	stats       Stats        // reader: InputBytes, Padding, TailFrames; sender: the rest but the listeners'; listeners: events
	transcripts atomic.Int64 // final transcripts, for progress
	next        int          // listeners, one at a time: number of the next segment
	lat, turn   summary      // listeners: latency, turnaround

	speech speechMap // sender: the speech detected, for the timestamps
	place  placer    // listeners, one at a time: segments placed in time
}

// newRun checks opts and sets up the queue and the watch of Options.Stop,
// which the caller must end with endWatch.
func newRun(ctx context.Context, src io.Reader, opts *Options, sessions int) (*run, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o, err := o.withDefaults()
	r := &run{o: o, src: src, stats: Stats{Rate: o.Rate, Sessions: sessions}, endWatch: func() bool { return false }, unit: 1}
	r.lastFinal.Store(-1)
	if err != nil {
		return r, err
	}
	r.free = make(chan *frame.Frame, o.ReadAhead)
	r.full = make(chan *frame.Frame, o.ReadAhead)
	for range o.ReadAhead {
		r.free <- r.frames.get()
	}
	held.readAhead.Add(int64(o.ReadAhead))
	r.stopCtx, r.endWatch = watchStop(ctx, o.Stop)
	return r, nil
}

// watchStop returns a context that ends with ctx or when stop closes, and a
// function that ends the watch, waits for its goroutine, and reports
// whether stop had closed by then.
func watchStop(ctx context.Context, stop <-chan struct{}) (context.Context, func() bool) {
	sctx, cancel := context.WithCancel(ctx)
	if stop == nil {
		return sctx, func() bool { cancel(); return false }
	}
	done := make(chan bool, 1)
	go func() {
		select {
		case <-stop:
			cancel()
			done <- true
		case <-sctx.Done():
			done <- false
		}
	}()
	return sctx, func() bool {
		cancel()
		return <-done
	}
}

// run starts the reader and send and joins them. The first error wins;
// it cancels the other and interrupts the source.
func (r *run) run(ctx context.Context, send func(context.Context) error) error {
	gctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	var g errgroup.Group
	start := func(f func(context.Context) error) {
		g.Go(func() error {
			err := f(gctx)
			if err != nil {
				fail(err)
			}
			return err
		})
	}
	interrupted := make(chan struct{})
	stopInterrupt := context.AfterFunc(gctx, func() {
		defer close(interrupted)
		if r.o.Interrupt != nil {
			r.o.Interrupt()
		}
	})
	start(r.read)
	start(send)
	err := g.Wait()
	r.freeQueue()
	if !stopInterrupt() {
		<-interrupted // the interrupt ran: wait for it to finish
	}
	stopped := r.endWatch()
	r.stats.Latency, r.stats.Turnaround = r.lat.result(), r.turn.result()
	switch {
	case err != nil && ctx.Err() != nil:
		err = context.Cause(ctx)
	case err == nil && stopped:
		err = ErrStopped
	}
	return err
}

// freeQueue gives the buffers of the read-ahead queue back to the run's
// arena, and with the last of each slab the slab to slabPool, once the
// reader and the sender are done (each puts back the buffers it held).
func (r *run) freeQueue() {
	held.readAhead.Add(-int64(r.o.ReadAhead))
	for {
		select {
		case b := <-r.free:
			r.frames.put(b)
			continue
		default:
		}
		select {
		case b, ok := <-r.full:
			if ok {
				r.frames.put(b)
				continue
			}
		default:
		}
		r.frames.close()
		return
	}
}

// read fills frames from src, then the tail silence. It closes full only
// when all of them are queued; on error the sender ends through ctx.
func (r *run) read(ctx context.Context) error {
	emit := func(f *frame.Frame) error {
		select {
		case b := <-r.free:
			*b = *f
			select {
			case r.full <- b:
				return nil
			case <-ctx.Done():
				r.free <- b // never blocks: it has room for every buffer
				return context.Cause(ctx)
			}
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	fr := frame.NewFramer(emit)
	// Paced, the reader needs only keep ahead of real time: small reads
	// spare a thousand streams 28 KiB each. Unpaced, large reads are
	// faster.
	size := 4 << 10
	if r.o.Unpaced {
		size = 32 << 10
	}
	buf := make([]byte, size)
	for {
		n, err := r.src.Read(buf)
		r.stats.InputBytes += int64(n)
		if n > 0 {
			if _, werr := fr.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return &InputError{Err: err}
		}
	}
	pad, err := fr.Flush()
	if err != nil {
		return err
	}
	r.stats.Padding = pad
	var silence frame.Frame
	for range r.o.Rate.FramesIn(r.o.TailSilence) {
		if err := emit(&silence); err != nil {
			return err
		}
		r.stats.TailFrames++
	}
	close(r.full)
	return nil
}

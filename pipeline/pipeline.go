// Package pipeline runs the stages of vachana-pipe together: it reads a
// source, resamples it if needed, cuts it into frames, paces them in real
// time and writes them to a sink, and, when the sink is a service session,
// reads its events, reconnects and replays after a lost session, and drains
// outstanding transcripts before closing.
//
// [Run] is the only place in the module that starts goroutines; every one of
// them has finished when Run returns, on success, error or cancellation.
//
//	reader ─▶ [free/full queue, ReadAhead frames] ─▶ sender (replay ring, pacer, sink)
//	                                      events ◀── sink (Stream only)
//	                                      pinger ──▶ sink (Stream only)
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/resample"
	"github.com/vachana-pipe/vachana-pipe/transport"
)

// Sink receives frames. WriteFrame must not retain f. Close is called once,
// after the last frame, when the run ends normally.
type Sink interface {
	WriteFrame(f *frame.Frame) error
	Close() error
}

// Stream is a Sink that is a session with a speech-to-text service, such as
// [sink.WebSocket]. Run reads its events on a goroutine of its own, pings it,
// drains outstanding transcripts before Close, and calls CloseNow to abandon
// it on error or cancellation. If it also has a Redial method, like
// [sink.WebSocket] made by [sink.Dial], Run reconnects after a lost session
// and replays the audio the lost session had not finished with.
type Stream interface {
	Sink
	ReadEvent() (transport.Event, error)
	Ping(ctx context.Context) error
	Drain(ctx context.Context, limit time.Duration) error
	CloseNow() error
}

// Redialer is a Stream that can open a new session with the same settings.
type Redialer interface {
	Redial(ctx context.Context) error
}

// Defaults for [Options].
const (
	DefaultTailSilence    = time.Second
	DefaultDrainTimeout   = 10 * time.Second
	DefaultPingInterval   = 20 * time.Second
	DefaultReadAhead      = 64
	DefaultReconnects     = 5
	DefaultReplay         = 30 * time.Second
	DefaultStallTimeout   = 15 * time.Second
	DefaultConnectTimeout = 15 * time.Second
)

// Options configures [Run]. The zero value streams 16 kHz audio paced in real
// time, with a second of trailing silence, reconnecting up to five times.
type Options struct {
	// Rate is the sample rate of the stream; default 16000.
	Rate frame.Rate

	// InputRate is the sample rate of the input, which is s16le mono;
	// default Rate. When it differs from Rate, Run resamples with libsoxr
	// at Quality (default high) and frees the resampler before returning.
	InputRate int
	Quality   resample.Quality

	// Unpaced sends frames as fast as the sink takes them. Never use it
	// with a service, which degrades on bursts; it is for files.
	Unpaced bool

	// TailSilence is the silence sent after the input, so the service's
	// voice activity detector ends the last segment; default
	// DefaultTailSilence, negative for none. Rounded up to whole frames.
	TailSilence time.Duration

	// DrainTimeout bounds the wait for outstanding transcripts after the
	// last frame; default DefaultDrainTimeout.
	DrainTimeout time.Duration

	// PingInterval is the time between WebSocket pings, which also bounds
	// the wait for each pong; default DefaultPingInterval, negative for none.
	PingInterval time.Duration

	// ReadAhead is the number of frames read ahead of the pacer; default
	// DefaultReadAhead (2 s at 16 kHz). It bounds memory, not latency.
	ReadAhead int

	// Reconnects is how many times in a row Run tries to open a new
	// session after one is lost mid-stream (dropped connection, abnormal or
	// early close, fatal server error); default DefaultReconnects, negative
	// for none. Attempts back off exponentially from 250 ms to 5 s, with
	// jitter. A refused key (401, 403) is not retried.
	Reconnects int

	// Replay is how much of the audio already sent is kept to be sent again
	// to a new session; default DefaultReplay. If a lost session had not
	// finished with older audio, that audio is given up and OnWarning says
	// exactly how much. It is the largest part of a stream's memory: 32 KB
	// per second at 16 kHz, about 1 MB at the default; lower it when running
	// thousands of streams.
	Replay time.Duration

	// StallTimeout fails the run when a frame cannot be written for this
	// long (a server that stopped reading); default DefaultStallTimeout.
	StallTimeout time.Duration

	// Stop, when closed, ends the input early but gracefully: reading
	// stops (a blocked Read is interrupted as on cancellation), the frames
	// read so far and the tail silence are sent, transcripts are drained and
	// the session is closed normally. Run then returns [ErrStopped].
	Stop <-chan struct{}

	// OnEvent, if set, receives every server event in order, from one
	// goroutine, with Session and Segment set. It should return quickly:
	// events are not read meanwhile.
	OnEvent func(transport.Event)

	// OnWarning, if set, receives problems that do not end the run: a
	// malformed server message, a lost session being replaced, audio given
	// up. It may be called from several goroutines at once.
	OnWarning func(error)

	// ConnectTimeout bounds each reconnection: the handshake and the
	// server's connected event; default DefaultConnectTimeout.
	ConnectTimeout time.Duration

	// OnProgress, if set, is called from the sending goroutine about twice a
	// second with the number of frames sent and final transcripts received.
	OnProgress func(frames, transcripts int64)
}

// InputError reports that reading the source failed.
type InputError struct{ Err error }

func (e *InputError) Error() string { return "reading input: " + e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// ErrStopped is returned by Run after a graceful stop through Options.Stop.
var ErrStopped = errors.New("pipeline: stopped before the end of the input")

// Run streams src, s16le mono audio at opts.InputRate, to dst at opts.Rate
// and returns what it did. It returns the first error of any stage: an
// *[InputError] when reading src fails, the sink's error when writing fails
// or the session ends early for good, or the cause of ctx. The stats are
// valid in every case.
//
// When ctx ends, Run abandons the sink (CloseNow for a Stream) and stops
// reading src: a src with a SetReadDeadline method (an *os.File pipe, a
// net.Conn, a [source.Source]) has its blocked Read interrupted; other
// readers must return from Read on their own. Run closes dst but not src.
func Run(ctx context.Context, src io.Reader, dst Sink, opts *Options) (*Stats, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if rs, ok := dst.(interface{ Rate() frame.Rate }); ok && rs.Rate() != 0 {
		switch {
		case o.Rate == 0:
			o.Rate = rs.Rate()
		case o.Rate != rs.Rate():
			abandon(dst)
			return &Stats{Rate: o.Rate}, fmt.Errorf("pipeline: Options.Rate is %d Hz but the session was opened at %d Hz; they must agree", int(o.Rate), int(rs.Rate()))
		}
	}
	o = withDefaults(&o)
	if err := o.Rate.Check(); err != nil {
		abandon(dst)
		return &Stats{Rate: o.Rate}, err
	}
	if o.InputRate != int(o.Rate) {
		rs, err := resample.New(src, o.InputRate, int(o.Rate), o.Quality)
		if err != nil {
			abandon(dst)
			return &Stats{Rate: o.Rate}, err
		}
		defer rs.Close() // after every goroutine reading it has ended
		src = rs
	}
	r := &run{
		o:      o,
		src:    src,
		dst:    dst,
		stats:  Stats{Rate: o.Rate, Sessions: 1},
		free:   make(chan *frame.Frame, o.ReadAhead),
		full:   make(chan *frame.Frame, o.ReadAhead),
		done:   make(chan struct{}),
		lost:   make(chan error, 1),
		resume: make(chan int64),
	}
	bufs := make([]frame.Frame, o.ReadAhead)
	for i := range bufs {
		r.free <- &bufs[i]
	}
	stream, _ := dst.(Stream)

	// gctx ends on the first error or when ctx does, not on success: only
	// then are the sink abandoned and the source's blocked Read interrupted.
	gctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	stopCtx, stopped := context.WithCancel(gctx)
	defer stopped()
	r.stopCtx = stopCtx
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
	aborted := make(chan struct{})
	stopAbort := context.AfterFunc(gctx, func() {
		defer close(aborted)
		if stream != nil {
			stream.CloseNow()
		}
		r.interruptRead()
	})

	start(r.read)
	start(func(ctx context.Context) error { return r.send(ctx, stream) })
	if o.Stop != nil {
		start(func(ctx context.Context) error {
			select {
			case <-o.Stop:
				r.stopping.Store(true)
				r.interruptRead()
				stopped() // also gives up replacing a lost session
			case <-r.done:
			case <-ctx.Done():
			}
			return nil
		})
	}
	if stream != nil {
		start(func(ctx context.Context) error { return r.events(ctx, stream) })
		if o.PingInterval > 0 {
			start(func(ctx context.Context) error { return r.ping(ctx, stream) })
		}
	}
	err := g.Wait()
	if !stopAbort() {
		<-aborted // the abort ran: wait for it to finish
	}
	if err != nil && !r.closed {
		abandon(dst) // a redialled session may postdate the abort
	}
	switch {
	case err != nil && ctx.Err() != nil:
		err = context.Cause(ctx)
	case err == nil && r.stopping.Load():
		err = ErrStopped
	}
	return &r.stats, err
}

// abandon ends dst after a failure: a Stream is dropped, another sink
// closed (so a file gets what was written).
func abandon(dst Sink) {
	if s, ok := dst.(Stream); ok {
		s.CloseNow()
		return
	}
	dst.Close()
}

func withDefaults(opts *Options) Options {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Rate == 0 {
		o.Rate = frame.Rate16k
	}
	if o.InputRate == 0 {
		o.InputRate = int(o.Rate)
	}
	if o.TailSilence == 0 {
		o.TailSilence = DefaultTailSilence
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	if o.PingInterval == 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.ReadAhead <= 0 {
		o.ReadAhead = DefaultReadAhead
	}
	if o.Reconnects == 0 {
		o.Reconnects = DefaultReconnects
	}
	if o.Replay <= 0 {
		o.Replay = DefaultReplay
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = DefaultStallTimeout
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	return o
}

// run is the state of one Run. Each field is written by one goroutine only,
// or is read only after g.Wait, unless it says otherwise.
type run struct {
	o    Options
	src  io.Reader
	dst  Sink
	free chan *frame.Frame // empty buffers, to the reader
	full chan *frame.Frame // frames in order, to the sender
	done chan struct{}     // closed when the sender has finished

	// Session hand-over between the events goroutine and the sender.
	lost   chan error // events → sender: the session ended (cap 1)
	resume chan int64 // sender → events: a new session starts at this frame

	pos      atomic.Int64 // index of the next frame to write to the current session
	stopping atomic.Bool  // Options.Stop was closed
	inEvent  atomic.Bool  // OnEvent is running: pongs are not being read
	closed   bool         // the sender closed dst

	ackMu        sync.Mutex
	ack          int64           // replay must start no later than this frame; see events
	ackMark      int64           // position of the last finished segment's processing event
	sessionStart int64           // first frame of the current session
	pingErr      error           // why the pinger ended the current session, if it did
	confirmed    atomic.Int64    // frames the server has confirmed reading (by a pong)
	stopCtx      context.Context // ends with the run or with Options.Stop

	stats       Stats        // reader: InputBytes, Padding, TailFrames; sender: Frames, Cadence, Pace, Elapsed, reconnects; events: the rest
	transcripts atomic.Int64 // final transcripts, for progress
}

// interruptRead makes a Read blocked on src return, if src allows it.
func (r *run) interruptRead() {
	if d, ok := r.src.(interface{ SetReadDeadline(time.Time) error }); ok {
		d.SetReadDeadline(time.Unix(1, 0))
	}
}

// read fills frames from src, then the tail silence. It closes full only
// when all of them are queued; on error the sender ends through ctx.
func (r *run) read(ctx context.Context) error {
	if err := r.fill(ctx); err != nil {
		return err
	}
	close(r.full)
	return nil
}

func (r *run) fill(ctx context.Context) error {
	emit := func(f *frame.Frame) error {
		select {
		case b := <-r.free:
			*b = *f
			select {
			case r.full <- b:
				return nil
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	fr := frame.NewFramer(emit)
	buf := make([]byte, 32<<10)
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
			if r.stopping.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
				break // a graceful stop: end the input here
			}
			return &InputError{Err: err}
		}
		if r.stopping.Load() {
			break
		}
	}
	pad, err := fr.Flush()
	if err != nil {
		return err
	}
	r.stats.Padding = pad
	if r.o.TailSilence > 0 {
		var silence frame.Frame
		for range r.o.Rate.FramesIn(r.o.TailSilence) {
			if err := emit(&silence); err != nil {
				return err
			}
			r.stats.TailFrames++
		}
	}
	return nil
}

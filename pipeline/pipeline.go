// Package pipeline runs the stages of vachana-pipe together: it reads a
// source, resamples it if needed, cuts it into frames, paces them in real
// time and writes them to a sink, and, when the sink is a service session, reads its events and drains
// outstanding transcripts before closing.
//
// [Run] is the only place in the module that starts goroutines; every one of
// them has finished when Run returns, on success, error or cancellation.
//
//	reader ─▶ [free/full queue, ReadAhead frames] ─▶ sender (pacer + sink)
//	                                      events ◀── sink (Stream only)
//	                                      pinger ──▶ sink (Stream only)
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
// it on error or cancellation.
type Stream interface {
	Sink
	ReadEvent() (transport.Event, error)
	Ping(ctx context.Context) error
	Drain(ctx context.Context, limit time.Duration) error
	CloseNow() error
}

// Defaults for [Options].
const (
	DefaultTailSilence  = time.Second
	DefaultDrainTimeout = 10 * time.Second
	DefaultPingInterval = 20 * time.Second
	DefaultReadAhead    = 64
)

// Options configures [Run]. The zero value streams 16 kHz audio paced in real
// time, with a second of trailing silence.
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

	// OnEvent, if set, receives every server event in order, from one
	// goroutine. It should return quickly: events are not read meanwhile.
	OnEvent func(transport.Event)

	// OnWarning, if set, receives problems that do not end the run, such as
	// a malformed server message.
	OnWarning func(error)

	// OnProgress, if set, is called from the sending goroutine about twice a
	// second with the number of frames sent and final transcripts received.
	OnProgress func(frames, transcripts int64)
}

// InputError reports that reading the source failed.
type InputError struct{ Err error }

func (e *InputError) Error() string { return "reading input: " + e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// errNoPong is the cause of a ping that timed out.
var errNoPong = errors.New("pipeline: no pong")

// Run streams src, s16le mono audio at opts.InputRate, to dst at opts.Rate
// and returns what it did. It returns the first error of any stage: an *[InputError] when reading
// src fails, the sink's error when writing fails or the session ends early,
// or the cause of ctx. The stats are valid in every case.
//
// When ctx ends, Run abandons the sink (CloseNow for a Stream) and stops
// reading src: a src with a SetReadDeadline method (an *os.File pipe, a
// net.Conn) has its blocked Read interrupted; other readers must return from
// Read on their own. Run closes dst but not src.
func Run(ctx context.Context, src io.Reader, dst Sink, opts *Options) (*Stats, error) {
	o := withDefaults(opts)
	if err := o.Rate.Check(); err != nil {
		return &Stats{Rate: o.Rate}, err
	}
	if o.InputRate != int(o.Rate) {
		rs, err := resample.New(src, o.InputRate, int(o.Rate), o.Quality)
		if err != nil {
			return &Stats{Rate: o.Rate}, err
		}
		defer rs.Close() // after every goroutine reading it has ended
		src = rs
	}
	r := &run{
		o:     o,
		src:   src,
		dst:   dst,
		stats: Stats{Rate: o.Rate},
		free:  make(chan *frame.Frame, o.ReadAhead),
		full:  make(chan *frame.Frame, o.ReadAhead),
		done:  make(chan struct{}),
	}
	bufs := make([]frame.Frame, o.ReadAhead)
	for i := range bufs {
		r.free <- &bufs[i]
	}
	stream, _ := dst.(Stream)

	g, gctx := errgroup.WithContext(ctx)
	stop := context.AfterFunc(gctx, func() {
		if stream != nil {
			stream.CloseNow()
		}
		if d, ok := src.(interface{ SetReadDeadline(time.Time) error }); ok {
			d.SetReadDeadline(time.Unix(1, 0))
		}
	})
	defer stop()

	g.Go(func() error { return r.read(gctx) })
	g.Go(func() error { return r.send(gctx, stream) })
	if stream != nil {
		g.Go(func() error { return r.events(stream) })
		if o.PingInterval > 0 {
			g.Go(func() error { return r.ping(gctx, stream) })
		}
	}
	err := g.Wait()
	if err != nil && ctx.Err() != nil {
		err = context.Cause(ctx)
	}
	return &r.stats, err
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
	return o
}

// run is the state of one Run. Each field is written by one goroutine only,
// or is read only after g.Wait.
type run struct {
	o    Options
	src  io.Reader
	dst  Sink
	free chan *frame.Frame // empty buffers, to the reader
	full chan *frame.Frame // frames in order, to the sender
	done chan struct{}     // closed when the sender has finished

	stats       Stats        // reader: InputBytes, Padding, TailFrames; sender: Frames, Cadence, Pace, Elapsed; events: the rest
	transcripts atomic.Int64 // final transcripts, for progress
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
			return &InputError{Err: err}
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

// send paces frames to the sink, then drains and closes it.
func (r *run) send(ctx context.Context, stream Stream) error {
	defer close(r.done)
	var (
		pacer    *frame.Pacer
		hist     histogram
		first    time.Time
		prev     time.Time
		lastTick time.Time
		period   = r.o.Rate.FrameDuration()
	)
	if !r.o.Unpaced {
		pacer = frame.NewPacer(r.o.Rate)
	}
	for {
		var f *frame.Frame
		var ok bool
		select {
		case f, ok = <-r.full:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		if !ok {
			break // the input and its tail are all sent
		}
		if pacer != nil {
			if _, err := pacer.Wait(ctx); err != nil {
				return err
			}
		}
		now := time.Now()
		if r.stats.Frames == 0 {
			first, lastTick = now, now
		} else if pacer != nil {
			hist.add(now.Sub(prev) - period)
		}
		prev = now
		if err := r.dst.WriteFrame(f); err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return fmt.Errorf("writing frame %d: %w", r.stats.Frames, err)
		}
		r.stats.Frames++
		r.free <- f
		if r.o.OnProgress != nil && now.Sub(lastTick) >= 500*time.Millisecond {
			lastTick = now
			r.o.OnProgress(r.stats.Frames, r.transcripts.Load())
		}
	}
	if pacer != nil && r.stats.Frames > 1 {
		r.stats.Pace = pacer.Stats()
		r.stats.Cadence = Cadence{
			Frames: r.stats.Frames,
			P50:    hist.quantile(0.5),
			P99:    hist.quantile(0.99),
			Max:    hist.max,
			Drift:  prev.Sub(first) - r.o.Rate.FrameAt(r.stats.Frames-1),
		}
	}
	if stream != nil {
		if err := stream.Drain(ctx, r.o.DrainTimeout); err != nil {
			return err
		}
	}
	err := r.dst.Close()
	if !first.IsZero() {
		r.stats.Elapsed = time.Since(first)
	}
	if r.o.OnProgress != nil {
		r.o.OnProgress(r.stats.Frames, r.transcripts.Load())
	}
	return err
}

// events reads the stream's events until the session ends.
func (r *run) events(stream Stream) error {
	opened := make(map[string]time.Time) // processing time by segment index, for turnaround
	var queue []time.Time                // processing times of segments without an index
	var lat, turn summary
	defer func() {
		r.stats.Latency = lat.result()
		r.stats.Turnaround = turn.result()
	}()
	for {
		ev, err := stream.ReadEvent()
		if err == io.EOF {
			return nil
		}
		var me *transport.MalformedError
		if errors.As(err, &me) {
			r.stats.Warnings++
			if r.o.OnWarning != nil {
				r.o.OnWarning(err)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("reading events: %w", err)
		}
		now := time.Now()
		r.stats.Events++
		switch ev.Type {
		case transport.Processing:
			r.stats.Processing++
			if ev.SegmentIndex != "" {
				opened[ev.SegmentIndex] = now
			} else {
				queue = append(queue, now)
			}
		case transport.Transcript:
			if !ev.IsFinal {
				r.stats.Partials++
				break
			}
			r.stats.Transcripts++
			r.transcripts.Add(1)
			if ev.LatencyMS > 0 {
				lat.add(time.Duration(ev.LatencyMS * float64(time.Millisecond)))
			}
			if t, ok := opened[ev.SegmentIndex]; ok && ev.SegmentIndex != "" {
				turn.add(now.Sub(t))
				delete(opened, ev.SegmentIndex)
			} else if len(queue) > 0 {
				turn.add(now.Sub(queue[0]))
				queue = queue[1:]
			}
		case transport.Error:
			r.stats.Errors++
		}
		if r.o.OnEvent != nil {
			r.o.OnEvent(ev)
		}
	}
}

// ping keeps the session alive and detects a dead peer: a pong that does not
// come within PingInterval fails the run.
func (r *run) ping(ctx context.Context, stream Stream) error {
	t := time.NewTicker(r.o.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return nil
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		pctx, cancel := context.WithTimeoutCause(ctx, r.o.PingInterval, errNoPong)
		err := stream.Ping(pctx)
		cancel()
		select {
		case <-r.done:
			return nil // the session is closing; the reader reports how it ended
		default:
		}
		if err != nil && ctx.Err() == nil {
			if errors.Is(context.Cause(pctx), errNoPong) {
				return fmt.Errorf("pipeline: no pong from the server within %v: the connection is dead", r.o.PingInterval)
			}
			// The session ended; the reader reports why.
			return nil
		}
	}
}

package source

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// DefaultAhead is how far, in time, one channel of a [Splitter] may run
// ahead of the slowest by default: see [SplitOptions].
const DefaultAhead = 2 * time.Second

// defaultAheadBytes is DefaultAhead at 48 kHz, the default bound of a
// Splitter that does not know the rate of its samples.
const defaultAheadBytes = 2 * 2 * 48000

// SplitOptions configures a [Splitter]. A nil *SplitOptions means the
// defaults.
type SplitOptions struct {
	// Ahead is the most bytes of s16le a channel holds for its reader: how
	// far the fastest open channel's reader may run ahead of the slowest.
	// It is rounded down to whole samples, and is at least one sample.
	// The default is DefaultAhead of samples: at the input's rate for
	// [Reader.Split], at 48 kHz (192000 bytes) for [NewSplitter].
	Ahead int
}

// Splitter demultiplexes interleaved s16le of several channels, as a
// [Reader] with [Options.KeepChannels] returns it, into one
// [ChannelReader] per channel, each returning that channel's mono s16le.
//
// A Splitter starts no goroutine: the ChannelReaders are read by the
// caller's goroutines, one per channel, concurrently. A Read whose channel
// has nothing buffered reads the input itself and keeps the other channels'
// samples for their readers. So that memory stays bounded, a channel holds
// at most [SplitOptions.Ahead] bytes: a reader that wants more input while
// the slowest open channel's buffer is full waits until that channel is read
// or closed. A channel whose reader gives up must therefore be closed
// ([ChannelReader.Close]); its samples are then discarded.
//
// The input is read by one ChannelReader at a time, without the Splitter's
// lock held: the other channels keep reading what they hold meanwhile, but a
// channel that has run out waits for that Read. An input blocked on a pipe
// thus blocks every channel once it has drained its buffer; [Input.Stop] and
// [Input.Interrupt] end such a Read, and with it the wait.
//
// Every channel returns every sample of its channel once, in order, then
// the end of the input, on that Read and every later one: io.EOF, or the
// input's read error. [Splitter.Err] reports a problem found at the end.
// Read allocates nothing.
//
// Each ChannelReader must be read by one goroutine at a time; different
// channels may be read, and any channel or the Splitter closed,
// concurrently.
type Splitter struct {
	r      io.Reader
	srcErr func() error // the end problem of a Reader split by Reader.Split, or nil

	mu      sync.Mutex
	cond    sync.Cond // signalled when samples, room, the end or a close come
	demux   demux
	reading bool   // a ChannelReader is reading r, outside mu
	scratch []byte // input read from r; used by the reading ChannelReader only
	carry   int    // scratch[:carry] is the start of an incomplete frame
	end     error  // io.EOF or r's error, after every frame before it was demultiplexed
	partial error  // ErrPartialSample, if the input ended inside a frame
	chans   []ChannelReader
}

// ChannelReader reads one channel of a [Splitter] as mono s16le. It must be
// read by one goroutine at a time; Close may be called by any goroutine.
type ChannelReader struct {
	s *Splitter
	k int
}

// NewSplitter returns a Splitter of r, interleaved s16le of the given
// number of channels (from 1 to [MaxChannels]).
func NewSplitter(r io.Reader, channels int, opts *SplitOptions) (*Splitter, error) {
	ahead := defaultAheadBytes
	if opts != nil && opts.Ahead != 0 {
		ahead = opts.Ahead
	}
	switch {
	case channels < 1 || channels > MaxChannels:
		return nil, fmt.Errorf("source: cannot split %d channels: from 1 to %d", channels, MaxChannels)
	case ahead < 0:
		return nil, fmt.Errorf("source: SplitOptions.Ahead is %d bytes: it must not be negative", ahead)
	}
	size := max(2, ahead&^1)
	s := &Splitter{
		r:       r,
		demux:   newDemux(channels, size),
		scratch: make([]byte, min(decodeBlock, size/2)*2*channels),
		chans:   make([]ChannelReader, channels),
	}
	s.cond.L = &s.mu
	for k := range s.chans {
		s.chans[k] = ChannelReader{s: s, k: k}
	}
	return s, nil
}

// Split returns a [Splitter] of the Reader's output, one [ChannelReader]
// per input channel: the Reader must have been made with
// [Options.KeepChannels], unless its input is mono. [SplitOptions.Ahead]
// defaults to [DefaultAhead] at the input's rate. The Splitter reads the
// Reader from then on, and its Err reports the Reader's end problems too.
func (s *Reader) Split(opts *SplitOptions) (*Splitter, error) {
	if s.Channels() != s.Format().Channels {
		return nil, errors.New("source: Split needs a Reader made with Options.KeepChannels")
	}
	o := SplitOptions{Ahead: 2 * int(s.Format().Rate.N(DefaultAhead))}
	if opts != nil && opts.Ahead != 0 {
		o.Ahead = opts.Ahead
	}
	sp, err := NewSplitter(s, s.Channels(), &o)
	if err != nil {
		return nil, err
	}
	sp.srcErr = s.Err
	return sp, nil
}

// Channels returns the number of channels.
func (s *Splitter) Channels() int { return len(s.chans) }

// Channel returns the reader of channel k, from 0 (the first, the left of
// stereo) to Channels()-1; the same one on every call. It panics if there
// is no channel k.
func (s *Splitter) Channel(k int) *ChannelReader { return &s.chans[k] }

// Err returns a problem found at the end of the input once it has ended:
// ErrPartialSample if it ended inside a frame (the incomplete frame is left
// out of every channel), and for a Splitter from [Reader.Split] whatever
// [Reader.Err] reports, first. It returns nil before the end and after a
// read error. It is safe to call at any time from any goroutine.
func (s *Splitter) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.end != io.EOF {
		return nil
	}
	if s.srcErr != nil {
		if err := s.srcErr(); err != nil { // r is no longer read: no race
			return err
		}
	}
	return s.partial
}

// Close closes every channel, as [ChannelReader.Close] does: for
// cancellation. It does not close the input.
func (s *Splitter) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.chans {
		s.demux.close(k)
	}
	s.cond.Broadcast()
	return nil
}

// Read fills p with the channel's samples, mono s16le, as many as it holds
// (at least one byte); when it holds none it reads the input, or waits for
// the channel reading it, or waits while the slowest open channel is
// [SplitOptions.Ahead] behind. It returns io.EOF at the end of the input,
// the input's read error after it, in both cases once every sample before
// has been returned, and io.ErrClosedPipe after Close. p is not retained.
func (c *ChannelReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		switch {
		case s.demux.closed[c.k]:
			return 0, io.ErrClosedPipe
		case s.demux.buffered(c.k) > 0:
			n := s.demux.pull(c.k, p)
			s.cond.Broadcast() // room for a channel waiting on this one
			return n, nil
		case s.end != nil:
			return 0, s.end
		case s.reading || s.demux.room() < 2:
			s.cond.Wait()
		default:
			s.fill()
		}
	}
}

// fill reads the input once, with s.mu held on entry and on return but not
// during the Read, and demultiplexes the whole frames read.
func (s *Splitter) fill() {
	fs := 2 * s.demux.channels
	lim := min(s.demux.room()/2, len(s.scratch)/fs) * fs
	s.reading = true
	s.mu.Unlock()
	m, err := s.r.Read(s.scratch[s.carry:lim])
	s.mu.Lock()
	s.reading = false
	n := s.carry + m
	whole := n - n%fs
	s.demux.push(s.scratch[:whole])
	s.carry = copy(s.scratch, s.scratch[whole:n])
	switch {
	case err == io.EOF:
		if s.carry > 0 {
			s.partial = fmt.Errorf("%w (%d of %d bytes)", ErrPartialSample, s.carry, fs)
			s.carry = 0
		}
		s.end = io.EOF
	case err != nil:
		s.end = err
	}
	s.cond.Broadcast()
}

// Close closes the channel: its Read returns io.ErrClosedPipe from then on,
// at once if it is waiting (unless it is the one reading the input: it
// returns when that Read does), and the channel's samples are discarded, so
// the other channels never wait for it. Close is safe to call more than
// once, and always returns nil.
func (c *ChannelReader) Close() error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.s.demux.close(c.k)
	c.s.cond.Broadcast()
	return nil
}

// demux is the Splitter's state without its lock: a ring buffer per
// channel, all written at the same position, each read at its own.
type demux struct {
	channels int
	size     int     // bytes each ring holds, even
	ring     []byte  // channel k's ring is ring[k*size:(k+1)*size]
	written  int64   // bytes per channel demultiplexed so far
	pos      []int64 // bytes channel k has returned
	closed   []bool
}

func newDemux(channels, size int) demux {
	return demux{
		channels: channels,
		size:     size,
		ring:     make([]byte, channels*size),
		pos:      make([]int64, channels),
		closed:   make([]bool, channels),
	}
}

// buffered returns the bytes channel k holds.
func (d *demux) buffered(k int) int { return int(d.written - d.pos[k]) }

// room returns how many bytes per channel push may add: what the fullest
// open channel has left.
func (d *demux) room() int {
	low := d.written
	for k, c := range d.closed {
		if !c {
			low = min(low, d.pos[k])
		}
	}
	return d.size - int(d.written-low)
}

// push demultiplexes src, whole interleaved frames, no more than room()/2
// of them, into the rings of the open channels.
func (d *demux) push(src []byte) {
	fs := 2 * d.channels
	at := int(d.written % int64(d.size))
	for k := range d.channels {
		if d.closed[k] {
			continue
		}
		ring := d.ring[k*d.size : (k+1)*d.size]
		if d.channels == 1 { // mono: two copies at most
			n := copy(ring[at:], src)
			copy(ring, src[n:])
			break
		}
		o := at
		for i := 2 * k; i < len(src); i += fs {
			ring[o], ring[o+1] = src[i], src[i+1]
			if o += 2; o == d.size {
				o = 0
			}
		}
	}
	d.written += int64(len(src) / d.channels)
}

// pull moves up to len(p) bytes that channel k holds into p and returns
// their number.
func (d *demux) pull(k int, p []byte) int {
	n := min(len(p), d.buffered(k))
	at := int(d.pos[k] % int64(d.size))
	ring := d.ring[k*d.size : (k+1)*d.size]
	c := copy(p[:n], ring[at:])
	copy(p[c:n], ring)
	d.pos[k] += int64(n)
	return n
}

// close marks channel k closed: it is no longer written nor waited for.
func (d *demux) close(k int) { d.closed[k] = true }

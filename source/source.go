// Package source opens and decodes the audio a pipeline reads: WAV or raw
// PCM, from a file or standard input, as mono signed 16-bit little-endian
// samples.
//
// [Open] opens a path, or standard input for "-" or "", as an [Input]. Another
// goroutine can end an Input's Read, even one blocked on a pipe that nobody
// writes to: [Input.Stop] ends the input early but gracefully (Read returns
// io.EOF, so every stage after it ends as at a normal end, flushing what it
// holds), [Input.Interrupt] aborts it with an error. For standard input this
// needs the descriptor in non-blocking mode, which Open sets and [Input.Close]
// restores.
//
// [NewReader] tells WAV from raw PCM by the first bytes of the stream (and by
// a .wav or .wave name), without losing them, and returns a [Reader] that
// decodes either to mono s16le with a [Decoder]: 8-bit unsigned, 16/24/32-bit
// integer, 32/64-bit float, G.711 µ-law and A-law, any number of channels.
//
// The channels are averaged into one, unless [Options.KeepChannels] keeps
// them apart: the Reader then returns interleaved s16le of every channel,
// and [Reader.Split] (or [NewSplitter]) gives one [ChannelReader] per
// channel, each mono s16le, for goroutines of the caller to read
// concurrently, say one streaming session per side of a stereo call.
//
// # Why the WAV reader is our own
//
// go-audio/wav needs an io.ReadSeeker, decodes ffmpeg's streamed WAV (data size
// 0xFFFFFFFF) to zero samples, corrupts samples when a pipe returns short
// reads, returns float, µ-law and A-law data as integers, ignores the
// WAVE_FORMAT_EXTENSIBLE subformat and allocates on every block. [ReadWAVHeader]
// reads any io.Reader once, front to back, and refuses what it cannot decode.
// go-audio is used where it is right: its encoder writes the WAV fixtures of
// the tests, and [FromIntBuffer] accepts a caller's go-audio buffer.
package source

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/vachana-pipe/vachana-pipe/internal/term"
)

// ErrInterrupted is what Read returns after [Input.Interrupt] with a nil
// error.
var ErrInterrupted = errors.New("source: the input was interrupted")

// Input is an opened input: a file, a pipe or standard input.
//
// Its Read can be ended from another goroutine, at once even when it is
// blocked on a pipe, by [Input.Stop] (the input ends: Read returns io.EOF)
// or [Input.Interrupt] (the input fails: Read returns an error). Read must be
// called by one goroutine at a time; Stop, Interrupt and Close may be called
// by any goroutine at any time, also concurrently with Read.
type Input struct {
	f    *os.File
	name string

	mu      sync.Mutex
	end     error  // io.EOF after Stop, the error after Interrupt; the first wins
	restore func() // undoes what Open changed on standard input; nil once done
}

// Open opens name for reading: a path, or "-" or "" for standard input.
// Standard input is read through a non-blocking duplicate of its descriptor
// (on Unix), so that a Read blocked on a pipe can be ended; Close restores
// the mode.
func Open(name string) (*Input, error) {
	if name == "" || name == "-" {
		f, restore, err := stdin()
		if err != nil {
			return nil, fmt.Errorf("source: cannot read standard input: %w", err)
		}
		return &Input{f: f, name: "stdin", restore: restore}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("source: cannot open input: %w", err)
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("source: input %s is a directory, not an audio file", name)
	}
	return &Input{f: f, name: name}, nil
}

// NewInput returns an Input reading f, named name, and takes f over: Close
// closes it. A Read blocked on f can be ended if f supports read deadlines,
// as the pipes of [os.Pipe], FIFOs and sockets do; other files (regular
// files, and os.Stdin as the process got it: use Open("-") for that) end at
// their next Read.
func NewInput(f *os.File, name string) *Input {
	return &Input{f: f, name: name}
}

// Name returns the path of the input, or "stdin".
func (in *Input) Name() string { return in.name }

// IsTerminal reports whether the input is a terminal (standard input not
// redirected), from which audio cannot come.
func (in *Input) IsTerminal() bool { return term.Is(in.f) }

// Read reads the input's bytes. After [Input.Stop] it returns io.EOF, after
// [Input.Interrupt] the interrupting error: a Read blocked then, and every
// later one. Data that a Read got before either is returned with a nil
// error.
func (in *Input) Read(p []byte) (int, error) {
	if err := in.ended(); err != nil {
		return 0, err
	}
	n, err := in.f.Read(p)
	if err != nil {
		// A deadline error, or the end of a file closed meanwhile, is the
		// work of Stop or Interrupt: say what they meant.
		if end := in.ended(); end != nil {
			return n, end
		}
	}
	return n, err
}

// Stop ends the input early but gracefully: a Read blocked now returns
// io.EOF at once, and so does every later Read, so every stage reading from
// the input ends as at a normal end and flushes what it holds. A WAV
// [Reader] whose header announced more data then reports [ErrTruncated] from
// [Reader.Err], as for any input cut short. Stop does nothing if the input
// was already stopped or interrupted.
func (in *Input) Stop() { in.setEnd(io.EOF) }

// Interrupt aborts the input: a Read blocked now returns err at once, and
// so does every later Read (ErrInterrupted if err is nil). It is meant for
// cancellation, e.g. context.AfterFunc(ctx, func() {
// in.Interrupt(context.Cause(ctx)) }). Interrupt does nothing if the input
// was already stopped or interrupted.
func (in *Input) Interrupt(err error) {
	if err == nil {
		err = ErrInterrupted
	}
	in.setEnd(err)
}

func (in *Input) setEnd(err error) {
	in.mu.Lock()
	first := in.end == nil
	if first {
		in.end = err
	}
	in.mu.Unlock()
	if first {
		// Set after end, so a Read that sees the deadline also sees end.
		// Files without deadlines (regular files) do not block: their next
		// Read sees end.
		in.f.SetReadDeadline(time.Unix(1, 0))
	}
}

func (in *Input) ended() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.end
}

// Close closes the input and restores standard input's mode. A Read blocked
// in another goroutine then returns an error. Close is safe to call more
// than once; only the first call closes.
func (in *Input) Close() error {
	err := in.f.Close()
	in.mu.Lock()
	restore := in.restore
	in.restore = nil
	in.mu.Unlock()
	if restore != nil {
		restore()
	}
	if errors.Is(err, os.ErrClosed) {
		return nil
	}
	return err
}

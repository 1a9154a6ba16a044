// Package source opens and decodes the audio a pipeline reads: WAV or raw
// PCM, from a file or standard input, as mono signed 16-bit little-endian
// samples.
//
// [Open] opens a path, or standard input for "-" or "". Inputs are *os.File
// values that the pipeline can interrupt: a Read blocked on a pipe or terminal
// returns once [Input.SetReadDeadline] passes, so cancelling a run never leaves
// a goroutine stuck in Read. For standard input this needs the descriptor in
// non-blocking mode, which Open sets and [Input.Close] restores.
//
// [NewReader] tells WAV from raw PCM by the first bytes of the stream, without
// losing them, and returns a [Source] that decodes either to mono s16le with a
// [Decoder]: 8-bit unsigned, 16/24/32-bit integer, 32/64-bit float, G.711
// µ-law and A-law, any number of channels.
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
	"fmt"
	"os"
)

// Input is an opened source.
type Input struct {
	*os.File
	name    string
	restore func() // undoes what Open changed on standard input
}

// Open opens name for reading: a path, or "-" or "" for standard input.
func Open(name string) (*Input, error) {
	if name == "" || name == "-" {
		f, restore, err := stdin()
		if err != nil {
			return nil, fmt.Errorf("source: cannot read standard input: %w", err)
		}
		return &Input{File: f, name: "stdin", restore: restore}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("source: cannot open input: %w", err)
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("source: input %s is a directory, not an audio file", name)
	}
	return &Input{File: f, name: name}, nil
}

// Name returns the path of the input, or "stdin".
func (in *Input) Name() string { return in.name }

// IsTerminal reports whether the input is a terminal (standard input not
// redirected), from which audio cannot come.
func (in *Input) IsTerminal() bool {
	st, err := in.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && st.Mode()&os.ModeDevice != 0
}

// Close closes the input and restores standard input's mode.
func (in *Input) Close() error {
	err := in.File.Close()
	if in.restore != nil {
		in.restore()
		in.restore = nil
	}
	return err
}

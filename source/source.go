// Package source opens the audio a pipeline reads: a file, or standard input
// when the name is "-" or empty.
//
// Inputs are *os.File values that the pipeline can interrupt: a Read blocked
// on a pipe or terminal returns once [Input.SetReadDeadline] passes, so
// cancelling a run never leaves a goroutine stuck in Read. For standard input
// this needs the descriptor in non-blocking mode, which Open sets and
// [Input.Close] restores.
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

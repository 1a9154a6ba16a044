package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/vachana-pipe/vachana-pipe/resample"
	"github.com/vachana-pipe/vachana-pipe/source"
)

// input is the audio to send: the input, decoded, at the stream's rate.
type input struct {
	name      string
	file      *source.Input    // nil when stdin is a reader given by a test
	stopWatch func() bool      // ends the watch that stops file
	decoded   *source.Reader   // mono s16le at the input's rate
	audio     *resample.Reader // decoded, at -rate
}

// interrupt makes a Read blocked on the input return (pipeline.Options.Interrupt).
func (in *input) interrupt() {
	if in.file != nil {
		in.file.Interrupt(nil)
	}
}

// close closes the resampler and the file, after the last Read.
func (in *input) close() {
	if in.audio != nil {
		in.audio.Close()
	}
	if in.file != nil {
		in.stopWatch()
		in.file.Close()
	}
}

// openAudio opens the input, reads its header and sets up the resampler.
// stop ends the input gracefully, a Read blocked on a quiet pipe included,
// so that every stage flushes what it holds; stop before the header has
// come ends the run with exit code 130.
func openAudio(ctx, stop context.Context, c *config, stdin io.Reader) (*input, error) {
	r, file, err := openInput(c.input, stdin)
	if err != nil {
		return nil, withCode(exitUsage, err)
	}
	in := &input{name: "stdin", file: file}
	if file != nil {
		in.name, in.stopWatch = file.Name(), context.AfterFunc(stop, file.Stop)
	}
	in.decoded, err = source.NewReader(r, source.Options{
		Container: c.format,
		Name:      c.input,
		Raw:       source.Format{Encoding: c.inEncoding, Rate: c.inRate, Channels: c.inChans},
	})
	if err == nil {
		in.audio, err = resample.New(in.decoded, in.decoded.Format().Rate, c.rate, c.quality)
	}
	switch {
	case err == nil:
		return in, nil
	case ctx.Err() != nil || stop.Err() != nil:
		err = withCode(exitInterrupted, errors.New("interrupted before any audio was read"))
	default:
		err = withCode(exitUsage, inputError(in.name, err))
	}
	in.close()
	return nil, err
}

// openInput opens the named input, or stdin, through package source so
// that a blocked read can be stopped or interrupted; only a stdin that is
// not a file (a test's reader) is read as it is, with a nil *source.Input.
func openInput(name string, stdin io.Reader) (io.Reader, *source.Input, error) {
	f, isFile := stdin.(*os.File)
	switch {
	case name != "" && name != "-":
		return openFile(name)
	case isTerminal(stdin):
		return nil, nil, errors.New("no input: standard input is a terminal; give a file or pipe audio in, e.g. ffmpeg -i in.mp3 -f s16le -ac 1 -ar 16000 - | vachana-pipe")
	case stdin == os.Stdin:
		return openFile("-")
	case isFile:
		in := source.NewInput(f, "stdin")
		return in, in, nil
	default:
		return stdin, nil, nil
	}
}

// openFile opens a path, or "-" for the process's standard input.
func openFile(name string) (io.Reader, *source.Input, error) {
	in, err := source.Open(name)
	if err != nil {
		return nil, nil, err
	}
	return in, in, nil
}

// inputEnd reports what was wrong with the end of the input: a WAV file
// shorter than its header says is an error, anything else a warning.
func inputEnd(name string, src *source.Reader, con *console) error {
	err := src.Err()
	if errors.Is(err, source.ErrTruncated) {
		return withCode(exitUsage, inputError(name, err))
	}
	if err != nil {
		con.warn(inputError(name, err))
	}
	return nil
}

// inputError names the input in a source error.
func inputError(name string, err error) error {
	return fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "source: "))
}

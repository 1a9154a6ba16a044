package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
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
	ffmpeg    *decoder         // decodes a compressed file into file, or nil
}

// interrupt makes a Read blocked on the input return (pipeline.Options.Interrupt).
func (in *input) interrupt() {
	if in.file != nil {
		in.file.Interrupt(nil)
	}
}

// close closes the resampler and the file, after the last Read, and kills
// and waits for ffmpeg.
func (in *input) close() {
	if in.audio != nil {
		in.audio.Close()
	}
	if in.file != nil {
		in.stopWatch()
		in.file.Close()
	}
	if in.ffmpeg != nil {
		in.ffmpeg.close()
	}
}

// openAudio opens the input, reads its header and sets up the resampler.
// stop ends the input gracefully, a Read blocked on a quiet pipe included,
// so that every stage flushes what it holds; stop before the header has
// come ends the run with exit code 130.
//
// A named file that is compressed audio (package source says so from its
// first bytes, or, with -format auto, its name ends in one of
// compressedExts) is decoded through ffmpeg when it is installed; -format
// raw reads any file as raw.
func openAudio(ctx, stop context.Context, c *config, stdin io.Reader) (*input, error) {
	named := c.input != "" && c.input != "-"
	if named && c.format == source.Auto && isCompressedName(c.input) && isFile(c.input) {
		return openDecoded(ctx, stop, c, "a "+strings.ToLower(filepath.Ext(c.input))+" file")
	}
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
	var ce *source.CompressedError
	compressed := errors.As(err, &ce)
	if compressed && named && isRegular(c.input) {
		// ffmpeg opens it again: only a regular file gives it the bytes
		// read here again.
		in.close()
		return openDecoded(ctx, stop, c, ce.Kind)
	}
	if compressed {
		// From a pipe (or a FIFO): ffmpeg cannot read it again.
		err = fmt.Errorf("the input looks like %s, not WAV or raw PCM: vachana-pipe decodes such audio through ffmpeg from a file, not from a pipe; give the file's name, or pipe WAV in (ffmpeg -i INPUT -f wav - | vachana-pipe with your flags)", ce.Kind)
	}
	return in.start(ctx, stop, c, err)
}

// start sets up the resampler once the header has been read with err, or
// closes the input and says why it cannot be read.
func (in *input) start(ctx, stop context.Context, c *config, err error) (*input, error) {
	if err == nil {
		in.audio, err = resample.New(in.decoded, in.decoded.Format().Rate, c.rate, c.quality)
	}
	if err != nil && in.ffmpeg != nil {
		// The header is missing or wrong: most likely ffmpeg failed and
		// said why. Its output has ended, or ffmpeg is killed.
		in.file.Close()
		if ferr := in.ffmpeg.wait(decodeGrace); ferr != nil {
			err = ferr
		}
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

// openDecoded opens the named input, compressed audio (kind says what: "an
// MP3 file"), through ffmpeg, which writes WAV on a pipe. Stopping the
// input kills ffmpeg; so does the end of ctx.
func openDecoded(ctx, stop context.Context, c *config, kind string) (*input, error) {
	name := c.input
	path, err := exec.LookPath("ffmpeg")
	if err != nil {
		wav := strings.TrimSuffix(name, filepath.Ext(name)) + ".wav"
		if wav == name { // an MP3 named *.wav: not over itself
			wav = strings.TrimSuffix(name, filepath.Ext(name)) + "-pcm.wav"
		}
		return nil, withCode(exitUsage, fmt.Errorf("%s: the input is %s, which vachana-pipe decodes through ffmpeg, but ffmpeg is not installed: install it (e.g. apt-get install ffmpeg), or convert the file to WAV first (ffmpeg -i %s %s)", name, kind, name, wav))
	}
	dec, pr, err := startDecoder(ctx, path, name)
	if err != nil {
		return nil, withCode(exitUsage, fmt.Errorf("%s: %w", name, err))
	}
	file := source.NewInput(pr, name)
	in := &input{name: name, file: file, ffmpeg: dec}
	in.stopWatch = context.AfterFunc(stop, func() {
		file.Stop()
		dec.kill()
	})
	in.decoded, err = source.NewReader(file, source.Options{Container: source.WAV, Name: name})
	return in.start(ctx, stop, c, err)
}

// isFile reports whether name exists and is not a directory.
func isFile(name string) bool {
	st, err := os.Stat(name)
	return err == nil && !st.IsDir()
}

// isRegular reports whether name is a regular file, which can be read again
// from the start.
func isRegular(name string) bool {
	st, err := os.Stat(name)
	return err == nil && st.Mode().IsRegular()
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

// end reports what was wrong with the end of the input once it has all
// been streamed: ffmpeg failing (the audio before was streamed) or a WAV
// file shorter than its header says is an error, anything else a warning.
func (in *input) end(con *console) error {
	if in.ffmpeg != nil {
		if err := in.ffmpeg.wait(decodeGrace); err != nil {
			return withCode(exitUsage, fmt.Errorf("%s: %w", in.name, err))
		}
	}
	err := in.decoded.Err()
	if errors.Is(err, source.ErrTruncated) {
		return withCode(exitUsage, inputError(in.name, err))
	}
	if err != nil {
		con.warn(inputError(in.name, err))
	}
	return nil
}

// inputError names the input in a source error.
func inputError(name string, err error) error {
	return fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "source: "))
}

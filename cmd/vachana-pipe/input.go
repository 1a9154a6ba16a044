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
	"time"

	"github.com/vachana-pipe/vachana-pipe/resample"
	"github.com/vachana-pipe/vachana-pipe/source"
)

// input is the audio to send: the input, decoded, at the stream's rate,
// mixed to mono or, with -channels split, a stream per channel.
type input struct {
	name      string
	file      *source.Input      // nil when stdin is a reader given by a test
	stopWatch func() bool        // ends the watch that stops file
	decoded   *source.Reader     // mono s16le at the input's rate, or every channel's with split
	split     *source.Splitter   // -channels split: decoded, a reader per channel; else nil
	audio     []*resample.Reader // each stream at -rate: decoded, or each channel of split
	ffmpeg    *decoder           // decodes a compressed file into file, or nil
	length    time.Duration      // the input's duration, when its header or size says; else 0
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
	for _, a := range in.audio {
		a.Close()
	}
	if in.split != nil {
		in.split.Close()
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
func openAudio(ctx, stop context.Context, c *config, name string, stdin io.Reader) (*input, error) {
	named := !isStdin(name)
	if named && c.format == source.Auto && isCompressedName(name) && isFile(name) {
		return openDecoded(ctx, stop, c, name, "a "+strings.ToLower(filepath.Ext(name))+" file")
	}
	r, file, err := openInput(name, stdin)
	if err != nil {
		return nil, withCode(exitUsage, err)
	}
	in := &input{name: "stdin", file: file}
	if file != nil {
		in.name, in.stopWatch = file.Name(), context.AfterFunc(stop, file.Stop)
	}
	in.decoded, err = source.NewReader(r, source.Options{
		Container:    c.format,
		Name:         name,
		Raw:          source.Format{Encoding: c.inEncoding, Rate: c.inRate, Channels: c.inChans},
		KeepChannels: c.split,
	})
	var ce *source.CompressedError
	compressed := errors.As(err, &ce)
	if compressed && named && isRegular(name) {
		// ffmpeg opens it again: only a regular file gives it the bytes
		// read here again.
		in.close()
		return openDecoded(ctx, stop, c, name, ce.Kind)
	}
	if err == nil && named {
		in.length = rawLength(name, in.decoded)
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
		if w := in.decoded.WAV(); w != nil && w.DataSize > 0 {
			f := w.Format
			in.length = f.Rate.D(w.DataSize / int64(f.FrameSize()))
		}
		err = in.streams(c)
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

// streams sets up the resampler of each stream: the mono input, or with
// -channels split each channel.
func (in *input) streams(c *config) error {
	from := in.decoded.Format().Rate
	if !c.split {
		a, err := resample.New(in.decoded, from, c.rate, c.quality)
		if err == nil {
			in.audio = append(in.audio, a)
		}
		return err
	}
	// Each channel may run splitAhead ahead of the slowest (one whose
	// first session, or a reconnection, takes long) before it waits; with
	// many channels at a high rate, less, so that the channels hold
	// splitMemory at most.
	ahead := min(from.N(splitAhead)*2, splitMemory/int64(in.decoded.Channels()))
	var err error
	if in.split, err = in.decoded.Split(&source.SplitOptions{Ahead: int(ahead)}); err != nil {
		return err
	}
	for k := range in.split.Channels() {
		a, err := resample.New(in.split.Channel(k), from, c.rate, c.quality)
		if err != nil {
			return err
		}
		in.audio = append(in.audio, a)
	}
	return nil
}

// splitAhead is how far one channel's stream may run ahead of another's,
// with -channels split, before it waits: longer than a first session that
// needs a few attempts, and than a reconnection with its replay, so that
// one channel's trouble does not hold up the others' cadence.
const (
	splitAhead  = 30 * time.Second
	splitMemory = 64 << 20
)

// rawLength returns the duration of a raw input that is a regular file,
// from its size; 0 for anything else.
func rawLength(name string, r *source.Reader) time.Duration {
	st, err := os.Stat(name)
	if r.WAV() != nil || err != nil || !st.Mode().IsRegular() {
		return 0
	}
	f := r.Format()
	return f.Rate.D(st.Size() / int64(f.FrameSize()))
}

// openDecoded opens the named input, compressed audio (kind says what: "an
// MP3 file"), through ffmpeg, which writes WAV on a pipe. Stopping the
// input kills ffmpeg; so does the end of ctx.
func openDecoded(ctx, stop context.Context, c *config, name, kind string) (*input, error) {
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
	in.decoded, err = source.NewReader(file, source.Options{Container: source.WAV, Name: name, KeepChannels: c.split})
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
	if in.split != nil && err == nil {
		err = in.split.Err()
	}
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

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// compressedExts are the names of compressed audio files, decoded through
// ffmpeg even when their first bytes say nothing package source knows (an
// MP3 without an ID3 tag, ADTS AAC, WMA). Named files only, with -format
// auto.
var compressedExts = []string{".mp3", ".m4a", ".mp4", ".aac", ".flac", ".ogg", ".oga", ".opus", ".webm", ".wma"}

// isCompressedName reports whether a file name ends in one of
// compressedExts, in any case.
func isCompressedName(name string) bool {
	return slices.Contains(compressedExts, strings.ToLower(filepath.Ext(name)))
}

// stderrLimit bounds what is kept of ffmpeg's standard error: its last
// bytes, which say why it failed.
const stderrLimit = 4 << 10

// decodeGrace is how long ffmpeg gets to exit once its output has ended
// before it is killed.
const decodeGrace = 5 * time.Second

// decoder is a child ffmpeg decoding a compressed file to 16-bit WAV, with
// the file's channels and rate (package source mixes and resamples it as any
// WAV), written to a pipe. It is used by one goroutine, except kill, which
// any goroutine may call at any time; wait must be called before the
// command returns, so the child is reaped.
type decoder struct {
	cmd    *exec.Cmd
	stderr tailBuffer
	waited bool
	werr   error // Wait's, once waited
}

// startDecoder starts ffmpeg (the path of the executable) on the file path
// and returns the read end of the pipe its WAV comes on, which the caller
// closes. ctx's end kills ffmpeg.
func startDecoder(ctx context.Context, ffmpeg, path string) (*decoder, *os.File, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	d := &decoder{stderr: tailBuffer{limit: stderrLimit}}
	// file: keeps ffmpeg from reading a name with a colon as a protocol
	// (http:, concat:, subfile:…): the path is a local file.
	d.cmd = exec.CommandContext(ctx, ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
		"-i", "file:"+path, "-vn", "-f", "wav", "-acodec", "pcm_s16le", "-")
	d.cmd.Stdout = pw
	d.cmd.Stderr = &d.stderr // copied by a goroutine of os/exec, joined by Wait
	err = d.cmd.Start()
	pw.Close() // the child has its copy: its exit ends the pipe
	if err != nil {
		pr.Close()
		return nil, nil, fmt.Errorf("cannot run ffmpeg: %w", err)
	}
	return d, pr, nil
}

// kill kills ffmpeg if it is still running. Any goroutine may call it, at
// any time.
func (d *decoder) kill() {
	d.cmd.Process.Kill() // os.ErrProcessDone once reaped: nothing to do
}

// wait waits for ffmpeg to exit, killing it if it has not after grace, and
// returns an error if it failed: if it exited with a non-zero status, the
// error quotes the end of its standard error. ffmpeg killed (by kill, the
// grace or the run's context) did not fail: the input was ended here.
func (d *decoder) wait(grace time.Duration) error {
	if !d.waited {
		t := time.AfterFunc(grace, d.kill)
		d.werr = d.cmd.Wait()
		t.Stop()
		d.waited = true
	}
	var ee *exec.ExitError
	if !errors.As(d.werr, &ee) || !ee.Exited() {
		return nil
	}
	var lines []string
	for l := range strings.Lines(string(d.stderr.bytes())) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	msg := strings.Join(lines, "; ")
	if msg == "" {
		msg = "it wrote no message"
	}
	return fmt.Errorf("ffmpeg failed (exit status %d): %s", ee.ExitCode(), msg)
}

// close kills ffmpeg and waits for it.
func (d *decoder) close() {
	d.kill()
	d.wait(0)
}

// tailBuffer is an io.Writer that keeps the last limit bytes written.
type tailBuffer struct {
	limit int
	buf   []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.limit; over > 0 {
		b.buf = b.buf[:copy(b.buf, b.buf[over:])]
	}
	return len(p), nil
}

// bytes returns what is kept, trimmed to whole lines when it was cut.
func (b *tailBuffer) bytes() []byte {
	out := bytes.TrimSpace(b.buf)
	if len(b.buf) == b.limit {
		if i := bytes.IndexByte(out, '\n'); i >= 0 {
			out = out[i+1:]
		}
	}
	return out
}

// Package sink holds the places frames go other than a service: a file or
// pipe ([File]) and nowhere ([Discard]), for [pipeline.Run]. Sessions with a
// service are opened through package transport and driven by
// pipeline.Stream.
//
// Sinks are synchronous and start no goroutines.
package sink

import (
	"bufio"
	"io"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// File writes frames to an io.Writer: the exact bytes that would go on the
// wire, one frame after another. Made by [NewFile] it writes each frame
// through as it comes, as paced frames to a pipe should go; made by
// [NewBufferedFile] it gathers them into 64 KiB writes, for unpaced output,
// and Close writes what is left.
type File struct {
	w      io.Writer
	buf    *bufio.Writer // nil when unbuffered
	frames int64
}

// NewFile returns a sink writing each frame to w as it comes. The caller
// keeps ownership of w: Close does not close it.
func NewFile(w io.Writer) *File { return &File{w: w} }

// NewBufferedFile returns a sink writing frames to w in 64 KiB writes. The
// caller keeps ownership of w: Close flushes the buffer but does not close
// w.
func NewBufferedFile(w io.Writer) *File {
	buf := bufio.NewWriterSize(w, 64<<10)
	return &File{w: buf, buf: buf}
}

// WriteFrame writes f. It does not retain f.
func (s *File) WriteFrame(f *frame.Frame) error {
	if _, err := s.w.Write(f[:]); err != nil {
		return err
	}
	s.frames++
	return nil
}

// Frames returns the number of frames written.
func (s *File) Frames() int64 { return s.frames }

// Close writes what a buffered File still holds.
func (s *File) Close() error {
	if s.buf != nil {
		return s.buf.Flush()
	}
	return nil
}

// Discard is a sink that counts frames and keeps nothing, for measuring the
// rest of the pipeline.
type Discard struct {
	frames int64
}

// WriteFrame counts f.
func (s *Discard) WriteFrame(*frame.Frame) error {
	s.frames++
	return nil
}

// Frames returns the number of frames written.
func (s *Discard) Frames() int64 { return s.frames }

// Close does nothing.
func (s *Discard) Close() error { return nil }

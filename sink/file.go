package sink

import (
	"io"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// File writes frames to an io.Writer: the exact bytes that would go on the
// wire, one frame after another. Wrap w in a bufio.Writer when the frames are
// not paced; Close flushes it.
type File struct {
	w      io.Writer
	frames int64
}

// NewFile returns a sink writing frames to w. The caller keeps ownership of
// w: Close flushes it if it has a Flush method but does not close it.
func NewFile(w io.Writer) *File { return &File{w: w} }

// WriteFrame writes f to the underlying writer.
func (s *File) WriteFrame(f *frame.Frame) error {
	if _, err := s.w.Write(f[:]); err != nil {
		return err
	}
	s.frames++
	return nil
}

// Frames returns the number of frames written.
func (s *File) Frames() int64 { return s.frames }

// Close flushes the writer if it has a Flush() error method.
func (s *File) Close() error {
	if f, ok := s.w.(interface{ Flush() error }); ok {
		return f.Flush()
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

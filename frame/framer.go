package frame

import "errors"

// ErrFlushed is returned by [Framer.Write] after [Framer.Flush]: the stream
// has ended and its last frame has been padded.
var ErrFlushed = errors.New("frame: write after flush")

// Framer cuts the bytes written to it into frames of exactly [Size] bytes and
// hands each whole frame to its emit function, in order.
//
// Writes may have any size, including a single byte or an odd number of
// bytes: a write that does not complete a frame is held until a later write
// does. [Framer.Flush] zero-pads the last partial frame and reports the
// padding. A Framer does not allocate after [NewFramer].
//
// The *Frame passed to emit is only valid during the call: it may point into
// the slice given to Write or into the Framer's own buffer, so emit must copy
// what it keeps and must not modify it. An error from emit stops the Framer:
// Write and Flush return it from then on.
type Framer struct {
	emit    func(*Frame) error
	buf     Frame // the partial frame being assembled
	n       int   // bytes held in buf
	frames  int64
	err     error
	flushed bool
}

// NewFramer returns a Framer that passes each whole frame to emit.
func NewFramer(emit func(*Frame) error) *Framer {
	return &Framer{emit: emit}
}

// Write cuts p into frames. It returns len(p) unless emit fails; then n is
// the number of bytes of p consumed before the frame that failed.
func (f *Framer) Write(p []byte) (n int, err error) {
	if f.err != nil {
		return 0, f.err
	}
	if f.flushed {
		return 0, ErrFlushed
	}
	if f.n > 0 {
		c := copy(f.buf[f.n:], p)
		f.n += c
		if f.n < Size {
			return c, nil
		}
		if err := f.send(&f.buf); err != nil {
			return 0, err
		}
		f.n = 0
		n = c
	}
	// Whole frames straight from p, without copying.
	for len(p)-n >= Size {
		if err := f.send((*Frame)(p[n : n+Size])); err != nil {
			return n, err
		}
		n += Size
	}
	f.n = copy(f.buf[:], p[n:])
	return len(p), nil
}

func (f *Framer) send(fr *Frame) error {
	if err := f.emit(fr); err != nil {
		f.err = err
		return err
	}
	f.frames++
	return nil
}

// Flush ends the stream: if a partial frame is held, it is padded with zero
// bytes (silence) to [Size] and emitted. Flush returns the number of padding
// bytes added, 0 if the stream ended on a frame boundary. Calling Flush again
// does nothing and returns 0.
func (f *Framer) Flush() (pad int, err error) {
	if f.err != nil {
		return 0, f.err
	}
	if f.flushed {
		return 0, nil
	}
	f.flushed = true
	if f.n == 0 {
		return 0, nil
	}
	pad = Size - f.n
	clear(f.buf[f.n:])
	if err := f.send(&f.buf); err != nil {
		return 0, err
	}
	f.n = 0
	return pad, nil
}

// Buffered returns the number of bytes held in the partial frame.
func (f *Framer) Buffered() int { return f.n }

// Frames returns the number of frames emitted so far.
func (f *Framer) Frames() int64 { return f.frames }

// Reset discards any held bytes and error and makes f emit to emit, so one
// Framer can serve many streams.
func (f *Framer) Reset(emit func(*Frame) error) {
	*f = Framer{emit: emit}
}

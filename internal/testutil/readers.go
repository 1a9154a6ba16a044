package testutil

import "io"

// ErrAfter returns a reader of r's data that returns err where r returns
// io.EOF, and again on every later call: an input that fails after its data
// (with its last data, when r is an iotest.DataErrReader).
func ErrAfter(r io.Reader, err error) io.Reader { return &errAfter{r, err} }

type errAfter struct {
	r   io.Reader
	err error
}

func (e *errAfter) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		err = e.err
	}
	return n, err
}

// Counting passes reads through to R and closes Reached once N bytes have
// been read: a test waits on Reached to know a stage has consumed its
// input. One goroutine reads it.
type Counting struct {
	R       io.Reader
	N, Got  int64
	Reached chan struct{}
}

// NewCounting returns a Counting over r that closes Reached after n bytes.
func NewCounting(r io.Reader, n int64) *Counting {
	return &Counting{R: r, N: n, Reached: make(chan struct{})}
}

func (c *Counting) Read(p []byte) (int, error) {
	n, err := c.R.Read(p)
	if c.Got < c.N && c.Got+int64(n) >= c.N {
		close(c.Reached)
	}
	c.Got += int64(n)
	return n, err
}

// Package testutil holds small helpers shared by tests and benchmarks of
// several packages: a reader of silence that holds no memory, the
// process's resident memory and OS threads, and files that are not
// terminals.
package testutil

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Zeros returns a reader of n zero bytes (silence in s16le) that holds none
// of them, so a run over hours of audio measures the pipeline, not the input.
func Zeros(n int64) io.Reader { return &zeros{n} }

type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n == 0 {
		return 0, io.EOF
	}
	k := min(int64(len(p)), z.n)
	clear(p[:k])
	z.n -= k
	return int(k), nil
}

// RSS returns the resident set size of this process in bytes, read from
// /proc/self/statm (Linux). It counts C memory too, which the Go heap
// statistics do not.
func RSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	var size, res int64
	if _, err := fmt.Sscan(string(b), &size, &res); err != nil {
		return 0, err
	}
	return res * int64(os.Getpagesize()), nil
}

// Threads returns the number of OS threads of this process, read from
// /proc/self/status (Linux). Go keeps idle threads, so it never falls.
func Threads() (int, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("no Threads line in /proc/self/status")
}

// Files are open files of the kinds that are not a terminal, for tests of
// terminal detection, all closed when the test ends.
type Files struct {
	Null         *os.File // /dev/null, open for writing
	PipeR, PipeW *os.File // both ends of a pipe
	File         *os.File // a regular file in the test's temporary folder
}

// NotTerminals opens a Files.
func NotTerminals(t testing.TB) Files {
	t.Helper()
	var f Files
	var err error
	if f.Null, err = os.OpenFile(os.DevNull, os.O_WRONLY, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Null.Close() })
	if f.PipeR, f.PipeW, err = os.Pipe(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.PipeR.Close(); f.PipeW.Close() })
	if f.File, err = os.Create(t.TempDir() + "/f"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.File.Close() })
	return f
}

package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/internal/leakcheck"
	"github.com/vachana-pipe/vachana-pipe/internal/testutil"
)

// TestMain fails the run if a test leaves a goroutine behind, such as a
// Read that Stop or Interrupt did not end.
func TestMain(m *testing.M) { leakcheck.Main(m) }

func TestOpenFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.raw")
	os.WriteFile(path, []byte("abc"), 0o644)
	in, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if in.Name() != path || in.IsTerminal() {
		t.Fatalf("Name() = %q, IsTerminal() = %v", in.Name(), in.IsTerminal())
	}
	for _, bad := range []string{dir, filepath.Join(dir, "missing.raw")} {
		if _, err := Open(bad); err == nil || !strings.Contains(err.Error(), "source:") {
			t.Errorf("Open(%q) = %v, want a source error", bad, err)
		}
	}
	if err := in.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := in.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// watchdog bounds the wait for a Read that Stop or Interrupt must end at
// once: generous, so a busy machine does not fail the test, yet finite, so a
// Read left blocked fails it instead of hanging the run.
const watchdog = 10 * time.Second

// blockedRead starts a Read on in and returns its result channel, after
// giving the Read time to block (if it has not, it starts after the end and
// must see it all the same).
func blockedRead(in *Input) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := in.Read(make([]byte, 10))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	return done
}

func waitRead(done <-chan error) (error, bool) {
	select {
	case err := <-done:
		return err, true
	case <-time.After(watchdog):
		return nil, false
	}
}

// TestInputEndsPipe: on a pipe whose writer stays open and silent, Stop
// makes a blocked Read, and every later one, return io.EOF; Interrupt makes
// them return its error. The first of the two wins. Data read before is
// returned.
func TestInputEndsPipe(t *testing.T) {
	tests := []struct {
		name string
		end  func(*Input)
		want error
	}{
		{"Stop", (*Input).Stop, io.EOF},
		{"Interrupt", func(in *Input) { in.Interrupt(errBoom) }, errBoom},
		{"Interrupt(nil)", func(in *Input) { in.Interrupt(nil) }, ErrInterrupted},
		{"Stop, then Interrupt", func(in *Input) { in.Stop(); in.Interrupt(errBoom) }, io.EOF},
		{"Interrupt, then Stop", func(in *Input) { in.Interrupt(errBoom); in.Stop() }, errBoom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pw.Close()
			in := NewInput(pr, "pipe")
			defer in.Close()
			pw.Write([]byte("abc"))
			buf := make([]byte, 10)
			if n, err := in.Read(buf); n != 3 || err != nil {
				t.Fatalf("Read = %d, %v; want the 3 bytes written", n, err)
			}
			done := blockedRead(in)
			tt.end(in)
			err, ok := waitRead(done)
			if !ok {
				t.Fatalf("a Read blocked on the pipe did not return within %v", watchdog)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("blocked Read = %v, want %v", err, tt.want)
			}
			pw.Write([]byte("more")) // there is data again: the input has ended all the same
			if n, err := in.Read(buf); n != 0 || !errors.Is(err, tt.want) {
				t.Fatalf("later Read = %d, %v; want 0, %v", n, err, tt.want)
			}
		})
	}
}

// TestInputEndsFile: a regular file never blocks; after Stop the next Read
// returns io.EOF although data remains, after Interrupt the error.
func TestInputEndsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.raw")
	os.WriteFile(path, bytes.Repeat([]byte{1, 0}, 1000), 0o644)
	for _, tt := range []struct {
		name string
		end  func(*Input)
		want error
	}{
		{"Stop", (*Input).Stop, io.EOF},
		{"Interrupt", func(in *Input) { in.Interrupt(errBoom) }, errBoom},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			buf := make([]byte, 100)
			if n, err := in.Read(buf); n != 100 || err != nil {
				t.Fatalf("Read = %d, %v", n, err)
			}
			tt.end(in)
			for range 2 {
				if n, err := in.Read(buf); n != 0 || !errors.Is(err, tt.want) {
					t.Fatalf("Read after %s = %d, %v; want 0, %v", tt.name, n, err, tt.want)
				}
			}
		})
	}
}

// TestStopEndsTheStream: a streamed WAV (data size left open) arrives on a
// pipe that stays open; once the reader has read it all and blocks for more,
// Stop ends the stream as a normal end would: every sample comes out, then
// io.EOF, and Err reports nothing.
func TestStopEndsTheStream(t *testing.T) {
	data := make([]byte, 2*2*1025) // stereo: decoded to 1025 mono samples
	for i := range data {
		data[i] = byte(i)
	}
	file := wavFile(pcmFmt(1, 2, 16000, 16), [][2]string{{"fmt ", ""}}, 0xFFFFFFFF, data)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	in := NewInput(pr, "pipe")
	defer in.Close()
	c := testutil.NewCounting(in, int64(len(file)))
	type result struct {
		out []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := NewReader(c, Options{})
		if err != nil {
			done <- result{nil, err}
			return
		}
		out, err := io.ReadAll(s)
		if err == nil {
			err = s.Err()
		}
		done <- result{out, err}
	}()
	if _, err := pw.Write(file); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Reached:
	case <-time.After(watchdog):
		t.Fatalf("the reader did not read the %d bytes written within %v", len(file), watchdog)
	}
	in.Stop()
	var r result
	select {
	case r = <-done:
	case <-time.After(watchdog):
		t.Fatalf("Stop did not end the stream within %v", watchdog)
	}
	want, _ := io.ReadAll(mustReader(t, bytes.NewReader(file)))
	if r.err != nil || !bytes.Equal(r.out, want) {
		t.Fatalf("got %d bytes, %v; want %d bytes, nil", len(r.out), r.err, len(want))
	}
}

func mustReader(t *testing.T, r io.Reader) *Reader {
	t.Helper()
	s, err := NewReader(r, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStdinEnds runs this test binary as a child whose standard input is a
// pipe nobody writes to: Stop (or Interrupt) must end its blocked Read, and
// Close must restore the pipe's blocking mode.
func TestStdinEnds(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("non-blocking stdin is set up on Unix; checked on Linux")
	}
	if how := os.Getenv("SOURCE_TEST_CHILD"); how != "" {
		childReadStdin(how)
		return
	}
	for _, how := range []string{"stop", "interrupt"} {
		t.Run(how, func(t *testing.T) {
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pw.Close()
			cmd := exec.Command(os.Args[0], "-test.run=^TestStdinEnds$")
			cmd.Env = append(os.Environ(), "SOURCE_TEST_CHILD="+how)
			cmd.Stdin = pr
			out, err := cmd.CombinedOutput()
			pr.Close()
			if err != nil {
				t.Fatalf("child failed: %v\n%s", err, out)
			}
		})
	}
}

func childReadStdin(how string) {
	fail := func(format string, args ...any) {
		os.Stderr.WriteString("child: " + strings.TrimSpace(fmt.Sprintf(format, args...)) + "\n")
		os.Exit(1)
	}
	in, err := Open("-")
	if err != nil {
		fail("Open: %v", err)
	}
	done := blockedRead(in)
	want := io.EOF
	if how == "stop" {
		in.Stop()
	} else {
		in.Interrupt(errBoom)
		want = errBoom
	}
	err, ok := waitRead(done)
	if !ok {
		fail("Read on stdin was not ended by %s within %v", how, watchdog)
	}
	if err != want {
		fail("Read = %v, want %v", err, want)
	}
	in.Close()
	if isNonblock(0) {
		fail("stdin left in non-blocking mode")
	}
	os.Exit(0)
}

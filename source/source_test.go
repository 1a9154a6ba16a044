package source

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

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
}

// TestStdinReadIsInterruptible runs this test binary as a child whose
// standard input is a pipe nobody writes to: a deadline must end its blocked
// Read, and Close must restore the pipe's blocking mode.
func TestStdinReadIsInterruptible(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("non-blocking stdin is set up on Unix; checked on Linux")
	}
	if os.Getenv("SOURCE_TEST_CHILD") == "1" {
		childReadStdin()
		return
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestStdinReadIsInterruptible$")
	cmd.Env = append(os.Environ(), "SOURCE_TEST_CHILD=1")
	cmd.Stdin = pr
	out, err := cmd.CombinedOutput()
	pr.Close()
	if err != nil {
		t.Fatalf("child failed: %v\n%s", err, out)
	}
}

func childReadStdin() {
	fail := func(format string, args ...any) {
		os.Stderr.WriteString("child: " + strings.TrimSpace(fmt.Sprintf(format, args...)) + "\n")
		os.Exit(1)
	}
	in, err := Open("-")
	if err != nil {
		fail("Open: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := in.Read(make([]byte, 10))
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	in.SetReadDeadline(time.Unix(1, 0))
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			fail("Read = %v, want a deadline error", err)
		}
	case <-time.After(3 * time.Second):
		fail("Read on stdin was not interrupted by the deadline")
	}
	in.Close()
	if isNonblock(0) {
		fail("stdin left in non-blocking mode")
	}
	os.Exit(0)
}

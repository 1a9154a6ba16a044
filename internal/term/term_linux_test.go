package term

import (
	"os"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/internal/testutil"
	"golang.org/x/sys/unix"
)

// setSize sets the size of the terminal f.
func setSize(t *testing.T, f *os.File, cols, rows uint16) {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Col: cols, Row: rows})
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatalf("TIOCSWINSZ: %v", serr)
	}
}

func TestWidthNotTerminal(t *testing.T) {
	f := testutil.NotTerminals(t)
	closed, err := os.Create(t.TempDir() + "/closed")
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	tests := []struct {
		name string
		f    *os.File
	}{
		{"pipe read end", f.PipeR},
		{"pipe write end", f.PipeW},
		{"file", f.File},
		{"/dev/null", f.Null},
		{"closed file", closed},
	}
	for _, tt := range tests {
		if got, ok := Width(tt.f); got != 0 || ok {
			t.Errorf("%s: Width = %d, %v; want 0, false", tt.name, got, ok)
		}
	}
}

func TestWidthTerminal(t *testing.T) {
	ptmx, tty := testutil.OpenTerminal(t)
	setSize(t, tty, 0, 0)
	if got, ok := Width(tty); got != 0 || ok {
		t.Errorf("unsized terminal: Width = %d, %v; want 0, false", got, ok)
	}
	for _, cols := range []uint16{20, 80, 213} {
		setSize(t, tty, cols, 24)
		for _, f := range []*os.File{tty, ptmx} {
			if got, ok := Width(f); got != int(cols) || !ok {
				t.Errorf("%s sized %d columns: Width = %d, %v; want %d, true", f.Name(), cols, got, ok, cols)
			}
		}
	}
}

// TestWidthPipeStaysNonBlocking: Width, like Is, leaves a pipe in
// non-blocking mode, so that closing it still interrupts a Read.
func TestWidthPipeStaysNonBlocking(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	Width(pr)
	done := make(chan error, 1)
	go func() {
		_, err := pr.Read(make([]byte, 1))
		done <- err
	}()
	time.Sleep(10 * time.Millisecond) // let the Read start
	go pr.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Read on a closed pipe returned no error")
		}
	case <-time.After(5 * time.Second):
		pw.Write([]byte{0}) // end the Read
		<-done
		t.Fatal("closing the pipe did not interrupt its Read: Width put it in blocking mode")
	}
}

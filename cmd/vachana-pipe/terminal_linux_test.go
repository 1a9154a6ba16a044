package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/vachana-pipe/vachana-pipe/internal/testutil"
)

func TestIsTerminal(t *testing.T) {
	f := testutil.NotTerminals(t)
	tests := []struct {
		name string
		w    io.Writer
		want bool
	}{
		{"terminal", newTTY(t), true},
		{"/dev/null", f.Null, false},
		{"pipe", f.PipeW, false},
		{"file", f.File, false},
		{"buffer", &bytes.Buffer{}, false},
	}
	for _, tt := range tests {
		if got := isTerminal(tt.w); got != tt.want {
			t.Errorf("%s: isTerminal = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestFramesNotToTerminal: -o - refuses a terminal on stdout, before
// anything is read or written; /dev/null is fine.
func TestFramesNotToTerminal(t *testing.T) {
	tty := newTTY(t)
	input := readSpeech(t)[:3*1024]
	var stderr bytes.Buffer
	err := run(context.Background(), context.Background(), []string{"-o", "-"}, bytes.NewReader(input), tty, &stderr)
	const want = "-o -: standard output is a terminal, where binary frames would only garble the screen: redirect it (-o - > frames.raw) or give -o a file"
	if exitCode(err) != exitUsage || err.Error() != want || stderr.Len() != 0 {
		t.Fatalf("exit %d, %v, stderr %q; want 2 and %q", exitCode(err), err, stderr.String(), want)
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if err := run(context.Background(), context.Background(), []string{"-o", "-", "-quiet"}, bytes.NewReader(input), null, tty); err != nil {
		t.Fatalf("-o - > /dev/null: %v", err)
	}
}

// TestNoAudioFromTerminal: a terminal on stdin is refused before anything
// is read; /dev/null is an empty input, not a terminal.
func TestNoAudioFromTerminal(t *testing.T) {
	tty := newTTY(t)
	var stderr bytes.Buffer
	err := run(context.Background(), context.Background(), []string{"-o", t.TempDir() + "/f"}, tty, &bytes.Buffer{}, &stderr)
	if exitCode(err) != exitUsage || !strings.HasPrefix(err.Error(), "no input: standard input is a terminal") {
		t.Fatalf("stdin a terminal: exit %d, %v", exitCode(err), err)
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	err = run(context.Background(), context.Background(), []string{"-o", t.TempDir() + "/f"}, null, &bytes.Buffer{}, &stderr)
	if exitCode(err) != exitUsage || err.Error() != "stdin: the input is empty" {
		t.Fatalf("stdin /dev/null: exit %d, %v", exitCode(err), err)
	}
}

// newTTY returns the far end of a new pseudo-terminal (testutil.OpenTerminal).
func newTTY(t *testing.T) *os.File {
	t.Helper()
	_, tty := testutil.OpenTerminal(t)
	return tty
}

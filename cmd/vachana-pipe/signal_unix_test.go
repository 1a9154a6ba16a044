//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// buildCommand builds the command into a temporary directory and returns
// its path, or skips the test where there is no go tool.
func buildCommand(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go tool on PATH to build the command with: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "vachana-pipe")
	// A cold build cache compiles the dependencies too: minutes on a slow
	// machine, seconds usually.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// commandEnv is the environment of the test, without the variables of
// cliEnv.
func commandEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains(cliEnv, name)
	})
}

// TestSecondInterruptDeletesAiolaSession: a second SIGINT to the process
// (main's signal handling, which the tests that call run cannot reach)
// ends it with 130 within the abort's bound, and the aiOla auth session
// is deleted before it exits.
func TestSecondInterruptDeletesAiolaSession(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	bin := buildCommand(t)
	s := aiolaService(t)
	srv := startServer(t, s, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// 16.5 s of audio, paced: the signals come mid-stream.
	cmd := exec.CommandContext(ctx, bin, s.with("-url", srv.BaseURL, "-key", secretKey, speechFile)...)
	cmd.Env = commandEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cancel() // kills the process if it is still running
		<-exited
	}()

	// Once it holds an auth session, and a second later streams (its
	// signal handler was installed long before), interrupt it twice. The
	// first interrupt's graceful end takes over a second (the tail
	// silence goes out at cadence), so the second comes while it runs.
	for deadline := time.Now().Add(20 * time.Second); srv.LiveSessions() == 0; {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("the command exited (%v) before opening an auth session:\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no auth session after 20 s:\n%s", stderr.String())
		}
	}
	time.Sleep(time.Second)
	for i, pause := range []time.Duration{300 * time.Millisecond, 0} {
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatalf("SIGINT %d: %v", i+1, err)
		}
		time.Sleep(pause)
	}
	signalled := time.Now()

	var err error
	select {
	case err = <-exited:
		exited <- err
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15 s after the second SIGINT:\n%s", stderr.String())
	}
	// The delete waits 2 s at most (abortCleanup), the process a second
	// more; the rest is margin for a busy machine.
	if d := time.Since(signalled); d > 10*time.Second {
		t.Errorf("the process took %v to exit after the second SIGINT", d)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("exit %v, want %d:\n%s", err, exitInterrupted, stderr.String())
	}
	if !strings.Contains(stderr.String(), "interrupted again") {
		t.Fatalf("the second SIGINT was not taken for one:\n%s", stderr.String())
	}
	if strings.Contains(stdout.String()+stderr.String(), secretKey) {
		t.Errorf("the API key appears in the output")
	}
	if n := srv.LiveSessions(); n != 0 {
		t.Fatalf("%d auth sessions live after the process exited, want 0: the second SIGINT did not delete it\n%s", n, stderr.String())
	}
}

package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
)

// aiolaService returns aiOla's cliService.
func aiolaService(t *testing.T) cliService {
	t.Helper()
	for _, s := range cliServices {
		if s.aiola() {
			return s
		}
	}
	t.Fatal("no aiOla in cliServices")
	return cliService{}
}

// afterStreaming calls f once srv holds a live auth session and a second
// more has passed, in which the client, given its token, connects and
// streams; it gives up waiting for the session after 10 s and calls f
// then. wait returns once f has been called.
func afterStreaming(srv *refserver.Server, f func()) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for deadline := time.Now().Add(10 * time.Second); srv.LiveSessions() == 0 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Second)
		f()
	}()
	return func() { <-done }
}

// TestAiolaSessionDeleted: however a run with aiOla ends, it leaves no auth
// session of its own live on the server. The auth session counts against
// the key's concurrency limit until it is deleted (dst.close, through
// Dialer.Close) or expires an hour later. The cases run side by side.
func TestAiolaSessionDeleted(t *testing.T) {
	s := aiolaService(t)
	input := readSpeech(t)[:4*16000*2] // 4 s: two segments
	tests := []struct {
		name    string
		opts    refserver.Options
		occupy  int // auth sessions another client holds during the run, and after it
		args    []string
		stdin   []byte
		signal  string // "stop": a first Ctrl-C mid-stream; "abort": a second one, which ends the run's ctx
		code    int
		message string // in stderr
	}{
		{name: "normal run", args: []string{"-pace=false"}, stdin: input},
		// Paced, so that the signal comes mid-stream: 16.5 s of audio.
		{name: "first Ctrl-C mid-stream", args: []string{"-stats", speechFile}, signal: "stop", code: 130, message: "32 tail silence frames"},
		{name: "second Ctrl-C mid-stream", args: []string{speechFile}, signal: "abort", code: 130},
		{name: "lost connection not replaced", opts: refserver.Options{Faults: refserver.Faults{DropAfterFrames: 12}},
			args: []string{"-pace=false", "-reconnects", "1"}, stdin: input, code: 4, message: "connection lost"},
		{name: "fatal server error", opts: refserver.Options{Faults: refserver.Faults{ErrorAfterFrames: 12, CloseAfterError: true, ErrorMessage: "model crashed"}},
			args: []string{"-pace=false", "-reconnects", "1"}, stdin: input, code: 4, message: "1011"},
		// The token was granted, the upgrade refused: the grant is deleted.
		{name: "upgrade refused", opts: refserver.Options{Faults: refserver.Faults{RejectStatus: 500}},
			args: []string{"-pace=false"}, stdin: input, code: 3, message: "HTTP 500"},
		// Nothing to delete: the key was refused, or no session was made.
		{name: "key refused", opts: refserver.Options{Keys: []string{"other"}}, args: []string{"-pace=false"}, stdin: input, code: 3, message: "HTTP 401"},
		{name: "concurrency limit", opts: refserver.Options{MaxSessions: 1}, occupy: 1, args: []string{"-pace=false"}, stdin: input, code: 3, message: "concurrent-session limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, s, &tt.opts)
			occupy(t, srv, tt.occupy)
			ctx, abort := context.WithCancel(context.Background())
			defer abort()
			stop, interrupt := context.WithCancel(context.Background())
			defer interrupt()
			signalled := make(chan time.Time, 1)
			switch tt.signal {
			case "stop":
				defer afterStreaming(srv, func() { signalled <- time.Now(); interrupt() })()
			case "abort":
				defer afterStreaming(srv, func() { signalled <- time.Now(); abort() })()
			}
			clearEnv(t)
			var stdout, stderr bytes.Buffer
			args := s.with(append([]string{"-url", s.serverURL(srv), "-key", secretKey}, tt.args...)...)
			err := run(ctx, stop, args, bytes.NewReader(tt.stdin), &stdout, &stderr)
			ended := time.Now()
			if strings.Contains(stdout.String()+stderr.String()+errText(err), secretKey) {
				t.Errorf("the API key appears in the output")
			}
			if code := exitCode(err); code != tt.code || !strings.Contains(stderr.String()+errText(err), tt.message) {
				t.Fatalf("exit %d (%v), stderr:\n%s\nwant exit %d and %q", code, err, stderr.String(), tt.code, tt.message)
			}
			if tt.signal != "" {
				select {
				case at := <-signalled:
					// The abort waits for the delete 2 s at most
					// (abortCleanup); the rest is margin for a busy machine.
					if d := ended.Sub(at); tt.signal == "abort" && d > 10*time.Second {
						t.Errorf("the run took %v to end after the abort", d)
					}
				default:
					t.Fatal("the run ended before the signal: it did not test what a signal does")
				}
			}
			if n := srv.LiveSessions(); n != tt.occupy {
				t.Fatalf("%d auth sessions live after the run, want %d: the run's was not deleted", n, tt.occupy)
			}
		})
	}
}

// errText is err's message, or "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestAiolaDeleteBounded: an auth service that never answers the delete
// holds the run up for closeLimit (5 s) at most, or abortCleanup (2 s)
// after an abort, and the run warns that the session may still be held.
func TestAiolaDeleteBounded(t *testing.T) {
	s := aiolaService(t)
	for _, abort := range []bool{false, true} {
		name := map[bool]string{false: "after a normal run", true: "after an abort"}[abort]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rs := refserver.New(&refserver.Options{Service: s.name})
			defer rs.Close()
			deleting := make(chan time.Time, 1)
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodDelete && r.URL.Path == refserver.AiolaSessionPath {
					select {
					case deleting <- time.Now():
					default:
					}
					<-r.Context().Done() // the client gave up, or the server closes
					return
				}
				rs.ServeHTTP(w, r)
			}))
			defer func() {
				ts.CloseClientConnections()
				ts.Close()
			}()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			args := []string{"-url", ts.URL, "-key", secretKey, "-pace=false"}
			if abort {
				args = []string{"-url", ts.URL, "-key", secretKey, speechFile} // paced: aborted mid-stream
				defer afterStreaming(rs, cancel)()
			}
			clearEnv(t)
			var stdout, stderr bytes.Buffer
			err := run(ctx, context.Background(), s.with(args...), bytes.NewReader(readSpeech(t)[:4*16000*2]), &stdout, &stderr)
			ended := time.Now()
			want := map[bool]int{false: exitOK, true: exitInterrupted}[abort]
			if exitCode(err) != want || !strings.Contains(stderr.String(), "deleting the auth session") {
				t.Fatalf("exit %d (%v), want %d and a warning about the delete:\n%s", exitCode(err), err, want, stderr.String())
			}
			var asked time.Time
			select {
			case asked = <-deleting:
			default:
				t.Fatal("the run did not ask to delete its auth session")
			}
			// The bounds are apart by 3 s, the margin for a busy machine.
			d := ended.Sub(asked)
			switch {
			case !abort && (d < abortCleanup+time.Second || d > closeLimit+5*time.Second):
				t.Errorf("the run ended %v after asking for the delete; want about closeLimit, %v", d, closeLimit)
			case abort && d >= closeLimit:
				t.Errorf("the run ended %v after asking for the delete; want about abortCleanup, %v, after an abort", d, abortCleanup)
			}
		})
	}
}

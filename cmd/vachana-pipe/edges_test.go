package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vachana-pipe/vachana-pipe/pipeline"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
)

// TestFlagErrors: a bad flag gets one line that names it, its value and
// what it accepts, or points to -h; never the whole usage.
func TestFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // all of stderr
	}{
		{"unknown flag", []string{"-frobnicate"}, "vachana-pipe: flag provided but not defined: -frobnicate; see vachana-pipe -h\n"},
		{"serve: unknown flag", []string{"serve", "-frobnicate"}, "vachana-pipe: flag provided but not defined: -frobnicate; see vachana-pipe serve -h\n"},
		{"negative tail", []string{"-tail-silence", "-1s"}, "vachana-pipe: -tail-silence -1s: out of range; accepted: 0 (none) or more\n"},
		{"zero drain", []string{"-drain-timeout", "0"}, "vachana-pipe: -drain-timeout 0s: out of range; accepted: more than 0s\n"},
		{"in-rate 0", []string{"-o", "-", "-in-rate", "0"}, "vachana-pipe: -in-rate 0: out of range; accepted: 1 to 768000 Hz, or omit -in-rate to mean the -rate\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, context.Background(), nil, tt.args...)
			if r.code != 2 || r.stderr != tt.want || r.stdout != "" {
				t.Fatalf("exit %d, stderr %q, stdout %q\nwant exit 2, stderr %q", r.code, r.stderr, r.stdout, tt.want)
			}
		})
	}
}

// TestLangWarning: an undocumented -lang is sent as given, with a warning
// that -quiet silences. The Sarvam reference server, like the service,
// then refuses the upgrade (HTTP 400); Vachana's takes any code. aiOla's
// codes are not listed here: no warning.
func TestLangWarning(t *testing.T) {
	input := readSpeech(t)[:2*16000*2]
	want := map[string]struct {
		warning string
		code    int
		after   string // in stderr after the warning
	}{
		refserver.ServiceVachana: {
			warning: `vachana-pipe: warning: -lang "xx-YY" is not one of Vachana's documented codes (bn-IN en-IN gu-IN hi-IN kn-IN ml-IN mr-IN pa-IN ta-IN te-IN): sending it as given` + "\n",
		},
		refserver.ServiceSarvam: {
			warning: `vachana-pipe: warning: -lang "xx-YY" is not one of Sarvam's documented codes (unknown en-IN hi-IN bn-IN gu-IN kn-IN ml-IN mr-IN od-IN pa-IN ta-IN te-IN as-IN ur-IN ne-IN kok-IN ks-IN sd-IN sa-IN sat-IN mni-IN brx-IN mai-IN doi-IN): sending it as given` + "\n",
			code:    3,
			after:   "HTTP 400",
		},
		// The command holds no list of aiOla's codes: nothing to warn
		// about, and its reference server takes any well-formed code.
		refserver.ServiceAiola: {},
	}
	forServices(t, func(t *testing.T, s cliService) {
		w, ok := want[s.name]
		if !ok {
			t.Fatalf("no expectations for %s", s.name)
		}
		srv := startServer(t, s, nil)
		r := runCLI(t, context.Background(), input, s.with("-url", s.serverURL(srv), "-key", secretKey, "-pace=false", "-lang", "xx-YY")...)
		if after := strings.TrimPrefix(r.stderr, w.warning); r.code != w.code || !strings.HasPrefix(r.stderr, w.warning) ||
			!strings.Contains(after, w.after) || (w.after == "") != (after == "") {
			t.Fatalf("exit %d, stderr %q; want %d and %q, then %q", r.code, r.stderr, w.code, w.warning, w.after)
		}
		sessions := 0 // the sessions srv accepted: a refused upgrade makes none
		if w.code == 0 {
			sessions++
			if rep := nthReport(t, srv, sessions); rep.Lang != "xx-YY" {
				t.Fatalf("the server got lang %q", rep.Lang)
			}
		}
		r = runCLI(t, context.Background(), input, s.with("-url", s.serverURL(srv), "-key", secretKey, "-pace=false", "-lang", "xx-YY", "-quiet")...)
		if r.code != w.code || strings.Contains(r.stderr, "warning") || !strings.Contains(r.stderr, w.after) {
			t.Fatalf("-quiet: exit %d, stderr %q", r.code, r.stderr)
		}
		if w.code == 0 {
			sessions++
		}
		r = runCLI(t, context.Background(), input, s.with("-url", s.serverURL(srv), "-key", secretKey, "-pace=false", "-lang", "hi-IN")...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("hi-IN: exit %d, stderr %q", r.code, r.stderr)
		}
		sessions++
		if rep := nthReport(t, srv, sessions); rep.Lang != "hi-IN" {
			t.Fatalf("the server got lang %q, want hi-IN", rep.Lang)
		}
	})
}

// TestKeyFile: the key is read from -key-file without its line break, and
// never printed; a missing or empty file, or -key beside it, is a usage
// error naming the problem.
func TestKeyFile(t *testing.T) {
	input := readSpeech(t)[:4*16000*2] // two segments
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, empty := write("key", secretKey+"\n"), write("empty", "")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing", []string{"-key-file", filepath.Join(dir, "nope")}, "vachana-pipe: -key-file " + filepath.Join(dir, "nope") + ": cannot read it: no such file or directory\n"},
		{"a directory", []string{"-key-file", dir}, "vachana-pipe: -key-file " + dir + ": cannot read it: is a directory\n"},
		{"empty", []string{"-key-file", empty}, "vachana-pipe: -key-file " + empty + ": the file is empty\n"},
		{"with -key", []string{"-key", secretKey, "-key-file", good}, "vachana-pipe: -key and -key-file exclude each other: give the key one way\n"},
	}
	forServices(t, func(t *testing.T, s cliService) {
		srv := startServer(t, s, &refserver.Options{Keys: []string{secretKey}})
		r := runCLI(t, context.Background(), input, s.with("-url", s.serverURL(srv), "-key-file", good, "-pace=false")...)
		if r.code != 0 || strings.Count(r.stdout, "\n") != 2 {
			t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := runCLI(t, context.Background(), input, s.with(append([]string{"-url", s.serverURL(srv)}, tt.args...)...)...)
				if r.code != 2 || r.stderr != tt.want {
					t.Fatalf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tt.want)
				}
			})
		}
	})
}

// TestServeWarnsOffLoopback: serve on an address other machines can reach
// says so; on loopback it does not.
func TestServeWarnsOffLoopback(t *testing.T) {
	tests := []struct {
		name, addr, key string
		warning         string
	}{
		{"loopback", "127.0.0.1:0", "", ""},
		{"localhost", "localhost:0", "", ""},
		{"all interfaces", "0.0.0.0:0", "", "is not loopback: other machines can connect with any key (-key names the only one to accept)\n"},
		{"all interfaces, one key", ":0", "k", "is not loopback: other machines can connect\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			pr, pw := io.Pipe()
			done := make(chan error, 1)
			go func() {
				args := []string{"serve", "-addr", tt.addr}
				if tt.key != "" {
					args = append(args, "-key", tt.key)
				}
				err := run(ctx, context.Background(), args, nil, nil, pw)
				pw.Close()
				done <- err
			}()
			var lines []string
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				lines = append(lines, sc.Text())
				if strings.HasPrefix(sc.Text(), "reference server listening") {
					cancel()
					break
				}
			}
			go io.Copy(io.Discard, pr)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			cancel()
			stderr := strings.Join(lines, "\n") + "\n"
			if tt.warning == "" && strings.Contains(stderr, "warning") || !strings.Contains(stderr, tt.warning) || len(lines) != 1+min(1, len(tt.warning)) {
				t.Fatalf("stderr:\n%s\nwant the warning %q", stderr, tt.warning)
			}
		})
	}
}

// TestClassify: the exit code of each kind of failure; a key refused on a
// reconnection is exit 3 like one refused at the start.
func TestClassify(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		err  error
		code int
	}{
		{&pipeline.InputError{Err: errors.New("x")}, exitUsage},
		{&pipeline.ConnectError{Err: errors.New("x")}, exitConnect},
		{fmt.Errorf("pipeline: reconnecting: %w", &transport.HandshakeError{StatusCode: 403}), exitConnect},
		{&transport.HandshakeError{StatusCode: 429}, exitStream},
		{&pipeline.MissingTranscriptsError{Missing: 1}, exitStream},
		{pipeline.ErrStopped, exitInterrupted},
	} {
		if got := exitCode(classify(ctx, tt.err)); got != tt.code {
			t.Errorf("%v: exit %d, want %d", tt.err, got, tt.code)
		}
	}
}

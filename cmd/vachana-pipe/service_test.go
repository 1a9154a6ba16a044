package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/resample"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
)

// cliService is a service the command speaks, as the end-to-end tests
// meet it.
type cliService struct {
	name       string   // the -service value, and refserver.Options.Service
	args       []string // the flags that select it: none for the default
	keyEnv     string   // the environment variable of its key
	urlEnv     string   // the environment variable of its endpoint
	lang       string   // the language the server sees when -lang is not given
	path       string   // where the reference server answers
	transcript string   // the kind of its transcript messages (see jsonKind)
	chunk      int      // the bytes of audio in each audio message but the last
	report     string   // how -stats begins the server's report (-local)
}

var cliServices = []cliService{
	{
		name: refserver.ServiceVachana, keyEnv: "GNANI_API_KEY", urlEnv: "VACHANA_URL",
		lang: "en-IN", path: refserver.Path, transcript: "transcript", chunk: frame.Size,
		report: "server saw:  session ",
	},
	{
		name: refserver.ServiceSarvam, args: []string{"-service", "sarvam"}, keyEnv: "SARVAM_API_KEY", urlEnv: "SARVAM_URL",
		lang: "unknown", path: refserver.SarvamPath, transcript: "data", chunk: frame.Size,
		report: "server saw:  sarvam session ",
	},
	{
		// Chunks of 4 frames, 128 ms; the transcript is the client_event
		// the command adds to the payload.
		name: refserver.ServiceAiola, args: []string{"-service", "aiola"}, keyEnv: "AIOLA_API_KEY", urlEnv: "AIOLA_API_URL",
		lang: "en", path: refserver.AiolaPath, transcript: "transcript", chunk: 4 * frame.Size,
		report: "server saw:  aiola session ",
	},
}

func (s cliService) sarvam() bool { return s.name == refserver.ServiceSarvam }
func (s cliService) aiola() bool  { return s.name == refserver.ServiceAiola }

// with returns the flags that select s followed by args. For aiOla, whose
// -url is the API's base and whose token flow is on the same reference
// server, a -url is followed by an -auth-url with the same value.
func (s cliService) with(args ...string) []string {
	out := slices.Clone(s.args)
	for i := 0; i < len(args); i++ {
		out = append(out, args[i])
		if s.aiola() && args[i] == "-url" && i+1 < len(args) {
			out = append(out, args[i+1], "-auth-url", args[i+1])
			i++
		}
	}
	return out
}

// serverURL returns what -url takes to reach srv: its endpoint, or for
// aiOla its base.
func (s cliService) serverURL(srv *refserver.Server) string {
	if s.aiola() {
		return srv.BaseURL
	}
	return srv.URL
}

// urlAt returns what -url takes to reach the service on the server whose
// base is base (http://HOST or https://HOST): the base itself for aiOla,
// else the ws:// or wss:// URL of its path there.
func (s cliService) urlAt(base string) string {
	if s.aiola() {
		return base
	}
	return "ws" + strings.TrimPrefix(base, "http") + s.path
}

// events is what -stats says of the events of n segments, each
// transcribed: aiOla announces no segment ends.
func (s cliService) events(n int) string {
	ends := n
	if s.aiola() {
		ends = 0
	}
	return fmt.Sprintf("%d segment ends, %d transcripts", ends, n)
}

// forServices runs f as a subtest for every service.
func forServices(t *testing.T, f func(t *testing.T, s cliService)) {
	t.Helper()
	for _, s := range cliServices {
		t.Run(s.name, func(t *testing.T) { f(t, s) })
	}
}

// segmentLine is a transcript of the reference server, as printed.
var segmentLine = regexp.MustCompile(`^\[segment \d+: \d+ ms of speech\]$`)

// countTranscripts returns the number of lines of stdout, and fails unless
// every one is a transcript of the reference server.
func countTranscripts(t *testing.T, stdout string) int {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	for _, l := range lines {
		if !segmentLine.MatchString(l) {
			t.Fatalf("not a transcript: %q in\n%s", l, stdout)
		}
	}
	return len(lines)
}

// TestRecipes runs the README's recipes as they run there, with -local,
// for each service they apply to: each exits 0 and prints its
// transcripts.
func TestRecipes(t *testing.T) {
	speech := readSpeech(t)
	streamedWAV, err := os.ReadFile("../../source/testdata/s16_stereo_16k_streamed.wav")
	if err != nil {
		t.Fatal(err)
	}
	recipes := []struct {
		name        string
		services    []string // the services it applies to; nil for every one
		stdin       []byte
		args        []string
		json        bool     // stdout holds JSON lines, not transcripts
		transcripts int      // how many
		stderr      []string // in stderr, for each service
		// in stderr too, what differs between the services; nil for nothing
		byService func(s cliService) []string
	}{
		{name: "WAV file, 44.1 kHz stereo, resampled", args: []string{"-pace=false", "../../source/testdata/s16_stereo_44k.wav"}, transcripts: 1},
		{name: "WAV from a pipe, streamed as ffmpeg writes it", stdin: streamedWAV, args: []string{"-pace=false"}, transcripts: 1},
		{name: "raw from stdin", stdin: speech, args: []string{"-pace=false"}, transcripts: 4},
		// aiOla takes 16 kHz only: its -rate 8000 is refused (TestExitCodes).
		{name: "8 kHz, resampled", services: []string{refserver.ServiceVachana, refserver.ServiceSarvam},
			stdin: speech, args: []string{"-pace=false", "-rate", "8000", "-in-rate", "16000", "-stats"}, transcripts: 4,
			stderr: []string{"resampled 16000 → 8000 Hz", "at 8000 Hz", "16 tail silence frames", "rate=8000"}},
		{name: "8 kHz input, resampled to 16 kHz", stdin: resampleAll(t, speech, frame.Rate16k, frame.Rate8k), args: []string{"-pace=false", "-in-rate", "8000", "-stats"}, transcripts: 4,
			stderr: []string{"resampled 8000 → 16000 Hz", "at 16000 Hz", "32 tail silence frames"}},
		{name: "JSON", args: []string{"-json", "-pace=false", speechFile}, json: true, transcripts: 4},
		{name: "stats", args: []string{"-pace=false", "-stats", speechFile}, transcripts: 4,
			stderr: []string{"32 tail silence frames", "violations=0", "segments=4 transcribed=4 close=1000"},
			byService: func(s cliService) []string {
				w := []string{s.events(4), s.report}
				switch {
				case s.sarvam():
					w = append(w, "codec=pcm_s16le", "flushes=1")
				case s.aiola():
					w = append(w, "frames=130 bytes=529408", "disconnected=true")
				}
				return w
			}},
	}
	forServices(t, func(t *testing.T, s cliService) {
		for _, rc := range recipes {
			if rc.services != nil && !slices.Contains(rc.services, s.name) {
				continue
			}
			t.Run(rc.name, func(t *testing.T) {
				r := runCLI(t, context.Background(), rc.stdin, s.with(append([]string{"-local"}, rc.args...)...)...)
				if r.code != 0 {
					t.Fatalf("exit %d: %s", r.code, r.stderr)
				}
				n := 0
				if rc.json {
					for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
						if kind, _ := jsonKind(t, s, line); kind == s.transcript {
							n++
						}
					}
				} else {
					n = countTranscripts(t, r.stdout)
				}
				if n != rc.transcripts {
					t.Fatalf("%d transcripts, want %d:\n%s", n, rc.transcripts, r.stdout)
				}
				want := slices.Clone(rc.stderr)
				if rc.byService != nil {
					want = append(want, rc.byService(s)...)
				}
				for _, w := range want {
					if !strings.Contains(r.stderr, w) {
						t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
					}
				}
			})
		}
	})
}

// resampleAll returns in, s16le mono at from, resampled to to.
func resampleAll(t *testing.T, in []byte, from, to frame.Rate) []byte {
	t.Helper()
	r, err := resample.New(bytes.NewReader(in), from, to, resample.High)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSarvamFlags: the flags only Sarvam understands reach its server;
// without -service sarvam they are refused.
func TestSarvamFlags(t *testing.T) {
	s := cliServices[1]
	if !s.sarvam() {
		t.Fatal("cliServices[1] is not Sarvam")
	}
	input := readSpeech(t)[:4*16000*2] // two segments
	tests := []struct {
		name   string
		args   []string
		params map[string]string // query parameters the server received
		stats  string            // in the -stats output
	}{
		{"defaults", nil, map[string]string{"model": "saaras:v3", "mode": "transcribe", "high_vad_sensitivity": "false", "language-code": "unknown"}, "32 tail silence frames"},
		// 0.5 s: 8000 samples, in 16 frames.
		{"high VAD sensitivity", []string{"-high-vad-sensitivity"}, map[string]string{"high_vad_sensitivity": "true"}, "16 tail silence frames"},
		{"-tail-silence wins", []string{"-high-vad-sensitivity", "-tail-silence", "750ms"}, map[string]string{"high_vad_sensitivity": "true"}, "24 tail silence frames"},
		{"model and mode", []string{"-model", "saaras:v4", "-mode", "translate"}, map[string]string{"model": "saaras:v4", "mode": "translate"}, "32 tail silence frames"},
		{"language", []string{"-lang", "hi-IN"}, map[string]string{"language-code": "hi-IN"}, "32 tail silence frames"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, s, nil)
			r := runCLI(t, context.Background(), input, s.with(append(tt.args, "-url", s.serverURL(srv), "-key", secretKey, "-pace=false", "-stats")...)...)
			if r.code != 0 || countTranscripts(t, r.stdout) != 2 {
				t.Fatalf("exit %d, stdout %q: %s", r.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.stats) {
				t.Errorf("-stats lacks %q:\n%s", tt.stats, r.stderr)
			}
			rep := lastReport(t, srv)
			for name, want := range tt.params {
				if got := rep.Params[name]; got != want {
					t.Errorf("query parameter %s = %q, want %q (all: %v)", name, got, want, rep.Params)
				}
			}
			if rep.CloseCode != 1000 || rep.BadMessages != 0 || rep.Flushes != 1 {
				t.Errorf("session ended with %d, %d bad messages, %d flushes", rep.CloseCode, rep.BadMessages, rep.Flushes)
			}
		})
	}

	errs := []struct {
		name    string
		args    []string
		message string
	}{
		{"bad mode", s.with("-mode", "shout"), `-mode "shout": not a mode of Sarvam's`},
		{"-model without -service sarvam", []string{"-model", "saaras:v4"}, "-model is a flag of Sarvam"},
		{"-mode without -service sarvam", []string{"-mode", "translate"}, "-mode is a flag of Sarvam"},
		{"-high-vad-sensitivity without -service sarvam", []string{"-high-vad-sensitivity"}, "-high-vad-sensitivity is a flag of Sarvam"},
		{"-model with -service vachana", []string{"-service", "vachana", "-model", "saaras:v4"}, "-model is a flag of Sarvam"},
		{"unknown service", []string{"-service", "whisper"}, `-service "whisper": not a service`},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, context.Background(), input, append(tt.args, "-key", secretKey, "-pace=false")...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.message) || r.stdout != "" {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tt.message)
			}
		})
	}
}

// TestEnvironment: each service takes its key and endpoint from its own
// variables, never from the other service's.
func TestEnvironment(t *testing.T) {
	input := readSpeech(t)[:4*16000*2] // two segments
	forServices(t, func(t *testing.T, s cliService) {
		var other cliService
		for _, o := range cliServices {
			if o.name != s.name {
				other = o
			}
		}
		srv := startServer(t, s, &refserver.Options{Keys: []string{secretKey}})
		tests := []struct {
			name    string
			env     map[string]string
			code    int
			message string
		}{
			// The server takes only secretKey; nothing listens on port 1.
			{"own variables", map[string]string{s.keyEnv: secretKey, s.urlEnv: srv.URL, other.keyEnv: "wrong-key", other.urlEnv: "ws://127.0.0.1:1" + other.path}, 0, ""},
			{"only the other service's key", map[string]string{other.keyEnv: secretKey, s.urlEnv: srv.URL}, 2, "no API key: set " + s.keyEnv},
		}
		for _, tt := range tests {
			if s.aiola() {
				tt.env[s.urlEnv], tt.env[authURLEnv] = srv.BaseURL, srv.BaseURL
			}
			t.Run(tt.name, func(t *testing.T) {
				r := runCLIEnv(t, context.Background(), tt.env, input, s.with("-pace=false")...)
				if r.code != tt.code || !strings.Contains(r.stderr, tt.message) {
					t.Fatalf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tt.code, tt.message)
				}
				if tt.code == 0 && countTranscripts(t, r.stdout) != 2 {
					t.Fatalf("transcripts:\n%s\nwant both segments", r.stdout)
				}
			})
		}
	})
}

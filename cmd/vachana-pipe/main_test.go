package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/internal/leakcheck"
	"github.com/vachana-pipe/vachana-pipe/source"
	"github.com/vachana-pipe/vachana-pipe/transport/aiola"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
)

// cliEnv are the environment variables the command reads.
var cliEnv = []string{"GNANI_API_KEY", "VACHANA_URL", "SARVAM_API_KEY", "SARVAM_URL", "AIOLA_API_KEY", "AIOLA_API_URL", authURLEnv}

func TestMain(m *testing.M) {
	// No key or endpoint of the machine's reaches a test. Parallel tests
	// rely on it: they may not call t.Setenv (see clearEnv).
	for _, k := range cliEnv {
		os.Unsetenv(k)
	}
	leakcheck.Main(m)
}

const (
	speechFile = "../../testdata/speech-16k.s16le"
	secretKey  = "sekrit-KEY-0123456789"
)

var wantTranscripts = []string{
	"[segment 0: 1760 ms of speech]",
	"[segment 1: 3328 ms of speech]",
	"[segment 2: 3488 ms of speech]",
	"[segment 3: 3072 ms of speech]",
}

type result struct {
	code           int
	stdout, stderr string
	err            error
}

// clearEnv empties, for the rest of t, the variables of cliEnv that are
// set: only a test that set one itself finds one set, since TestMain
// unsets them. A parallel test, which may not call t.Setenv, can call it,
// as long as it sets none.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, k := range cliEnv {
		if os.Getenv(k) != "" {
			t.Setenv(k, "")
		}
	}
}

// runCLI runs the command as main does, with stdin as its standard input
// and none of cliEnv set.
func runCLI(t *testing.T, ctx context.Context, stdin []byte, args ...string) result {
	t.Helper()
	return runCLIEnv(t, ctx, nil, stdin, args...)
}

// runCLIEnv is runCLI with the variables of env set, the others of cliEnv
// empty.
func runCLIEnv(t *testing.T, ctx context.Context, env map[string]string, stdin []byte, args ...string) result {
	t.Helper()
	clearEnv(t)
	for k, v := range env {
		t.Setenv(k, v)
	}
	var stdout, stderr bytes.Buffer
	err := run(ctx, context.Background(), args, bytes.NewReader(stdin), &stdout, &stderr)
	if err != nil {
		stderr.WriteString("vachana-pipe: " + err.Error() + "\n")
	}
	r := result{code: exitCode(err), stdout: stdout.String(), stderr: stderr.String(), err: err}
	if strings.Contains(r.stdout+r.stderr, secretKey) {
		t.Errorf("the API key appears in the output:\n%s\n%s", r.stdout, r.stderr)
	}
	return r
}

// startServer starts a reference server speaking s with opts (nil for
// the defaults).
func startServer(t *testing.T, s cliService, opts *refserver.Options) *refserver.Server {
	t.Helper()
	var o refserver.Options
	if opts != nil {
		o = *opts
	}
	o.Service = s.name
	srv, err := refserver.Start(&o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// lastReport returns the report of the last session srv has seen end,
// waiting for one: for a server that saw one session, its report.
func lastReport(t *testing.T, srv *refserver.Server) refserver.Report {
	t.Helper()
	reps := waitReports(t, srv, 1)
	return reps[len(reps)-1]
}

// nthReport returns the report of the n-th session to end on srv, waiting
// for it: a run's session may end on the server after the run returned.
func nthReport(t *testing.T, srv *refserver.Server, n int) refserver.Report {
	t.Helper()
	return waitReports(t, srv, n)[n-1]
}

func waitReports(t *testing.T, srv *refserver.Server, n int) []refserver.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reps, err := srv.WaitReports(ctx, n)
	if err != nil {
		t.Fatalf("not %d session reports: %v", n, err)
	}
	return reps
}

func readSpeech(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(speechFile)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// onWire is what must reach the server for input: the input, zero padding to
// a whole frame, and one second of silence frames (both services' tail).
func onWire(input []byte) []byte {
	pad := (frame.Size - len(input)%frame.Size) % frame.Size
	tail := frame.Rate16k.FramesIn(time.Second) * frame.Size
	return append(bytes.Clone(input), make([]byte, pad+int(tail))...)
}

func checkTranscripts(t *testing.T, stdout string) {
	t.Helper()
	got := strings.Split(strings.TrimSpace(stdout), "\n")
	if strings.Join(got, "\n") != strings.Join(wantTranscripts, "\n") {
		t.Fatalf("transcripts:\n%s\nwant:\n%s", stdout, strings.Join(wantTranscripts, "\n"))
	}
}

// checkSession checks the report of a 16 kHz session with s that received
// want and ended normally.
func checkSession(t *testing.T, s cliService, rep refserver.Report, want []byte) {
	t.Helper()
	// Frames of 1024 bytes, or aiOla's chunks of 4 frames, only the last
	// shorter, and in whole frames: violations count any other size.
	if chunks := (rep.Bytes + int64(s.chunk) - 1) / int64(s.chunk); rep.SizeViolations != 0 || int64(rep.Frames) != chunks || rep.Bytes%frame.Size != 0 {
		t.Errorf("audio not in messages of %d bytes: %d messages, %d bytes, %d violations", s.chunk, rep.Frames, rep.Bytes, rep.SizeViolations)
	}
	if !bytes.Equal(rep.Audio, want) {
		t.Errorf("server received %d bytes, want %d (input + padding + tail), equal=%v", len(rep.Audio), len(want), bytes.Equal(rep.Audio, want))
	}
	if rep.CloseCode != 1000 || rep.Err != "" {
		t.Errorf("session ended with code %d, %q; want a normal close", rep.CloseCode, rep.Err)
	}
	for _, seg := range rep.Segments {
		if !seg.Transcribed {
			t.Errorf("segment %d was not transcribed", seg.Index)
		}
	}
	if rep.Service != s.name || !strings.HasPrefix(rep.UserAgent, "vachana-pipe/") || rep.Lang != s.lang {
		t.Errorf("handshake: service %q, user agent %q, lang %q; want %q, vachana-pipe/…, %q", rep.Service, rep.UserAgent, rep.Lang, s.name, s.lang)
	}
	switch {
	case s.aiola():
		checkAiolaSession(t, rep)
		return
	case !s.sarvam():
		// Vachana's request id is the client's x-api-request-id; a Sarvam
		// report's is the server's own.
		if !strings.HasPrefix(rep.RequestID, "req_") {
			t.Errorf("request id %q, want the client's req_…", rep.RequestID)
		}
		return
	}
	for name, want := range map[string]string{"input_audio_codec": "pcm_s16le", "vad_signals": "true", "flush_signal": "true", "sample_rate": "16000"} {
		if got, ok := rep.Params[name]; got != want || !ok {
			t.Errorf("query parameter %s = %q (sent %v), want %q", name, got, ok, want)
		}
	}
	if rep.Flushes != 1 || rep.BadMessages != 0 {
		t.Errorf("%d flushes and %d bad messages, want 1 flush at the end and none bad", rep.Flushes, rep.BadMessages)
	}
}

// executionID is an execution_id as the command makes them.
var executionID = regexp.MustCompile(`^[A-Za-z0-9]{24}$`)

// checkAiolaSession checks what an aiOla session adds to checkSession's.
func checkAiolaSession(t *testing.T, rep refserver.Report) {
	t.Helper()
	// The request id is the client's execution_id: 24 letters and digits.
	if !executionID.MatchString(rep.RequestID) || rep.Params["execution_id"] != rep.RequestID {
		t.Errorf("request id %q, execution_id %q; want the client's, 24 letters and digits", rep.RequestID, rep.Params["execution_id"])
	}
	for name, want := range map[string]string{"flow_id": aiola.DefaultWorkflow, "lang_code": aiola.DefaultLang, "x-aiola-api-token": "…"} {
		if got, ok := rep.Params[name]; got != want || !ok {
			t.Errorf("query parameter %s = %q (sent %v), want %q", name, got, ok, want)
		}
	}
	if !rep.Disconnected || rep.BadMessages != 0 || rep.AuthSession == "" || rep.Events["binary_data"] != rep.Frames {
		t.Errorf("disconnected %v, %d bad messages, auth session %q, events %v; want a DISCONNECT, none bad, an auth session, a binary_data for each of the %d chunks",
			rep.Disconnected, rep.BadMessages, rep.AuthSession, rep.Events, rep.Frames)
	}
}

// TestEndToEndPaced streams the speech recording through the CLI at real
// time to the reference server, which checks every byte and the cadence.
// The services' streams run side by side, so the test takes 16.5 s, not 33.
func TestEndToEndPaced(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 16.5 s in real time")
	}
	input := readSpeech(t)
	forServices(t, func(t *testing.T, s cliService) {
		t.Parallel()
		srv := startServer(t, s, &refserver.Options{RecordAudio: true})
		r := runCLI(t, context.Background(), nil, s.with("-url", s.serverURL(srv), "-key", secretKey, "-stats", speechFile)...)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		checkTranscripts(t, r.stdout)
		rep := lastReport(t, srv)
		checkSession(t, s, rep, onWire(input))
		c := rep.Cadence
		t.Logf("server-side cadence over %d messages of %d bytes: p50 %v, p99 %v, max %v, drift %v", rep.Frames, s.chunk, c.P50, c.P99, c.Max, c.Drift)
		// The server judges each message against the audio of the one before
		// it: 32 ms after a frame, 128 ms after an aiOla chunk. The faults
		// this catches: messages sent in a burst (their gaps are ~0, so the
		// median deviation is a whole period, 32 or 128 ms, and the drift is
		// −16.5 s) and a sleep after each send (the drift grows by the send
		// time of every message). A busy machine delays some arrivals by
		// tens of milliseconds (seen: p99 30 ms, max 100 ms under load, with
		// a median of 48 µs and a drift of 0.3 ms), so the bounds are on the
		// median, a quarter of a frame period, and the drift, 20 ms. The
		// benchmarks measure the real figures.
		if c.P50 > 8*time.Millisecond || c.Drift > 20*time.Millisecond || c.Drift < -20*time.Millisecond {
			t.Errorf("cadence p50 %v, drift %v: frames did not leave at real-time cadence", c.P50, c.Drift)
		}
		wantStats := []string{"frames:      517 × 1024", "188 bytes of padding", "32 tail silence frames", s.events(4), "cadence:     deviation"}
		if s.aiola() {
			wantStats = append(wantStats, "over 130 chunks of 4 frames")
		}
		for _, want := range wantStats {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("-stats output lacks %q:\n%s", want, r.stderr)
			}
		}
		if strings.Contains(r.stderr, "filler:") {
			t.Errorf("silence was sent as filler, but a file never pauses:\n%s", r.stderr)
		}
	})
}

func TestEndToEndStdinUnpaced(t *testing.T) {
	input := readSpeech(t)
	forServices(t, func(t *testing.T, s cliService) {
		srv := startServer(t, s, &refserver.Options{RecordAudio: true})
		r := runCLI(t, context.Background(), input, s.with("-url", s.serverURL(srv), "-key", secretKey, "-pace=false")...)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		checkTranscripts(t, r.stdout)
		checkSession(t, s, lastReport(t, srv), onWire(input))
	})
}

func TestLocal(t *testing.T) {
	forServices(t, func(t *testing.T, s cliService) {
		r := runCLI(t, context.Background(), nil, s.with("-local", "-pace=false", "-stats", speechFile)...)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		checkTranscripts(t, r.stdout)
		if !strings.Contains(r.stderr, "server saw:") || !strings.Contains(r.stderr, "transcribed=4") {
			t.Errorf("-local -stats lacks the server's report:\n%s", r.stderr)
		}
		if !strings.Contains(r.stderr, s.report) {
			t.Errorf("-local did not start a server of %s: no %q in\n%s", s.name, s.report, r.stderr)
		}
	})
}

// jsonKind names the kind of a -json line of s: its type, and for a
// Sarvam events message its signal_type ("events/END_SPEECH"); for aiOla,
// whose payloads do not name their event, the client_event the command
// adds (and only for aiOla). numbered reports that client_session and
// client_segment were added.
func jsonKind(t *testing.T, s cliService, line string) (kind string, numbered bool) {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal([]byte(line), &ev); err != nil {
		t.Fatalf("line is not JSON: %q", line)
	}
	event, named := ev["client_event"].(string)
	if _, ok := ev["client_event"]; ok != s.aiola() || named && event == "" {
		t.Fatalf("client_event %q in a line of %s; want a name for aiOla's events only: %s", event, s.name, line)
	}
	kind, _ = ev["type"].(string)
	if data, ok := ev["data"].(map[string]any); ok && kind == "events" {
		signal, _ := data["signal_type"].(string)
		kind += "/" + signal
	}
	if s.aiola() {
		kind = event
	}
	_, session := ev["client_session"]
	_, segment := ev["client_segment"]
	if session != segment {
		t.Fatalf("client_session without client_segment, or the other way round: %s", line)
	}
	return kind, session
}

func TestJSON(t *testing.T) {
	// What each service sends for the four segments, and the kinds the
	// command numbers: segment ends and transcripts.
	want := map[string]struct {
		first    string
		count    map[string]int
		numbered []string
	}{
		refserver.ServiceVachana: {
			first:    "connected",
			count:    map[string]int{"connected": 1, "speech_start": 4, "speech_end": 4, "processing": 4, "transcript": 4},
			numbered: []string{"processing", "transcript"},
		},
		refserver.ServiceSarvam: {
			first:    "events/START_SPEECH", // no greeting
			count:    map[string]int{"events/START_SPEECH": 4, "events/END_SPEECH": 4, "data": 4},
			numbered: []string{"events/END_SPEECH", "data"},
		},
		refserver.ServiceAiola: {
			first:    "transcript", // no greeting, no segment ends: the payloads of its transcript events
			count:    map[string]int{"transcript": 4},
			numbered: []string{"transcript"},
		},
	}
	forServices(t, func(t *testing.T, s cliService) {
		w, ok := want[s.name]
		if !ok {
			t.Fatalf("no expectations for %s", s.name)
		}
		srv := startServer(t, s, &refserver.Options{VADEvents: true}) // Sarvam's client asks for them itself
		r := runCLI(t, context.Background(), nil, s.with("-url", s.serverURL(srv), "-key", secretKey, "-pace=false", "-json", speechFile)...)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		// Unpaced, the events of different segments interleave: count them.
		var kinds []string
		count := map[string]int{}
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			kind, numbered := jsonKind(t, s, line)
			if numbered != slices.Contains(w.numbered, kind) {
				t.Errorf("%s numbered %v, want numbering on %v only: %s", kind, numbered, w.numbered, line)
			}
			kinds = append(kinds, kind)
			count[kind]++
		}
		if kinds[0] != w.first || fmt.Sprint(count) != fmt.Sprint(w.count) {
			t.Fatalf("event kinds: %v\ncounted %v, want %v, %s first", kinds, count, w.count, w.first)
		}
	})
}

func TestOutputFile(t *testing.T) {
	input := readSpeech(t)[:10*frame.Size+6]
	path := filepath.Join(t.TempDir(), "out.raw")
	r := runCLI(t, context.Background(), input, "-o", path)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, onWire(input)) {
		t.Fatalf("file holds %d bytes, want the %d bytes that would go on the wire", len(got), len(onWire(input)))
	}
	r = runCLI(t, context.Background(), input, "-o", "-", "-tail-silence", "0")
	if r.code != 0 || r.stdout != string(onWire(input)[:11*frame.Size]) {
		t.Fatalf("-o - wrote %d bytes (exit %d), want %d", len(r.stdout), r.code, 11*frame.Size)
	}
}

// TestPartialSampleIsReported: a raw input with an odd number of bytes
// ends with half a sample, which is left out and reported, not padded into
// a wrong sample.
func TestPartialSampleIsReported(t *testing.T) {
	input := readSpeech(t)[:2*frame.Size+3]
	r := runCLI(t, context.Background(), input, "-o", "-", "-tail-silence", "0")
	if r.code != 0 || !strings.Contains(r.stderr, "stdin: input ends with an incomplete sample (1 of 2 bytes)") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	want := append(bytes.Clone(input[:2*frame.Size+2]), make([]byte, frame.Size-2)...)
	if r.stdout != string(want) {
		t.Fatalf("wrote %d bytes, want %d", len(r.stdout), len(want))
	}
}

// TestStreamedWAVFromPipe: WAV as ffmpeg writes it to a pipe (sizes
// 0xFFFFFFFF), arriving through a real pipe in short writes, gives the same
// frames as the same audio in an ordinary WAV file given by path.
func TestStreamedWAVFromPipe(t *testing.T) {
	streamed, err := os.ReadFile("../../source/testdata/s16_stereo_16k_streamed.wav")
	if err != nil {
		t.Fatal(err)
	}
	fromFile := runCLI(t, context.Background(), nil, "-o", "-", "../../source/testdata/s16_stereo_16k.wav")
	if fromFile.code != 0 {
		t.Fatalf("from file: exit %d: %s", fromFile.code, fromFile.stderr)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for p := streamed; len(p) > 0; p = p[min(333, len(p)):] {
			pw.Write(p[:min(333, len(p))])
		}
		pw.Close()
	}()
	clearEnv(t)
	var stdout, stderr bytes.Buffer
	err = run(context.Background(), context.Background(), []string{"-o", "-", "-"}, pr, &stdout, &stderr)
	pr.Close()
	if err != nil {
		t.Fatalf("from pipe: %v: %s", err, stderr.String())
	}
	if stdout.String() != fromFile.stdout || len(fromFile.stdout) < 6000 {
		t.Fatalf("pipe gave %d bytes, file %d: they differ", stdout.Len(), len(fromFile.stdout))
	}
}

func TestBadInputFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}
	wav, err := os.ReadFile("../../source/testdata/s16_mono_16k.wav")
	if err != nil {
		t.Fatal(err)
	}
	truncated := write("cut.wav", wav[:len(wav)-1000])
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		// Compressed files: TestFFmpegFails, TestFFmpegMissing.
		{"empty", []string{write("empty.wav", nil)}, 2, "empty.wav: the input is empty"},
		{"garbage wav", []string{"-format", "wav", write("g.wav", []byte("this is not a wav file at all"))}, 2, "g.wav: not a WAV file"},
		{"bad quality", []string{"-quality", "best", "-"}, 2, "-quality: unknown quality"},
		{"absurd raw rate", []string{"-in-rate", "5000000", "-"}, 2, "-in-rate 5000000: out of range; accepted: 1 to 768000 Hz"},
		{"truncated", []string{truncated}, 2, "cut.wav: WAV data is truncated: the header announces 6400 bytes of audio, the input has 5400"},
		{"bad encoding flag", []string{"-in-encoding", "mp3", "-"}, 2, "-in-encoding: unknown sample encoding"},
		{"bad channels flag", []string{"-in-channels", "0", "-"}, 2, "-in-channels 0: out of range; accepted: 1 to 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, context.Background(), nil, append([]string{"-o", filepath.Join(dir, "out.raw")}, tt.args...)...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.msg) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tt.code, tt.msg)
			}
		})
	}
	// The truncated file's audio was still all written before the error:
	// 5400 bytes, padded to 6 frames, and the tail.
	out := filepath.Join(dir, "cut.raw")
	if r := runCLI(t, context.Background(), nil, "-o", out, truncated); r.code != 2 {
		t.Fatalf("exit %d", r.code)
	}
	got, _ := os.ReadFile(out)
	if want := wav[44 : len(wav)-1000]; len(got) != 6*frame.Size+32*frame.Size || !bytes.Equal(got[:len(want)], want) {
		t.Fatalf("wrote %d bytes; want the 5400 bytes there were, padded, and the tail", len(got))
	}
}

// TestResampling: a 44.1 kHz stereo WAV is mixed and resampled to the
// stream's 16 kHz, to exactly the length the ratio implies; with -rate 44100
// the mix goes out unresampled.
func TestResampling(t *testing.T) {
	const fixture = "../../source/testdata/s16_stereo_44k.wav" // 8820 frames
	r := runCLI(t, context.Background(), nil, "-o", "-", "-tail-silence", "0", "-stats", fixture)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if len(r.stdout) != 7*frame.Size || !strings.Contains(r.stderr, "resampled 44100 → 16000 Hz, high quality") {
		t.Fatalf("wrote %d bytes, want 3200 samples in 7 frames; stats:\n%s", len(r.stdout), r.stderr)
	}
	if pad := r.stdout[3200*2:]; strings.Trim(pad, "\x00") != "" {
		t.Fatal("padding is not silence: the resampler gave more than 3200 samples")
	}
	r = runCLI(t, context.Background(), nil, "-o", "-", "-tail-silence", "0", "-rate", "44100", fixture)
	f, _ := os.Open(fixture)
	defer f.Close()
	src, err := source.NewReader(f, source.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mix, _ := io.ReadAll(src)
	if r.code != 0 || !strings.HasPrefix(r.stdout, string(mix)) || len(r.stdout) != 18*frame.Size {
		t.Fatalf("-rate 44100: exit %d, %d bytes; want the %d-byte mix, unresampled, in 18 frames", r.code, len(r.stdout), len(mix))
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestStall: a server that stops reading makes the writes block once TCP
// buffers fill (a lot of audio, unpaced): the stall limit ends the run with
// exit 4 instead of a hang. The error names the limit given (500 ms, not
// the 15 s default); the time limit, 10 s, is below the default's 15 s, so
// a run that ignored the flag fails it even on an idle machine, and leaves
// a busy one 9.5 s of margin.
func TestStall(t *testing.T) {
	input := make([]byte, 40<<20) // 21 minutes of silence, more than loopback buffers hold
	forServices(t, func(t *testing.T, s cliService) {
		srv := startServer(t, s, &refserver.Options{Faults: refserver.Faults{StallAfterFrames: 10}})
		start := time.Now()
		r := runCLI(t, context.Background(), input, s.with("-url", s.serverURL(srv), "-key", secretKey, "-pace=false", "-stall-timeout", "500ms")...)
		if r.code != 4 || !strings.Contains(r.stderr, "the server stopped reading") || !strings.Contains(r.stderr, "for 500ms") {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("took %v", d)
		}
	})
}

// TestTLSVerification: a server with a certificate nobody signed is refused.
func TestTLSVerification(t *testing.T) {
	forServices(t, func(t *testing.T, s cliService) {
		rs := refserver.New(&refserver.Options{Service: s.name})
		defer rs.Close()
		ts := httptest.NewTLSServer(rs)
		defer ts.Close()
		r := runCLI(t, context.Background(), readSpeech(t)[:32000], s.with("-url", s.urlAt(ts.URL), "-key", secretKey)...)
		if r.code != 3 || !strings.Contains(r.stderr, "certificate") {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	})
}

// TestInterruptHard: when the run is aborted outright (what a second
// signal does), it stops at once with exit 130. The stream is 16.5 s of
// audio: the 10 s limit catches an abort that waits for the stream to end,
// with 9.7 s of margin for a busy machine.
func TestInterruptHard(t *testing.T) {
	forServices(t, func(t *testing.T, s cliService) {
		srv := startServer(t, s, nil)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(300*time.Millisecond, cancel)
		start := time.Now()
		r := runCLI(t, ctx, nil, s.with("-url", s.serverURL(srv), "-key", secretKey, speechFile)...)
		if r.code != 130 {
			t.Fatalf("exit %d, want 130: %s", r.code, r.stderr)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("took %v to stop after the interrupt", d)
		}
		// Counted in bytes: aiOla's messages are chunks of 4 frames.
		if rep := lastReport(t, srv); rep.Bytes > frame.Rate16k.FramesIn(5*time.Second)*frame.Size {
			t.Fatalf("the server received %d bytes (%v of audio) from a run aborted after 300 ms", rep.Bytes, frame.Rate16k.D(rep.Bytes/2))
		}
		if n := srv.LiveSessions(); n != 0 {
			t.Fatalf("%d aiOla auth sessions live after the abort: the run's was not deleted", n)
		}
	})
}

// blockingPipe returns a pipe whose writer writes data and then nothing, so
// a read from it blocks, and a watchdog that closes the writer after limit
// (a read that was not interrupted then ends with EOF) and tells whether it
// had to.
func blockingPipe(t *testing.T, data []byte, limit time.Duration) (*os.File, func() bool) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		pw.Write(data)
	}()
	var fired atomic.Bool
	watchdog := time.AfterFunc(limit, func() {
		fired.Store(true)
		pw.Close()
	})
	t.Cleanup(func() {
		watchdog.Stop()
		pw.Close()
		<-wrote
		pr.Close()
	})
	return pr, fired.Load
}

// TestInterruptGraceful: the first signal stops reading, sends the tail,
// waits for the transcript of the speech already sent, closes normally,
// prints the stats and exits 130 — also when standard input is a pipe
// that blocks. The interrupt, not the end of the pipe, must end the input:
// the pipe is closed only by a watchdog, after 30 s, and the test fails if
// it had to. The services' runs go side by side.
func TestInterruptGraceful(t *testing.T) {
	speech := readSpeech(t)
	forServices(t, func(t *testing.T, s cliService) {
		t.Parallel()
		srv := startServer(t, s, &refserver.Options{RecordAudio: true})
		pr, watchdogFired := blockingPipe(t, speech[:3*32000], 30*time.Second) // 3 s, then nothing
		stop, interrupt := context.WithCancel(context.Background())
		time.AfterFunc(2500*time.Millisecond, interrupt) // after segment 0 ended (2.06 s)
		clearEnv(t)
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), stop, s.with("-url", s.serverURL(srv), "-key", secretKey, "-stats", "-"), pr, &stdout, &stderr)
		if code := exitCode(err); code != 130 {
			t.Fatalf("exit %d (%v): %s", code, err, stderr.String())
		}
		if watchdogFired() {
			t.Fatalf("the run ended only when the pipe was closed: the stop did not end the input")
		}
		if got := strings.TrimSpace(stdout.String()); got != wantTranscripts[0] {
			t.Fatalf("transcripts %q, want the first segment's", got)
		}
		if !strings.Contains(stderr.String(), "32 tail silence frames") {
			t.Fatalf("no stats or no tail:\n%s", stderr.String())
		}
		rep := lastReport(t, srv)
		if rep.CloseCode != 1000 || rep.SizeViolations != 0 {
			t.Fatalf("session ended with %d, %d violations", rep.CloseCode, rep.SizeViolations)
		}
		if s.aiola() && !rep.Disconnected {
			t.Fatal("the client did not leave the namespace: not a normal end of an aiOla session")
		}
		if s.sarvam() && rep.Flushes != 1 {
			t.Fatalf("%d flushes, want the one that ends the stream", rep.Flushes)
		}
	})
}

// TestInterruptGracefulResampled: a graceful stop of resampled input sends
// every sample the input gave before the stop: the resampler's partly
// filled block and what libsoxr holds back are flushed, as at the end of
// the input (they were thrown away once, up to 100 ms and more).
func TestInterruptGracefulResampled(t *testing.T) {
	// 2.9 s at 48 kHz: 139 200 samples, not a whole number of the
	// resampler's blocks.
	in48 := resampleAll(t, readSpeech(t)[:29*3200], frame.Rate16k, frame.Rate48k)
	want := resampleAll(t, in48, frame.Rate48k, frame.Rate16k)
	forServices(t, func(t *testing.T, s cliService) {
		t.Parallel()
		srv := startServer(t, s, &refserver.Options{RecordAudio: true})
		pr, watchdogFired := blockingPipe(t, in48, 30*time.Second) // then nothing
		stop, interrupt := context.WithCancel(context.Background())
		time.AfterFunc(2500*time.Millisecond, interrupt) // the reader, 2 s ahead, has read it all
		clearEnv(t)
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), stop, s.with("-url", s.serverURL(srv), "-key", secretKey, "-in-rate", "48000", "-"), pr, &stdout, &stderr)
		if code := exitCode(err); code != 130 || watchdogFired() {
			t.Fatalf("exit %d (%v), watchdog fired %v: %s", code, err, watchdogFired(), stderr.String())
		}
		rep := lastReport(t, srv)
		if !bytes.Equal(rep.Audio, onWire(want)) {
			t.Fatalf("the server received %d bytes, want %d: the resampled input up to the stop, padding and tail", len(rep.Audio), len(onWire(want)))
		}
	})
}

// TestInterruptBeforeAudio: an interrupt while the header read waits on a
// silent pipe ends the run, not the end of the pipe (closed by a watchdog
// after 30 s).
func TestInterruptBeforeAudio(t *testing.T) {
	forServices(t, func(t *testing.T, s cliService) {
		pr, watchdogFired := blockingPipe(t, nil, 30*time.Second)
		stop, interrupt := context.WithCancel(context.Background())
		time.AfterFunc(200*time.Millisecond, interrupt)
		clearEnv(t)
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), stop, s.with("-local", "-"), pr, &stdout, &stderr)
		if exitCode(err) != 130 || watchdogFired() {
			t.Fatalf("exit %d, watchdog fired %v: %v", exitCode(err), watchdogFired(), err)
		}
	})
}

// TestJSONNumbering: after a reconnection, client_session and
// client_segment go on, where Vachana's segment_index starts again at 0
// (Sarvam's and aiOla's transcripts have none). The services' runs go side
// by side.
func TestJSONNumbering(t *testing.T) {
	if testing.Short() {
		t.Skip("paced stream")
	}
	input := readSpeech(t)[:16000*2*66/10] // two segments, the drop between them
	// The transcripts as [segment_index/]client_session/client_segment.
	want := map[string]string{
		refserver.ServiceVachana: "0/1/0 0/2/1",
		refserver.ServiceSarvam:  "1/0 2/1",
		refserver.ServiceAiola:   "1/0 2/1",
	}
	forServices(t, func(t *testing.T, s cliService) {
		t.Parallel()
		// The drop after 3.84 s of audio: 120 frames, or 30 aiOla chunks.
		drop := 120 * frame.Size / s.chunk
		srv := startServer(t, s, &refserver.Options{ProcessingDelay: 100 * time.Millisecond, Faults: refserver.Faults{DropAfterFrames: drop, Sessions: 1}})
		r := runCLI(t, context.Background(), input, s.with("-url", s.serverURL(srv), "-key", secretKey, "-json", "-tail-silence", "700ms")...)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			var ev struct {
				SegmentIndex  *string `json:"segment_index"`
				ClientSession int     `json:"client_session"`
				ClientSegment int     `json:"client_segment"`
			}
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			if kind, _ := jsonKind(t, s, line); kind != s.transcript {
				continue
			}
			n := fmt.Sprintf("%d/%d", ev.ClientSession, ev.ClientSegment)
			if ev.SegmentIndex != nil {
				n = *ev.SegmentIndex + "/" + n
			}
			got = append(got, n)
		}
		if strings.Join(got, " ") != want[s.name] {
			t.Fatalf("transcripts as [segment_index/]client_session/client_segment: %v, want %s", got, want[s.name])
		}
	})
}

func TestHelpAndVersion(t *testing.T) {
	r := runCLI(t, context.Background(), nil, "-h")
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "Exit codes:") || !strings.Contains(r.stderr, "-tail-silence") ||
		!strings.Contains(r.stderr, "-key-file PATH") || !strings.Contains(r.stderr, "GNANI_API_KEY / SARVAM_API_KEY / AIOLA_API_KEY or -key-file is safer") ||
		!strings.Contains(r.stderr, "-service string") || !strings.Contains(r.stderr, "SARVAM_API_KEY  the Sarvam API key") ||
		!strings.Contains(r.stderr, "AIOLA_API_KEY   the aiOla API key") {
		t.Fatalf("-h: exit %d, %s", r.code, r.stderr)
	}
	r = runCLI(t, context.Background(), nil, "-version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "vachana-pipe ") {
		t.Fatalf("-version: exit %d, %q", r.code, r.stdout)
	}
	r = runCLI(t, context.Background(), nil, "serve", "-h")
	if r.code != 0 || !strings.Contains(r.stderr, "-addr") || !strings.Contains(r.stderr, "one that is not loopback") {
		t.Fatalf("serve -h: exit %d, %s", r.code, r.stderr)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestServe(t *testing.T) {
	forServices(t, func(t *testing.T, s cliService) {
		addr := freePort(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan result, 1)
		// Written by serve until done, from several goroutines: the log
		// lines of sessions and, for aiOla, of auth sessions.
		var stderr syncBuffer
		go func() {
			err := run(ctx, context.Background(), append([]string{"serve", "-addr", addr}, s.args...), nil, nil, &stderr)
			done <- result{code: exitCode(err), err: err}
		}()
		// Wait for the listener, then stream to it.
		deadline := time.Now().Add(5 * time.Second)
		for {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				cancel()
				<-done
				t.Fatal("serve did not listen")
			}
			time.Sleep(20 * time.Millisecond)
		}
		url := s.urlAt("http://" + addr)
		r := runCLI(t, context.Background(), nil, s.with("-url", url, "-key", secretKey, "-pace=false", speechFile)...)
		cancel()
		res := <-done
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		checkTranscripts(t, r.stdout)
		if res.code != 0 {
			t.Fatalf("serve exited %d: %v", res.code, res.err)
		}
		if !strings.HasPrefix(stderr.String(), "reference server listening on "+url+" ") || !strings.Contains(stderr.String(), "transcribed=4") {
			t.Fatalf("serve did not announce %s, or logged no session report:\n%s", url, stderr.String())
		}
	})
}

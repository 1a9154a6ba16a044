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
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/internal/leakcheck"
	"github.com/vachana-pipe/vachana-pipe/resample"
	"github.com/vachana-pipe/vachana-pipe/source"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

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

// runCLI runs the command as main does, with stdin as its standard input.
func runCLI(t *testing.T, ctx context.Context, stdin []byte, args ...string) result {
	t.Helper()
	t.Setenv("GNANI_API_KEY", "")
	t.Setenv("VACHANA_URL", "")
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

func startServer(t *testing.T, opts *refserver.Options) *refserver.Server {
	t.Helper()
	srv, err := refserver.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func lastReport(t *testing.T, srv *refserver.Server) refserver.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reps, err := srv.WaitReports(ctx, 1)
	if err != nil {
		t.Fatalf("no session report: %v", err)
	}
	return reps[len(reps)-1]
}

func readSpeech(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(speechFile)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// onWire is what must reach the server for input: the input, zero padding to
// a whole frame, and one second of silence frames.
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

func checkSession(t *testing.T, rep refserver.Report, want []byte) {
	t.Helper()
	if rep.SizeViolations != 0 || rep.Bytes != int64(rep.Frames)*frame.Size {
		t.Errorf("frames not all %d bytes: %d frames, %d bytes, %d violations", frame.Size, rep.Frames, rep.Bytes, rep.SizeViolations)
	}
	if !bytes.Equal(rep.Audio, want) {
		t.Errorf("server received %d bytes, want %d (input + padding + tail), equal=%v", len(rep.Audio), len(want), bytes.Equal(rep.Audio, want))
	}
	if rep.CloseCode != 1000 || rep.Err != "" {
		t.Errorf("session ended with code %d, %q; want a normal close", rep.CloseCode, rep.Err)
	}
	for _, s := range rep.Segments {
		if !s.Transcribed {
			t.Errorf("segment %d was not transcribed", s.Index)
		}
	}
	if !strings.HasPrefix(rep.UserAgent, "vachana-pipe/") || !strings.HasPrefix(rep.RequestID, "req_") || rep.Lang != "en-IN" {
		t.Errorf("handshake headers: user agent %q, request id %q, lang %q", rep.UserAgent, rep.RequestID, rep.Lang)
	}
}

// TestEndToEndPaced streams the speech recording through the CLI at real
// time to the reference server, which checks every byte and the cadence.
func TestEndToEndPaced(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 16.5 s in real time")
	}
	srv := startServer(t, &refserver.Options{RecordAudio: true})
	input := readSpeech(t)
	r := runCLI(t, context.Background(), nil, "-url", srv.URL, "-key", secretKey, "-stats", speechFile)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	checkTranscripts(t, r.stdout)
	rep := lastReport(t, srv)
	checkSession(t, rep, onWire(input))
	c := rep.Cadence
	t.Logf("server-side cadence over %d frames: p50 %v, p99 %v, max %v, drift %v", rep.Frames, c.P50, c.P99, c.Max, c.Drift)
	// The faults this catches: frames sent in a burst (their gaps are ~0,
	// so the median deviation is a whole period, 32 ms, and the drift is
	// −16.5 s) and a sleep after each send (the drift grows by the send
	// time of every frame). A busy machine delays some arrivals by tens of
	// milliseconds (seen: p99 30 ms, max 100 ms under load, with a median
	// of 48 µs and a drift of 0.3 ms), so the bounds are on the median, a
	// quarter period, and the drift, 20 ms. The benchmarks measure the
	// real figures.
	if c.P50 > 8*time.Millisecond || c.Drift > 20*time.Millisecond || c.Drift < -20*time.Millisecond {
		t.Errorf("cadence p50 %v, drift %v: frames did not leave at real-time cadence", c.P50, c.Drift)
	}
	for _, want := range []string{"frames:      517 × 1024", "188 bytes of padding", "32 tail silence frames", "4 transcripts", "cadence:     deviation"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("-stats output lacks %q:\n%s", want, r.stderr)
		}
	}
}

func TestEndToEndStdinUnpaced(t *testing.T) {
	srv := startServer(t, &refserver.Options{RecordAudio: true})
	input := readSpeech(t)
	r := runCLI(t, context.Background(), input, "-url", srv.URL, "-key", secretKey, "-pace=false")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	checkTranscripts(t, r.stdout)
	checkSession(t, lastReport(t, srv), onWire(input))
}

func TestLocal(t *testing.T) {
	r := runCLI(t, context.Background(), nil, "-local", "-pace=false", "-stats", speechFile)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	checkTranscripts(t, r.stdout)
	if !strings.Contains(r.stderr, "server saw:") || !strings.Contains(r.stderr, "transcribed=4") {
		t.Errorf("-local -stats lacks the server's report:\n%s", r.stderr)
	}
}

func TestJSON(t *testing.T) {
	srv := startServer(t, &refserver.Options{VADEvents: true})
	r := runCLI(t, context.Background(), nil, "-url", srv.URL, "-key", secretKey, "-pace=false", "-json", speechFile)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var types []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line is not JSON: %q", line)
		}
		types = append(types, ev["type"].(string))
	}
	// Unpaced, the events of different segments interleave: count them.
	count := map[string]int{}
	for _, typ := range types {
		count[typ]++
	}
	if types[0] != "connected" || count["connected"] != 1 || count["speech_start"] != 4 || count["speech_end"] != 4 ||
		count["processing"] != 4 || count["transcript"] != 4 || len(types) != 17 {
		t.Fatalf("event types: %v", types)
	}
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
	t.Setenv("GNANI_API_KEY", "")
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
		{"mp3", []string{write("song.mp3", []byte("ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00junk"))}, 2, "song.mp3: the input looks like an MP3 file"},
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

func TestExitCodes(t *testing.T) {
	input := readSpeech(t)[:4*16000*2] // 4 s: two segments
	once := func(f refserver.Faults) *refserver.Options { f.Sessions = 1; return &refserver.Options{Faults: f} }
	always := func(f refserver.Faults) *refserver.Options { return &refserver.Options{Faults: f} }
	tests := []struct {
		name    string
		opts    *refserver.Options // nil: no server
		args    []string
		code    int
		message string // in stderr
	}{
		{"no key", nil, []string{"-pace=false"}, 2, "no API key"},
		{"bad rate", nil, []string{"-rate", "22050"}, 2, "-rate 22050"},
		{"unknown flag", nil, []string{"-frobnicate"}, 2, "flag provided but not defined"},
		{"missing file", nil, []string{"-key", secretKey, "/nonexistent/x.raw"}, 2, "no such file"},
		{"two inputs", nil, []string{"-key", secretKey, "a", "b"}, 2, "one INPUT at most"},
		{"key after input", nil, []string{"in.raw", "-key", secretKey}, 2, `flag -key comes after INPUT "in.raw"`},
		{"key= after input", nil, []string{"in.raw", "-key=" + secretKey}, 2, "flag -key comes after INPUT"},
		{"http URL", nil, []string{"-key", secretKey, "-url", "http://127.0.0.1:1/stt"}, 2, "not a ws:// or wss:// URL"},
		{"plaintext key", nil, []string{"-key", secretKey, "-url", "ws://example.invalid/stt"}, 2, "unencrypted"},
		{"wrong key", &refserver.Options{Keys: []string{"other"}}, []string{"-key", secretKey}, 3, "HTTP 401"},
		{"forbidden", always(refserver.Faults{RejectStatus: 403}), []string{"-key", secretKey}, 3, "HTTP 403"},
		{"rate limited", always(refserver.Faults{RejectStatus: 429}), []string{"-key", secretKey}, 3, "rate limited"},
		{"server error at handshake", always(refserver.Faults{RejectStatus: 500}), []string{"-key", secretKey}, 3, "HTTP 500"},
		{"connection refused", nil, []string{"-key", secretKey, "-url", "ws://" + freePort(t) + "/stt/v3/stream"}, 3, "cannot connect"},
		{"never says connected", always(refserver.Faults{NoConnected: true}), []string{"-key", secretKey, "-connect-timeout", "300ms"}, 3, "sent no connected event"},
		{"fatal server error, every session", always(refserver.Faults{ErrorAfterFrames: 50, CloseAfterError: true, ErrorMessage: "model crashed"}), []string{"-key", secretKey, "-reconnects", "1"}, 4, "1011"},
		{"connection dropped, every session", always(refserver.Faults{DropAfterFrames: 50}), []string{"-key", secretKey, "-reconnects", "1"}, 4, "connection lost"},
		{"connection dropped, no reconnection", once(refserver.Faults{DropAfterFrames: 50}), []string{"-key", secretKey, "-reconnects", "0"}, 4, "connection lost"},
		{"connection dropped once", once(refserver.Faults{DropAfterFrames: 50}), []string{"-key", secretKey}, 0, "reconnected, replaying"},
		{"fatal server error once", once(refserver.Faults{ErrorAfterFrames: 50, CloseAfterError: true, ErrorMessage: "model crashed"}), []string{"-key", secretKey}, 0, "server error: model crashed"},
		{"transcripts late", &refserver.Options{ProcessingDelay: 5 * time.Second}, []string{"-key", secretKey, "-drain-timeout", "300ms"}, 4, "still missing"},
		{"recoverable error event", always(refserver.Faults{ErrorAfterFrames: 50, ErrorMessage: "hiccup"}), []string{"-key", secretKey}, 0, "server error: hiccup"},
		{"malformed JSON", always(refserver.Faults{SendAfterFrames: 20, Send: []byte(`{"type": "transcript", "text": `)}), []string{"-key", secretKey}, 0, "not a JSON object"},
		{"binary message", always(refserver.Faults{SendAfterFrames: 20, Send: []byte{1, 2, 3}, SendBinary: true}), []string{"-key", secretKey}, 0, "binary message from the server"},
		{"unknown event type", always(refserver.Faults{SendAfterFrames: 20, Send: []byte(`{"type":"language_detected","language":"hi-IN"}`)}), []string{"-key", secretKey}, 0, ""},
		{"oversized message, every session", always(refserver.Faults{SendAfterFrames: 20, Send: bytes.Repeat([]byte("x"), 2<<20)}), []string{"-key", secretKey, "-reconnects", "1"}, 4, "read limited"},
		{"server stops reading", always(refserver.Faults{StallAfterFrames: 10}), []string{"-key", secretKey, "-stall-timeout", "500ms", "-drain-timeout", "1s"}, 4, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.opts != nil {
				srv := startServer(t, tt.opts)
				args = append([]string{"-url", srv.URL}, args...)
			}
			if tt.code != 2 {
				args = append([]string{"-pace=false"}, args...)
			}
			r := runCLI(t, context.Background(), input, args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.message) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d and %q", r.code, r.stderr, tt.code, tt.message)
			}
			if tt.code == 0 && strings.Count(r.stdout, "\n") != 2 {
				t.Fatalf("transcripts:\n%s\nwant both segments, once each", r.stdout)
			}
		})
	}
}

// TestStall: a server that stops reading makes the writes block once TCP
// buffers fill (a lot of audio, unpaced): the stall limit ends the run with
// exit 4 instead of a hang. The error names the limit given (500 ms, not
// the 15 s default); the time limit, 10 s, is below the default's 15 s, so
// a run that ignored the flag fails it even on an idle machine, and leaves
// a busy one 9.5 s of margin.
func TestStall(t *testing.T) {
	srv := startServer(t, &refserver.Options{Faults: refserver.Faults{StallAfterFrames: 10}})
	input := make([]byte, 40<<20) // 21 minutes of silence, more than loopback buffers hold
	start := time.Now()
	r := runCLI(t, context.Background(), input, "-url", srv.URL, "-key", secretKey, "-pace=false", "-stall-timeout", "500ms")
	if r.code != 4 || !strings.Contains(r.stderr, "the server stopped reading") || !strings.Contains(r.stderr, "for 500ms") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v", d)
	}
}

// TestTLSVerification: a server with a certificate nobody signed is refused.
func TestTLSVerification(t *testing.T) {
	rs := refserver.New(nil)
	defer rs.Close()
	ts := httptest.NewTLSServer(rs)
	defer ts.Close()
	url := "wss" + strings.TrimPrefix(ts.URL, "https") + refserver.Path
	r := runCLI(t, context.Background(), readSpeech(t)[:32000], "-url", url, "-key", secretKey)
	if r.code != 3 || !strings.Contains(r.stderr, "certificate") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}

// TestInterruptHard: when the run is aborted outright (what a second
// signal does), it stops at once with exit 130. The stream is 16.5 s of
// audio: the 10 s limit catches an abort that waits for the stream to end,
// with 9.7 s of margin for a busy machine.
func TestInterruptHard(t *testing.T) {
	srv := startServer(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	r := runCLI(t, ctx, nil, "-url", srv.URL, "-key", secretKey, speechFile)
	if r.code != 130 {
		t.Fatalf("exit %d, want 130: %s", r.code, r.stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v to stop after the interrupt", d)
	}
	if rep := lastReport(t, srv); rep.Frames > int(frame.Rate16k.FramesIn(5*time.Second)) {
		t.Fatalf("the server received %d frames (%v of audio) from a run aborted after 300 ms", rep.Frames, frame.Rate16k.FrameAt(int64(rep.Frames)))
	}
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
// it had to.
func TestInterruptGraceful(t *testing.T) {
	srv := startServer(t, &refserver.Options{RecordAudio: true})
	speech := readSpeech(t)
	pr, watchdogFired := blockingPipe(t, speech[:3*32000], 30*time.Second) // 3 s, then nothing
	stop, interrupt := context.WithCancel(context.Background())
	time.AfterFunc(2500*time.Millisecond, interrupt) // after segment 0 ended (2.06 s)
	t.Setenv("GNANI_API_KEY", "")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), stop, []string{"-url", srv.URL, "-key", secretKey, "-stats", "-"}, pr, &stdout, &stderr)
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
}

// TestInterruptGracefulResampled: a graceful stop of resampled input sends
// every sample the input gave before the stop: the resampler's partly
// filled block and what libsoxr holds back are flushed, as at the end of
// the input (they were thrown away once, up to 100 ms and more).
func TestInterruptGracefulResampled(t *testing.T) {
	srv := startServer(t, &refserver.Options{RecordAudio: true})
	resampled := func(in []byte, from, to frame.Rate) []byte {
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
	// 2.9 s at 48 kHz: 139 200 samples, not a whole number of the
	// resampler's blocks.
	in48 := resampled(readSpeech(t)[:29*3200], frame.Rate16k, frame.Rate48k)
	want := resampled(in48, frame.Rate48k, frame.Rate16k)
	pr, watchdogFired := blockingPipe(t, in48, 30*time.Second) // then nothing
	stop, interrupt := context.WithCancel(context.Background())
	time.AfterFunc(2500*time.Millisecond, interrupt) // the reader, 2 s ahead, has read it all
	t.Setenv("GNANI_API_KEY", "")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), stop, []string{"-url", srv.URL, "-key", secretKey, "-in-rate", "48000", "-"}, pr, &stdout, &stderr)
	if code := exitCode(err); code != 130 || watchdogFired() {
		t.Fatalf("exit %d (%v), watchdog fired %v: %s", code, err, watchdogFired(), stderr.String())
	}
	rep := lastReport(t, srv)
	if !bytes.Equal(rep.Audio, onWire(want)) {
		t.Fatalf("the server received %d bytes, want %d: the resampled input up to the stop, padding and tail", len(rep.Audio), len(onWire(want)))
	}
}

// TestInterruptBeforeAudio: an interrupt while the header read waits on a
// silent pipe ends the run, not the end of the pipe (closed by a watchdog
// after 30 s).
func TestInterruptBeforeAudio(t *testing.T) {
	pr, watchdogFired := blockingPipe(t, nil, 30*time.Second)
	stop, interrupt := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, interrupt)
	t.Setenv("GNANI_API_KEY", "")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), stop, []string{"-local", "-"}, pr, &stdout, &stderr)
	if exitCode(err) != 130 || watchdogFired() {
		t.Fatalf("exit %d, watchdog fired %v: %v", exitCode(err), watchdogFired(), err)
	}
}

// TestJSONNumbering: after a reconnection, segment_index starts again at 0
// but client_segment goes on.
func TestJSONNumbering(t *testing.T) {
	if testing.Short() {
		t.Skip("paced stream")
	}
	srv := startServer(t, &refserver.Options{ProcessingDelay: 100 * time.Millisecond, Faults: refserver.Faults{DropAfterFrames: 120, Sessions: 1}})
	input := readSpeech(t)[:16000*2*66/10] // two segments, the drop between them
	r := runCLI(t, context.Background(), input, "-url", srv.URL, "-key", secretKey, "-json", "-tail-silence", "700ms")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var ev struct {
			Type          string `json:"type"`
			SegmentIndex  string `json:"segment_index"`
			ClientSession int    `json:"client_session"`
			ClientSegment int    `json:"client_segment"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if ev.Type == "transcript" {
			got = append(got, fmt.Sprintf("%s/%d/%d", ev.SegmentIndex, ev.ClientSession, ev.ClientSegment))
		}
	}
	if strings.Join(got, " ") != "0/1/0 0/2/1" {
		t.Fatalf("transcripts as segment_index/client_session/client_segment: %v", got)
	}
}

func TestHelpAndVersion(t *testing.T) {
	r := runCLI(t, context.Background(), nil, "-h")
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "Exit codes:") || !strings.Contains(r.stderr, "-tail-silence") ||
		!strings.Contains(r.stderr, "-key-file PATH") || !strings.Contains(r.stderr, "GNANI_API_KEY or -key-file is safer") {
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

func TestServe(t *testing.T) {
	addr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	var stderr bytes.Buffer
	go func() {
		err := run(ctx, context.Background(), []string{"serve", "-addr", addr}, nil, nil, &stderr)
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
			t.Fatal("serve did not listen")
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := runCLI(t, context.Background(), nil, "-url", "ws://"+addr+"/stt/v3/stream", "-key", secretKey, "-pace=false", speechFile)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	checkTranscripts(t, r.stdout)
	cancel()
	if res := <-done; res.code != 0 {
		t.Fatalf("serve exited %d: %v", res.code, res.err)
	}
	if !strings.Contains(stderr.String(), "transcribed=4") {
		t.Fatalf("serve logged no session report:\n%s", stderr.String())
	}
}

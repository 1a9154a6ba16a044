package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"
)

var update = flag.Bool("update", false, "rewrite transport/sarvam/testdata/sdk-capture.json from the SDK's behaviour")

const (
	captureFile = "../sarvam/testdata/sdk-capture.json"
	// captureKey is the key given to the SDK; distinctive, so that any header
	// or subprotocol carrying it is found and redacted.
	captureKey     = "interop-test-key-7f3a9c"
	redacted       = "REDACTED"
	captureFrames  = 4
	captureFrameSz = 1024
	captureOffset  = 16000 * 2 / 2 // 0.5 s: inside the first word
	// capturePrompt has non-ASCII text, quotes and the characters Go's
	// encoding/json escapes by default (< > &), so that the capture shows
	// how the SDK's JSON.stringify writes them.
	capturePrompt = `vachana-pipe: नमस्ते, "Sarvam" & <Gnani>`
)

// sdkCapture is what the SDK sent in one session, as stored in
// sdk-capture.json (see the README.md beside it).
type sdkCapture struct {
	SDK        string            `json:"sdk"`
	CalledWith map[string]any    `json:"called_with"`
	Path       string            `json:"path"`
	Query      map[string]string `json:"query"`
	RawQuery   string            `json:"raw_query"`
	// Headers are the request headers the SDK sets itself, by canonical
	// name; values that carry the key are REDACTED.
	Headers map[string]string `json:"headers"`
	// TransportHeaders are the ones its WebSocket library adds (Connection,
	// Upgrade, Sec-Websocket-*), with the random key and the API key hidden.
	TransportHeaders map[string]string `json:"transport_headers"`
	Subprotocols     []string          `json:"subprotocols"`
	Input            string            `json:"input"`
	InputOffset      int               `json:"input_offset"`
	Frames           int               `json:"frames"`
	FrameBytes       int               `json:"frame_bytes"`
	Messages         []string          `json:"messages"`
	// CloseCode is the status of the SDK's close frame, -1 if none.
	CloseCode int `json:"close_code"`
}

// capturedSession is what the capture server saw of one connection.
type capturedSession struct {
	path, rawQuery string
	query          map[string][]string
	header         http.Header
	offered        []string
	messages       []string
	binary         int
	closeCode      websocket.StatusCode
	err            error
}

// startCaptureServer starts a WebSocket server on loopback that accepts any
// upgrade, selects the first offered subprotocol (the SDK's WebSocket
// libraries fail the connection otherwise), records everything the client
// sends until it closes, and answers nothing. It returns the server's base
// URL (ws://127.0.0.1:PORT) and a function that waits for the one session.
func startCaptureServer(t *testing.T) (string, func() capturedSession) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), nodeRunLimit)
	sessions := make(chan capturedSession, 8)
	var conns atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conns.Add(1)
		s := capturedSession{path: r.URL.Path, rawQuery: r.URL.RawQuery, query: r.URL.Query(), header: r.Header.Clone()}
		for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
			for p := range strings.SplitSeq(h, ",") {
				s.offered = append(s.offered, strings.TrimSpace(p))
			}
		}
		defer func() { sessions <- s }()
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: s.offered})
		if err != nil {
			s.err = err
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		for {
			typ, b, err := c.Read(ctx)
			if err != nil {
				if s.closeCode = websocket.CloseStatus(err); s.closeCode == -1 {
					s.err = err
				}
				return
			}
			if typ != websocket.MessageText {
				s.binary++
			}
			s.messages = append(s.messages, string(b))
		}
	}))
	t.Cleanup(func() {
		cancel()
		srv.Close()
	})
	wait := func() capturedSession {
		t.Helper()
		select {
		case s := <-sessions:
			if n := conns.Load(); n != 1 {
				t.Errorf("the SDK made %d connections, want 1", n)
			}
			return s
		case <-ctx.Done():
			t.Fatal("the capture server saw no session end")
			return capturedSession{}
		}
	}
	return "ws" + strings.TrimPrefix(srv.URL, "http"), wait
}

// captureCase is one session captured into the file, by its key there.
type captureCase struct {
	key  string
	args []string
}

var captureCases = []captureCase{
	{"16000", []string{
		"--language", "en-IN", "--model", "saaras:v3", "--mode", "transcribe", "--codec", "pcm_s16le",
		"--sample-rate", "16000", "--high-vad-sensitivity", "true", "--vad-signals", "true", "--flush-signal", "true",
	}},
	{"8000", []string{
		"--language", "en-IN", "--model", "saaras:v3", "--mode", "transcribe", "--codec", "pcm_s16le",
		"--sample-rate", "8000", "--high-vad-sensitivity", "false", "--vad-signals", "false", "--flush-signal", "true",
	}},
}

// capture runs the SDK once against a capture server and returns what it
// sent, normalised for the file: key redacted, port and Node version out.
func capture(t *testing.T, env nodeEnv, nodeArgs []string, websocketImpl string, input string, c captureCase) sdkCapture {
	t.Helper()
	base, wait := startCaptureServer(t)
	args := append([]string{
		"--url", base, "--key", captureKey, "--audio", input, "--prompt", capturePrompt,
		"--chunk-bytes", fmt.Sprint(captureFrameSz), "--quiet-ms", "200", "--websocket", websocketImpl,
	}, c.args...)
	run := runSDK(t, env, nodeArgs, args...)
	s := wait()
	if run.ExitCode != 0 || len(run.Violations) > 0 || len(run.Errors) > 0 {
		t.Fatalf("the SDK run failed (exit %d): violations %q, errors %q\n%s", run.ExitCode, run.Violations, run.Errors, run.Output)
	}
	if s.err != nil {
		t.Fatalf("capture server: %v", s.err)
	}
	if s.binary != 0 {
		t.Errorf("the SDK sent %d binary messages; the protocol has none", s.binary)
	}
	sdk, _ := run.CalledWith["sdk"].(string)
	got := sdkCapture{
		SDK:              sdk,
		CalledWith:       run.CalledWith,
		Path:             s.path,
		Query:            map[string]string{},
		RawQuery:         s.rawQuery,
		Headers:          map[string]string{},
		TransportHeaders: map[string]string{},
		Input:            "testdata/speech-16k.s16le",
		InputOffset:      captureOffset,
		Frames:           captureFrames,
		FrameBytes:       captureFrameSz,
		Messages:         s.messages,
		CloseCode:        int(s.closeCode),
	}
	for _, k := range []string{"kind", "sdk", "node"} {
		delete(got.CalledWith, k)
	}
	if cl, ok := got.CalledWith["client"].(map[string]any); ok {
		cl["baseUrl"] = "ws://127.0.0.1:PORT"
	}
	for k, v := range s.query {
		if len(v) != 1 {
			t.Errorf("query parameter %s appears %d times", k, len(v))
		}
		got.Query[k] = v[0]
	}
	for k, v := range s.header {
		val := strings.Join(v, ", ")
		switch {
		case k == "Sec-Websocket-Key":
			val = "RANDOM"
		case strings.Contains(val, captureKey):
			val = strings.ReplaceAll(val, captureKey, redacted)
			if k != "Sec-Websocket-Protocol" {
				val = redacted
			}
		}
		if k == "Connection" || k == "Upgrade" || strings.HasPrefix(k, "Sec-Websocket-") {
			got.TransportHeaders[k] = val
		} else {
			got.Headers[k] = val
		}
	}
	for _, p := range s.offered {
		got.Subprotocols = append(got.Subprotocols, strings.ReplaceAll(p, captureKey, redacted))
	}
	return got
}

// captureInput writes captureFrames frames of the speech file, from
// captureOffset (inside the first word, so the base64 is not all A's and a
// byte-order or offset fault shows), to a temporary file and returns its
// path.
func captureInput(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(speechInput)
	if err != nil {
		t.Fatalf("the test input: %v", err)
	}
	if len(b) < captureOffset+captureFrames*captureFrameSz {
		t.Fatalf("%s has %d bytes, want at least %d", speechInput, len(b), captureOffset+captureFrames*captureFrameSz)
	}
	p := filepath.Join(t.TempDir(), "capture.s16le")
	if err := os.WriteFile(p, b[captureOffset:captureOffset+captureFrames*captureFrameSz], 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func encodeCaptures(t *testing.T, caps map[string]sdkCapture) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep "<base64 of each chunk>" and the prompt readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(caps); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestSarvamSDKCapture records what the official SDK sends for a fixed
// input (a prompt, four 1024-byte frames, a flush, a close) at 16 kHz and
// at 8 kHz, through the ws package as Node 18–21 do, and compares it with
// the committed capture file; -update rewrites the file.
func TestSarvamSDKCapture(t *testing.T) {
	env := requireNode(t)
	input := captureInput(t)
	caps := map[string]sdkCapture{}
	for _, c := range captureCases {
		caps[c.key] = capture(t, env, nil, "ws", input, c)
	}

	// Facts the file's readers rely on, checked even with -update.
	for key, c := range caps {
		if c.Path != "/speech-to-text/ws" {
			t.Errorf("%s: path %q, want /speech-to-text/ws", key, c.Path)
		}
		if want := []string{"api-subscription-key." + redacted}; !slices.Equal(c.Subprotocols, want) {
			t.Errorf("%s: subprotocols %q, want %q", key, c.Subprotocols, want)
		}
		if n := len(c.Messages); n != captureFrames+2 {
			t.Errorf("%s: %d messages, want a config, %d audio and a flush", key, n, captureFrames)
		}
		if c.Query["sample_rate"] != key {
			t.Errorf("%s: query sample_rate %q", key, c.Query["sample_rate"])
		}
		if c.CloseCode != int(websocket.StatusNormalClosure) {
			t.Errorf("%s: close code %d, want 1000", key, c.CloseCode)
		}
	}

	got := encodeCaptures(t, caps)
	if *update {
		if err := os.WriteFile(captureFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", captureFile)
		return
	}
	want, err := os.ReadFile(captureFile)
	if err != nil {
		t.Fatalf("%v (make it with: go test ./transport/interop -run Capture -update)", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	var old map[string]sdkCapture
	if err := json.Unmarshal(want, &old); err != nil {
		t.Fatalf("%s: %v", captureFile, err)
	}
	diffCaptures(t, old, caps)
	t.Errorf("the SDK no longer sends what %s records; if the SDK or the test input changed on purpose, rerun with -update and review the diff", captureFile)
}

// diffCaptures reports, field by field, how got differs from want.
func diffCaptures(t *testing.T, want, got map[string]sdkCapture) {
	t.Helper()
	for key := range mergeKeys(want, got) {
		w, g := want[key], got[key]
		wv, gv := reflect.ValueOf(w), reflect.ValueOf(g)
		for i := range wv.NumField() {
			name := wv.Type().Field(i).Tag.Get("json")
			a, b := wv.Field(i).Interface(), gv.Field(i).Interface()
			if reflect.DeepEqual(a, b) {
				continue
			}
			if name == "messages" {
				for j := range max(len(w.Messages), len(g.Messages)) {
					var x, y string
					if j < len(w.Messages) {
						x = w.Messages[j]
					}
					if j < len(g.Messages) {
						y = g.Messages[j]
					}
					if x != y {
						t.Errorf("%s: messages[%d]:\n got  %.200s\n want %.200s", key, j, y, x)
					}
				}
				continue
			}
			t.Errorf("%s: %s:\n got  %v\n want %v", key, name, b, a)
		}
	}
}

func mergeKeys[V any](a, b map[string]V) map[string]bool {
	m := map[string]bool{}
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return m
}

// TestSarvamSDKCaptureGlobalWebSocket repeats the 16 kHz capture with the
// runtime's global WebSocket, which the SDK prefers where it exists (Node
// 22+ by default). That class cannot send custom headers, so the key then
// travels only in the subprotocol: a Sarvam server, and our reference
// server, must accept it there. Everything else must match the ws capture.
func TestSarvamSDKCaptureGlobalWebSocket(t *testing.T) {
	env := requireNode(t)
	if env.globalWS == nil {
		t.Skip("this Node.js has no global WebSocket (Node 22+ has one, 20 and 21 with --experimental-websocket)")
	}
	input := captureInput(t)
	ws := capture(t, env, nil, "ws", input, captureCases[0])
	gl := capture(t, env, env.globalWS, "global", input, captureCases[0])
	if gl.CalledWith["websocket"] != "global" {
		t.Fatalf("the SDK ran with websocket %v, want global", gl.CalledWith["websocket"])
	}
	if gl.Path != ws.Path || gl.RawQuery != ws.RawQuery || !slices.Equal(gl.Subprotocols, ws.Subprotocols) ||
		!slices.Equal(gl.Messages, ws.Messages) || gl.CloseCode != ws.CloseCode {
		t.Errorf("the global WebSocket sent something else than ws:\n global %+v\n ws     %+v", gl, ws)
	}
	t.Logf("headers with ws: %v; with the global WebSocket: %v", ws.Headers, gl.Headers)
	if _, ok := gl.Headers["Api-Subscription-Key"]; ok {
		t.Logf("note: this runtime's global WebSocket sent Api-Subscription-Key (undici 6/7 did not)")
	}
}

package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// Paths relative to this package's directory, where go test runs the tests.
const (
	nodeDir      = "node"
	sdkScript    = "node/sarvam-sdk.js"
	speechInput  = "../../testdata/speech-16k.s16le"
	sdkPackage   = "sarvamai"
	sdkVersion   = "1.1.10"
	minNodeMajor = 18
	requiredEnv  = "VACHANA_INTEROP_REQUIRED"
	installHint  = "npm ci --prefix transport/interop/node"
	nodeRunLimit = 60 * time.Second // bound on one run of a Node script
)

// nodeEnv is a usable Node.js with the pinned SDK installed.
type nodeEnv struct {
	node string // path of the node executable
	// globalWS holds the node arguments that give the runtime a global
	// WebSocket (none from Node 22 on; --experimental-websocket on Node 20
	// and 21), or is nil when it cannot have one (Node 18).
	globalWS []string
}

var findNode = sync.OnceValues(func() (nodeEnv, string) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nodeEnv{}, "node not found (install Node.js 18+ and run: " + installHint + ")"
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		return nodeEnv{}, fmt.Sprintf("%s --version failed: %v (install Node.js 18+ and run: %s)", node, err, installHint)
	}
	v := strings.TrimSpace(string(out))
	major, _, _ := strings.Cut(strings.TrimPrefix(v, "v"), ".")
	if n, err := strconv.Atoi(major); err != nil || n < minNodeMajor {
		return nodeEnv{}, fmt.Sprintf("node %s is older than %d (install Node.js 18+ and run: %s)", v, minNodeMajor, installHint)
	}
	b, err := os.ReadFile(filepath.Join(nodeDir, "node_modules", sdkPackage, "package.json"))
	if err != nil {
		return nodeEnv{}, "sarvamai not installed (run: " + installHint + ")"
	}
	var pkg struct{ Version string }
	if err := json.Unmarshal(b, &pkg); err != nil || pkg.Version != sdkVersion {
		return nodeEnv{}, fmt.Sprintf("sarvamai %q installed, want %s (run: %s)", pkg.Version, sdkVersion, installHint)
	}
	env := nodeEnv{node: node}
	const probe = `process.exit(typeof WebSocket === "function" ? 0 : 1)`
	for _, args := range [][]string{{}, {"--experimental-websocket"}} {
		if exec.Command(node, append(args, "-e", probe)...).Run() == nil {
			env.globalWS = args
			break
		}
	}
	return env, ""
})

// requireNode returns the Node.js environment, or skips t when there is none,
// or fails it when VACHANA_INTEROP_REQUIRED=1.
func requireNode(t *testing.T) nodeEnv {
	t.Helper()
	env, missing := findNode()
	if missing != "" {
		if os.Getenv(requiredEnv) == "1" {
			t.Fatalf("%s; %s=1 makes this a failure", missing, requiredEnv)
		}
		t.Skip(missing)
	}
	return env
}

// sdkLine is one line printed by node/sarvam-sdk.js; Kind says which
// fields are set.
type sdkLine struct {
	Kind     string          `json:"kind"`
	Index    int             `json:"index"`
	Message  json.RawMessage `json:"message"`  // message
	Problem  string          `json:"problem"`  // violation
	Error    string          `json:"error"`    // error
	Where    string          `json:"where"`    // error
	Protocol string          `json:"protocol"` // open
}

// sdkSummary is the script's last line.
type sdkSummary struct {
	Messages    int    `json:"messages"`
	Data        int    `json:"data"`
	Events      int    `json:"events"`
	Errors      int    `json:"errors"`
	StartSpeech int    `json:"start_speech"`
	EndSpeech   int    `json:"end_speech"`
	Violations  int    `json:"violations"`
	SDKErrors   int    `json:"sdk_errors"`
	Reason      string `json:"reason"`
	Chunks      int    `json:"chunks"`
	Bytes       int64  `json:"bytes"`
	Websocket   string `json:"websocket"`
	Closed      bool   `json:"closed"`
	Status      int    `json:"status"`
}

// sdkRun is the outcome of one run of node/sarvam-sdk.js.
type sdkRun struct {
	CalledWith map[string]any
	Open       *sdkLine
	Messages   []json.RawMessage
	Violations []string
	Errors     []string
	Summary    *sdkSummary
	ExitCode   int
	Output     string // stdout and stderr, for failure messages
}

// runNodeScript runs node with argv (a script and its arguments, node's
// own before them), bounded by [nodeRunLimit], with the environment but
// keyEnv (never a real key near a test server), and returns what it printed
// on stdout, its exit code and, for failure messages, the command with its
// stdout and stderr. It fails t if the script could not run or timed out; a
// non-zero exit alone is left to the caller.
func runNodeScript(t *testing.T, env nodeEnv, keyEnv string, argv []string) (stdout []byte, exit int, output string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), nodeRunLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, env.node, argv...)
	cmd.WaitDelay = 5 * time.Second
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, keyEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	output = fmt.Sprintf("node %s\nstdout:\n%s\nstderr:\n%s", strings.Join(argv, " "), out.String(), stderr.String())
	if ctx.Err() != nil {
		t.Fatalf("the Node.js script did not finish within %v\n%s", nodeRunLimit, output)
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		exit = ee.ExitCode()
	case err != nil:
		t.Fatalf("running the Node.js script: %v\n%s", err, output)
	}
	return out.Bytes(), exit, output
}

// runSDK runs node/sarvam-sdk.js with nodeArgs before the script and args
// after it, bounded by [nodeRunLimit], and parses what it printed. It fails
// t if the script could not run, timed out, or printed no summary; a
// non-zero exit alone is left to the caller.
func runSDK(t *testing.T, env nodeEnv, nodeArgs []string, args ...string) sdkRun {
	t.Helper()
	stdout, exit, output := runNodeScript(t, env, "SARVAM_API_KEY", append(append(nodeArgs, sdkScript), args...))
	r := sdkRun{ExitCode: exit, Output: output}
	sc := bufio.NewScanner(bytes.NewReader(stdout))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		raw := sc.Bytes()
		var l sdkLine
		if err := json.Unmarshal(raw, &l); err != nil {
			t.Fatalf("the SDK script printed a line that is not JSON: %q\n%s", raw, r.Output)
		}
		switch l.Kind {
		case "called_with":
			if err := json.Unmarshal(raw, &r.CalledWith); err != nil {
				t.Fatal(err)
			}
		case "open":
			r.Open = &l
		case "message":
			r.Messages = append(r.Messages, l.Message)
		case "violation":
			r.Violations = append(r.Violations, fmt.Sprintf("message %d: %s", l.Index, l.Problem))
		case "error":
			r.Errors = append(r.Errors, l.Where+": "+l.Error)
		case "summary":
			r.Summary = new(sdkSummary)
			if err := json.Unmarshal(raw, r.Summary); err != nil {
				t.Fatal(err)
			}
		}
	}
	if r.Summary == nil {
		t.Fatalf("the SDK script printed no summary (exit %d)\n%s", r.ExitCode, r.Output)
	}
	return r
}

// decimate2 returns s16le mono audio at half the rate: each output sample
// is the mean of two input samples (a crude low-pass, enough for a VAD). A
// final odd sample is dropped.
func decimate2(in []byte) []byte {
	out := make([]byte, 0, len(in)/4*2)
	for i := 0; i+4 <= len(in); i += 4 {
		a := int32(int16(uint16(in[i]) | uint16(in[i+1])<<8))
		b := int32(int16(uint16(in[i+2]) | uint16(in[i+3])<<8))
		m := uint16(int16((a + b) / 2))
		out = append(out, byte(m), byte(m>>8))
	}
	return out
}

func TestDecimate2(t *testing.T) {
	in := []byte{
		0x10, 0x00, 0x30, 0x00, // 16, 48 → 32
		0x00, 0x80, 0x00, 0x80, // -32768, -32768 → -32768
		0xff, 0x7f, 0x01, 0x80, // 32767, -32767 → 0
		0x05, 0x00, // odd sample: dropped
	}
	want := []byte{0x20, 0x00, 0x00, 0x80, 0x00, 0x00}
	if got := decimate2(in); !bytes.Equal(got, want) {
		t.Errorf("decimate2 = % x, want % x", got, want)
	}
}

// TestSDKScriptFindsViolations checks the script's validator against a
// server that answers with messages the SDK's types do not allow, so that
// "no violations" in the other tests means something.
func TestSDKScriptFindsViolations(t *testing.T) {
	env := requireNode(t)
	answers := []string{
		`{"type":"data","data":{"request_id":"r","transcript":"t","metrics":{"audio_duration":1,"processing_latency":0.1},"language_code":"en-IN","language_probability":null,"timestamps":null}}`,
		`{"type":"events","data":{"event_type":"vad","signal_type":"START_SPEECH","occured_at":1.5,"timestamp":"now"}}`,
		`{"type":"events","data":{"signal_type":"END_SPEECH"}}`,
		`{"type":"error","data":{"error":"e","code":"c"}}`,
		`{"type":"data","data":{"request_id":"r","transcript":1,"metrics":{"audio_duration":"1","processing_latency":0.1}}}`, // 2
		`{"type":"events","data":{"signal_type":"SPEECH_START"}}`,                                                            // 1
		`{"type":"error","data":{"message":"m"}}`,                                                                            // 2
		`{"type":"transcript","data":{}}`,                                                                                    // 1
		`not JSON`,                                                                                                           // 1: the SDK's JSON.parse throws
	}
	wantViolations := map[int]int{4: 2, 5: 1, 6: 2, 7: 1, 8: 1}

	ctx, cancel := context.WithTimeout(t.Context(), nodeRunLimit)
	defer cancel()
	done := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{r.Header.Get("Sec-WebSocket-Protocol")}})
		if err != nil {
			done <- err
			return
		}
		defer c.CloseNow()
		for _, a := range answers {
			if err := c.Write(ctx, websocket.MessageText, []byte(a)); err != nil {
				done <- err
				return
			}
		}
		for {
			if _, _, err := c.Read(ctx); err != nil {
				done <- nil
				return
			}
		}
	}))
	defer srv.Close()

	input := filepath.Join(t.TempDir(), "one-frame.s16le")
	if err := os.WriteFile(input, make([]byte, 1024), 0o644); err != nil {
		t.Fatal(err)
	}
	run := runSDK(t, env, nil, "--url", "ws"+strings.TrimPrefix(srv.URL, "http"), "--key", "k",
		"--audio", input, "--sample-rate", "16000", "--language", "en-IN", "--quiet-ms", "300", "--websocket", "ws")
	if err := <-done; err != nil {
		t.Fatalf("server: %v", err)
	}
	// The text that is not JSON also breaks the ws package's reader (the
	// SDK's listener threw inside it), so the close handshake never ends
	// either: exit status 1 or 2.
	if run.ExitCode == 0 {
		t.Errorf("exit status 0, want non-zero\n%s", run.Output)
	}
	got := map[int]int{}
	for _, l := range run.Violations {
		var i int
		fmt.Sscanf(l, "message %d:", &i)
		got[i]++
	}
	if fmt.Sprint(got) != fmt.Sprint(wantViolations) || run.Summary.Violations != 7 {
		t.Errorf("violations by message %v (summary %d), want %v (7)\n%s", got, run.Summary.Violations, wantViolations, strings.Join(run.Violations, "\n"))
	}
	if s := run.Summary; s.Data != 2 || s.StartSpeech != 1 || s.EndSpeech != 1 || s.Errors != 2 {
		t.Errorf("summary counted %d data, %d START, %d END, %d errors; want 2, 1, 1, 2", s.Data, s.StartSpeech, s.EndSpeech, s.Errors)
	}
}

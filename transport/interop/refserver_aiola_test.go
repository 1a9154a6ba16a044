package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
)

const (
	refAiolaScript        = "node/aiola-client.js"
	refAiolaClientVersion = "4.8.4" // socket.io-client, as package.json pins it
	refAiolaWorkflow      = "2c78fcf1-9265-408f-b8c3-d9d7e7ebc1bc"
)

// requireRefAiolaClient returns the Node.js environment with the pinned
// socket.io-client installed, or skips t (fails it under
// VACHANA_INTEROP_REQUIRED=1).
func requireRefAiolaClient(t *testing.T) nodeEnv {
	t.Helper()
	env := requireNode(t)
	missing := ""
	b, err := os.ReadFile(filepath.Join(nodeDir, "node_modules", "socket.io-client", "package.json"))
	var pkg struct{ Version string }
	switch {
	case err != nil:
		missing = "socket.io-client not installed (run: " + installHint + ")"
	case json.Unmarshal(b, &pkg) != nil || pkg.Version != refAiolaClientVersion:
		missing = fmt.Sprintf("socket.io-client %q installed, want %s (run: %s)", pkg.Version, refAiolaClientVersion, installHint)
	}
	if missing != "" {
		if os.Getenv(requiredEnv) == "1" {
			t.Fatalf("%s; %s=1 makes this a failure", missing, requiredEnv)
		}
		t.Skip(missing)
	}
	return env
}

// refAiolaRun is the outcome of one run of node/aiola-client.js.
type refAiolaRun struct {
	Token struct {
		SessionID string `json:"sessionId"`
		Iat, Exp  int64
		SDKValid  bool `json:"sdk_valid"`
	}
	Query       map[string]string
	Transcripts []string
	Violations  []string
	Errors      []string
	Events      []string
	Deleted     *struct {
		Status int
		Body   json.RawMessage
	}
	Summary *struct {
		Chunks           int
		Bytes            int64
		Transcripts      int
		Violations       int
		Errors           int
		Events           int
		Connected        bool
		DisconnectReason string `json:"disconnect_reason"`
		DeleteStatus     int    `json:"delete_status"`
		Reason           string
		Exit             int
	}
	ExitCode int
	Output   string
}

// runRefAiolaClient runs node/aiola-client.js with args, bounded by
// nodeRunLimit, and parses what it printed. It fails t if the script could
// not run, timed out, or printed no summary.
func runRefAiolaClient(t *testing.T, env nodeEnv, args ...string) refAiolaRun {
	t.Helper()
	stdout, exit, output := runNodeScript(t, env, "AIOLA_API_KEY", append([]string{refAiolaScript}, args...))
	r := refAiolaRun{ExitCode: exit, Output: output}
	sc := bufio.NewScanner(bytes.NewReader(stdout))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		raw := sc.Bytes()
		var l struct {
			Kind    string `json:"kind"`
			Query   map[string]string
			Data    json.RawMessage `json:"data"`
			Problem string          `json:"problem"`
			Where   string          `json:"where"`
			Error   json.RawMessage `json:"error"`
			Name    string          `json:"name"`
		}
		if err := json.Unmarshal(raw, &l); err != nil {
			t.Fatalf("the script printed a line that is not JSON: %q\n%s", raw, r.Output)
		}
		var dst any
		switch l.Kind {
		case "token":
			dst = &r.Token
		case "query":
			r.Query = l.Query
		case "transcript":
			var tr struct{ Transcript string }
			_ = json.Unmarshal(l.Data, &tr) // a violation if it does not decode
			r.Transcripts = append(r.Transcripts, tr.Transcript)
		case "violation":
			r.Violations = append(r.Violations, l.Problem+": "+string(l.Data))
		case "error":
			r.Errors = append(r.Errors, l.Where+": "+string(l.Error))
		case "event":
			r.Events = append(r.Events, l.Name)
		case "deleted":
			r.Deleted = new(struct {
				Status int
				Body   json.RawMessage
			})
			dst = r.Deleted
		case "summary":
			r.Summary = new(struct {
				Chunks           int
				Bytes            int64
				Transcripts      int
				Violations       int
				Errors           int
				Events           int
				Connected        bool
				DisconnectReason string `json:"disconnect_reason"`
				DeleteStatus     int    `json:"delete_status"`
				Reason           string
				Exit             int
			})
			dst = r.Summary
		}
		if dst != nil {
			if err := json.Unmarshal(raw, dst); err != nil {
				t.Fatalf("line %s: %v", raw, err)
			}
		}
	}
	if r.Summary == nil {
		t.Fatalf("the script printed no summary (exit %d)\n%s", r.ExitCode, r.Output)
	}
	return r
}

// refAiolaNanoid is the execution_id the JS SDK makes: nanoid(), 21
// characters of its URL alphabet.
var refAiolaNanoid = regexp.MustCompile(`^[A-Za-z0-9_-]{21}$`)

// TestAiolaClientAgainstRefserver runs the official socket.io-client,
// configured as the official aiOla JS SDK configures it (the token flow with
// fetch, the SDK's path, query and headers, set_keywords as a Uint8Array,
// binary_data chunks of 4096 samples, disconnect, DELETE), against the
// reference server's aiOla mode over the bundled speech, and checks that
// each side understood the other: the server got every audio byte in
// binary_data events, the keywords and the query the SDK sends, a normal end
// by namespace DISCONNECT, pongs to its pings, and the auth session deleted;
// the client got one transcript per segment the server found, shaped as the
// SDK's TranscriptEvent, and an error event the server injected.
func TestAiolaClientAgainstRefserver(t *testing.T) {
	env := requireRefAiolaClient(t)
	speech, err := os.ReadFile(speechInput)
	if err != nil {
		t.Fatalf("the test input: %v", err)
	}
	// One second of silence after the speech ends its last sentence; the
	// script sends the file as it is.
	audio := append(speech, make([]byte, 2*frame.Rate16k.N(time.Second))...)
	input := filepath.Join(t.TempDir(), "speech-16k-tail.s16le")
	if err := os.WriteFile(input, audio, 0o644); err != nil {
		t.Fatal(err)
	}
	const chunkBytes = 4096 * 2

	tests := []struct {
		name        string
		args        []string
		wantParams  map[string]string // beyond those every run has
		wantKeyword []string
		faults      refserver.Faults
		wantErrors  []string // the error events the client got
	}{
		{
			name:        "lang_code, keywords and setKeywords",
			args:        []string{"--lang", "en", "--keywords", `{"eye ola":"aiOla"}`, "--set-keywords", `{"vachana pipe":"vachana-pipe"}`},
			wantParams:  map[string]string{"lang_code": "en", "keywords": `{"eye ola":"aiOla"}`},
			wantKeyword: []string{`{"vachana pipe":"vachana-pipe"}`},
		},
		{
			name: "the SDK's defaults: no lang_code, no keywords",
			args: []string{"--lang", ""},
		},
		{
			name:       "an error event",
			faults:     refserver.Faults{ErrorAfterFrames: 10, ErrorMessage: "injected"},
			wantParams: map[string]string{"lang_code": "en"},
			wantErrors: []string{`error event: {"message":"injected","code":"INJECTED_ERROR"}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := refserver.Start(&refserver.Options{
				Service:      refserver.ServiceAiola,
				Keys:         []string{"ak_interop"},
				RecordAudio:  true,
				PingInterval: 300 * time.Millisecond, // several pings in a run of a few seconds
				PingTimeout:  5 * time.Second,
				Faults:       tt.faults,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()

			// 8 times real time: about 2 s for the 16.5 s of audio.
			args := append([]string{"--base", srv.BaseURL, "--key", "ak_interop", "--audio", input,
				"--chunk-samples", "4096", "--speed", "8", "--quiet-ms", "1000", "--timeout-ms", "45000"}, tt.args...)
			run := runRefAiolaClient(t, env, args...)

			ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
			defer cancel()
			reps, err := srv.WaitReports(ctx, 1)
			if err != nil || len(reps) != 1 {
				t.Fatalf("WaitReports(1) = %d reports, %v; want 1\n%s", len(reps), err, run.Output)
			}
			r := reps[0]
			t.Logf("server: %s", r)

			// The client's side.
			s := run.Summary
			wantExit := 0
			if len(tt.wantErrors) > 0 {
				wantExit = 1
			}
			if run.ExitCode != wantExit || !s.Connected || fmt.Sprint(run.Errors) != fmt.Sprint(tt.wantErrors) || s.Reason != "quiet" {
				t.Errorf("the run: exit %d, connected %v, errors %q, ended %q; want exit %d, errors %q, a quiet end",
					run.ExitCode, s.Connected, run.Errors, s.Reason, wantExit, tt.wantErrors)
			}
			for _, v := range run.Violations {
				t.Errorf("a transcript breaks the SDK's TranscriptEvent: %s", v)
			}
			if len(run.Events) > 0 {
				t.Errorf("unexpected events %q", run.Events)
			}
			if s.DisconnectReason != "io client disconnect" {
				t.Errorf("disconnect reason %q, want io client disconnect", s.DisconnectReason)
			}
			if !run.Token.SDKValid || run.Token.Exp-run.Token.Iat != 3600 {
				t.Errorf("token iat %d exp %d, SDK check %v; want an hour the SDK accepts", run.Token.Iat, run.Token.Exp, run.Token.SDKValid)
			}
			wantChunks := (len(audio) + chunkBytes - 1) / chunkBytes
			if s.Chunks != wantChunks || s.Bytes != int64(len(audio)) {
				t.Errorf("the client sent %d chunks, %d bytes; want %d, %d", s.Chunks, s.Bytes, wantChunks, len(audio))
			}
			if run.Deleted == nil || run.Deleted.Status != 200 || !bytes.Contains(run.Deleted.Body, []byte(`"status":"deleted"`)) {
				t.Errorf("DELETE: %+v, want 200 and status deleted", run.Deleted)
			}

			// The server's side.
			if r.Service != refserver.ServiceAiola || r.Frames != wantChunks || r.Bytes != int64(len(audio)) || !bytes.Equal(r.Audio, audio) {
				t.Errorf("server got %d binary_data, %d bytes (equal %v); want %d and the file's %d bytes",
					r.Frames, r.Bytes, bytes.Equal(r.Audio, audio), wantChunks, len(audio))
			}
			wantEvents := map[string]int{"binary_data": wantChunks}
			if len(tt.wantKeyword) > 0 {
				wantEvents["set_keywords"] = 1
			}
			if !maps.Equal(r.Events, wantEvents) || fmt.Sprint(r.Keywords) != fmt.Sprint(tt.wantKeyword) {
				t.Errorf("server counted events %v, keywords %q; want %v, %q", r.Events, r.Keywords, wantEvents, tt.wantKeyword)
			}
			wantParams := map[string]string{
				"EIO": "4", "transport": "websocket", "flow_id": refAiolaWorkflow, "time_zone": "UTC",
				"x-aiola-api-token": "…", "execution_id": r.Params["execution_id"],
			}
			maps.Copy(wantParams, tt.wantParams)
			if !maps.Equal(r.Params, wantParams) || !refAiolaNanoid.MatchString(r.RequestID) || r.RequestID != run.Query["execution_id"] {
				t.Errorf("server saw query %v (execution_id %q), want %v and the script's nanoid %q", r.Params, r.RequestID, wantParams, run.Query["execution_id"])
			}
			if r.AuthSession == "" || r.AuthSession != run.Token.SessionID {
				t.Errorf("auth session %q, the script's %q", r.AuthSession, run.Token.SessionID)
			}
			if !r.Disconnected || r.Err != "" || r.BadMessages != 0 || r.Pongs == 0 {
				t.Errorf("session: disconnected %v, err %q, %d bad messages, %d pongs; want a normal end by DISCONNECT, pongs", r.Disconnected, r.Err, r.BadMessages, r.Pongs)
			}
			if n := srv.LiveSessions(); n != 0 {
				t.Errorf("LiveSessions() = %d after the run, want 0", n)
			}

			// What each side made of the other.
			if len(r.Segments) == 0 || len(run.Transcripts) != len(r.Segments) || s.Transcripts != len(r.Segments) {
				t.Fatalf("the client got %d transcripts for the server's %d segments\n%s", len(run.Transcripts), len(r.Segments), run.Output)
			}
			for i, seg := range r.Segments {
				if !seg.Transcribed || run.Transcripts[i] != seg.Text {
					t.Errorf("transcript %d %q, the server's segment %+v", i, run.Transcripts[i], seg)
				}
			}
			if t.Failed() {
				t.Logf("script output:\n%s", run.Output)
			}
		})
	}
}

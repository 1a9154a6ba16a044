package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
)

// sdkData is the part of a Sarvam data message the test compares.
type sdkData struct {
	Type string `json:"type"`
	Data struct {
		RequestID  string `json:"request_id"`
		Transcript string `json:"transcript"`
	} `json:"data"`
}

// TestSarvamSDKAgainstRefserver runs the official SDK against the reference
// server's Sarvam mode over the whole speech file, and checks that each side
// understood the other: the SDK opened, sent everything and parsed every
// answer within its declared types; the server saw the query the SDK was
// asked to send, every audio byte, the prompt and the flush, and a normal
// close; and the SDK got one data message per segment the server found,
// with VAD events exactly when it asked for them.
func TestSarvamSDKAgainstRefserver(t *testing.T) {
	env := requireNode(t)
	speech16k, err := os.ReadFile(speechInput)
	if err != nil {
		t.Fatalf("the test input: %v", err)
	}
	speech8k := decimate2(speech16k)
	speech8kFile := filepath.Join(t.TempDir(), "speech-8k.s16le")
	if err := os.WriteFile(speech8kFile, speech8k, 0o644); err != nil {
		t.Fatal(err)
	}

	const chunkBytes = 1024
	tests := []struct {
		name      string
		rate      frame.Rate
		websocket string            // the WebSocket class the SDK gets: ws or global
		connect   map[string]string // connect options as script flags, without --
		vad       bool              // vad_signals=true: START/END_SPEECH expected
	}{
		{
			name: "16 kHz with vad_signals and flush_signal", rate: 16000, websocket: "ws", vad: true,
			connect: map[string]string{"model": "saaras:v3", "mode": "transcribe", "codec": "pcm_s16le", "vad-signals": "true", "flush-signal": "true"},
		},
		{
			name: "8 kHz", rate: 8000, websocket: "ws", vad: true,
			connect: map[string]string{"codec": "pcm_s16le", "vad-signals": "true", "flush-signal": "true"},
		},
		{
			name: "high_vad_sensitivity", rate: 16000, websocket: "ws", vad: true,
			connect: map[string]string{"codec": "pcm_s16le", "high-vad-sensitivity": "true", "vad-signals": "true", "flush-signal": "true"},
		},
		{
			name: "without vad_signals", rate: 16000, websocket: "ws", vad: false,
			connect: map[string]string{"codec": "pcm_s16le", "flush-signal": "true"},
		},
		{
			// The SDK's own choice on Node 22+, where the rows above force
			// ws: no custom headers, so the key travels only in the
			// subprotocol.
			name: "global WebSocket, key in the subprotocol only", rate: 16000, websocket: "global", vad: true,
			connect: map[string]string{"codec": "pcm_s16le", "vad-signals": "true", "flush-signal": "true"},
		},
	}
	// The script's flags and the query parameters they become.
	queryName := map[string]string{
		"model": "model", "mode": "mode", "codec": "input_audio_codec",
		"high-vad-sensitivity": "high_vad_sensitivity", "vad-signals": "vad_signals", "flush-signal": "flush_signal",
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var nodeArgs []string
			if tt.websocket == "global" {
				if env.globalWS == nil {
					t.Skip("this Node.js has no global WebSocket (Node 22+ has one, 20 and 21 with --experimental-websocket)")
				}
				nodeArgs = env.globalWS
			}
			input, size := speechInput, int64(len(speech16k))
			if tt.rate == 8000 {
				input, size = speech8kFile, int64(len(speech8k))
			}

			srv, err := refserver.Start(&refserver.Options{Service: refserver.ServiceSarvam, Keys: []string{"k"}})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			base := strings.TrimSuffix(srv.URL, refserver.SarvamPath)

			const prompt = "vachana pipe"
			args := []string{
				"--url", base, "--key", "k", "--audio", input, "--language", "en-IN",
				"--sample-rate", fmt.Sprint(int(tt.rate)), "--prompt", prompt,
				"--chunk-bytes", fmt.Sprint(chunkBytes), "--pause-ms", "2",
				"--quiet-ms", "1200", "--timeout-ms", "45000", "--websocket", tt.websocket,
			}
			wantParams := map[string]string{"language-code": "en-IN", "sample_rate": fmt.Sprint(int(tt.rate))}
			for _, k := range slices.Sorted(maps.Keys(tt.connect)) {
				args = append(args, "--"+k, tt.connect[k])
				wantParams[queryName[k]] = tt.connect[k]
			}
			run := runSDK(t, env, nodeArgs, args...)

			ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
			defer cancel()
			reps, err := srv.WaitReports(ctx, 1)
			if err != nil || len(reps) != 1 {
				t.Fatalf("WaitReports(1) = %d reports, %v; want 1\n%s", len(reps), err, run.Output)
			}
			r := reps[0]
			t.Logf("server: %s", r)

			// The SDK's side.
			s := run.Summary
			if run.ExitCode != 0 || run.Open == nil || len(run.Errors) > 0 {
				t.Errorf("the SDK run failed: exit %d, opened %v, errors %q", run.ExitCode, run.Open != nil, run.Errors)
			}
			for _, v := range run.Violations {
				t.Errorf("a message breaks the SDK's declared types: %s", v)
			}
			if s.Reason != "quiet" || !s.Closed {
				t.Errorf("the SDK's wait ended with %q, closed %v; want quiet and closed", s.Reason, s.Closed)
			}
			if s.Errors != 0 {
				t.Errorf("the SDK received %d error messages", s.Errors)
			}
			if s.Websocket != tt.websocket {
				t.Errorf("the SDK used the %s WebSocket, want %s", s.Websocket, tt.websocket)
			}
			wantChunks := int((size + chunkBytes - 1) / chunkBytes)
			if s.Chunks != wantChunks || s.Bytes != size {
				t.Errorf("the SDK sent %d chunks, %d bytes; want %d, %d", s.Chunks, s.Bytes, wantChunks, size)
			}

			// The server's side.
			if r.Service != refserver.ServiceSarvam {
				t.Errorf("report service %q", r.Service)
			}
			if !maps.Equal(r.Params, wantParams) {
				t.Errorf("server saw query %v, want %v", r.Params, wantParams)
			}
			if !strings.HasPrefix(r.Subprotocol, "api-subscription-key.") {
				t.Errorf("server selected subprotocol %q, want api-subscription-key.…", r.Subprotocol)
			}
			if r.Lang != "en-IN" || r.SampleRate != tt.rate {
				t.Errorf("server saw lang %q rate %d, want en-IN %d", r.Lang, r.SampleRate, tt.rate)
			}
			if r.Frames != s.Chunks || r.Bytes != size {
				t.Errorf("server got %d audio messages, %d bytes; want %d, %d", r.Frames, r.Bytes, s.Chunks, size)
			}
			if r.BadMessages != 0 || r.Flushes != 1 || r.Configs != 1 {
				t.Errorf("server counted %d bad messages, %d flushes, %d configs; want 0, 1, 1", r.BadMessages, r.Flushes, r.Configs)
			}
			if r.CloseCode != websocket.StatusNormalClosure || r.Err != "" {
				t.Errorf("session ended with close %d, err %q; want 1000 and no error", r.CloseCode, r.Err)
			}

			// What each side made of the other.
			transcribed := 0
			for _, seg := range r.Segments {
				if seg.Transcribed {
					transcribed++
				}
			}
			if len(r.Segments) == 0 || transcribed != len(r.Segments) {
				t.Errorf("server found %d segments and transcribed %d; want some, all transcribed (the flush ends the last)", len(r.Segments), transcribed)
			}
			var data []sdkData
			for _, m := range run.Messages {
				var d sdkData
				if err := json.Unmarshal(m, &d); err == nil && d.Type == "data" {
					data = append(data, d)
				}
			}
			if len(data) != transcribed || s.Data != transcribed {
				t.Errorf("the SDK got %d data messages (summary %d), the server transcribed %d segments", len(data), s.Data, transcribed)
			}
			for i, d := range data {
				if i < len(r.Segments) && d.Data.Transcript != r.Segments[i].Text {
					t.Errorf("data %d: transcript %q, the server's segment %d: %q", i, d.Data.Transcript, i, r.Segments[i].Text)
				}
				if d.Data.RequestID != r.RequestID {
					t.Errorf("data %d: request_id %q, the server's %q", i, d.Data.RequestID, r.RequestID)
				}
			}
			if err := checkSignalOrder(signalSequence(run.Messages), len(r.Segments), tt.vad); err != nil {
				t.Error(err)
			}
			if t.Failed() {
				t.Logf("SDK output:\n%s", run.Output)
			}
		})
	}
}

// signalSequence spells the messages as S (START_SPEECH), E (END_SPEECH),
// D (data) and ? (anything else).
func signalSequence(msgs []json.RawMessage) string {
	var seq strings.Builder
	for _, m := range msgs {
		var e struct {
			Type string `json:"type"`
			Data struct {
				SignalType string `json:"signal_type"`
			} `json:"data"`
		}
		_ = json.Unmarshal(m, &e) // not JSON: "?"
		switch {
		case e.Type == "data":
			seq.WriteByte('D')
		case e.Type == "events" && e.Data.SignalType == "START_SPEECH":
			seq.WriteByte('S')
		case e.Type == "events" && e.Data.SignalType == "END_SPEECH":
			seq.WriteByte('E')
		default:
			seq.WriteByte('?')
		}
	}
	return seq.String()
}

// checkSignalOrder checks a [signalSequence] for n segments. Without VAD
// signals it is n data. With them, segment k's START_SPEECH comes before its
// END_SPEECH, which comes before its data; the next segment may start before
// that data arrives. The reference server sends no END_SPEECH for a segment
// the flush ended (its speech did not end), and only the last one can be.
func checkSignalOrder(seq string, n int, vad bool) error {
	if !vad {
		if seq != strings.Repeat("D", n) {
			return fmt.Errorf("messages %s (D data), want %d data and nothing else", seq, n)
		}
		return nil
	}
	var starts, ends, data int
	for i, c := range []byte(seq) {
		switch c {
		case 'S':
			starts++
		case 'E':
			ends++
			if ends > starts {
				return fmt.Errorf("messages %s: END_SPEECH %d at %d before its START_SPEECH", seq, ends, i)
			}
		case 'D':
			data++
			last := data == n && !strings.Contains(seq[i:], "E")
			if data > ends && !last {
				return fmt.Errorf("messages %s: data %d at %d before its END_SPEECH", seq, data, i)
			}
			if data > starts {
				return fmt.Errorf("messages %s: data %d at %d before its START_SPEECH", seq, data, i)
			}
		default:
			return fmt.Errorf("messages %s: an unexpected message at %d", seq, i)
		}
	}
	if starts != n || data != n || (ends != n && ends != n-1) {
		return fmt.Errorf("messages %s (S START_SPEECH, E END_SPEECH, D data): %d START, %d END, %d data for %d segments", seq, starts, ends, data, n)
	}
	return nil
}

func TestCheckSignalOrder(t *testing.T) {
	tests := []struct {
		seq  string
		n    int
		vad  bool
		good bool
	}{
		{"SEDSED", 2, true, true},
		{"SEDSD", 2, true, true},    // the flush ended the last segment
		{"SESDEDD", 3, true, false}, // counts
		{"SESDED", 2, true, true},   // the next segment started before the data
		{"SESDESDD", 3, true, true},
		{"SDSED", 2, true, false}, // only the last may lack its END_SPEECH
		{"SDE", 1, true, false},
		{"ESD", 1, true, false},
		{"SE?D", 1, true, false},
		{"", 0, true, true},
		{"DDD", 3, false, true},
		{"DSD", 2, false, false},
		{"DD", 3, false, false},
	}
	for _, tt := range tests {
		if err := checkSignalOrder(tt.seq, tt.n, tt.vad); (err == nil) != tt.good {
			t.Errorf("checkSignalOrder(%q, %d, %v) = %v, want good %v", tt.seq, tt.n, tt.vad, err, tt.good)
		}
	}
}

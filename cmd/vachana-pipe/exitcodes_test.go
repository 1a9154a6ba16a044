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

// hangingServer returns the URL, at path, of a server that accepts
// connections and never answers the upgrade request.
func hangingServer(t *testing.T, path string) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // the client gave up, or the server closes
	}))
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
	})
	return "ws" + strings.TrimPrefix(ts.URL, "http") + path
}

// TestExitCodes: every way a run ends, for each service, with its exit
// code and what stderr says. The services run side by side.
func TestExitCodes(t *testing.T) {
	input := readSpeech(t)[:4*16000*2] // 4 s: two segments
	once := func(f refserver.Faults) *refserver.Options { f.Sessions = 1; return &refserver.Options{Faults: f} }
	always := func(f refserver.Faults) *refserver.Options { return &refserver.Options{Faults: f} }
	forServices(t, func(t *testing.T, s cliService) {
		t.Parallel()
		// bySvc picks what differs between the services: the wording of a
		// status, the shape of a message.
		bySvc := func(vachana, sarvam string) string {
			if s.sarvam() {
				return sarvam
			}
			return vachana
		}
		tests := []struct {
			name    string
			only    string             // the one service the case is about; "" for both
			opts    *refserver.Options // nil: no reference server
			url     string             // with no reference server: the -url to give
			args    []string
			code    int
			message string // in stderr
		}{
			{name: "no key", args: []string{"-pace=false"}, code: 2, message: "no API key: set " + s.keyEnv},
			{name: "bad rate", args: []string{"-rate", "22050"}, code: 2, message: "-rate 22050"},
			{name: "rate Sarvam does not take", only: refserver.ServiceSarvam, args: []string{"-key", secretKey, "-rate", "44100"}, code: 2,
				message: "-rate 44100: out of range; accepted: 8000 or 16000, the rates Sarvam takes"},
			{name: "unknown flag", args: []string{"-frobnicate"}, code: 2, message: "flag provided but not defined"},
			{name: "missing file", args: []string{"-key", secretKey, "/nonexistent/x.raw"}, code: 2, message: "no such file"},
			{name: "two inputs", args: []string{"-key", secretKey, "a", "b"}, code: 2, message: "one INPUT at most"},
			{name: "key after input", args: []string{"in.raw", "-key", secretKey}, code: 2, message: `flag -key comes after INPUT "in.raw"`},
			{name: "key= after input", args: []string{"in.raw", "-key=" + secretKey}, code: 2, message: "flag -key comes after INPUT"},
			{name: "http URL", url: "http://127.0.0.1:1" + s.path, args: []string{"-key", secretKey}, code: 2, message: "not a ws:// or wss:// URL"},
			{name: "plaintext key", url: "ws://example.invalid" + s.path, args: []string{"-key", secretKey}, code: 2, message: "unencrypted"},
			{name: "wrong key", opts: &refserver.Options{Keys: []string{"other"}}, args: []string{"-key", secretKey}, code: 3, message: bySvc("HTTP 401", "HTTP 403")},
			{name: "forbidden", opts: always(refserver.Faults{RejectStatus: 403}), args: []string{"-key", secretKey}, code: 3, message: "HTTP 403"},
			{name: "rate limited", opts: always(refserver.Faults{RejectStatus: 429}), args: []string{"-key", secretKey}, code: 3, message: "rate limited"},
			{name: "server error at handshake", opts: always(refserver.Faults{RejectStatus: 500}), args: []string{"-key", secretKey}, code: 3, message: "HTTP 500"},
			{name: "connection refused", url: "ws://" + freePort(t) + s.path, args: []string{"-key", secretKey}, code: 3, message: "cannot connect"},
			{name: "upgrade never answered", url: hangingServer(t, s.path), args: []string{"-key", secretKey, "-connect-timeout", "300ms"}, code: 3, message: "no session within the connect limit"},
			// Sarvam sends no greeting: Faults.NoConnected does not apply.
			{name: "never says connected", only: refserver.ServiceVachana, opts: always(refserver.Faults{NoConnected: true}), args: []string{"-key", secretKey, "-connect-timeout", "300ms"}, code: 3, message: "sent no connected event"},
			{name: "fatal server error, every session", opts: always(refserver.Faults{ErrorAfterFrames: 50, CloseAfterError: true, ErrorMessage: "model crashed"}), args: []string{"-key", secretKey, "-reconnects", "1"}, code: 4, message: "1011"},
			{name: "connection dropped, every session", opts: always(refserver.Faults{DropAfterFrames: 50}), args: []string{"-key", secretKey, "-reconnects", "1"}, code: 4, message: "connection lost"},
			{name: "connection dropped, no reconnection", opts: once(refserver.Faults{DropAfterFrames: 50}), args: []string{"-key", secretKey, "-reconnects", "0"}, code: 4, message: "connection lost"},
			{name: "connection dropped once", opts: once(refserver.Faults{DropAfterFrames: 50}), args: []string{"-key", secretKey}, code: 0, message: "reconnected, replaying"},
			{name: "fatal server error once", opts: once(refserver.Faults{ErrorAfterFrames: 50, CloseAfterError: true, ErrorMessage: "model crashed"}), args: []string{"-key", secretKey}, code: 0, message: "server error: model crashed"},
			{name: "transcripts late", opts: &refserver.Options{ProcessingDelay: 5 * time.Second}, args: []string{"-key", secretKey, "-drain-timeout", "300ms"}, code: 4, message: "still missing"},
			{name: "recoverable error event", opts: always(refserver.Faults{ErrorAfterFrames: 50, ErrorMessage: "hiccup"}), args: []string{"-key", secretKey}, code: 0, message: "server error: hiccup"},
			{name: "error text in data.message", only: refserver.ServiceSarvam, opts: always(refserver.Faults{ErrorAfterFrames: 50, ErrorMessage: "hiccup", ErrorField: "message"}), args: []string{"-key", secretKey}, code: 0, message: "server error: hiccup"},
			{name: "malformed JSON", opts: always(refserver.Faults{SendAfterFrames: 20, Send: []byte(bySvc(`{"type": "transcript", "text": `, `{"type": "data", "data": {"transcript": `))}), args: []string{"-key", secretKey}, code: 0, message: "not a JSON object"},
			{name: "binary message", opts: always(refserver.Faults{SendAfterFrames: 20, Send: []byte{1, 2, 3}, SendBinary: true}), args: []string{"-key", secretKey}, code: 0, message: "binary message from the server"},
			{name: "unknown event type", opts: always(refserver.Faults{SendAfterFrames: 20, Send: []byte(bySvc(`{"type":"language_detected","language":"hi-IN"}`, `{"type":"language_detected","data":{"language_code":"hi-IN"}}`))}), args: []string{"-key", secretKey}, code: 0},
			{name: "unknown signal type", only: refserver.ServiceSarvam, opts: always(refserver.Faults{SendAfterFrames: 20, Send: []byte(`{"type":"events","data":{"event_type":"vad","signal_type":"BACKGROUND_NOISE"}}`)}), args: []string{"-key", secretKey}, code: 0},
			{name: "oversized message, every session", opts: always(refserver.Faults{SendAfterFrames: 20, Send: bytes.Repeat([]byte("x"), 2<<20)}), args: []string{"-key", secretKey, "-reconnects", "1"}, code: 4, message: "read limited"},
			{name: "server stops reading", opts: always(refserver.Faults{StallAfterFrames: 10}), args: []string{"-key", secretKey, "-stall-timeout", "500ms", "-drain-timeout", "1s", "-reconnects", "1"}, code: 4},
		}
		for _, tt := range tests {
			if tt.only != "" && tt.only != s.name {
				continue
			}
			t.Run(tt.name, func(t *testing.T) {
				args := tt.args
				switch {
				case tt.opts != nil:
					args = append([]string{"-url", startServer(t, s, tt.opts).URL}, args...)
				case tt.url != "":
					args = append([]string{"-url", tt.url}, args...)
				}
				if tt.code != 2 {
					args = append([]string{"-pace=false"}, args...)
				}
				r := runCLI(t, context.Background(), input, s.with(args...)...)
				if r.code != tt.code || !strings.Contains(r.stderr, tt.message) {
					t.Fatalf("exit %d, stderr:\n%s\nwant exit %d and %q", r.code, r.stderr, tt.code, tt.message)
				}
				if tt.code == 0 && strings.Count(r.stdout, "\n") != 2 {
					t.Fatalf("transcripts:\n%s\nwant both segments, once each", r.stdout)
				}
			})
		}
	})
}

package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/transport/aiola"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
)

// hangingServer returns the base, http://HOST, of a server that accepts
// connections and never answers a request: neither an upgrade nor, for
// aiOla, the token exchange.
func hangingServer(t *testing.T) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // the client gave up, or the server closes
	}))
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
	})
	return ts.URL
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
		bySvc := func(vachana, sarvam, aiola string) string {
			switch {
			case s.sarvam():
				return sarvam
			case s.aiola():
				return aiola
			}
			return vachana
		}
		// n returns a count of frames as the reference server counts them
		// for s: audio messages, which for aiOla are chunks of 4 frames.
		n := func(frames int) int {
			if s.aiola() {
				return frames / 4
			}
			return frames
		}
		// plainURL is the unencrypted -url of the service on host:
		// ws://host/path, or for aiOla (whose -url is a base) http://host.
		plainURL := func(host string) string { return s.urlAt("http://" + host) }
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
			{name: "two inputs", args: []string{"-key", secretKey, "a", "b"}, code: 2, message: "2 INPUTs: give -out-dir DIR"},
			{name: "key after input", args: []string{"in.raw", "-key", secretKey}, code: 2, message: `flag -key comes after INPUT "in.raw"`},
			{name: "key= after input", args: []string{"in.raw", "-key=" + secretKey}, code: 2, message: "flag -key comes after INPUT"},
			{name: "URL of the wrong scheme", url: bySvc("http://127.0.0.1:1"+s.path, "http://127.0.0.1:1"+s.path, "ws://127.0.0.1:1"), args: []string{"-key", secretKey}, code: 2,
				message: bySvc("not a ws:// or wss:// URL", "not a ws:// or wss:// URL", "not an http:// or https:// URL")},
			{name: "plaintext key", url: plainURL("example.invalid"), args: []string{"-key", secretKey}, code: 2, message: "unencrypted"},
			{name: "wrong key", opts: &refserver.Options{Keys: []string{"other"}}, args: []string{"-key", secretKey}, code: 3, message: bySvc("HTTP 401", "HTTP 403", "HTTP 401")},
			{name: "concurrency limit", only: refserver.ServiceAiola, opts: &refserver.Options{MaxSessions: 1}, args: []string{"-key", secretKey}, code: 3, message: "concurrent-session limit"},
			{name: "forbidden", opts: always(refserver.Faults{RejectStatus: 403}), args: []string{"-key", secretKey}, code: 3, message: "HTTP 403"},
			{name: "rate limited", opts: always(refserver.Faults{RejectStatus: 429}), args: []string{"-key", secretKey}, code: 3, message: "rate limited"},
			{name: "server error at handshake", opts: always(refserver.Faults{RejectStatus: 500}), args: []string{"-key", secretKey}, code: 3, message: "HTTP 500"},
			{name: "connection refused", url: plainURL(freePort(t)), args: []string{"-key", secretKey}, code: 3, message: "cannot connect"},
			{name: "upgrade never answered", url: s.urlAt(hangingServer(t)), args: []string{"-key", secretKey, "-connect-timeout", "300ms"}, code: 3, message: "no session within the connect limit"},
			// Sarvam sends no greeting: Faults.NoConnected does not apply.
			{name: "never says connected", only: refserver.ServiceVachana, opts: always(refserver.Faults{NoConnected: true}), args: []string{"-key", secretKey, "-connect-timeout", "300ms"}, code: 3, message: "sent no connected event"},
			{name: "fatal server error, every session", opts: always(refserver.Faults{ErrorAfterFrames: n(50), CloseAfterError: true, ErrorMessage: "model crashed"}), args: []string{"-key", secretKey, "-reconnects", "1"}, code: 4, message: "1011"},
			{name: "connection dropped, every session", opts: always(refserver.Faults{DropAfterFrames: n(50)}), args: []string{"-key", secretKey, "-reconnects", "1"}, code: 4, message: "connection lost"},
			{name: "connection dropped, no reconnection", opts: once(refserver.Faults{DropAfterFrames: n(50)}), args: []string{"-key", secretKey, "-reconnects", "0"}, code: 4, message: "connection lost"},
			{name: "connection dropped once", opts: once(refserver.Faults{DropAfterFrames: n(50)}), args: []string{"-key", secretKey}, code: 0, message: "reconnected, replaying"},
			{name: "fatal server error once", opts: once(refserver.Faults{ErrorAfterFrames: n(50), CloseAfterError: true, ErrorMessage: "model crashed"}), args: []string{"-key", secretKey}, code: 0, message: "server error: model crashed"},
			// aiOla announces no segment ends: a transcript that does not
			// come is not known to be owed, and costs a warning.
			{name: "transcripts late", opts: &refserver.Options{ProcessingDelay: 5 * time.Second}, args: []string{"-key", secretKey, "-drain-timeout", "300ms"}, code: bySvcCode(s, 4, 4, 0), message: bySvc("still missing", "still missing", "did not come within")},
			{name: "recoverable error event", opts: always(refserver.Faults{ErrorAfterFrames: n(50), ErrorMessage: "hiccup"}), args: []string{"-key", secretKey}, code: 0, message: "server error: hiccup"},
			{name: "error text in data.message", only: refserver.ServiceSarvam, opts: always(refserver.Faults{ErrorAfterFrames: n(50), ErrorMessage: "hiccup", ErrorField: "message"}), args: []string{"-key", secretKey}, code: 0, message: "server error: hiccup"},
			{name: "malformed JSON", opts: always(refserver.Faults{SendAfterFrames: n(20), Send: []byte(bySvc(`{"type": "transcript", "text": `, `{"type": "data", "data": {"transcript": `, `42/events,["transcript",{"transcript":`))}), args: []string{"-key", secretKey}, code: 0,
				message: bySvc("not a JSON object", "not a JSON object", "malformed packet")},
			{name: "binary message", opts: always(refserver.Faults{SendAfterFrames: n(20), Send: []byte{1, 2, 3}, SendBinary: true}), args: []string{"-key", secretKey}, code: 0, message: bySvc("binary message from the server", "binary message from the server", "a binary message that no packet announced")},
			{name: "unknown event type", opts: always(refserver.Faults{SendAfterFrames: n(20), Send: []byte(bySvc(`{"type":"language_detected","language":"hi-IN"}`, `{"type":"language_detected","data":{"language_code":"hi-IN"}}`, `42/events,["language_detected",{"lang":"hi"}]`))}), args: []string{"-key", secretKey}, code: 0},
			{name: "unknown signal type", only: refserver.ServiceSarvam, opts: always(refserver.Faults{SendAfterFrames: n(20), Send: []byte(`{"type":"events","data":{"event_type":"vad","signal_type":"BACKGROUND_NOISE"}}`)}), args: []string{"-key", secretKey}, code: 0},
			{name: "oversized message, every session", opts: always(refserver.Faults{SendAfterFrames: n(20), Send: bytes.Repeat([]byte("x"), 2<<20)}), args: []string{"-key", secretKey, "-reconnects", "1"}, code: 4, message: "read limited"},
			{name: "server stops reading", opts: always(refserver.Faults{StallAfterFrames: n(10)}), args: []string{"-key", secretKey, "-stall-timeout", "500ms", "-drain-timeout", "1s", "-reconnects", "1"}, code: 4},
		}
		for _, tt := range tests {
			if tt.only != "" && tt.only != s.name {
				continue
			}
			t.Run(tt.name, func(t *testing.T) {
				args := tt.args
				var srv *refserver.Server
				switch {
				case tt.opts != nil:
					srv = startServer(t, s, tt.opts)
					occupy(t, srv, tt.opts.MaxSessions) // another client's, up to the limit
					args = append([]string{"-url", s.serverURL(srv)}, args...)
				case tt.url != "":
					args = append([]string{"-url", tt.url}, args...) // s.with adds aiOla's -auth-url
				}
				if tt.code != 2 {
					args = append([]string{"-pace=false"}, args...)
				}
				r := runCLI(t, context.Background(), input, s.with(args...)...)
				if r.code != tt.code || !strings.Contains(r.stderr, tt.message) {
					t.Fatalf("exit %d, stderr:\n%s\nwant exit %d and %q", r.code, r.stderr, tt.code, tt.message)
				}
				if tt.code == 0 && tt.name != "transcripts late" && strings.Count(r.stdout, "\n") != 2 {
					t.Fatalf("transcripts:\n%s\nwant both segments, once each", r.stdout)
				}
				// However the run ended, it left no auth session of its own
				// live (aiOla's; the other services have none).
				if srv != nil && srv.LiveSessions() != tt.opts.MaxSessions {
					t.Fatalf("%d auth sessions live after the run, want %d: the run's was not deleted", srv.LiveSessions(), tt.opts.MaxSessions)
				}
			})
		}
	})
}

// bySvcCode picks the exit code for s.
func bySvcCode(s cliService, vachana, sarvam, aiola int) int {
	switch {
	case s.sarvam():
		return sarvam
	case s.aiola():
		return aiola
	}
	return vachana
}

// occupy opens n aiOla auth sessions on srv, held until the test ends.
func occupy(t *testing.T, srv *refserver.Server, n int) {
	t.Helper()
	for range n {
		d, err := aiola.NewDialer(aiola.Config{APIURL: srv.BaseURL, AuthURL: srv.BaseURL, APIKey: secretKey})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		sess, err := d.Dial(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		sess.CloseNow()
		t.Cleanup(func() { d.Close(context.Background()) })
	}
	if srv.LiveSessions() != n {
		t.Fatalf("%d live sessions, want %d", srv.LiveSessions(), n)
	}
}

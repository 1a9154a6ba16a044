package refserver

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

func TestSarvamHandshakeRejected(t *testing.T) {
	noKey := func(o *websocket.DialOptions) { o.HTTPHeader.Del("Api-Subscription-Key"); o.Subprotocols = nil }
	tests := []struct {
		name       string
		opts       Options
		path       string // "" means SarvamPath
		query      string
		edit       func(*websocket.DialOptions)
		wantStatus int
		wantCode   string
		wantInMsg  string
	}{
		{"wrong path", Options{}, "/speech-to-text-translate/ws", "language-code=hi-IN", nil, 404, "not_found_error", SarvamPath},
		{"Vachana path", Options{}, Path, "language-code=hi-IN", nil, 404, "not_found_error", SarvamPath},
		{"no key", Options{}, "", "language-code=hi-IN", noKey, 403, "authentication_error", "Api-Subscription-Key header"},
		{"empty key subprotocol", Options{}, "", "language-code=hi-IN", func(o *websocket.DialOptions) {
			noKey(o)
			o.Subprotocols = []string{sarvamKeyProtocol}
		}, 403, "authentication_error", "Api-Subscription-Key header"},
		{"wrong key in header", Options{Keys: []string{"good"}}, "", "language-code=hi-IN", nil, 403, "invalid_api_key_error", "not valid"},
		{"wrong key in subprotocol", Options{Keys: []string{"good"}}, "", "language-code=hi-IN", func(o *websocket.DialOptions) {
			o.HTTPHeader.Del("Api-Subscription-Key")
		}, 403, "invalid_api_key_error", "not valid"},
		{"no language", Options{}, "", "model=saaras:v3", nil, 400, "invalid_request_error", "language-code query parameter is missing"},
		{"underscore language", Options{}, "", "language_code=hi-IN", nil, 400, "invalid_request_error", "language-code query parameter is missing"},
		{"bad language", Options{}, "", "language-code=fr-FR", nil, 400, "invalid_request_error", `language-code "fr-FR" is not supported; use one of unknown, en-IN`},
		{"bad model", Options{}, "", "language-code=hi-IN&model=saarika:v1", nil, 400, "invalid_request_error", `model "saarika:v1" is not supported; use one of saaras:v3, saaras:v4, saarika:v2.5`},
		{"bad mode", Options{}, "", "language-code=hi-IN&mode=dictate", nil, 400, "invalid_request_error", `mode "dictate"`},
		{"bad codec", Options{}, "", "language-code=hi-IN&input_audio_codec=mp3", nil, 400, "invalid_request_error", `input_audio_codec "mp3" is not supported; use one of wav, pcm_s16le, pcm_l16, pcm_raw`},
		{"bad rate", Options{}, "", "language-code=hi-IN&sample_rate=22050", nil, 400, "invalid_request_error", `sample_rate "22050" is not supported; use one of 16000, 8000`},
		{"bad vad_signals", Options{}, "", "language-code=hi-IN&vad_signals=yes", nil, 400, "invalid_request_error", `vad_signals "yes" is not supported; use one of false, true`},
		{"bad flush_signal", Options{}, "", "language-code=hi-IN&flush_signal=True", nil, 400, "invalid_request_error", `flush_signal "True"`},
		{"bad high_vad_sensitivity", Options{}, "", "language-code=hi-IN&high_vad_sensitivity=1", nil, 400, "invalid_request_error", `high_vad_sensitivity "1"`},
		{"injected 429", Options{Faults: Faults{RejectStatus: 429}}, "", "language-code=hi-IN", nil, 429, "rate_limit_exceeded_error", "injected"},
		{"injected 401", Options{Faults: Faults{RejectStatus: 401}}, "", "language-code=hi-IN", nil, 401, "authentication_error", "injected"},
		{"injected 503", Options{Faults: Faults{RejectStatus: 503}}, "", "language-code=hi-IN", nil, 503, "internal_server_error", "injected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Service = ServiceSarvam
			s := start(t, &tt.opts)
			o := &websocket.DialOptions{HTTPHeader: sarvamHeader(), Subprotocols: []string{sarvamKeyProtocol + sarvamKey}}
			if tt.edit != nil {
				tt.edit(o)
			}
			url := strings.TrimSuffix(s.URL, SarvamPath) + tt.path
			if tt.path == "" {
				url = s.URL
			}
			c, resp, err := websocket.Dial(testCtx(t, 5*time.Second), url+"?"+tt.query, o)
			if err == nil {
				c.CloseNow()
				t.Fatal("handshake succeeded, want it rejected")
			}
			if resp == nil {
				t.Fatalf("no HTTP response: %v", err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if ra := resp.Header.Get("Retry-After"); (tt.wantStatus == 429) != (ra == "1") {
				t.Errorf("Retry-After = %q with status %d", ra, tt.wantStatus)
			}
			var body struct {
				Error *struct {
					Message *string `json:"message"`
					Code    *string `json:"code"`
				} `json:"error"`
			}
			b, _ := io.ReadAll(resp.Body)
			dec := json.NewDecoder(strings.NewReader(string(b)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&body); err != nil {
				t.Fatalf("body %q is not the error JSON: %v", b, err)
			}
			if body.Error == nil || body.Error.Message == nil || body.Error.Code == nil {
				t.Fatalf("body = %s, want error.message and error.code", b)
			}
			if *body.Error.Code != tt.wantCode || !strings.Contains(*body.Error.Message, tt.wantInMsg) {
				t.Errorf("body = %s, want code %s and a message containing %q", b, tt.wantCode, tt.wantInMsg)
			}
			if strings.Contains(string(b), sarvamKey) {
				t.Errorf("body %s contains the API key", b)
			}
			if len(s.Reports()) != 0 {
				t.Errorf("a rejected handshake was reported")
			}
		})
	}
}

func TestSarvamHandshakeAccepted(t *testing.T) {
	tests := []struct {
		name     string
		keys     []string
		header   bool     // send Api-Subscription-Key
		offer    []string // subprotocols offered
		query    string
		wantSub  string // the subprotocol the client sees selected
		wantRep  string // Report.Subprotocol
		wantRate frame.Rate
		wantPar  map[string]string
	}{
		{
			name: "SDK: header and subprotocol", header: true, offer: []string{sarvamKeyProtocol + sarvamKey},
			query: "language-code=hi-IN&model=saaras:v3&vad_signals=true", keys: []string{"other", sarvamKey},
			wantSub: sarvamKeyProtocol + sarvamKey, wantRep: "api-subscription-key.…", wantRate: 16000,
			wantPar: map[string]string{"language-code": "hi-IN", "model": "saaras:v3", "vad_signals": "true"},
		},
		{
			name: "header only", header: true, query: "language-code=unknown&sample_rate=8000&mode=codemix&custom=x",
			wantRate: 8000,
			wantPar:  map[string]string{"language-code": "unknown", "sample_rate": "8000", "mode": "codemix", "custom": "x"},
		},
		{
			name: "subprotocol only, among others", offer: []string{"chat", sarvamKeyProtocol + sarvamKey},
			query: "language-code=ta-IN&input_audio_codec=pcm_s16le&flush_signal=true&high_vad_sensitivity=false&model=saarika:v2.5",
			keys:  []string{sarvamKey}, wantSub: sarvamKeyProtocol + sarvamKey, wantRep: "api-subscription-key.…", wantRate: 16000,
			wantPar: map[string]string{"language-code": "ta-IN", "input_audio_codec": "pcm_s16le", "flush_signal": "true",
				"high_vad_sensitivity": "false", "model": "saarika:v2.5"},
		},
		{
			name: "key-like parameters redacted", header: true,
			query:    "language-code=hi-IN&api_subscription_key=" + sarvamKey + "&echo=" + sarvamKey,
			wantRate: 16000,
			wantPar:  map[string]string{"language-code": "hi-IN", "api_subscription_key": "…", "echo": "…"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var lines []string
			s := start(t, &Options{Service: ServiceSarvam, Keys: tt.keys, Logf: func(format string, args ...any) {
				mu.Lock()
				defer mu.Unlock()
				lines = append(lines, fmt.Sprintf(format, args...))
			}})
			if !strings.HasSuffix(s.URL, SarvamPath) || !strings.HasPrefix(s.URL, "ws://127.0.0.1:") {
				t.Errorf("URL = %s, want ws://127.0.0.1:PORT%s", s.URL, SarvamPath)
			}
			h := sarvamHeader()
			if !tt.header {
				h.Del("Api-Subscription-Key")
			}
			cl := dialOpts(t, sarvamURL(s, tt.query), &websocket.DialOptions{HTTPHeader: h, Subprotocols: tt.offer})
			if got := cl.c.Subprotocol(); got != tt.wantSub {
				t.Errorf("selected subprotocol %q, want %q", got, tt.wantSub)
			}
			// No greeting: the first message is the answer to the first audio.
			select {
			case e := <-cl.events:
				t.Fatalf("the server sent %v before any audio", e)
			case <-time.After(100 * time.Millisecond):
			}
			cl.closeNormally(t)
			r := waitReport(t, s, 1)
			if r.Service != ServiceSarvam || r.Subprotocol != tt.wantRep || r.SampleRate != tt.wantRate ||
				r.Lang != tt.wantPar["language-code"] || r.UserAgent != "refserver-test/1" ||
				!strings.HasPrefix(r.RequestID, "ref_") || r.CloseCode != 1000 || r.Err != "" {
				t.Errorf("report = %+v", r)
			}
			if fmt.Sprint(r.Params) != fmt.Sprint(tt.wantPar) {
				t.Errorf("params = %v, want %v", r.Params, tt.wantPar)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, text := range append(lines, fmt.Sprintf("%#v", r), r.String()) {
				if strings.Contains(text, sarvamKey) {
					t.Errorf("%q contains the API key", text)
				}
			}
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "sarvam session ref_") {
				t.Errorf("log = %q, want one sarvam session line", lines)
			}
		})
	}
}

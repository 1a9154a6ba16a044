package sarvam_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/internal/leakcheck"
	"github.com/vachana-pipe/vachana-pipe/internal/testutil"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
	"github.com/vachana-pipe/vachana-pipe/transport/sarvam"
)

func TestMain(m *testing.M) {
	if testutil.Role() == "refserver" {
		srv, err := refserver.Start(&refserver.Options{Service: refserver.ServiceSarvam})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		testutil.ServeUntilStdinCloses(srv.URL)
		srv.Close()
		os.Exit(0)
	}
	leakcheck.Main(m)
}

func TestParseEvent(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		want transport.Event
	}{
		{"data", `{"type":"data","data":{"request_id":"r1","transcript":"नमस्ते","timestamps":null,"diarized_transcript":null,"language_code":"hi-IN","language_probability":0.93,"metrics":{"audio_duration":1.52,"processing_latency":0.4125}}}`,
			transport.Event{Kind: transport.Transcript, Type: "data", RequestID: "r1", Text: "नमस्ते", Final: true, Language: "hi-IN", LanguageProb: 0.93, AudioDuration: 1520 * time.Millisecond, Latency: 412500 * time.Microsecond}},
		{"data, numbers as strings", `{"type":"data","data":{"transcript":"a","language_probability":"0.5","metrics":{"audio_duration":"2","processing_latency":null}}}`,
			transport.Event{Kind: transport.Transcript, Type: "data", Text: "a", Final: true, LanguageProb: 0.5, AudioDuration: 2 * time.Second}},
		{"start of speech", `{"type":"events","data":{"event_type":"vad","signal_type":"START_SPEECH","occured_at":1767225600.5,"timestamp":"2026-01-01T00:00:00Z"}}`,
			transport.Event{Kind: transport.SpeechStarted, Type: "START_SPEECH", Timestamp: "2026-01-01T00:00:00Z"}},
		{"end of speech", `{"type":"events","data":{"signal_type":"END_SPEECH","occured_at":1767225601}}`,
			transport.Event{Kind: transport.SegmentEnded, Type: "END_SPEECH"}},
		{"an event this version does not know", `{"type":"events","data":{"signal_type":"NOISE"}}`,
			transport.Event{Type: "events"}},
		{"error in data.error", `{"type":"error","data":{"error":"bad audio","code":"invalid_audio"}}`,
			transport.Event{Kind: transport.Error, Type: "error", Message: "bad audio (code invalid_audio)"}},
		{"error in data.message", `{"type":"error","data":{"message":"rate limited"}}`,
			transport.Event{Kind: transport.Error, Type: "error", Message: "rate limited"}},
		{"error without text", `{"type":"error","data":{}}`,
			transport.Event{Kind: transport.Error, Type: "error", Message: "the server sent an error without a message"}},
		{"unknown type", `{"type":"language_detected","data":{"language_code":"hi-IN"}}`,
			transport.Event{Type: "language_detected"}},
		{"data not an object", `{"type":"data","data":"x"}`,
			transport.Event{Kind: transport.Transcript, Type: "data", Final: true}},
		{"odd field types", `{"type":"data","data":{"transcript":12,"request_id":{"a":1},"metrics":{"audio_duration":[1]}}}`,
			transport.Event{Kind: transport.Transcript, Type: "data", Text: "12", RequestID: `{"a":1}`, Final: true}},
		{"metrics not an object: the transcript still read", `{"type":"data","data":{"transcript":"a","metrics":"n/a"}}`,
			transport.Event{Kind: transport.Transcript, Type: "data", Text: "a", Final: true}},
		{"absurd durations", `{"type":"data","data":{"transcript":"a","metrics":{"audio_duration":1e300,"processing_latency":-5}}}`,
			transport.Event{Kind: transport.Transcript, Type: "data", Text: "a", Final: true, AudioDuration: 24 * time.Hour}},
		{"error as plain text", `{"type":"error","data":"quota exceeded"}`,
			transport.Event{Kind: transport.Error, Type: "error", Message: "quota exceeded"}},
		{"error beside data", `{"type":"error","message":"bad request"}`,
			transport.Event{Kind: transport.Error, Type: "error", Message: "bad request"}},
		{"type as a number", `{"type":7,"data":{}}`, transport.Event{Type: "7"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sarvam.ParseEvent([]byte(tt.msg))
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Raw) != tt.msg {
				t.Errorf("Raw = %s, want the message as received", got.Raw)
			}
			got.Raw = nil
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseEventMalformed(t *testing.T) {
	for _, msg := range []string{``, `not json`, `[1,2]`, `"text"`, `null`, `{"type":`, `{"type":"data","data":{"transcript":}}`} {
		ev, err := sarvam.ParseEvent([]byte(msg))
		var me *transport.MalformedError
		if !errors.As(err, &me) || string(ev.Raw) != msg {
			t.Errorf("ParseEvent(%q) = %+v, %v; want a MalformedError keeping the message", msg, ev, err)
		}
	}
}

// TestAppendAudio checks the audio message: the SDK's shape, the frame
// intact in base64, the rate as a number.
func TestAppendAudio(t *testing.T) {
	var f frame.Frame
	for i := range f {
		f[i] = byte(i * 7)
	}
	for _, rate := range sarvam.Rates {
		msg, ok := strings.CutPrefix(string(sarvam.AppendAudio([]byte("prefix"), f[:], rate)), "prefix")
		if !ok {
			t.Fatalf("AppendAudio did not append")
		}
		var m struct {
			Audio struct {
				Data       string `json:"data"`
				SampleRate int    `json:"sample_rate"`
				Encoding   string `json:"encoding"`
			} `json:"audio"`
		}
		if err := json.Unmarshal([]byte(msg), &m); err != nil {
			t.Fatalf("not JSON: %v: %s", err, msg)
		}
		pcm, err := base64.StdEncoding.DecodeString(m.Audio.Data)
		if err != nil || string(pcm) != string(f[:]) || m.Audio.SampleRate != int(rate) || m.Audio.Encoding != "audio/wav" {
			t.Errorf("rate %d: decoded %d bytes (%v), rate %d, encoding %q", rate, len(pcm), err, m.Audio.SampleRate, m.Audio.Encoding)
		}
	}
}

func TestQuery(t *testing.T) {
	q, err := sarvam.Config{}.Query()
	if err != nil {
		t.Fatal(err)
	}
	want := "flush_signal=true&high_vad_sensitivity=false&input_audio_codec=pcm_s16le&language-code=unknown&mode=transcribe&model=saaras%3Av3&sample_rate=16000&vad_signals=true"
	if got := q.Encode(); got != want {
		t.Errorf("default query\n got %s\nwant %s", got, want)
	}
	q, err = sarvam.Config{Lang: "hi-IN", Model: "saaras:v4", Mode: "translit", SampleRate: 8000, HighVADSensitivity: true}.Query()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"language-code": "hi-IN", "model": "saaras:v4", "mode": "translit", "sample_rate": "8000", "high_vad_sensitivity": "true"} {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
}

func TestConfigInvalid(t *testing.T) {
	for _, tt := range []struct {
		cfg  sarvam.Config
		want string
	}{
		{sarvam.Config{Mode: "summarise"}, "transcribe, translate"},
		{sarvam.Config{SampleRate: 44100}, "16000 or 8000"},
		{sarvam.Config{URL: "https://user:pw@api.sarvam.ai/x"}, "not a ws:// or wss:// URL"},
	} {
		_, err := sarvam.NewDialer(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "pw") {
			t.Errorf("NewDialer(%+v) = %v, want an error saying %q", tt.cfg, err, tt.want)
		}
	}
}

func TestDialerAudio(t *testing.T) {
	for _, tt := range []struct {
		cfg  sarvam.Config
		want transport.Audio
	}{
		{sarvam.Config{}, transport.Audio{Rate: 16000, ChunkFrames: 1, TailSilence: time.Second, KeepAlive: 5 * time.Second, Flush: true}},
		{sarvam.Config{SampleRate: 8000, HighVADSensitivity: true}, transport.Audio{Rate: 8000, ChunkFrames: 1, TailSilence: 500 * time.Millisecond, KeepAlive: 5 * time.Second, Flush: true}},
	} {
		d, err := sarvam.NewDialer(tt.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Audio(); got != tt.want {
			t.Errorf("Audio() = %+v, want %+v", got, tt.want)
		}
	}
}

// TestSession plays the service with a plain WebSocket server: it checks
// the upgrade request, the prompt, the audio and flush messages, and
// answers in Sarvam's shapes.
func TestSession(t *testing.T) {
	type seen struct {
		header http.Header
		query  url.Values
		msgs   []string
	}
	got := make(chan seen, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := seen{header: r.Header.Clone(), query: r.URL.Query()}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer func() { got <- s }()
		ctx := context.Background()
		for range 3 { // prompt, audio, flush
			_, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			s.msgs = append(s.msgs, string(msg))
		}
		for _, m := range []string{
			`{"type":"events","data":{"signal_type":"END_SPEECH"}}`,
			`{"type":"data","data":{"transcript":"hello","language_code":"en-IN","metrics":{"audio_duration":1,"processing_latency":0.1}}}`,
		} {
			c.Write(ctx, websocket.MessageText, []byte(m))
		}
		c.Read(ctx) // the client's close
	}))
	defer ts.Close()
	u := "ws" + strings.TrimPrefix(ts.URL, "http") + "/speech-to-text/ws?extra=kept&model=overridden"
	s, err := sarvam.Dial(context.Background(), sarvam.Config{URL: u, APIKey: "k-secret", Lang: "en-IN", Prompt: "names: Gnani, Sarvam"})
	if err != nil {
		t.Fatal(err)
	}
	var f frame.Frame
	f[0] = 1
	if err := s.WriteAudio(f[:]); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteAudio(f[:10]); err == nil {
		t.Error("WriteAudio took a chunk that is not one frame")
	}
	if err := s.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []transport.Kind{transport.SegmentEnded, transport.Transcript} {
		ev, err := s.ReadEvent()
		if err != nil || ev.Kind != want {
			t.Fatalf("event %+v, %v; want %s", ev, err, want)
		}
	}
	errc := make(chan error, 1)
	go func() {
		_, err := s.ReadEvent()
		errc <- err
	}()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-errc; err != io.EOF {
		t.Errorf("ReadEvent after Close = %v, want io.EOF", err)
	}
	sv := <-got
	if sv.header.Get("Api-Subscription-Key") != "k-secret" || sv.header.Get("User-Agent") != "vachana-pipe/"+transport.Version {
		t.Errorf("headers: key %q, user agent %q", sv.header.Get("Api-Subscription-Key"), sv.header.Get("User-Agent"))
	}
	if sv.query.Get("extra") != "kept" || sv.query.Get("model") != "saaras:v3" || sv.query.Get("language-code") != "en-IN" {
		t.Errorf("query %v", sv.query)
	}
	want := []string{
		`{"type":"config","prompt":"names: Gnani, Sarvam"}`,
		string(sarvam.AppendAudio(nil, f[:], 16000)),
		`{"type":"flush"}`,
	}
	if fmt.Sprint(sv.msgs) != fmt.Sprint(want) {
		t.Errorf("messages\n got %q\nwant %q", sv.msgs, want)
	}
}

func TestHandshakeErrors(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   []string
		final  bool
	}{
		{403, `{"error":{"message":"Invalid API key","code":"invalid_api_key_error"}}`, []string{"HTTP 403", "Invalid API key", "invalid_api_key_error", "SARVAM_API_KEY", "-key-file"}, true},
		{401, ``, []string{"HTTP 401", "SARVAM_API_KEY"}, true},
		{400, `{"error":{"message":"language-code invalid"}}`, []string{"HTTP 400", "language-code invalid", "-lang", "-mode"}, false},
		{429, ``, []string{"HTTP 429", "rate limited"}, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer ts.Close()
			_, err := sarvam.Dial(context.Background(), sarvam.Config{URL: "ws" + strings.TrimPrefix(ts.URL, "http"), APIKey: "k-secret"})
			var he *transport.HandshakeError
			if !errors.As(err, &he) || he.StatusCode != tt.status || he.Final() != tt.final {
				t.Fatalf("Dial = %v, want a HandshakeError with status %d, final %v", err, tt.status, tt.final)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "k-secret") {
				t.Errorf("error contains the key: %v", err)
			}
		})
	}
}

// childSession opens a session to a reference server in Sarvam mode in a
// child process (see TestMain), both closed when the test ends.
func childSession(tb testing.TB) *sarvam.Session {
	tb.Helper()
	s, err := sarvam.Dial(context.Background(), sarvam.Config{URL: testutil.Peer(tb, "refserver"), APIKey: "k"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.CloseNow() })
	return s
}

// TestWriteAudioDoesNotAllocate: building the JSON message and writing it
// costs no allocation, with no goroutine but the test's in this process.
func TestWriteAudioDoesNotAllocate(t *testing.T) {
	s := childSession(t)
	var f frame.Frame
	testutil.NoAllocs(t, "WriteAudio", func() {
		if err := s.WriteAudio(f[:]); err != nil {
			t.Fatal(err)
		}
	})
}

func BenchmarkAppendAudio(b *testing.B) {
	var f frame.Frame
	buf := sarvam.AppendAudio(nil, f[:], 16000)
	b.SetBytes(frame.Size)
	b.ReportAllocs()
	for b.Loop() {
		buf = sarvam.AppendAudio(buf[:0], f[:], 16000)
	}
}

func FuzzParseEvent(f *testing.F) {
	for _, s := range []string{
		`{"type":"data","data":{"request_id":"r","transcript":"hi","metrics":{"audio_duration":1.5,"processing_latency":0.2}}}`,
		`{"type":"events","data":{"signal_type":"END_SPEECH","occured_at":1}}`,
		`{"type":"error","data":{"message":"x","code":3}}`, `{"type":"future","data":[1,{"b":null}]}`,
		`[]`, `null`, `{`, `{"type":{"nested":true}}`, "{\"data\":{\"transcript\":\"\xff\xfe\"}}", `{"data":   }`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		ev, err := sarvam.ParseEvent(msg)
		if string(ev.Raw) != string(msg) {
			t.Fatalf("Raw not kept")
		}
		var me *transport.MalformedError
		if err != nil && !errors.As(err, &me) {
			t.Fatalf("unexpected error type %T", err)
		}
	})
}

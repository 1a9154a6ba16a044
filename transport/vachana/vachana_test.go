package vachana_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/internal/leakcheck"
	"github.com/vachana-pipe/vachana-pipe/internal/testutil"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
	"github.com/vachana-pipe/vachana-pipe/transport/vachana"
)

func TestMain(m *testing.M) {
	if testutil.Role() == "refserver" {
		srv, err := refserver.Start(nil)
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
		{"connected", `{"type":"connected","message":"hi","timestamp":"2026-01-01T00:00:00Z","config":{"sample_rate":16000,"chunk_size":512},"request_id":"r1"}`,
			transport.Event{Kind: transport.Connected, Type: "connected", Message: "hi", Timestamp: "2026-01-01T00:00:00Z", SampleRate: 16000, ChunkSize: 512, RequestID: "r1", Final: true}},
		{"transcript, index as string", `{"type":"transcript","text":"नमस्ते","audio_duration_ms":1520,"segment_id":"s-3","segment_index":"3","latency":412.5}`,
			transport.Event{Kind: transport.Transcript, Type: "transcript", Text: "नमस्ते", AudioDuration: 1520 * time.Millisecond, SegmentID: "s-3", SegmentIndex: "3", Latency: 412500 * time.Microsecond, Final: true}},
		{"transcript, index as number", `{"type":"transcript","text":"a","segment_index":7,"latency":"90"}`,
			transport.Event{Kind: transport.Transcript, Type: "transcript", Text: "a", SegmentIndex: "7", Latency: 90000 * time.Microsecond, Final: true}},
		{"partial", `{"type":"transcript","text":"a","is_final":false}`,
			transport.Event{Kind: transport.Transcript, Type: "transcript", Text: "a", Final: false}},
		{"explicit final", `{"type":"transcript","text":"a","is_final":true}`,
			transport.Event{Kind: transport.Transcript, Type: "transcript", Text: "a", Final: true}},
		{"error", `{"type":"error","message":"bad audio"}`,
			transport.Event{Kind: transport.Error, Type: "error", Message: "bad audio", Final: true}},
		{"vad", `{"type":"vad_start"}`, transport.Event{Kind: transport.SpeechStarted, Type: "vad_start", Final: true}},
		{"unknown type", `{"type":"language_detected","language":"hi-IN"}`,
			transport.Event{Type: "language_detected", Final: true}},
		{"odd field types", `{"type":"transcript","text":12,"segment_index":null,"config":"x","latency":{"a":1}}`,
			transport.Event{Kind: transport.Transcript, Type: "transcript", Text: "12", Final: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := vachana.ParseEvent([]byte(tt.msg))
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
	for _, msg := range []string{``, `not json`, `[1,2]`, `"text"`, `null`, `{"type":`} {
		ev, err := vachana.ParseEvent([]byte(msg))
		var me *transport.MalformedError
		if !errors.As(err, &me) || string(ev.Raw) != msg {
			t.Errorf("ParseEvent(%q) = %+v, %v; want a MalformedError keeping the message", msg, ev, err)
		}
	}
}

func TestHandshakeErrors(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   []string
	}{
		{401, `{"detail":{"error_code":"MISSING_API_KEY","message":"API key required"}}`, []string{"HTTP 401", "MISSING_API_KEY", "API key required", "GNANI_API_KEY"}},
		{403, `<html><body>Forbidden by CDN</body></html>`, []string{"HTTP 403", "Forbidden by CDN"}},
		{429, `{"detail":{"error_code":"RATE_LIMITED","message":"slow down"}}`, []string{"HTTP 429", "RATE_LIMITED", "rate limited"}},
		{400, `{"detail":"lang_code invalid"}`, []string{"HTTP 400", "lang_code invalid", "-lang"}},
		{503, ``, []string{"HTTP 503", "retry later"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer ts.Close()
			_, err := vachana.Dial(context.Background(), vachana.Config{URL: "ws" + strings.TrimPrefix(ts.URL, "http"), APIKey: "k-secret"})
			var he *transport.HandshakeError
			if !errors.As(err, &he) || he.StatusCode != tt.status {
				t.Fatalf("Dial = %v, want a HandshakeError with status %d", err, tt.status)
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

// TestRedirectIsNotFollowed: a redirect, even to plain http, never takes
// the key along.
func TestRedirectIsNotFollowed(t *testing.T) {
	var leaked atomic.Bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-api-key-id") != "" {
			leaked.Store(true)
		}
		w.WriteHeader(http.StatusTeapot)
	}))
	defer other.Close()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/stt?token=QSECRET", http.StatusTemporaryRedirect)
	}))
	defer ts.Close()
	_, err := vachana.Dial(context.Background(), vachana.Config{URL: "ws" + strings.TrimPrefix(ts.URL, "http"), APIKey: "k-secret"})
	var he *transport.HandshakeError
	if !errors.As(err, &he) || he.StatusCode != http.StatusTemporaryRedirect || !strings.Contains(err.Error(), other.URL+"/stt") {
		t.Fatalf("Dial = %v, want a HandshakeError for the 307 naming its location", err)
	}
	if leaked.Load() || strings.Contains(err.Error(), "QSECRET") {
		t.Fatalf("the redirect leaked: key sent %v, error %v", leaked.Load(), err)
	}
}

func TestDialErrorHidesQuery(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	_, err := vachana.Dial(context.Background(), vachana.Config{URL: "ws://" + addr + "/x?token=QSECRET", APIKey: "k"})
	if err == nil || strings.Contains(err.Error(), "QSECRET") || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Dial = %v", err)
	}
}

func TestDialBadConfig(t *testing.T) {
	for _, cfg := range []vachana.Config{
		{URL: "http://127.0.0.1:1/x", APIKey: "k"},
		{URL: "ws://user:pw@", APIKey: "k"},
		{URL: "ws://127.0.0.1:1/x", SampleRate: 22050},
	} {
		_, err := vachana.Dial(context.Background(), cfg)
		if err == nil || strings.Contains(err.Error(), "pw") {
			t.Errorf("Dial(%+v) = %v, want an error without credentials", cfg, err)
		}
	}
}

func TestRedact(t *testing.T) {
	if got := transport.Redact("wss://u:p@host/x?key=s#f"); got != "wss://host/x" {
		t.Errorf("Redact = %q", got)
	}
}

// TestSession dials the reference server and checks the headers it saw, the
// events in order, and a normal close.
func TestSession(t *testing.T) {
	srv, err := refserver.Start(&refserver.Options{RecordAudio: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := vachana.Dial(context.Background(), vachana.Config{URL: srv.URL, APIKey: "k", Lang: "hi-IN", SampleRate: 8000, RequestID: "req_test"})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := c.ReadEvent()
	if err != nil || ev.Kind != transport.Connected || ev.SampleRate != 8000 || ev.ChunkSize != 512 {
		t.Fatalf("first event %+v, %v; want connected at 8000 Hz", ev, err)
	}
	// 1 s of loud noise, then 1 s of silence at 8 kHz: one segment.
	var loud, quiet frame.Frame
	for i := 0; i < frame.Size; i += 2 {
		loud[i+1] = byte(0x40 ^ (i & 0x80)) // ±16384
	}
	frames := 0
	for range frame.Rate8k.FramesIn(time.Second) {
		c.WriteAudio(loud[:])
		frames++
	}
	for range frame.Rate8k.FramesIn(time.Second) {
		c.WriteAudio(quiet[:])
		frames++
	}
	for _, want := range []transport.Kind{transport.SegmentEnded, transport.Transcript} {
		ev, err := c.ReadEvent()
		if err != nil || ev.Kind != want {
			t.Fatalf("event %+v, %v; want %s", ev, err, want)
		}
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.ReadEvent()
		errc <- err
	}()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	<-errc
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reps, err := srv.WaitReports(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	r := reps[0]
	if r.Lang != "hi-IN" || r.SampleRate != 8000 || r.RequestID != "req_test" || r.UserAgent != "vachana-pipe/"+transport.Version {
		t.Errorf("server saw lang %q, rate %d, request id %q, user agent %q", r.Lang, r.SampleRate, r.RequestID, r.UserAgent)
	}
	if r.Frames != frames || r.CloseCode != 1000 {
		t.Errorf("server saw %d frames, close %d; want %d, 1000", r.Frames, r.CloseCode, frames)
	}
}

// childSession opens a session to a reference server in a child process
// (see TestMain), both closed when the test ends.
func childSession(tb testing.TB) *vachana.Session {
	tb.Helper()
	c, err := vachana.Dial(context.Background(), vachana.Config{URL: testutil.Peer(tb, "refserver"), APIKey: "k"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.CloseNow() })
	return c
}

// TestWriteAudioDoesNotAllocate counts WriteAudio's allocations alone:
// testing.AllocsPerRun counts the whole process's, so the server runs in a
// child process, and a Conn has no goroutine of its own (nobody reads
// during the window, and the server sends nothing unasked).
func TestWriteAudioDoesNotAllocate(t *testing.T) {
	c := childSession(t)
	var f frame.Frame
	testutil.NoAllocs(t, "WriteAudio", func() {
		if err := c.WriteAudio(f[:]); err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkWriteAudio measures one frame written to a server in a child
// process (the server reads it there): the client's CPU and allocations
// per frame.
func BenchmarkWriteAudio(b *testing.B) {
	c := childSession(b)
	var f frame.Frame
	b.SetBytes(frame.Size)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.WriteAudio(f[:]); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCheckRate(t *testing.T) {
	for _, r := range []frame.Rate{0, -1, 11025, 22050} {
		if vachana.CheckRate(r) == nil {
			t.Errorf("rate %d accepted", r)
		}
	}
	for _, r := range []frame.Rate{8000, 16000, 44100, 48000} {
		if err := vachana.CheckRate(r); err != nil {
			t.Errorf("rate %d refused: %v", r, err)
		}
	}
}

func TestNewRequestID(t *testing.T) {
	a, b := vachana.NewRequestID(), vachana.NewRequestID()
	if len(a) != 16 || !strings.HasPrefix(a, "req_") || a == b {
		t.Fatalf("request ids %q, %q", a, b)
	}
}

// FuzzParseEvent checks that no server message makes the decoder panic, and
// that every message is either decoded with its raw text kept or reported as
// malformed.
func FuzzParseEvent(f *testing.F) {
	for _, s := range []string{
		`{"type":"connected","config":{"sample_rate":16000,"chunk_size":512}}`,
		`{"type":"transcript","text":"hi","segment_index":3,"is_final":false,"latency":"12.5"}`,
		`{"type":"error","message":"x"}`, `{"type":"future_thing","a":[1,{"b":null}]}`,
		`[]`, `null`, `{`, `{"type":{"nested":true}}`, "{\"text\":\"\xff\xfe\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		ev, err := vachana.ParseEvent(msg)
		if string(ev.Raw) != string(msg) {
			t.Fatalf("Raw not kept")
		}
		var me *transport.MalformedError
		if err != nil && !errors.As(err, &me) {
			t.Fatalf("unexpected error type %T", err)
		}
	})
}

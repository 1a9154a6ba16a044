package refserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

func TestHandshakeRejected(t *testing.T) {
	tests := []struct {
		name       string
		opts       *Options
		path       string
		edit       func(http.Header)
		wantStatus int
		wantCode   string
	}{
		{"no key", nil, Path, func(h http.Header) { h.Del("x-api-key-id") }, 401, "MISSING_API_KEY"},
		{"wrong key", &Options{Keys: []string{"good"}}, Path, nil, 401, "INVALID_API_KEY"},
		{"no lang", nil, Path, func(h http.Header) { delete(h, "lang_code") }, 400, "MISSING_LANG_CODE"},
		{"bad rate", nil, Path, func(h http.Header) { h.Set("x-sample-rate", "22050") }, 400, "INVALID_SAMPLE_RATE"},
		{"rate not a number", nil, Path, func(h http.Header) { h.Set("x-sample-rate", "16k") }, 400, "INVALID_SAMPLE_RATE"},
		{"wrong path", nil, "/stt/v2/stream", nil, 404, "NOT_FOUND"},
		{"injected 429", &Options{Faults: Faults{RejectStatus: 429}}, Path, nil, 429, "RATE_LIMITED"},
		{"injected 403", &Options{Faults: Faults{RejectStatus: 403}}, Path, nil, 403, "FORBIDDEN"},
		{"injected 500", &Options{Faults: Faults{RejectStatus: 500}}, Path, nil, 500, "INTERNAL_SERVER_ERROR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, tt.opts)
			h := header(0)
			if tt.edit != nil {
				tt.edit(h)
			}
			url := strings.TrimSuffix(s.URL, Path) + tt.path
			c, resp, err := websocket.Dial(testCtx(t, 5*time.Second), url, &websocket.DialOptions{HTTPHeader: h})
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
			var body struct {
				Detail struct {
					ErrorCode string `json:"error_code"`
					Message   string `json:"message"`
				} `json:"detail"`
			}
			b, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(b, &body); err != nil {
				t.Fatalf("body %q is not JSON: %v", b, err)
			}
			if body.Detail.ErrorCode != tt.wantCode || body.Detail.Message == "" {
				t.Errorf("body = %s, want error_code %s and a message", b, tt.wantCode)
			}
			if bytes.Contains(b, []byte("test-key")) {
				t.Errorf("body %s contains the API key", b)
			}
			if len(s.Reports()) != 0 {
				t.Errorf("a rejected handshake was reported")
			}
		})
	}
}

func TestConnectedFirst(t *testing.T) {
	tests := []struct {
		name     string
		rate     frame.Rate // 0: header absent
		reqID    string     // "" removes x-api-request-id
		wantRate int
	}{
		{"default rate", 0, "req_test", 16000},
		{"8 kHz", frame.Rate8k, "req_test", 8000},
		{"44.1 kHz", frame.Rate44k, "req_test", 44100},
		{"48 kHz, generated id", frame.Rate48k, "", 48000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, &Options{Keys: []string{"other", "test-key"}})
			h := header(tt.rate)
			if tt.reqID == "" {
				h.Del("x-api-request-id")
			}
			cl := dial(t, s.URL, h)
			e := cl.next(t, 5*time.Second)
			if e.str("type") != "connected" {
				t.Fatalf("first event = %v, want connected", e)
			}
			cfg, _ := e["config"].(map[string]any)
			if cfg["sample_rate"] != float64(tt.wantRate) || cfg["chunk_size"] != float64(512) {
				t.Errorf("config = %v, want sample_rate %d, chunk_size 512", cfg, tt.wantRate)
			}
			if _, err := time.Parse(time.RFC3339Nano, e.str("timestamp")); err != nil {
				t.Errorf("timestamp: %v", err)
			}
			id := e.str("request_id")
			if tt.reqID != "" && id != tt.reqID || tt.reqID == "" && !strings.HasPrefix(id, "ref_") {
				t.Errorf("request_id = %q, want %q (ref_… if absent)", id, tt.reqID)
			}
			cl.closeNormally(t)
			r := waitReport(t, s, 1)
			if r.RequestID != id || r.Lang != "hi-IN" || r.UserAgent != "refserver-test/1" || int(r.SampleRate) != tt.wantRate ||
				r.Service != ServiceVachana || r.Params != nil || r.Subprotocol != "" {
				t.Errorf("report = %+v, want id %s, hi-IN, refserver-test/1, %d Hz", r, id, tt.wantRate)
			}
		})
	}
}

// twoSegments is 0.3 s silence, 1 s tone, 0.7 s silence, 0.5 s tone, 0.7 s
// silence: 3.2 s, exactly 100 frames at 16 kHz.
var twoSegments = []part{
	silence(300 * time.Millisecond), tone(time.Second), silence(700 * time.Millisecond),
	tone(500 * time.Millisecond), silence(700 * time.Millisecond),
}

// wantSegments are the tones of twoSegments in ms: [start, end).
var wantSegments = [][2]int{{300, 1300}, {2000, 2500}}

func TestSegments(t *testing.T) {
	tests := []struct {
		name      string
		vadEvents bool
		perSeg    []string // event types for each segment, in order
	}{
		{"plain", false, []string{"processing", "transcript"}},
		{"VAD events", true, []string{"speech_start", "speech_end", "processing", "transcript"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, &Options{VADEvents: tt.vadEvents})
			cl := dial(t, s.URL, header(frame.Rate16k))
			if e := cl.next(t, 5*time.Second); e.str("type") != "connected" {
				t.Fatalf("first event = %v, want connected", e)
			}
			cl.send(t, chunks(pcm(frame.Rate16k, twoSegments...), frame.Size))
			events := cl.until(t, "transcript", 2)
			cl.closeNormally(t)

			// Group the events by segment_index; each segment's own order must be perSeg.
			bySeg := map[string][]string{}
			for _, e := range events {
				k := e.str("segment_index")
				if k == "" {
					t.Errorf("event %v has no string segment_index", e)
				}
				bySeg[k] = append(bySeg[k], e.str("type"))
			}
			frameMS := 32
			for k, want := range wantSegments {
				ks := strconv.Itoa(k)
				if got := strings.Join(bySeg[ks], ","); got != strings.Join(tt.perSeg, ",") {
					t.Errorf("segment %d events = %s, want %s", k, got, strings.Join(tt.perSeg, ","))
				}
				tr := findEvent(events, "transcript", ks)
				dur := int(tr.num("audio_duration_ms"))
				if min, max := want[1]-want[0], want[1]-want[0]+2*frameMS; dur < min || dur > max {
					t.Errorf("segment %d audio_duration_ms = %d, want %d..%d", k, dur, min, max)
				}
				if tr.str("segment_id") != "req_test-"+ks || tr.num("latency") != 40 {
					t.Errorf("transcript %v: want segment_id req_test-%s, latency 40", tr, ks)
				}
				if wantText := "[segment " + ks + ": " + strconv.Itoa(dur) + " ms of speech]"; tr.str("text") != wantText {
					t.Errorf("text = %q, want %q", tr.str("text"), wantText)
				}
			}

			r := waitReport(t, s, 1)
			if r.Frames != 100 || r.Bytes != 100*frame.Size || r.SizeViolations != 0 || len(r.Arrivals) != 100 {
				t.Errorf("report = %s, want 100 frames of %d bytes, no violations", r, frame.Size)
			}
			if r.CloseCode != websocket.StatusNormalClosure || r.Err != "" {
				t.Errorf("close = %d, err %q; want 1000 and no error", r.CloseCode, r.Err)
			}
			if len(r.Segments) != 2 {
				t.Fatalf("segments = %+v, want 2", r.Segments)
			}
			for k, want := range wantSegments {
				seg := r.Segments[k]
				end := seg.StartMS + seg.DurationMS
				if seg.Index != k || !seg.Transcribed ||
					seg.StartMS < want[0]-frameMS || seg.StartMS > want[0] ||
					end < want[1] || end > want[1]+frameMS {
					t.Errorf("segment %d = %+v, want transcribed, start in [%d, %d], end in [%d, %d]",
						k, seg, want[0]-frameMS, want[0], want[1], want[1]+frameMS)
				}
			}
		})
	}
}

func findEvent(events []event, typ, index string) event {
	for _, e := range events {
		if e.str("type") == typ && e.str("segment_index") == index {
			return e
		}
	}
	return event{}
}

func TestMidSpeechNotTranscribed(t *testing.T) {
	s := start(t, &Options{ProcessingDelay: time.Millisecond})
	cl := dial(t, s.URL, header(frame.Rate16k))
	cl.next(t, 5*time.Second) // connected
	audio := pcm(frame.Rate16k, silence(300*time.Millisecond), tone(time.Second),
		silence(700*time.Millisecond), tone(500*time.Millisecond)) // ends mid-tone
	cl.send(t, chunks(audio, frame.Size))
	cl.until(t, "transcript", 1)
	// The server has judged everything before it answers a ping.
	if err := cl.c.Ping(testCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // 50 × the processing delay
	cl.closeNormally(t)
	for e := range cl.events {
		t.Errorf("unexpected event after the first transcript: %v", e)
	}
	r := waitReport(t, s, 1)
	if len(r.Segments) != 2 {
		t.Fatalf("segments = %+v, want 2", r.Segments)
	}
	if open := r.Segments[1]; open.Transcribed || open.Text != "" || open.Index != 1 {
		t.Errorf("open segment = %+v, want index 1, no text, not transcribed", open)
	}
	if !r.Segments[0].Transcribed {
		t.Errorf("first segment not transcribed: %+v", r.Segments[0])
	}
}

func TestMessageSizes(t *testing.T) {
	tests := []struct {
		name           string
		sizes          []int
		wantViolations int
	}{
		{"exact", []int{1024, 1024, 1024}, 0},
		{"boundaries", []int{1023, 1024, 1025}, 2},
		{"odd and large", []int{1, 2048, 3, 1024, 4096}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, &Options{RecordAudio: true})
			cl := dial(t, s.URL, header(0))
			var sent []byte
			var msgs [][]byte
			for i, n := range tt.sizes {
				m := bytes.Repeat([]byte{byte(i + 1)}, n)
				sent = append(sent, m...)
				msgs = append(msgs, m)
			}
			cl.send(t, msgs)
			if err := cl.c.Write(testCtx(t, 5*time.Second), websocket.MessageText, []byte(`{"type":"flush"}`)); err != nil {
				t.Fatal(err)
			}
			cl.closeNormally(t)
			r := waitReport(t, s, 1)
			if r.SizeViolations != tt.wantViolations || r.Frames != len(tt.sizes) || r.Bytes != int64(len(sent)) {
				t.Errorf("report = %s, want %d frames, %d bytes, %d violations",
					r, len(tt.sizes), len(sent), tt.wantViolations)
			}
			if r.TextMessages != 1 {
				t.Errorf("text messages = %d, want 1", r.TextMessages)
			}
			if !bytes.Equal(r.Audio, sent) {
				t.Errorf("recorded %d bytes, not equal to the %d sent", len(r.Audio), len(sent))
			}
		})
	}
}

func TestCloseCode(t *testing.T) {
	tests := []struct {
		name     string
		close    func(c *websocket.Conn)
		wantCode websocket.StatusCode
		wantErr  string // substring; "" means no error
	}{
		{"normal", func(c *websocket.Conn) { c.Close(websocket.StatusNormalClosure, "") }, 1000, ""},
		{"going away", func(c *websocket.Conn) { c.Close(websocket.StatusGoingAway, "") }, 1001, ""},
		{"application status", func(c *websocket.Conn) { c.Close(4000, "bye") }, 4000, "client closed with status 4000"},
		{"no close frame", func(c *websocket.Conn) { c.CloseNow() }, -1, "connection broke"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, nil)
			cl := dial(t, s.URL, header(0))
			cl.next(t, 5*time.Second)
			tt.close(cl.c)
			r := waitReport(t, s, 1)
			if r.CloseCode != tt.wantCode {
				t.Errorf("close code = %d, want %d", r.CloseCode, tt.wantCode)
			}
			if tt.wantErr == "" && r.Err != "" || !strings.Contains(r.Err, tt.wantErr) {
				t.Errorf("err = %q, want %q", r.Err, tt.wantErr)
			}
		})
	}
}

func TestHandlerInHTTPTest(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	s := New(&Options{Logf: func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, strings.TrimSpace(fmt.Sprintf(format, args...)))
	}})
	ts := httptest.NewServer(s)
	defer ts.Close()
	defer s.Close()
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + Path
	cl := dial(t, url, header(0))
	cl.next(t, 5*time.Second)
	cl.closeNormally(t)
	waitReport(t, s, 1)

	mu.Lock()
	if len(lines) != 1 || strings.Contains(lines[0], "test-key") || !strings.Contains(lines[0], "close=1000") {
		t.Errorf("log = %q, want one line with close=1000 and no key", lines)
	}
	mu.Unlock()

	// WaitReports gives up with its context, and after Close.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if got, err := s.WaitReports(ctx, 2); !errors.Is(err, context.DeadlineExceeded) || len(got) != 1 {
		t.Errorf("WaitReports(2) = %d reports, %v; want 1 and a deadline error", len(got), err)
	}
	s.Close()
	if _, err := s.WaitReports(context.Background(), 2); err == nil {
		t.Error("WaitReports(2) after Close with 1 report: no error")
	}
	resp, err := http.Get(ts.URL + Path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("after Close: status %d, want 503", resp.StatusCode)
	}
}

func TestInvalidOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string // a substring of the error
	}{
		{"status 200", Options{Faults: Faults{RejectStatus: 200}}, "RejectStatus 200"},
		{"status 700", Options{Faults: Faults{RejectStatus: 700}}, "RejectStatus 700"},
		{"NaN threshold", Options{Threshold: math.NaN()}, "Threshold"},
		{"unknown service", Options{Service: "whisper"}, `Options.Service "whisper" is not a service; use "vachana" (the default), "sarvam" or "aiola"`},
		{"service in capitals", Options{Service: "Sarvam"}, `Options.Service "Sarvam"`},
		{"unknown error field", Options{Service: ServiceSarvam, Faults: Faults{ErrorField: "detail"}}, `Faults.ErrorField "detail"`},
		{"negative TokenTTL", Options{Service: ServiceAiola, TokenTTL: -time.Second}, "Options.TokenTTL -1s is negative"},
		{"negative PingInterval", Options{Service: ServiceAiola, PingInterval: -1}, "Options.PingInterval"},
		{"negative PingTimeout", Options{Service: ServiceAiola, PingTimeout: -1}, "Options.PingTimeout"},
		{"negative MaxSessions", Options{Service: ServiceAiola, MaxSessions: -1}, "Options.MaxSessions -1 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := Start(&tt.opts); err == nil {
				s.Close()
				t.Fatal("Start accepted invalid options")
			} else if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			defer func() {
				if recover() == nil {
					t.Error("New accepted invalid options")
				}
			}()
			New(&tt.opts)
		})
	}
}

func TestReadLimit(t *testing.T) {
	s := start(t, nil)
	cl := dial(t, s.URL, header(0))
	cl.next(t, 5*time.Second)
	cl.send(t, [][]byte{make([]byte, 64<<10)}) // at the limit: accepted
	if err := cl.c.Write(testCtx(t, 5*time.Second), websocket.MessageBinary, make([]byte, 64<<10+1)); err != nil {
		t.Fatal(err)
	}
	<-cl.done
	if code := websocket.CloseStatus(cl.err); code != websocket.StatusMessageTooBig {
		t.Errorf("client saw close status %d, want 1009: %v", code, cl.err)
	}
	r := waitReport(t, s, 1)
	if r.Frames != 1 || !strings.Contains(r.Err, "read limit") {
		t.Errorf("report = %s, want 1 frame and a read-limit error", r)
	}
}

// TestFaultSessionsAndMaxReports: faults hit only the first session, and
// only the last MaxReports reports are kept while every session is counted.
func TestFaultSessionsAndMaxReports(t *testing.T) {
	s := start(t, &Options{MaxReports: 2, Faults: Faults{RejectStatus: 429, Sessions: 1}})
	if _, resp, err := websocket.Dial(testCtx(t, 5*time.Second), s.URL, &websocket.DialOptions{HTTPHeader: header(0)}); err == nil || resp == nil || resp.StatusCode != 429 {
		t.Fatalf("first attempt: %v, want 429", err)
	}
	for range 3 {
		cl := dial(t, s.URL, header(0))
		cl.closeNormally(t)
	}
	reps, err := s.WaitReports(testCtx(t, 5*time.Second), 3)
	if err != nil || len(reps) != 2 || len(s.Reports()) != 2 {
		t.Fatalf("WaitReports(3) = %d reports, %v; want the last 2", len(reps), err)
	}
}

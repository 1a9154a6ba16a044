package refserver

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

func TestSarvamTranscripts(t *testing.T) {
	tests := []struct {
		name     string
		query    string
		rate     frame.Rate
		size     int      // bytes per audio message
		wantSeq  []string // each segment's messages, in order
		wantLang string
		wantProb float64
	}{
		{"plain", "language-code=hi-IN", frame.Rate16k, frame.Size,
			[]string{"data"}, "hi-IN", 1},
		{"VAD signals", "language-code=hi-IN&vad_signals=true", frame.Rate16k, frame.Size,
			[]string{"START_SPEECH", "END_SPEECH", "data"}, "hi-IN", 1},
		{"detected language, 50 ms messages", "language-code=unknown&vad_signals=false&input_audio_codec=pcm_s16le", frame.Rate16k, 1600,
			[]string{"data"}, "en-IN", detectedProbability},
		{"8 kHz", "language-code=kn-IN&sample_rate=8000&vad_signals=true", frame.Rate8k, frame.Size,
			[]string{"START_SPEECH", "END_SPEECH", "data"}, "kn-IN", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, &Options{Service: ServiceSarvam, RecordAudio: true})
			cl := dialSarvam(t, s, tt.query)
			audio := pcm(tt.rate, twoSegments...)
			cl.sendAudio(t, audio, tt.size, tt.rate)
			events := cl.until(t, "data", 2)
			cl.closeNormally(t)
			r := waitReport(t, s, 1)

			var seq []string
			var data []sdkTranscriptionData
			for _, e := range events {
				switch e.str("type") {
				case "events":
					sig := e.obj("data").str("signal_type")
					checkEvent(t, e, sig)
					seq = append(seq, sig)
				case "data":
					data = append(data, checkTranscription(t, e))
					seq = append(seq, "data")
				default:
					t.Errorf("unexpected message %v", e)
				}
			}
			if !sameOrder(seq, tt.wantSeq) {
				t.Errorf("messages = %v, want the k-th of each kind in the order %v", seq, tt.wantSeq)
			}
			frameMS := roundMS(tt.rate.FrameDuration())
			for k, want := range wantSegments {
				if k >= len(data) {
					break
				}
				d := data[k]
				dur := int(*d.Metrics.AudioDuration*1000 + 0.5)
				if min, max := want[1]-want[0], want[1]-want[0]+2*frameMS; dur < min || dur > max {
					t.Errorf("segment %d audio_duration = %v s, want %d..%d ms", k, *d.Metrics.AudioDuration, min, max)
				}
				if wantText := fmt.Sprintf("[segment %d: %d ms of speech]", k, dur); *d.Transcript != wantText {
					t.Errorf("transcript = %q, want %q", *d.Transcript, wantText)
				}
				if *d.RequestID != r.RequestID || *d.LanguageCode != tt.wantLang || *d.LanguageProbability != tt.wantProb ||
					*d.Metrics.ProcessingLatency != DefaultProcessingDelay.Seconds() {
					t.Errorf("data %+v: want request_id %s, %s with probability %v, latency %v",
						d, r.RequestID, tt.wantLang, tt.wantProb, DefaultProcessingDelay.Seconds())
				}
			}

			n := (len(audio) + tt.size - 1) / tt.size
			violations := n
			if tt.size == frame.Size {
				violations = 0
			}
			if r.Frames != n || r.Bytes != int64(len(audio)) || r.SizeViolations != violations ||
				len(r.Arrivals) != n || r.TextMessages != n || r.BadMessages != 0 || string(r.Audio) != string(audio) {
				t.Errorf("report = %s, want %d frames, %d bytes, %d violations, the audio recorded", r, n, len(audio), violations)
			}
			if r.SampleRate != tt.rate || r.CloseCode != websocket.StatusNormalClosure || r.Err != "" {
				t.Errorf("report = %s, want rate %d and a normal close", r, tt.rate)
			}
			if len(r.Segments) != 2 || !r.Segments[0].Transcribed || !r.Segments[1].Transcribed || r.Segments[0].Flushed || r.Segments[1].Flushed {
				t.Errorf("segments = %+v, want 2 transcribed", r.Segments)
			}
		})
	}
}

// sameOrder reports whether seq holds the messages of two segments, each
// one's in the order perSeg: the k-th message of each kind belongs to
// segment k, and the messages of one segment arrive in order (those of
// different segments may interleave: the audio is sent in one burst).
func sameOrder(seq, perSeg []string) bool {
	pos := map[string][]int{}
	for i, m := range seq {
		pos[m] = append(pos[m], i)
	}
	if len(seq) != 2*len(perSeg) {
		return false
	}
	for k := range 2 {
		prev := -1
		for _, m := range perSeg {
			if len(pos[m]) != 2 || pos[m][k] < prev {
				return false
			}
			prev = pos[m][k]
		}
	}
	return true
}

// TestSarvamHighVADSensitivity: with high_vad_sensitivity=true a gap of
// 300 ms, shorter than the 500 ms hangover but longer than half of it,
// separates two segments.
func TestSarvamHighVADSensitivity(t *testing.T) {
	audio := pcm(frame.Rate16k, tone(500*time.Millisecond), silence(300*time.Millisecond),
		tone(500*time.Millisecond), silence(time.Second))
	for _, tt := range []struct {
		high string
		want int
	}{{"false", 1}, {"true", 2}} {
		t.Run(tt.high, func(t *testing.T) {
			s := start(t, &Options{Service: ServiceSarvam})
			cl := dialSarvam(t, s, "language-code=hi-IN&high_vad_sensitivity="+tt.high)
			cl.sendAudio(t, audio, frame.Size, frame.Rate16k)
			cl.until(t, "data", tt.want)
			cl.closeNormally(t)
			if r := waitReport(t, s, 1); len(r.Segments) != tt.want {
				t.Errorf("segments = %+v, want %d", r.Segments, tt.want)
			}
		})
	}
}

func TestSarvamFlush(t *testing.T) {
	s := start(t, &Options{Service: ServiceSarvam})
	cl := dialSarvam(t, s, "language-code=hi-IN&vad_signals=true&flush_signal=true")
	// 0.3 s of silence, then 1 s of speech that has not ended.
	cl.sendAudio(t, pcm(frame.Rate16k, silence(300*time.Millisecond), tone(time.Second)), frame.Size, frame.Rate16k)
	checkEvent(t, cl.next(t, 5*time.Second), "START_SPEECH")
	cl.sendText(t, []byte(`{"type":"flush"}`))
	d := checkTranscription(t, cl.next(t, 5*time.Second)) // no END_SPEECH before it
	if *d.Transcript != "[segment 0: 992 ms of speech]" || *d.Metrics.AudioDuration != 0.992 {
		t.Errorf("flushed data %q, %v s; want 992 ms of speech: frames 9 to 39, the last whole one", *d.Transcript, *d.Metrics.AudioDuration)
	}
	// A flush with nothing open sends nothing; a config is only counted.
	cl.sendText(t, []byte(`{"type":"flush"}`), []byte(`{"type":"config","prompt":"names: Asha, Ravi"}`))
	cl.sync(t)
	time.Sleep(100 * time.Millisecond) // 2.5 × the processing delay
	cl.closeNormally(t)
	for e := range cl.events {
		t.Errorf("unexpected message after the flushed data: %v", e)
	}
	r := waitReport(t, s, 1)
	if r.Flushes != 2 || r.Configs != 1 || r.BadMessages != 0 || r.TextMessages != r.Frames+3 {
		t.Errorf("report = %s, want 2 flushes, 1 config, %d text messages", r, r.Frames+3)
	}
	if len(r.Segments) != 1 || !r.Segments[0].Transcribed || !r.Segments[0].Flushed || r.Segments[0].StartMS+r.Segments[0].DurationMS != 1280 {
		t.Errorf("segments = %+v, want one transcribed and flushed, ended with the 40th frame (1280 ms)", r.Segments)
	}
	if !strings.Contains(r.String(), "flushes=2 configs=1") {
		t.Errorf("String() = %q, want the flush and config counts", r)
	}
}

func TestSarvamBadMessages(t *testing.T) {
	one := make([]byte, frame.Size)
	tests := []struct {
		name       string
		query      string
		field      string // Faults.ErrorField
		binary     bool
		msg        string
		wantCode   string // "" means the message is fine
		wantInText string
	}{
		{"binary", "", "", true, "\x00\x01", "invalid_message", "binary messages are not supported"},
		{"not JSON", "", "", false, "hello", "invalid_message", "not JSON: invalid character"},
		{"cut short", "", "", false, `{"audio":{"data":"AAA=`, "invalid_message", "not JSON"},
		{"JSON array", "", "", false, "[1,2]", "invalid_message", "unknown message; send"},
		{"JSON null", "", "", false, "null", "invalid_message", "unknown message; send"},
		{"type not a string", "", "", false, `{"type":5}`, "invalid_message", "unknown message; send"},
		{"data not a string", "", "", false, `{"audio":{"data":5}}`, "invalid_message", "unknown message; send"},
		{"unknown type", "", "", false, `{"type":"finalize"}`, "invalid_message", "unknown message"},
		{"no type", "", "message", false, `{"prompt":"x"}`, "invalid_message", "unknown message"},
		{"audio without data", "", "", false, `{"audio":{"sample_rate":16000}}`, "invalid_message", "audio.data is missing"},
		{"bad base64", "", "", false, `{"audio":{"data":"AAE=A","sample_rate":16000}}`, "invalid_audio", "not standard base64"},
		{"URL-safe base64", "", "", false, `{"audio":{"data":"__8=","sample_rate":16000}}`, "invalid_audio", "not standard base64"},
		{"wrong sample_rate", "", "message", false, string(audioMsg(one, frame.Rate8k)), "invalid_sample_rate", "audio.sample_rate 8000 differs from the connection's 16000 Hz"},
		{"sample_rate not a number", "", "", false, `{"audio":{"data":"","sample_rate":"fast"}}`, "invalid_sample_rate", "differs"},
		{"flush without flush_signal", "", "", false, `{"type":"flush"}`, "flush_disabled", "flush_signal=true"},
		{"flush with flush_signal=false", "&flush_signal=false", "message", false, `{"type":"flush"}`, "flush_disabled", "flush_signal=true"},
		{"WAV at another rate", "&input_audio_codec=wav", "", false, string(audioMsg(wavFile(frame.Rate8k, one), frame.Rate16k)), "invalid_audio", "at 8000 Hz"},
		{"sample_rate as a string", "", "", false, `{"audio":{"data":"AAA=","sample_rate":"16000"}}`, "", ""},
		{"no sample_rate, no encoding", "", "", false, `{"audio":{"data":"AAA="}}`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, &Options{Service: ServiceSarvam, Faults: Faults{ErrorField: tt.field}})
			cl := dialSarvam(t, s, "language-code=hi-IN"+tt.query)
			typ := websocket.MessageText
			if tt.binary {
				typ = websocket.MessageBinary
			}
			if err := cl.c.Write(testCtx(t, 5*time.Second), typ, []byte(tt.msg)); err != nil {
				t.Fatal(err)
			}
			if tt.wantCode != "" {
				if text := checkError(t, cl.next(t, 5*time.Second), cmp.Or(tt.field, "error"), tt.wantCode); !strings.Contains(text, tt.wantInText) {
					t.Errorf("error text %q, want it to contain %q", text, tt.wantInText)
				}
			}
			// The session goes on.
			cl.sendAudio(t, one, frame.Size, frame.Rate16k)
			cl.sync(t)
			cl.closeNormally(t)
			for e := range cl.events {
				t.Errorf("unexpected message: %v", e)
			}
			r := waitReport(t, s, 1)
			wantBad, wantFrames := 1, 1
			if tt.wantCode == "" {
				wantBad, wantFrames = 0, 2
			}
			if r.BadMessages != wantBad || r.Frames != wantFrames || r.Err != "" || r.Flushes != 0 {
				t.Errorf("report = %s, want %d bad messages, %d frames, a normal close", r, wantBad, wantFrames)
			}
		})
	}
}

// wavFile returns a canonical 44-byte WAV header for 16-bit mono PCM at
// rate, then pcm.
func wavFile(rate frame.Rate, pcm []byte) []byte {
	return append(wavHeader(rate, 1, 16, uint32(len(pcm)), nil), pcm...)
}

func TestSarvamWAV(t *testing.T) {
	one := pcm(frame.Rate16k, tone(32*time.Millisecond))
	list := []byte("LIST\x05\x00\x00\x00INFOx\x00") // odd size, padded
	tests := []struct {
		name           string
		codec          string
		msg            []byte
		wantViolations int
		wantAudio      []byte
	}{
		{"canonical header", "wav", wavFile(frame.Rate16k, one), 0, one},
		{"no codec: header stripped", "", wavFile(frame.Rate16k, one), 0, one},
		{"LIST chunk first, streamed size", "wav", append(wavHeader(frame.Rate16k, 1, 16, 0xFFFFFFFF, list), one...), 0, one},
		{"raw PCM under wav", "wav", one, 0, one},
		{"pcm_s16le keeps the bytes", "pcm_s16le", wavFile(frame.Rate16k, one), 1, wavFile(frame.Rate16k, one)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, &Options{Service: ServiceSarvam, RecordAudio: true})
			q := "language-code=hi-IN"
			if tt.codec != "" {
				q += "&input_audio_codec=" + tt.codec
			}
			cl := dialSarvam(t, s, q)
			cl.sendText(t, audioMsg(tt.msg, frame.Rate16k))
			cl.closeNormally(t)
			r := waitReport(t, s, 1)
			if r.BadMessages != 0 || r.Frames != 1 || r.SizeViolations != tt.wantViolations ||
				r.Bytes != int64(len(tt.wantAudio)) || string(r.Audio) != string(tt.wantAudio) {
				t.Errorf("report = %s with %d bytes of audio, want %d bytes and %d violations",
					r, len(r.Audio), len(tt.wantAudio), tt.wantViolations)
			}
		})
	}
}

func TestSarvamIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	tests := []struct {
		name  string
		field string
		audio time.Duration // audio sent first, one message every 50 ms
	}{
		{"no audio", "", 0},
		{"after some audio", "message", time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, &Options{Service: ServiceSarvam, IdleTimeout: idle, Faults: Faults{ErrorField: tt.field}})
			cl := dialSarvam(t, s, "language-code=hi-IN")
			msg := audioMsg(make([]byte, 1600), frame.Rate16k)
			for range int(tt.audio / (50 * time.Millisecond)) {
				cl.sendText(t, msg)
				time.Sleep(50 * time.Millisecond)
			}
			text := checkError(t, cl.next(t, 10*time.Second), cmp.Or(tt.field, "error"), "idle_timeout")
			if want := "no audio received for 0.3s; the connection is closed"; text != want {
				t.Errorf("idle error %q, want %q", text, want)
			}
			select {
			case <-cl.done:
			case <-time.After(10 * time.Second):
				t.Fatal("the server did not close the idle session")
			}
			if code := websocket.CloseStatus(cl.err); code != websocket.StatusNormalClosure {
				t.Errorf("client saw close status %d, want 1000: %v", code, cl.err)
			}
			r := waitReport(t, s, 1)
			if r.CloseCode != websocket.StatusNormalClosure || !strings.Contains(r.Err, "idle: no audio received for 0.3s") {
				t.Errorf("report = %s, want close 1000 and an idle error", r)
			}
			if tt.audio > 0 && r.Frames == 0 {
				t.Errorf("report = %s, want the audio counted", r)
			}
		})
	}
}

func TestSarvamIdleDisabled(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts Options
	}{
		{"negative", Options{Service: ServiceSarvam, IdleTimeout: -1}},
		{"Vachana ignores it", Options{IdleTimeout: 100 * time.Millisecond}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, &tt.opts)
			var cl *client
			if tt.opts.Service == ServiceSarvam {
				cl = dialSarvam(t, s, "language-code=hi-IN")
			} else {
				cl = dial(t, s.URL, header(0))
				cl.next(t, 5*time.Second) // connected
			}
			time.Sleep(500 * time.Millisecond)
			cl.closeNormally(t)
			for e := range cl.events {
				t.Errorf("unexpected message: %v", e)
			}
			if r := waitReport(t, s, 1); r.Err != "" || r.CloseCode != 1000 {
				t.Errorf("report = %s, want a normal close", r)
			}
		})
	}
}

func TestSarvamReadLimit(t *testing.T) {
	s := start(t, &Options{Service: ServiceSarvam})
	cl := dialSarvam(t, s, "language-code=hi-IN")
	cl.sendText(t, audioMsg(make([]byte, 48<<10), frame.Rate16k)) // over Vachana's limit: accepted
	big := append([]byte(`{"audio":{"data":"`), make([]byte, 1<<20)...)
	if err := cl.c.Write(testCtx(t, 5*time.Second), websocket.MessageText, big); err != nil {
		t.Fatal(err)
	}
	<-cl.done
	if code := websocket.CloseStatus(cl.err); code != websocket.StatusMessageTooBig {
		t.Errorf("client saw close status %d, want 1009: %v", code, cl.err)
	}
	r := waitReport(t, s, 1)
	if r.Frames != 1 || !strings.Contains(r.Err, "1048576-byte read limit") {
		t.Errorf("report = %s, want 1 frame and a read-limit error", r)
	}
}

func TestSarvamHandlerInHTTPTest(t *testing.T) {
	s := New(&Options{Service: ServiceSarvam})
	ts := httptest.NewServer(s)
	defer ts.Close()
	defer s.Close()
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + SarvamPath + "?language-code=en-IN"
	cl := dialOpts(t, url, &websocket.DialOptions{HTTPHeader: sarvamHeader()})
	cl.closeNormally(t)
	if r := waitReport(t, s, 1); r.Service != ServiceSarvam || r.Lang != "en-IN" {
		t.Errorf("report = %+v", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+Path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("Vachana path on a Sarvam server: status %d, want 404", resp.StatusCode)
	}
	s.Close()
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+SarvamPath, nil)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), `"code":"internal_server_error"`) {
		t.Errorf("after Close: status %d, body %s; want 503 in Sarvam's error shape", resp.StatusCode, b)
	}
}

package refserver

import (
	"strings"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// steps returns arrival times starting at 0 with the given gaps in ms.
func steps(gapsMS ...float64) []time.Duration {
	a := []time.Duration{0}
	for _, g := range gapsMS {
		a = append(a, a[len(a)-1]+time.Duration(g*float64(time.Millisecond)))
	}
	return a
}

// exact returns n arrivals on the ideal schedule of rate r, from offset.
func exact(r frame.Rate, n int, offset time.Duration) []time.Duration {
	a := make([]time.Duration, n)
	for i := range a {
		a[i] = offset + r.FrameAt(int64(i))
	}
	return a
}

func repeat(gapMS float64, n int) []float64 {
	g := make([]float64, n)
	for i := range g {
		g[i] = gapMS
	}
	return g
}

func TestCadence(t *testing.T) {
	ms := time.Millisecond
	ramp := make([]float64, 100) // deviations 1..100 ms
	for i := range ramp {
		ramp[i] = 32 + float64(i+1)
	}
	tests := []struct {
		name     string
		rate     frame.Rate
		arrivals []time.Duration
		want     frame.Cadence
	}{
		{"none", frame.Rate16k, nil, frame.Cadence{}},
		{"one", frame.Rate16k, []time.Duration{0}, frame.Cadence{Frames: 1}},
		{"perfect 16 kHz", frame.Rate16k, exact(frame.Rate16k, 50, 0), frame.Cadence{Frames: 50}},
		{"perfect 44.1 kHz, not from zero", frame.Rate44k, exact(frame.Rate44k, 1000, 5*time.Second), frame.Cadence{Frames: 1000}},
		{"jitter", frame.Rate16k, steps(30, 36, 30), frame.Cadence{Frames: 4, P50: 2 * ms, P99: 4 * ms, Max: 4 * ms}},
		{"slow", frame.Rate16k, steps(repeat(33, 10)...), frame.Cadence{Frames: 11, P50: ms, P99: ms, Max: ms, Drift: 10 * ms}},
		{"fast", frame.Rate16k, steps(repeat(31, 10)...), frame.Cadence{Frames: 11, P50: ms, P99: ms, Max: ms, Drift: -10 * ms}},
		{"8 kHz burst", frame.Rate8k, steps(0, 0, 0), frame.Cadence{Frames: 4, P50: 64 * ms, P99: 64 * ms, Max: 64 * ms, Drift: -192 * ms}},
		// The 50th and 99th of deviations 1..100 ms, to 7 significant bits
		// of µs: 50 000 → 49 664, 99 000 → 98 304. Max is exact.
		{"percentiles", frame.Rate16k, steps(ramp...), frame.Cadence{Frames: 101, P50: 49664 * time.Microsecond, P99: 98304 * time.Microsecond, Max: 100 * ms, Drift: 5050 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cadence(tt.arrivals, nil, tt.rate); got != tt.want {
				t.Errorf("cadence = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReportString(t *testing.T) {
	r := Report{
		RequestID: "req_1", Lang: "hi-IN", SampleRate: frame.Rate16k,
		Frames: 100, Bytes: 102400, SizeViolations: 2,
		Cadence:   frame.Cadence{P50: time.Millisecond, P99: 3 * time.Millisecond, Max: 4 * time.Millisecond, Drift: -2 * time.Millisecond},
		Segments:  []Segment{{Transcribed: true}, {}},
		CloseCode: 1000,
		Audio:     []byte("secret audio"),
	}
	got := r.String()
	for _, want := range []string{"req_1", "frames=100", "bytes=102400", "violations=2",
		"p50=1ms", "p99=3ms", "max=4ms", "drift=-2ms", "segments=2", "transcribed=1", "close=1000"} {
		if !strings.Contains(got, want) {
			t.Errorf("String() = %q, missing %q", got, want)
		}
	}
	if strings.ContainsAny(got, "\n") || strings.Contains(got, "err=") || strings.Contains(got, "secret") {
		t.Errorf("String() = %q, want one line without err or audio", got)
	}
	r.Err = "connection broke: EOF"
	if got := r.String(); !strings.Contains(got, `err="connection broke: EOF"`) {
		t.Errorf("String() = %q, want the error", got)
	}
}

func TestReportStringSarvam(t *testing.T) {
	r := Report{
		Service: ServiceSarvam, RequestID: "ref_1", Lang: "unknown", SampleRate: frame.Rate8k,
		Params:      map[string]string{"language-code": "unknown", "mode": "codemix", "input_audio_codec": "pcm_s16le"},
		Subprotocol: "api-subscription-key.…",
		Frames:      10, Bytes: 10240, Flushes: 1, Configs: 2, BadMessages: 3, TextMessages: 16,
		Segments: []Segment{{Transcribed: true}}, CloseCode: 1000,
	}
	got := r.String()
	for _, want := range []string{"sarvam session ref_1", "lang=unknown", "rate=8000", "model=saaras:v3", "mode=codemix",
		"codec=pcm_s16le", "frames=10", "bytes=10240", "flushes=1", "configs=2", "bad_messages=3", "segments=1", "transcribed=1", "close=1000"} {
		if !strings.Contains(got, want) {
			t.Errorf("String() = %q, missing %q", got, want)
		}
	}
	if strings.Contains(got, "text_messages") || strings.Contains(got, "err=") {
		t.Errorf("String() = %q, want no text_messages (every Sarvam message is text) and no err", got)
	}
	r.BadMessages = 0
	if got := r.String(); strings.Contains(got, "bad_messages") {
		t.Errorf("String() = %q, want bad_messages only when some", got)
	}
}

// dueAfter returns the due times of chunks of s16le audio of the given
// sizes at rate r: each when the whole samples before it have played.
func dueAfter(r frame.Rate, sizes ...int) []time.Duration {
	due := make([]time.Duration, len(sizes))
	var bytes int64
	for i, n := range sizes {
		due[i] = r.D(bytes / 2)
		bytes += int64(n)
	}
	return due
}

// TestCadenceOfChunks: against due times, as for aiOla, each interval is
// judged against the audio of the chunk before it, whatever its size.
func TestCadenceOfChunks(t *testing.T) {
	ms := time.Millisecond
	sizes := func(n, size int) []int {
		s := make([]int, n)
		for i := range s {
			s[i] = size
		}
		return s
	}
	tests := []struct {
		name     string
		arrivals []time.Duration
		sizes    []int
		want     frame.Cadence
	}{
		{"4096 bytes every 128 ms", steps(repeat(128, 9)...), sizes(10, 4096), frame.Cadence{Frames: 10}},
		{"the SDKs' 8192 bytes every 256 ms", steps(repeat(256, 4)...), sizes(5, 8192), frame.Cadence{Frames: 5}},
		{"sizes that vary, each on time", steps(128, 64, 256, 32), []int{4096, 2048, 8192, 1024, 100}, frame.Cadence{Frames: 5}},
		{"half a sample left out", steps(128), []int{4097, 4096}, frame.Cadence{Frames: 2}},
		{"2 ms late each", steps(repeat(130, 10)...), sizes(11, 4096), frame.Cadence{Frames: 11, P50: 2 * ms, P99: 2 * ms, Max: 2 * ms, Drift: 20 * ms}},
		{"burst", steps(0, 0, 0), sizes(4, 4096), frame.Cadence{Frames: 4, P50: 128 * ms, P99: 128 * ms, Max: 128 * ms, Drift: -384 * ms}},
		// Chunks of 4096 bytes sent 32 ms apart, as frames would be, are
		// 96 ms early each (95 232 µs to 7 significant bits).
		{"chunks of 4096 at frame cadence", steps(repeat(32, 3)...), sizes(4, 4096), frame.Cadence{Frames: 4, P50: 95232 * time.Microsecond, P99: 95232 * time.Microsecond, Max: 96 * ms, Drift: -288 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cadence(tt.arrivals, dueAfter(frame.Rate16k, tt.sizes...), frame.Rate16k); got != tt.want {
				t.Errorf("cadence = %+v, want %+v", got, tt.want)
			}
		})
	}
}

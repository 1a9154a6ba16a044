package pipeline

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
)

// The tests of a service that flushes (Sarvam): the answer to the flush,
// transcripts that come before their segment's end, and reconnections in
// a pause the pipeline fills with silence.

// midSpeech is the first 1.5 s of the speech sample: it ends in the middle
// of segment 0, so without tail silence the detector has not ended it.
func midSpeech(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../testdata/speech-16k.s16le")
	if err != nil {
		t.Fatal(err)
	}
	return b[:16000*2*15/10]
}

// collected gathers what a Stream reported.
type collected struct {
	mu       sync.Mutex
	events   []Event
	warnings []string
}

func (c *collected) options(o *Options) *Options {
	o.OnEvent = func(ev Event) { c.events = append(c.events, ev) }
	o.OnWarning = func(err error) {
		c.mu.Lock()
		c.warnings = append(c.warnings, err.Error())
		c.mu.Unlock()
	}
	return o
}

func (c *collected) transcripts() []string {
	var out []string
	for _, ev := range c.events {
		if ev.Kind == transport.Transcript {
			out = append(out, ev.Text)
		}
	}
	return out
}

// TestSlowFlushAnswerIsAwaited: the answer to the flush comes 1.5 s after
// it, longer than the drain's settle time; speech was open, so the drain
// waits for it instead of closing without it.
func TestSlowFlushAnswerIsAwaited(t *testing.T) {
	t.Parallel()
	for _, unpaced := range []bool{false, true} {
		srv, d := refSession(t, dialects[1], &refserver.Options{ProcessingDelay: 1500 * time.Millisecond})
		var c collected
		stats, err := Stream(context.Background(), bytes.NewReader(midSpeech(t)), d, c.options(&Options{
			Unpaced: unpaced, NoTailSilence: true, NoReconnect: true,
		}))
		if err != nil || stats.Transcripts != 1 || len(c.warnings) != 0 {
			t.Fatalf("unpaced %v: %v, %d transcripts, warnings %q; want the flushed segment's transcript", unpaced, err, stats.Transcripts, c.warnings)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		reps, err := srv.WaitReports(ctx, 1)
		cancel()
		if err != nil || len(reps[0].Segments) != 1 || !reps[0].Segments[0].Transcribed {
			t.Fatalf("unpaced %v: server report %+v, %v", unpaced, reps, err)
		}
	}
}

// TestUnansweredFlushWarns: a service that never answers the flush of open
// speech costs the drain limit and a warning saying what may be missing,
// not a failure.
func TestUnansweredFlushWarns(t *testing.T) {
	t.Parallel()
	_, d := refSession(t, dialects[1], &refserver.Options{ProcessingDelay: time.Hour})
	var c collected
	_, err := Stream(context.Background(), bytes.NewReader(midSpeech(t)), d, c.options(&Options{
		Unpaced: true, NoTailSilence: true, NoReconnect: true, DrainTimeout: 500 * time.Millisecond,
	}))
	if err != nil || len(c.warnings) != 1 || !strings.Contains(c.warnings[0], "did not answer the flush") {
		t.Fatalf("Stream = %v, warnings %q; want success and one warning about the flush", err, c.warnings)
	}
}

// TestFlushAnswerConfirms: a session lost after the flush was answered is
// replaced without sending its audio again, so the transcript is not
// repeated.
func TestFlushAnswerConfirms(t *testing.T) {
	t.Parallel()
	// The flush goes at 1.5 s, its answer 40 ms later; the drop at 2 s
	// falls in the drain's settle time.
	_, d := refSession(t, dialects[1], &refserver.Options{Faults: refserver.Faults{DropAfter: 2 * time.Second, Sessions: 1}})
	var c collected
	stats, err := Stream(context.Background(), bytes.NewReader(midSpeech(t)), d, c.options(&Options{NoTailSilence: true}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.transcripts(); len(got) != 1 || stats.Sessions != 2 || stats.Replayed != 0 {
		t.Fatalf("transcripts %q in %d sessions, %d frames replayed; want one transcript, nothing replayed", got, stats.Sessions, stats.Replayed)
	}
}

// TestTranscriptBeforeSegmentEnd: a service that sends a segment's
// transcript before its end (Sarvam's data before END_SPEECH) has nothing
// outstanding: the drain ends without waiting for its limit, and the end
// carries the transcript's number.
func TestTranscriptBeforeSegmentEnd(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		for n := 0; ; n++ {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
			if n == 10 {
				for _, m := range []string{
					`{"type":"events","data":{"signal_type":"START_SPEECH"}}`,
					dialects[1].transcript,
					`{"type":"events","data":{"signal_type":"END_SPEECH"}}`,
				} {
					c.Write(ctx, websocket.MessageText, []byte(m))
				}
			}
		}
	}))
	defer ts.Close()
	d, err := dialects[1].dial("ws"+strings.TrimPrefix(ts.URL, "http"), 0)
	if err != nil {
		t.Fatal(err)
	}
	var c collected
	start := time.Now()
	stats, err := Stream(context.Background(), bytes.NewReader(make([]byte, 20*frame.Size)), d, c.options(&Options{
		Unpaced: true, NoTailSilence: true, NoReconnect: true, DrainTimeout: 20 * time.Second,
	}))
	if err != nil || stats.Transcripts != 1 || stats.Segments != 1 {
		t.Fatalf("Stream = %v, %d transcripts, %d segment ends", err, stats.Transcripts, stats.Segments)
	}
	// The drain's limit is 20 s; settling takes 0.75 s.
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("took %v: the drain waited for a transcript that had come", took)
	}
	var segs []int
	for _, ev := range c.events {
		if ev.Kind == transport.Transcript || ev.Kind == transport.SegmentEnded {
			segs = append(segs, ev.Segment)
		}
	}
	if !slices.Equal(segs, []int{0, 0}) {
		t.Fatalf("segment numbers of the transcript and its end: %v, want [0 0]", segs)
	}
}

// TestLostDuringPause: a session lost in a long pause filled with silence
// is replaced without replaying the pause: the service had ended and
// transcribed everything before it. With a replay buffer shorter than the
// pause, nothing is reported lost, nothing is transcribed twice, and the
// filler after the reconnection goes at cadence, without catching up the
// wait before it.
func TestLostDuringPause(t *testing.T) {
	if testing.Short() {
		t.Skip("paced stream of 14 s")
	}
	t.Parallel()
	speech, err := os.ReadFile("../testdata/speech-16k.s16le")
	if err != nil {
		t.Fatal(err)
	}
	in := speech[:16000*2*4] // segment 0 (0.30–2.06 s), and segment 1 from 3.17 s
	srv, d := refSession(t, dialects[1], &refserver.Options{Faults: refserver.Faults{DropAfter: 9 * time.Second, Sessions: 1}})
	d = keepAliveDialer{d, time.Second}
	// The input pauses at 3.5 s, inside segment 1, for 10 s: its end and
	// transcript come with the filler, which runs from 4.5 s.
	cut := 16000 * 2 * 35 / 10
	r := &pausingReader{first: bytes.NewReader(in[:cut]), rest: bytes.NewReader(in[cut:]), pause: 10 * time.Second}
	var c collected
	stats, err := Stream(context.Background(), r, d, c.options(&Options{ReadAhead: 4, Replay: 3 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	if stats.Sessions != 2 || stats.GivenUp != 0 || slices.ContainsFunc(c.warnings, func(w string) bool { return strings.Contains(w, "AUDIO LOST") }) {
		t.Fatalf("%d sessions, %d frames given up, warnings %q", stats.Sessions, stats.GivenUp, c.warnings)
	}
	// At the drop the filler had run 5 s: the service had ended segment
	// 1 (1 s of silence) and transcribed it; only frames it may not have
	// read are sent again.
	if replayed := frame.Rate16k.FrameAt(stats.Replayed); replayed > 500*time.Millisecond {
		t.Errorf("%v replayed: the pause was sent again", replayed)
	}
	if got := c.transcripts(); len(got) != 3 { // segment 0, the part of segment 1 before the pause, the rest after it
		t.Errorf("transcripts %q", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reps, err := srv.WaitReports(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	// After the reconnection the input is still paused: the filler
	// resumes after the keep-alive, at cadence (see TestKeepAlive).
	checkWaitKept(t, reps[1].Arrivals, time.Second)
}

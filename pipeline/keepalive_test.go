package pipeline

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
)

// keepAliveDialer asks for a keep-alive of its own, shorter than the
// dialect's, so a test need not pause its input for seconds.
type keepAliveDialer struct {
	transport.Dialer
	keepAlive time.Duration
}

func (d keepAliveDialer) Audio() transport.Audio {
	a := d.Dialer.Audio()
	a.KeepAlive = d.keepAlive
	return a
}

// pausingReader gives first, then nothing for pause, then rest.
type pausingReader struct {
	first, rest *bytes.Reader
	pause       time.Duration
	paused      bool
}

func (r *pausingReader) Read(p []byte) (int, error) {
	if r.first.Len() > 0 {
		return r.first.Read(p)
	}
	if !r.paused {
		r.paused = true
		time.Sleep(r.pause)
	}
	return r.rest.Read(p)
}

// TestKeepAlive pauses a live input for 3.5 s, before the second segment. With
// a keep-alive of 1 s the session is fed silence from then on, at cadence
// (the second of waiting is not caught up at twice the rate), so a server
// that closes sessions after 2 s without audio keeps it open; the audio
// after the pause follows at cadence, not in a burst, and every segment is
// transcribed in one session. Without a keep-alive (Vachana's and
// aiOla's case) nothing is inserted.
func TestKeepAlive(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("paced stream of 7 s")
	}
	speech, err := os.ReadFile("../testdata/speech-16k.s16le")
	if err != nil {
		t.Fatal(err)
	}
	in := speech[:16000*2*4] // segment 0 ends at 2.06 s; segment 1 starts at 3.17 s
	const pause = 3500 * time.Millisecond
	for _, tt := range []struct {
		dl        dialect
		keepAlive time.Duration
	}{
		{dialects[1], time.Second}, // sarvam, whose server closes idle sessions
		{dialects[0], 0},           // vachana: pings keep it open
		{dialects[2], 0},           // aiola: Socket.IO's pings keep it open
	} {
		t.Run(tt.dl.name, func(t *testing.T) {
			t.Parallel()
			testKeepAlive(t, tt.dl, tt.keepAlive, in, pause)
		})
	}
}

func testKeepAlive(t *testing.T, dl dialect, keepAlive time.Duration, in []byte, pause time.Duration) {
	srv, d := refSession(t, dl, &refserver.Options{IdleTimeout: 2 * time.Second})
	if keepAlive > 0 {
		d = keepAliveDialer{d, keepAlive}
	}
	r := &pausingReader{first: bytes.NewReader(in[:16000*2*3]), rest: bytes.NewReader(in[16000*2*3:]), pause: pause}
	var transcripts []string
	stats, err := Stream(context.Background(), r, d, &Options{
		NoReconnect: true,
		ReadAhead:   4, // the pause empties the queue at once
		OnEvent: func(ev Event) {
			if ev.Kind == transport.Transcript {
				transcripts = append(transcripts, ev.Text)
			}
		},
	})
	if err != nil {
		t.Fatalf("keep-alive %v: %v", keepAlive, err)
	}
	if len(transcripts) != 2 || stats.Sessions != 1 {
		t.Errorf("transcripts %q in %d sessions, want 2 in one", transcripts, stats.Sessions)
	}
	if keepAlive == 0 {
		if stats.Filler != 0 {
			t.Errorf("without keep-alive: %d filler frames", stats.Filler)
		}
		return
	}
	// The filler runs from the keep-alive's end until the input
	// resumes.
	want := frame.Rate16k.FramesIn(pause - keepAlive)
	if stats.Filler < want/2 || stats.Filler > want+10 {
		t.Errorf("%d filler frames, want about %d", stats.Filler, want)
	}
	if !strings.Contains(stats.String(), "filler:") {
		t.Errorf("stats do not report the filler:\n%s", stats)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	reps, err := srv.WaitReports(ctx, 1)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	rep := reps[0]
	if rep.Err != "" || int64(rep.Frames) != stats.Frames {
		t.Errorf("server: %q, %d frames; the client sent %d", rep.Err, rep.Frames, stats.Frames)
	}
	checkNoBurst(t, rep.Arrivals)
	checkWaitKept(t, rep.Arrivals, keepAlive)
}

// checkWaitKept fails if frames that arrived at cadence around a wait of
// keepAlive with nothing sent (before the filler) span less than their
// periods and half that wait: a pacer that did not postpone its schedule
// for the filler would make up the wait, sending its frames half a period
// apart. A busy machine's lateness only lengthens the span (counting short
// intervals instead flaked: catching up after a late wake-up makes them
// too).
func checkWaitKept(t *testing.T, arr []time.Duration, keepAlive time.Duration) {
	t.Helper()
	if len(arr) < 2 {
		t.Fatalf("%d frames arrived", len(arr))
	}
	span, want := arr[len(arr)-1]-arr[0], time.Duration(len(arr)-1)*frame.Rate16k.FrameDuration()+keepAlive/2
	t.Logf("%d frames over %v; at least %v if the wait before the filler was kept", len(arr), span, want)
	if span < want {
		t.Errorf("%d frames arrived over %v, less than %v: the wait before the filler was caught up", len(arr), span, want)
	}
}

// checkNoBurst fails if seventeen consecutive frames arrived within two
// frame periods: paced frames, even catching up, are at least half a
// period apart (see TestReconnectReplay for the margin).
func checkNoBurst(t *testing.T, arr []time.Duration) {
	t.Helper()
	period := frame.Rate16k.FrameDuration()
	for i := 16; i < len(arr); i++ {
		if arr[i]-arr[i-16] < 2*period {
			t.Errorf("frames %d..%d arrived within %v: a burst", i-16, i, arr[i]-arr[i-16])
			return
		}
	}
}

// TestFlushDeliversTheOpenSegment: input that ends in speech, with no tail
// silence, leaves a segment the detector has not ended; Sarvam's Finish
// (the flush) makes the service transcribe it, and the drain delivers that
// transcript, which comes without a segment end.
func TestFlushDeliversTheOpenSegment(t *testing.T) {
	speech, err := os.ReadFile("../testdata/speech-16k.s16le")
	if err != nil {
		t.Fatal(err)
	}
	in := speech[:16000*2*15/10] // 1.5 s: in the middle of segment 0
	srv, d := refSession(t, dialects[1], nil)
	var got []Event
	stats, err := Stream(context.Background(), bytes.NewReader(in), d, &Options{
		Unpaced: true, NoTailSilence: true, NoReconnect: true,
		OnEvent: func(ev Event) { got = append(got, ev) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if kinds := segmentKinds(got); stats.Transcripts != 1 || stats.Segments != 0 || kinds != "[transcript]" {
		t.Fatalf("%d transcripts, %d segment ends, events %v", stats.Transcripts, stats.Segments, kinds)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reps, err := srv.WaitReports(ctx, 1)
	if err != nil || reps[0].Flushes != 1 || reps[0].CloseCode != 1000 {
		t.Fatalf("reports %+v, %v; want one flush and a normal close", reps, err)
	}
}

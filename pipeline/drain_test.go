package pipeline

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
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

// oneSegment returns 1 s of loud noise followed by 1 s of silence at 16 kHz:
// one segment for the reference server.
func oneSegment() []byte {
	n := int(frame.Rate16k.FramesIn(time.Second))
	out := make([]byte, 2*n*frame.Size)
	for i := range n * frame.Size / 2 {
		out[2*i+1] = byte(0x40 ^ (2 * i & 0x80))
	}
	return out
}

// TestDrainWaitsForTranscripts: the transcript comes 400 ms after the
// segment's end; the run waits for it before closing normally.
func TestDrainWaitsForTranscripts(t *testing.T) { forDialectsParallel(t, testDrainWaitsForTranscripts) }

func testDrainWaitsForTranscripts(t *testing.T, dl dialect) {
	srv, d := refSession(t, dl, &refserver.Options{ProcessingDelay: 400 * time.Millisecond})
	var got []Event
	stats, err := Stream(context.Background(), bytes.NewReader(oneSegment()), d, &Options{
		Unpaced: true, NoTailSilence: true, NoReconnect: true,
		OnEvent: func(ev Event) { got = append(got, ev) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if kinds := segmentKinds(got); stats.Transcripts != 1 || kinds != "[segment ended transcript]" {
		t.Fatalf("%d transcripts, events %v", stats.Transcripts, kinds)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reps, err := srv.WaitReports(ctx, 1)
	if err != nil || reps[0].CloseCode != 1000 {
		t.Fatalf("reports %v, %v; want a normal close", reps, err)
	}
}

func TestDrainLimit(t *testing.T) { forDialects(t, testDrainLimit) }

func testDrainLimit(t *testing.T, dl dialect) {
	_, d := refSession(t, dl, &refserver.Options{ProcessingDelay: time.Hour})
	_, err := Stream(context.Background(), bytes.NewReader(oneSegment()), d, &Options{
		Unpaced: true, NoTailSilence: true, NoReconnect: true, DrainTimeout: 300 * time.Millisecond,
	})
	var me *MissingTranscriptsError
	if !errors.As(err, &me) || me.Missing != 1 || !strings.Contains(err.Error(), "-drain-timeout") {
		t.Fatalf("Stream = %v, want 1 transcript missing", err)
	}
}

// TestDrainSessionLost: a session lost during the drain, with nothing to
// replay it to, ends the run with the loss.
func TestDrainSessionLost(t *testing.T) { forDialects(t, testDrainSessionLost) }

func testDrainSessionLost(t *testing.T, dl dialect) {
	_, d := refSession(t, dl, &refserver.Options{ProcessingDelay: time.Hour, Faults: refserver.Faults{DropAfterFrames: 60}})
	_, err := Stream(context.Background(), bytes.NewReader(oneSegment()), d, &Options{
		Unpaced: true, NoTailSilence: true, NoReconnect: true,
	})
	var ce *transport.ClosedError
	if !errors.As(err, &ce) || ce.Code != -1 {
		t.Fatalf("Stream = %v, want the lost connection", err)
	}
}

// lateServer speaks dl: it answers pings at once but sends a segment's end
// 300 ms after the 10th message and the transcript 50 ms later, then, if
// closeAfter, closes the session normally itself.
func lateServer(t *testing.T, dl dialect, closeAfter bool) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		if dl.greeting != "" {
			c.Write(ctx, websocket.MessageText, []byte(dl.greeting))
		}
		done := make(chan struct{})
		frames := 0
		for {
			_, _, err := c.Read(ctx)
			if err != nil {
				break
			}
			if frames++; frames == 10 {
				go func() {
					defer close(done)
					time.Sleep(300 * time.Millisecond)
					c.Write(ctx, websocket.MessageText, []byte(dl.segmentEnd))
					time.Sleep(50 * time.Millisecond)
					c.Write(ctx, websocket.MessageText, []byte(dl.transcript))
					if closeAfter {
						c.Close(websocket.StatusNormalClosure, "")
					}
				}()
			}
		}
		if frames >= 10 {
			<-done
		}
	}))
	t.Cleanup(ts.Close)
	return "ws" + strings.TrimPrefix(ts.URL, "http")
}

// TestDrainWaitsForALateProcessing: a pong does not prove the detector has
// finished; the drain waits for segment ends that come shortly after. A
// server that closes normally before the drain settled, with nothing
// outstanding, is accepted with a warning when there is no new session to
// replay to.
func TestDrainWaitsForALateProcessing(t *testing.T) {
	forDialectsParallel(t, testDrainWaitsForALateSegmentEnd)
}

func testDrainWaitsForALateSegmentEnd(t *testing.T, dl dialect) {
	for _, closeAfter := range []bool{false, true} {
		d, err := dl.dial(lateServer(t, dl, closeAfter), 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []Event
		var mu sync.Mutex
		var warnings []string
		_, err = Stream(context.Background(), bytes.NewReader(make([]byte, 10*frame.Size)), d, &Options{
			Unpaced: true, NoTailSilence: true, NoReconnect: true,
			OnEvent: func(ev Event) { got = append(got, ev) },
			OnWarning: func(err error) {
				mu.Lock()
				warnings = append(warnings, err.Error())
				mu.Unlock()
			},
		})
		if err != nil {
			t.Fatalf("close after %v: Stream = %v", closeAfter, err)
		}
		if kinds := segmentKinds(got); kinds != "[segment ended transcript]" {
			t.Fatalf("close after %v: events %v", closeAfter, kinds)
		}
		settled := !slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, "before the drain settled") })
		if settled == closeAfter {
			t.Fatalf("close after %v: warnings %q", closeAfter, warnings)
		}
	}
}

package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
	"github.com/vachana-pipe/vachana-pipe/transport/vachana"
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
func TestDrainWaitsForTranscripts(t *testing.T) {
	srv, d := refSession(t, &refserver.Options{ProcessingDelay: 400 * time.Millisecond})
	var got []string
	stats, err := Stream(context.Background(), bytes.NewReader(oneSegment()), d, &Options{
		Unpaced: true, NoTailSilence: true, NoReconnect: true,
		OnEvent: func(ev Event) { got = append(got, ev.Type) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Transcripts != 1 || fmt.Sprint(got) != "[connected processing transcript]" {
		t.Fatalf("%d transcripts, events %v", stats.Transcripts, got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reps, err := srv.WaitReports(ctx, 1)
	if err != nil || reps[0].CloseCode != 1000 {
		t.Fatalf("reports %v, %v; want a normal close", reps, err)
	}
}

func TestDrainLimit(t *testing.T) {
	_, d := refSession(t, &refserver.Options{ProcessingDelay: time.Hour})
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
func TestDrainSessionLost(t *testing.T) {
	_, d := refSession(t, &refserver.Options{ProcessingDelay: time.Hour, Faults: refserver.Faults{DropAfterFrames: 60}})
	_, err := Stream(context.Background(), bytes.NewReader(oneSegment()), d, &Options{
		Unpaced: true, NoTailSilence: true, NoReconnect: true,
	})
	var ce *transport.ClosedError
	if !errors.As(err, &ce) || ce.Code != -1 {
		t.Fatalf("Stream = %v, want the lost connection", err)
	}
}

// lateServer answers pings at once but sends processing 300 ms after the
// 10th frame and the transcript 50 ms later, then, if closeAfter, closes
// the session normally itself.
func lateServer(t *testing.T, closeAfter bool) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		c.Write(ctx, websocket.MessageText, []byte(`{"type":"connected"}`))
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
					c.Write(ctx, websocket.MessageText, []byte(`{"type":"processing"}`))
					time.Sleep(50 * time.Millisecond)
					c.Write(ctx, websocket.MessageText, []byte(`{"type":"transcript","text":"late"}`))
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
	for _, closeAfter := range []bool{false, true} {
		d, err := vachana.NewDialer(vachana.Config{URL: lateServer(t, closeAfter), APIKey: "k"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		var mu sync.Mutex
		var warnings []string
		_, err = Stream(context.Background(), bytes.NewReader(make([]byte, 10*frame.Size)), d, &Options{
			Unpaced: true, NoTailSilence: true, NoReconnect: true,
			OnEvent: func(ev Event) { got = append(got, ev.Type) },
			OnWarning: func(err error) {
				mu.Lock()
				warnings = append(warnings, err.Error())
				mu.Unlock()
			},
		})
		if err != nil {
			t.Fatalf("close after %v: Stream = %v", closeAfter, err)
		}
		if fmt.Sprint(got) != "[connected processing transcript]" {
			t.Fatalf("close after %v: events %v", closeAfter, got)
		}
		settled := !slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, "before the drain settled") })
		if settled == closeAfter {
			t.Fatalf("close after %v: warnings %q", closeAfter, warnings)
		}
	}
}

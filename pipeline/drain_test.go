package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
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
	"github.com/vachana-pipe/vachana-pipe/transport/socketio"
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

// TestDrainWaitsForTranscripts: the transcript comes 2 s after the
// segment's end, longer than the drain settles for; the run waits for it
// (for aiOla, which sends no segment ends, because it awaits one for the
// utterance it sent) before closing normally.
func TestDrainWaitsForTranscripts(t *testing.T) { forDialectsParallel(t, testDrainWaitsForTranscripts) }

func testDrainWaitsForTranscripts(t *testing.T, dl dialect) {
	srv, d := refSession(t, dl, &refserver.Options{ProcessingDelay: 2 * time.Second})
	var got []Event
	stats, err := Stream(context.Background(), bytes.NewReader(oneSegment()), d, &Options{
		Unpaced: true, NoTailSilence: true, NoReconnect: true,
		OnEvent: func(ev Event) { got = append(got, ev) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if kinds, want := segmentKinds(got), dl.segmentEvents(1); stats.Transcripts != 1 || kinds != want {
		t.Fatalf("%d transcripts, events %v; want 1, %v", stats.Transcripts, kinds, want)
	}
	if want := min(1, len(dl.segmentEnd)); stats.Segments != want {
		t.Fatalf("%d segment ends counted, want %d", stats.Segments, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reps, err := srv.WaitReports(ctx, 1)
	if err != nil || reps[0].CloseCode != 1000 || reps[0].Err != "" {
		t.Fatalf("reports %v, %v; want a normal close", reps, err)
	}
	if dl.service == refserver.ServiceAiola && !reps[0].Disconnected {
		t.Fatalf("report %v: the client did not leave the namespace", reps[0])
	}
}

// TestDrainLimit: a transcript that never comes costs the drain its
// limit. With a segment end it is missing: an error. Without (aiOla) the
// utterance detected may have been noise: a warning that says so.
func TestDrainLimit(t *testing.T) { forDialects(t, testDrainLimit) }

func testDrainLimit(t *testing.T, dl dialect) {
	_, d := refSession(t, dl, &refserver.Options{ProcessingDelay: time.Hour})
	var warnings []string
	var mu sync.Mutex
	start := time.Now()
	_, err := Stream(context.Background(), bytes.NewReader(oneSegment()), d, &Options{
		Unpaced: true, NoTailSilence: true, NoReconnect: true, DrainTimeout: 300 * time.Millisecond,
		OnWarning: func(err error) {
			mu.Lock()
			warnings = append(warnings, err.Error())
			mu.Unlock()
		},
	})
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Fatalf("Stream returned after %v, before the drain's limit", took)
	}
	if dl.segmentEnd == "" {
		if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "1 transcript(s) did not come within") {
			t.Fatalf("Stream = %v, warnings %q; want success and a warning of 1 transcript missing", err, warnings)
		}
		return
	}
	var me *MissingTranscriptsError
	if !errors.As(err, &me) || me.Missing != 1 || !strings.Contains(err.Error(), "-drain-timeout") {
		t.Fatalf("Stream = %v, want 1 transcript missing", err)
	}
}

// TestDrainSessionLost: a session lost during the drain, with nothing to
// replay it to, ends the run with the loss.
func TestDrainSessionLost(t *testing.T) { forDialects(t, testDrainSessionLost) }

func testDrainSessionLost(t *testing.T, dl dialect) {
	_, d := refSession(t, dl, &refserver.Options{ProcessingDelay: time.Hour, Faults: refserver.Faults{DropAfterFrames: dl.count(60)}})
	_, err := Stream(context.Background(), bytes.NewReader(oneSegment()), d, &Options{
		Unpaced: true, NoTailSilence: true, NoReconnect: true,
	})
	var ce *transport.ClosedError
	if !errors.As(err, &ce) || ce.Code != -1 {
		t.Fatalf("Stream = %v, want the lost connection", err)
	}
}

// TestDrainSessionReplaced: a session lost while the drain awaits the
// transcript (it comes 1 s after the segment's end; the session is lost
// 0.5 s after it opened, all the audio sent) is replaced, the audio
// replayed, and the transcript then comes once, from the new session.
func TestDrainSessionReplaced(t *testing.T) { forDialectsParallel(t, testDrainSessionReplaced) }

func testDrainSessionReplaced(t *testing.T, dl dialect) {
	srv, d := refSession(t, dl, &refserver.Options{ProcessingDelay: time.Second, Faults: refserver.Faults{DropAfter: 500 * time.Millisecond, Sessions: 1}})
	var got []Event
	stats, err := Stream(context.Background(), bytes.NewReader(oneSegment()), d, &Options{
		Unpaced: true, NoTailSilence: true,
		OnEvent: func(ev Event) { got = append(got, ev) },
	})
	if err != nil {
		t.Fatal(err)
	}
	var sessions []int
	for _, ev := range got {
		if ev.Kind == transport.Transcript {
			sessions = append(sessions, ev.Session)
		}
	}
	if stats.Transcripts != 1 || stats.Sessions != 2 || !slices.Equal(sessions, []int{2}) {
		t.Fatalf("%d transcripts in %d sessions, from sessions %v; want one, from session 2", stats.Transcripts, stats.Sessions, sessions)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reps, err := srv.WaitReports(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	// The first session had all the audio before it was lost: the drain,
	// not the sending, met the loss.
	if n := reps[0].Bytes / frame.Size; n != stats.Frames || reps[0].Err == "" {
		t.Fatalf("session 1: %d frames, %q; want all %d, then lost", n, reps[0].Err, stats.Frames)
	}
	if len(reps[1].Segments) != 1 || !reps[1].Segments[0].Transcribed || reps[1].CloseCode != 1000 {
		t.Fatalf("session 2: %v; want the segment transcribed and a normal close", reps[1])
	}
}

// lateServer speaks dl: it answers pings at once but sends a segment's end
// 300 ms after the 10th frame and the transcript 50 ms later (aiOla: the
// transcript alone, 350 ms after the chunk that holds the 10th frame),
// then, if closeAfter, closes the session normally itself. It returns its
// http:// base.
func lateServer(t *testing.T, dl dialect, closeAfter bool) string {
	t.Helper()
	var auth *refserver.Server // aiOla's token endpoints
	if dl.service == refserver.ServiceAiola {
		auth = refserver.New(&refserver.Options{Service: dl.service})
		t.Cleanup(auth.Close)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if auth != nil && !strings.HasPrefix(r.URL.Path, dl.path) {
			auth.ServeHTTP(w, r)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		if dl.greeting != "" {
			c.Write(ctx, websocket.MessageText, []byte(dl.greeting))
		}
		if auth != nil {
			c.Write(ctx, websocket.MessageText, engineOpen)
		}
		done := make(chan struct{})
		frames := 0 // audio messages
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				break
			}
			if auth != nil {
				if string(msg) == "40"+refserver.AiolaNamespace+"," {
					c.Write(ctx, websocket.MessageText, []byte(`40`+refserver.AiolaNamespace+`,{"sid":"test"}`))
				}
				if typ != websocket.MessageBinary {
					continue // the binary_data packet is followed by its attachment, the audio
				}
			}
			if frames++; frames == dl.count(10) {
				go func() {
					defer close(done)
					time.Sleep(300 * time.Millisecond)
					if dl.segmentEnd != "" {
						c.Write(ctx, websocket.MessageText, []byte(dl.segmentEnd))
					}
					time.Sleep(50 * time.Millisecond)
					c.Write(ctx, websocket.MessageText, []byte(dl.transcript))
					if closeAfter {
						if dl.service == refserver.ServiceAiola {
							// As socket.io's disconnect(true): the
							// namespace's DISCONNECT, then the close.
							c.Write(ctx, websocket.MessageText, []byte("41/events,"))
						}
						c.Close(websocket.StatusNormalClosure, "")
					}
				}()
			}
		}
		if frames >= dl.count(10) {
			<-done
		}
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

// engineOpen is the Engine.IO OPEN packet of the tests' own Socket.IO
// servers.
var engineOpen = func() []byte {
	b, _ := json.Marshal(socketio.Handshake{SID: "test", Upgrades: []string{}, PingInterval: 25000, PingTimeout: 20000, MaxPayload: 1_000_000})
	return append([]byte{socketio.EngineOpen}, b...)
}()

// TestDrainWaitsForALateProcessing: a pong does not prove the detector has
// finished; the drain waits for segment ends (aiOla: transcripts) that
// come shortly after. A server that closes normally before the drain
// settled, with nothing outstanding, is accepted with a warning when there
// is no new session to replay to.
func TestDrainWaitsForALateProcessing(t *testing.T) {
	forDialectsParallel(t, testDrainWaitsForALateSegmentEnd)
}

func testDrainWaitsForALateSegmentEnd(t *testing.T, dl dialect) {
	for _, closeAfter := range []bool{false, true} {
		d, err := dl.dial(dl.target(lateServer(t, dl, closeAfter)), 0)
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
		if kinds, want := segmentKinds(got), dl.segmentEvents(1); kinds != want {
			t.Fatalf("close after %v: events %v", closeAfter, kinds)
		}
		settled := !slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, "before the drain settled") })
		if settled == closeAfter {
			t.Fatalf("close after %v: warnings %q", closeAfter, warnings)
		}
	}
}

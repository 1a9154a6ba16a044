package refserver

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/socketio"
)

func TestAiolaFaultDrop(t *testing.T) {
	for _, tt := range []struct {
		name   string
		faults Faults
		frames int
	}{
		{"after frames", Faults{DropAfterFrames: 3}, 3},
		{"after time", Faults{DropAfter: 100 * time.Millisecond}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := startAiola(t, Options{Faults: tt.faults})
			jwt, _ := aiolaGrant(t, s)
			cl := dialAiola(t, s, jwt, aiolaQuery(jwt))
			cl.sendAudio(t, make([]byte, tt.frames*frame.Size), frame.Size)
			select {
			case <-cl.done:
			case <-time.After(5 * time.Second):
				t.Fatal("the connection was not dropped")
			}
			var ce *transport.ClosedError
			if !errors.As(cl.err, &ce) || ce.Code != -1 {
				t.Errorf("reader ended with %v, want a ClosedError without a close status", cl.err)
			}
			r := waitReport(t, s, 1)
			if r.Frames != tt.frames || r.CloseCode != -1 || !strings.Contains(r.Err, "fault: dropped") || r.Disconnected {
				t.Errorf("report = %s, want %d frames and a drop", r, tt.frames)
			}
		})
	}
}

func TestAiolaFaultErrorEvent(t *testing.T) {
	for _, tt := range []struct {
		name    string
		faults  Faults
		wantMsg string
	}{
		{"recoverable", Faults{ErrorAfterFrames: 2}, "reference server: injected error"},
		{"fatal", Faults{ErrorAfterFrames: 2, ErrorMessage: "boom", CloseAfterError: true}, "boom"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := startAiola(t, Options{Faults: tt.faults})
			jwt, _ := aiolaGrant(t, s)
			cl := dialAiola(t, s, jwt, aiolaQuery(jwt))
			cl.sendAudio(t, make([]byte, 2*frame.Size), frame.Size)
			code, msg := aiolaErrorEventOf(t, cl.next(t, 5*time.Second))
			if code != "INJECTED_ERROR" || msg != tt.wantMsg {
				t.Errorf("error %s %q, want INJECTED_ERROR %q", code, msg, tt.wantMsg)
			}
			if !tt.faults.CloseAfterError {
				cl.disconnect(t)
				if r := waitReport(t, s, 1); r.Err != "" || !r.Disconnected {
					t.Errorf("report = %s, want a normal end after a recoverable error", r)
				}
				return
			}
			<-cl.done
			var ce *transport.ClosedError
			if !errors.As(cl.err, &ce) || ce.Code != int(websocket.StatusInternalError) {
				t.Errorf("reader ended with %v, want close 1011", cl.err)
			}
			if r := waitReport(t, s, 1); r.CloseCode != websocket.StatusInternalError || !strings.Contains(r.Err, "fault: closed with status 1011") {
				t.Errorf("report = %s, want close 1011", r)
			}
		})
	}
}

// TestAiolaFaultStall: a stalled server stops reading and pinging; our
// client takes its silence for a dead server.
func TestAiolaFaultStall(t *testing.T) {
	s := startAiola(t, Options{PingInterval: 100 * time.Millisecond, PingTimeout: 100 * time.Millisecond, Faults: Faults{StallAfterFrames: 2}})
	jwt, _ := aiolaGrant(t, s)
	cl := dialAiola(t, s, jwt, aiolaQuery(jwt))
	cl.sendAudio(t, make([]byte, 2*frame.Size), frame.Size)
	select {
	case <-cl.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the client did not notice the stalled server")
	}
	if !errors.Is(cl.err, socketio.ErrServerSilent) {
		t.Errorf("reader ended with %v, want ErrServerSilent", cl.err)
	}
	if len(s.Reports()) != 0 {
		t.Fatal("the stalled session ended before Close")
	}
	s.Close()
	if r := waitReport(t, s, 1); r.Frames != 2 || !strings.Contains(r.Err, "stopped reading after 2 frames") {
		t.Errorf("report = %s, want a stall after 2 frames", r)
	}
}

func TestAiolaFaultSend(t *testing.T) {
	s := startAiola(t, Options{Faults: Faults{SendAfterFrames: 1, Send: []byte(`42/events,["surprise",{"n":1}]`)}})
	jwt, _ := aiolaGrant(t, s)
	cl := dialAiola(t, s, jwt, aiolaQuery(jwt))
	cl.sendAudio(t, make([]byte, frame.Size), frame.Size)
	if ev := cl.next(t, 5*time.Second); ev.Name != "surprise" || string(ev.Args) != `[{"n":1}]` {
		t.Errorf("event %s %s, want the injected surprise", ev.Name, ev.Args)
	}
	cl.disconnect(t)

	s = startAiola(t, Options{Faults: Faults{SendAfterFrames: 1, Send: []byte(`4{not a packet`)}})
	jwt, _ = aiolaGrant(t, s)
	cl = dialAiola(t, s, jwt, aiolaQuery(jwt))
	cl.sendAudio(t, make([]byte, frame.Size), frame.Size)
	select {
	case err := <-cl.malformed:
		var me *transport.MalformedError
		if !errors.As(err, &me) || string(me.Raw) != `4{not a packet` {
			t.Errorf("malformed %v, want the injected text", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the injected packet did not arrive")
	}
	cl.disconnect(t)
}

func TestAiolaFaultReject(t *testing.T) {
	for _, st := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		s := startAiola(t, Options{Faults: Faults{RejectStatus: st, Sessions: 1}})
		jwt, _ := aiolaGrant(t, s) // the token endpoints are not faulted
		q := aiolaQuery(jwt)
		q.Set("EIO", "4")
		q.Set("transport", "websocket")
		req, _ := http.NewRequestWithContext(testCtx(t, 5*time.Second), http.MethodGet, s.BaseURL+AiolaPath+"/?"+q.Encode(), nil)
		req.Header = aiolaHeader(jwt)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != st || (st == 429) != (resp.Header.Get("Retry-After") == "1") {
			t.Errorf("status %d, Retry-After %q; want %d", resp.StatusCode, resp.Header.Get("Retry-After"), st)
		}
		// Sessions: 1 — the next attempt meets a healthy server.
		cl := dialAiola(t, s, jwt, aiolaQuery(jwt))
		cl.disconnect(t)
		if r := waitReport(t, s, 1); r.Err != "" {
			t.Errorf("report = %s, want a clean second session", r)
		}
	}
}

func TestAiolaFaultNoConnected(t *testing.T) {
	s := startAiola(t, Options{PingInterval: 100 * time.Millisecond, Faults: Faults{NoConnected: true}})
	jwt, _ := aiolaGrant(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if c, err := dialAiolaErr(ctx, s, AiolaNamespace, jwt, aiolaQuery(jwt)); err == nil {
		c.CloseNow()
		t.Fatal("Dial succeeded, want it to wait for the namespace's answer")
	} else if !strings.Contains(err.Error(), "the server to accept namespace /events") {
		t.Errorf("Dial: %v, want it waiting for the namespace", err)
	}
	// The OPEN packet and the pings still come.
	r := dialRaw(t, s, jwt, aiolaQuery(jwt))
	if open := r.next(t, 5*time.Second); !strings.HasPrefix(open, "0{") {
		t.Fatalf("first message %q, want OPEN", open)
	}
	r.write(t, "40/events,")
	select {
	case m := <-r.msgs:
		if string(m.p) != "2" {
			t.Errorf("message %q, want only pings", m.p)
		}
		r.write(t, "3")
	case <-time.After(5 * time.Second):
		t.Fatal("no ping")
	}
	r.c.Close(websocket.StatusNormalClosure, "")
	reps, err := s.WaitReports(testCtx(t, 5*time.Second), 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, rep := range reps {
		if rep.Disconnected {
			t.Errorf("report = %s: no namespace was joined", rep)
		}
	}
}

func TestAiolaCloseLeavesNoGoroutines(t *testing.T) {
	check := leakCheck(t)
	s, err := Start(&Options{Service: ServiceAiola, ProcessingDelay: time.Hour, PingInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	jwt, _ := aiolaGrant(t, s)
	pending := dialAiola(t, s, jwt, aiolaQuery(jwt))
	pending.sendAudio(t, pcm(frame.Rate16k, tone(200*time.Millisecond), silence(time.Second)), frame.Size)
	pending.sync(t)
	idle := dialAiola(t, s, jwt, aiolaQuery(jwt))
	time.Sleep(120 * time.Millisecond) // a ping or two
	s.Close()
	for _, cl := range []*aiolaClient{pending, idle} {
		cl.c.CloseNow()
		<-cl.done
	}
	reports := s.Reports()
	if len(reports) != 2 {
		t.Fatalf("%d reports after Close, want 2", len(reports))
	}
	for _, r := range reports {
		if !strings.Contains(r.Err, "server closed") || r.Pongs == 0 {
			t.Errorf("report = %s, want it ended by Close after some pongs", r)
		}
	}
	http.DefaultClient.CloseIdleConnections()
	check()
}

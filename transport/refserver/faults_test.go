package refserver

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

func TestFaultDrop(t *testing.T) {
	tests := []struct {
		name   string
		faults Faults
		frames int
	}{
		{"after frames", Faults{DropAfterFrames: 5}, 5},
		{"after time", Faults{DropAfter: 100 * time.Millisecond}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, &Options{Faults: tt.faults})
			cl := dial(t, s.URL, header(0))
			cl.next(t, 5*time.Second)
			if tt.frames > 0 {
				cl.send(t, chunks(make([]byte, tt.frames*frame.Size), frame.Size))
			}
			select {
			case <-cl.done:
			case <-time.After(5 * time.Second):
				t.Fatal("the connection was not dropped")
			}
			if code := websocket.CloseStatus(cl.err); code != -1 {
				t.Errorf("client saw close status %d, want none (an abrupt drop): %v", code, cl.err)
			}
			r := waitReport(t, s, 1)
			if r.Frames != tt.frames || r.CloseCode != -1 || !strings.Contains(r.Err, "fault: dropped") {
				t.Errorf("report = %s, want %d frames, close -1, a drop fault", r, tt.frames)
			}
		})
	}
}

func TestFaultErrorEvent(t *testing.T) {
	tests := []struct {
		name      string
		faults    Faults
		wantMsg   string
		wantClose websocket.StatusCode // the client's view; -1: still open
	}{
		{"recoverable", Faults{ErrorAfterFrames: 3}, "reference server: injected error", -1},
		{"fatal", Faults{ErrorAfterFrames: 3, ErrorMessage: "boom", CloseAfterError: true}, "boom", 1011},
		{"no connected", Faults{ErrorAfterFrames: 1, NoConnected: true}, "reference server: injected error", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, &Options{Faults: tt.faults})
			cl := dial(t, s.URL, header(0))
			cl.send(t, chunks(make([]byte, tt.faults.ErrorAfterFrames*frame.Size), frame.Size))
			var e event
			if !tt.faults.NoConnected {
				if e = cl.next(t, 5*time.Second); e.str("type") != "connected" {
					t.Fatalf("first event = %v, want connected", e)
				}
			}
			e = cl.next(t, 5*time.Second)
			if e.str("type") != "error" || e.str("message") != tt.wantMsg || e.str("timestamp") == "" {
				t.Fatalf("event = %v, want error %q with a timestamp", e, tt.wantMsg)
			}
			if tt.wantClose == -1 {
				cl.closeNormally(t)
				if r := waitReport(t, s, 1); r.Err != "" || r.CloseCode != 1000 {
					t.Errorf("report = %s, want a normal close after a recoverable error", r)
				}
				return
			}
			select {
			case <-cl.done:
			case <-time.After(5 * time.Second):
				t.Fatal("the server did not close")
			}
			if code := websocket.CloseStatus(cl.err); code != tt.wantClose {
				t.Errorf("client saw close status %d, want %d: %v", code, tt.wantClose, cl.err)
			}
			r := waitReport(t, s, 1)
			if r.CloseCode != tt.wantClose || !strings.Contains(r.Err, "fault: closed with status 1011") {
				t.Errorf("report = %s, want close %d and a close fault", r, tt.wantClose)
			}
		})
	}
}

func TestFaultStall(t *testing.T) {
	s := start(t, &Options{Faults: Faults{StallAfterFrames: 10}})
	cl := dial(t, s.URL, header(0))
	cl.next(t, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	const limit = 20 << 20
	msg := make([]byte, frame.Size)
	var sent int
	var err error
	for sent < limit {
		if err = cl.c.Write(ctx, websocket.MessageBinary, msg); err != nil {
			break
		}
		sent += len(msg)
	}
	if err == nil {
		t.Fatalf("wrote %d bytes to a stalled server without blocking", sent)
	}
	if ctx.Err() == nil {
		t.Fatalf("write failed before its deadline, after %d bytes: %v", sent, err)
	}
	if len(s.Reports()) != 0 {
		t.Fatal("a stalled session ended before Close")
	}
	s.Close()
	r := waitReport(t, s, 1)
	if r.Frames != 10 || !strings.Contains(r.Err, "stopped reading after 10 frames") {
		t.Errorf("report = %s, want 10 frames and a stall fault", r)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	check := leakCheck(t)
	s, err := Start(&Options{
		ProcessingDelay: time.Hour, // the transcript stays pending
		Faults:          Faults{StallAfterFrames: 200},
	})
	if err != nil {
		t.Fatal(err)
	}
	pending := dial(t, s.URL, header(0))
	pending.next(t, 5*time.Second)
	pending.send(t, chunks(pcm(frame.Rate16k, tone(200*time.Millisecond), silence(time.Second)), frame.Size))
	pending.until(t, "processing", 1)
	stalled := dial(t, s.URL, header(0))
	stalled.send(t, chunks(make([]byte, 200*frame.Size), frame.Size))
	idle := dial(t, s.URL, header(0))
	idle.next(t, 5*time.Second)

	s.Close()
	s.Close() // idempotent
	for _, cl := range []*client{pending, stalled, idle} {
		cl.c.CloseNow()
		<-cl.done
	}
	reports := s.Reports()
	if len(reports) != 3 {
		t.Fatalf("%d reports after Close, want 3", len(reports))
	}
	for _, r := range reports {
		if !strings.Contains(r.Err, "server closed") && !strings.Contains(r.Err, "stopped reading") {
			t.Errorf("report = %s, want it ended by Close", r)
		}
		for _, seg := range r.Segments {
			if seg.Transcribed {
				t.Errorf("segment %+v transcribed, but its transcript was pending", seg)
			}
		}
	}
	http.DefaultClient.CloseIdleConnections()
	check()
}

package refserver

import (
	"cmp"
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
	for _, svc := range services {
		for _, tt := range tests {
			t.Run(svc.name+"/"+tt.name, func(t *testing.T) {
				s := start(t, svc.opts(Options{Faults: tt.faults}))
				cl := svc.dial(t, s)
				if svc.greets {
					cl.next(t, 5*time.Second)
				}
				if tt.frames > 0 {
					svc.audio(t, cl, chunks(make([]byte, tt.frames*frame.Size), frame.Size))
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
		{"in data.message", Faults{ErrorAfterFrames: 2, ErrorField: "message"}, "reference server: injected error", -1},
	}
	for _, svc := range services {
		for _, tt := range tests {
			t.Run(svc.name+"/"+tt.name, func(t *testing.T) {
				s := start(t, svc.opts(Options{Faults: tt.faults}))
				cl := svc.dial(t, s)
				svc.audio(t, cl, chunks(make([]byte, tt.faults.ErrorAfterFrames*frame.Size), frame.Size))
				var e event
				if svc.greets && !tt.faults.NoConnected {
					if e = cl.next(t, 5*time.Second); e.str("type") != "connected" {
						t.Fatalf("first event = %v, want connected", e)
					}
				}
				e = cl.next(t, 5*time.Second)
				if got := svc.errText(e, tt.faults.ErrorField); got != tt.wantMsg {
					t.Fatalf("event = %v, want error %q", e, tt.wantMsg)
				}
				if svc.name == "sarvam" {
					checkError(t, e, cmp.Or(tt.faults.ErrorField, "error"), "injected_error")
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
}

func TestFaultStall(t *testing.T) {
	for _, svc := range services {
		t.Run(svc.name, func(t *testing.T) {
			// The idle limit is far shorter than the stall: a stalled server
			// does not close idle sessions.
			s := start(t, svc.opts(Options{IdleTimeout: 500 * time.Millisecond, Faults: Faults{StallAfterFrames: 10}}))
			cl := svc.dial(t, s)
			if svc.greets {
				cl.next(t, 5*time.Second)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			const limit = 20 << 20
			msg := make([]byte, frame.Size)
			typ := websocket.MessageBinary
			if !svc.greets {
				msg, typ = audioMsg(msg, frame.Rate16k), websocket.MessageText
			}
			var sent int
			var err error
			for sent < limit {
				if err = cl.c.Write(ctx, typ, msg); err != nil {
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
		})
	}
}

func TestFaultSend(t *testing.T) {
	tests := []struct {
		name   string
		send   string
		binary bool
	}{
		{"malformed text", `{"type":`, false},
		{"unknown type", `{"type":"surprise","data":{}}`, false},
		{"binary", "\x01\x02\x03", true},
	}
	for _, svc := range services {
		for _, tt := range tests {
			t.Run(svc.name+"/"+tt.name, func(t *testing.T) {
				s := start(t, svc.opts(Options{Faults: Faults{SendAfterFrames: 2, Send: []byte(tt.send), SendBinary: tt.binary}}))
				// The test client's reader decodes text as JSON: read
				// raw from a bare connection instead.
				typ, got, err := rawAfter(t, s, svc, 2)
				if err != nil {
					t.Fatal(err)
				}
				wantTyp := websocket.MessageText
				if tt.binary {
					wantTyp = websocket.MessageBinary
				}
				if typ != wantTyp || string(got) != tt.send {
					t.Errorf("got %v %q, want %v %q", typ, got, wantTyp, tt.send)
				}
			})
		}
	}
}

// rawAfter opens a bare connection, sends n audio messages and returns the
// first message the server sends that is not a greeting.
func rawAfter(t *testing.T, s *Server, svc testService, n int) (websocket.MessageType, []byte, error) {
	t.Helper()
	ctx := testCtx(t, 5*time.Second)
	url, opts := s.URL, &websocket.DialOptions{HTTPHeader: header(0)}
	msg, typ := make([]byte, frame.Size), websocket.MessageBinary
	if !svc.greets {
		url, opts = sarvamURL(s, "language-code=hi-IN"), &websocket.DialOptions{HTTPHeader: sarvamHeader()}
		msg, typ = audioMsg(msg, frame.Rate16k), websocket.MessageText
	}
	c, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		return 0, nil, err
	}
	defer c.CloseNow()
	for range n {
		if err := c.Write(ctx, typ, msg); err != nil {
			return 0, nil, err
		}
	}
	for {
		typ, p, err := c.Read(ctx)
		if err != nil || !strings.Contains(string(p), `"type":"connected"`) {
			return typ, p, err
		}
	}
}

// TestFaultSessions: the faults hit only the first connection attempt; the
// client that reconnects meets a healthy server.
func TestFaultSessions(t *testing.T) {
	for _, svc := range services {
		t.Run(svc.name, func(t *testing.T) {
			s := start(t, svc.opts(Options{Faults: Faults{DropAfterFrames: 2, Sessions: 1}}))
			first := svc.dial(t, s)
			svc.audio(t, first, chunks(make([]byte, 2*frame.Size), frame.Size))
			<-first.done
			second := svc.dial(t, s)
			svc.audio(t, second, chunks(make([]byte, 4*frame.Size), frame.Size))
			second.closeNormally(t)
			reps, err := s.WaitReports(testCtx(t, 5*time.Second), 2)
			if err != nil {
				t.Fatal(err)
			}
			// Reports come in the order the sessions ended on the server:
			// the dropped one's handler may publish after the second
			// session (seen on a busy machine).
			if strings.Contains(reps[1].Err, "dropped") {
				reps[0], reps[1] = reps[1], reps[0]
			}
			if !strings.Contains(reps[0].Err, "dropped") || reps[1].Err != "" || reps[1].Frames != 4 {
				t.Errorf("reports = %s; %s; want a drop, then a clean session of 4 frames", reps[0], reps[1])
			}
		})
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	for _, svc := range services {
		t.Run(svc.name, func(t *testing.T) {
			check := leakCheck(t)
			s, err := Start(svc.opts(Options{
				ProcessingDelay: time.Hour, // the transcript stays pending
				IdleTimeout:     time.Hour, // and so does the idle limit
				Faults:          Faults{StallAfterFrames: 200},
			}))
			if err != nil {
				t.Fatal(err)
			}
			pending := svc.dial(t, s)
			if svc.greets {
				pending.next(t, 5*time.Second)
			}
			svc.audio(t, pending, chunks(pcm(frame.Rate16k, tone(200*time.Millisecond), silence(time.Second)), frame.Size))
			if svc.greets {
				pending.until(t, "processing", 1)
			} else {
				pending.sync(t)
			}
			stalled := svc.dial(t, s)
			svc.audio(t, stalled, chunks(make([]byte, 200*frame.Size), frame.Size))
			idle := svc.dial(t, s)
			if svc.greets {
				idle.next(t, 5*time.Second)
			} else {
				idle.sync(t)
			}

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
		})
	}
}

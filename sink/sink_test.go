package sink_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/internal/leakcheck"
	"github.com/vachana-pipe/vachana-pipe/sink"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func TestFile(t *testing.T) {
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	s := sink.NewFile(bw)
	var f frame.Frame
	for i := range 3 {
		f[0] = byte(i)
		if err := s.WriteFrame(&f); err != nil {
			t.Fatal(err)
		}
	}
	if buf.Len() != 0 {
		t.Fatal("test needs a buffered writer")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 3*frame.Size || buf.Bytes()[frame.Size] != 1 || buf.Bytes()[2*frame.Size] != 2 || s.Frames() != 3 {
		t.Fatalf("wrote %d bytes, %d frames", buf.Len(), s.Frames())
	}
}

// speech returns frames of 1 s of loud noise followed by 1 s of silence at
// 16 kHz: one segment for the reference server.
func speech() []frame.Frame {
	n := frame.Rate16k.FramesIn(time.Second)
	out := make([]frame.Frame, 2*n)
	for i := range n {
		for j := 0; j < frame.Size; j += 2 {
			out[i][j+1] = byte(0x40 ^ (j & 0x80))
		}
	}
	return out
}

// stream writes frames to a session while a goroutine reads its events, as
// the pipeline does, passing each to onEvent if set, and returns the
// reader's result channel.
func stream(t *testing.T, s *sink.WebSocket, frames []frame.Frame, onEvent func(transport.Event)) chan error {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		for {
			ev, err := s.ReadEvent()
			if err != nil {
				errc <- err
				return
			}
			if onEvent != nil {
				onEvent(ev)
			}
		}
	}()
	for i := range frames {
		if err := s.WriteFrame(&frames[i]); err != nil {
			t.Fatal(err)
		}
	}
	return errc
}

func dial(t *testing.T, opts *refserver.Options) (*sink.WebSocket, *refserver.Server) {
	t.Helper()
	srv, err := refserver.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	s, err := sink.Dial(context.Background(), transport.Config{URL: srv.URL, APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	return s, srv
}

func TestDrainWaitsForTranscripts(t *testing.T) {
	s, _ := dial(t, &refserver.Options{ProcessingDelay: 400 * time.Millisecond})
	errc := stream(t, s, speech(), nil)
	start := time.Now()
	if err := s.Drain(context.Background(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("Drain returned after %v, before the transcript could have come", d)
	}
	if s.Outstanding() != 0 {
		t.Fatalf("Outstanding() = %d after Drain", s.Outstanding())
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-errc; err != io.EOF {
		t.Fatalf("ReadEvent after Close = %v, want io.EOF", err)
	}
}

func TestDrainLimit(t *testing.T) {
	s, _ := dial(t, &refserver.Options{ProcessingDelay: time.Hour})
	errc := stream(t, s, speech(), nil)
	err := s.Drain(context.Background(), 300*time.Millisecond)
	var me *sink.MissingTranscriptsError
	if !errors.As(err, &me) || me.Missing != 1 || !strings.Contains(err.Error(), "-drain-timeout") {
		t.Fatalf("Drain = %v, want 1 transcript missing", err)
	}
	s.CloseNow()
	<-errc
}

func TestDrainSessionLost(t *testing.T) {
	s, _ := dial(t, &refserver.Options{ProcessingDelay: time.Hour, Faults: refserver.Faults{DropAfterFrames: 60}})
	frames := speech()
	errc := make(chan error, 1)
	go func() {
		for {
			if _, err := s.ReadEvent(); err != nil {
				errc <- err
				return
			}
		}
	}()
	for i := range frames {
		if s.WriteFrame(&frames[i]) != nil {
			break
		}
	}
	err := s.Drain(context.Background(), 5*time.Second)
	var ce *transport.ClosedError
	if !errors.As(err, &ce) || ce.Code != -1 {
		t.Fatalf("Drain = %v, want the lost connection", err)
	}
	s.CloseNow()
	<-errc
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
// finished; Drain waits for processing events that come shortly after.
func TestDrainWaitsForALateProcessing(t *testing.T) {
	for _, closeAfter := range []bool{false, true} {
		s, err := sink.Dial(context.Background(), transport.Config{URL: lateServer(t, closeAfter), APIKey: "k"})
		if err != nil {
			t.Fatal(err)
		}
		var got []transport.EventType
		errc := stream(t, s, make([]frame.Frame, 10), func(ev transport.Event) { got = append(got, ev.Type) })
		err = s.Drain(context.Background(), 5*time.Second)
		var sl *sink.SessionLostError
		switch {
		case !closeAfter && err != nil:
			t.Fatalf("Drain: %v", err)
		case closeAfter && (!errors.As(err, &sl) || sl.Outstanding != 0):
			// Closed before the drain settled: nothing is known to be
			// missing, but the caller must decide (replay, or accept).
			t.Fatalf("close after: Drain = %v, want a SessionLostError with nothing outstanding", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("close after: %v: Close: %v", closeAfter, err)
		}
		<-errc
		if fmt.Sprint(got) != "[connected processing transcript]" {
			t.Fatalf("close after: %v: events %v", closeAfter, got)
		}
	}
}

//go:build linux

package pipeline

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
	"github.com/vachana-pipe/vachana-pipe/transport/vachana"
)

// TestCrewSendsSteadyStreams: streams to sessions that can write without
// waiting are sent by the crews in their steady state, and lose nothing.
// (Not in parallel: the crews' counts are the process's.)
func TestCrewSendsSteadyStreams(t *testing.T) {
	_, d := refSession(t, dialects[0], nil)
	before, _ := crewCounts()
	in := pattern(int(frame.Rate16k.FramesIn(3*time.Second)) * frame.Size)
	var g errgroup.Group
	stats := make([]*Stats, 3)
	for i := range stats {
		g.Go(func() (err error) {
			stats[i], err = Stream(context.Background(), bytes.NewReader(in), d, &Options{TailSilence: 100 * time.Millisecond})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	var frames int64
	for _, st := range stats {
		frames += st.Frames
		if want := int64(len(in)/frame.Size) + st.TailFrames; st.Frames != want {
			t.Errorf("stream sent %d frames, want %d", st.Frames, want)
		}
	}
	after, _ := crewCounts()
	// Each stream sends its first frame itself, and takes its frames back
	// whenever its reader has not queued the next: most go by the crews.
	if sent := after - before; sent < frames/2 {
		t.Fatalf("the crews sent %d of the %d frames", sent, frames)
	}
}

// TestCrewHandsBackStalledStream: a stream whose server stops reading is
// handed back to its goroutine once the network stops taking its frames,
// and fails there with a stall, while a stream in the same crew goes on
// at cadence: no write in the crew waits for the network.
func TestCrewHandsBackStalledStream(t *testing.T) {
	// One crew for the whole process, so that both streams are in it (no
	// parallel test runs meanwhile).
	pickCrew()
	saved := crews.all
	crews.all = []*crew{new(crew)}
	t.Cleanup(func() { crews.all = saved })

	stalled, err := refserver.Start(&refserver.Options{Service: refserver.ServiceVachana, Faults: refserver.Faults{StallAfterFrames: 10}})
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	// A small send buffer: the socket is full once the server's receive
	// buffer is (about 4 s of audio), not after megabytes.
	small := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096) })
	}}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = small.DialContext
	ds, err := vachana.NewDialer(vachana.Config{URL: stalled.URL, APIKey: "k", HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close(context.Background())
	_, healthy := refSession(t, dialects[0], nil)

	_, backlogsBefore := crewCounts()
	var g errgroup.Group
	var stalledErr error
	g.Go(func() error {
		// 30 s of input: the stall (about 4 s to fill the buffers, then
		// 3 s) is found long before its end.
		in := make([]byte, int(frame.Rate16k.FramesIn(30*time.Second))*frame.Size)
		start := time.Now()
		_, stalledErr = Stream(context.Background(), bytes.NewReader(in), ds, &Options{NoPing: true, StallTimeout: 3 * time.Second})
		if time.Since(start) > 25*time.Second {
			t.Errorf("the stall was found after %v", time.Since(start))
		}
		return nil
	})
	var st *Stats
	g.Go(func() (err error) {
		// Long enough to be in the crew through the stall and after it.
		in := make([]byte, int(frame.Rate16k.FramesIn(14*time.Second))*frame.Size)
		st, err = Stream(context.Background(), bytes.NewReader(in), healthy, &Options{})
		return err
	})
	if err := g.Wait(); err != nil {
		t.Fatalf("the healthy stream: %v", err)
	}
	var se *StallError
	if !errors.As(stalledErr, &se) {
		t.Fatalf("the stalled stream ended with %v, want a *StallError", stalledErr)
	}
	if _, b := crewCounts(); b == backlogsBefore {
		t.Fatal("no stream was handed back for a backlog: the stall was found elsewhere")
	}
	// A crew that waited on the stalled write would have held the other
	// stream back for the stall timeout, 3 s, at least.
	if st.Pace.MaxLate > 2*time.Second || st.Pace.Frames == 0 {
		t.Fatalf("the healthy stream's %d frames left up to %v late", st.Pace.Frames, st.Pace.MaxLate)
	}
}

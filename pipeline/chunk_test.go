package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
)

// The pipeline's side of a service that takes chunks of several frames and
// sends no segment ends (aiOla), tested apart from any protocol: chunky
// turns the Vachana dialer into such a service. It announces chunks of 4
// frames and no segment ends, hands each frame of a chunk to the Vachana
// session (so the reference server's reports and faults count frames) and
// hides the segment ends and voice activity from the pipeline.

type chunky struct {
	transport.Dialer
	mu     sync.Mutex
	chunks [][]int // per session, the frames of each chunk written
}

func (d *chunky) Audio() transport.Audio {
	a := d.Dialer.Audio()
	a.ChunkFrames, a.NoSegmentEnds, a.TailSilence = 4, true, time.Second
	return a
}

func (d *chunky) Dial(ctx context.Context) (transport.Session, error) {
	s, err := d.Dialer.Dial(ctx)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.chunks = append(d.chunks, nil)
	return &chunkySession{Session: s, d: d, n: len(d.chunks) - 1}, nil
}

func (d *chunky) sessions() [][]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.chunks)
}

type chunkySession struct {
	transport.Session
	d *chunky
	n int
}

func (s *chunkySession) WriteAudio(p []byte) error {
	if len(p) == 0 || len(p)%frame.Size != 0 || len(p) > 4*frame.Size {
		return fmt.Errorf("chunk of %d bytes: not 1 to 4 frames", len(p))
	}
	s.d.mu.Lock()
	s.d.chunks[s.n] = append(s.d.chunks[s.n], len(p)/frame.Size)
	s.d.mu.Unlock()
	for off := 0; off < len(p); off += frame.Size {
		if err := s.Session.WriteAudio(p[off : off+frame.Size]); err != nil {
			return err
		}
	}
	return nil
}

func (s *chunkySession) ReadEvent() (transport.Event, error) {
	for {
		ev, err := s.Session.ReadEvent()
		switch {
		case err != nil:
			return ev, err
		case ev.Kind == transport.SegmentEnded, ev.Kind == transport.SpeechStarted, ev.Kind == transport.SpeechEnded:
			continue
		}
		return ev, nil
	}
}

// streamChunky streams in, paced, to a Vachana reference server with the
// given options through chunky.
func streamChunky(t *testing.T, in []byte, ro refserver.Options, opts *Options) (outcome, *chunky) {
	t.Helper()
	ro.RecordAudio = true
	if ro.ProcessingDelay == 0 {
		ro.ProcessingDelay = 300 * time.Millisecond
	}
	ro.Faults.Sessions = max(ro.Faults.Sessions, 1)
	srv, vd := refSession(t, dialects[0], &ro)
	d := &chunky{Dialer: vd}
	o := streamTo(t, srv, d, in, opts)
	return o, d
}

// checkAligned checks that every chunk of every session ends on a multiple
// of 4 frames of the stream, but the last one, and that each session's
// first chunk starts where its audio starts in the stream.
func checkAligned(t *testing.T, sessions [][]int, starts []int) {
	t.Helper()
	for i, chunks := range sessions {
		pos := starts[i]
		for k, n := range chunks {
			pos += n
			if pos%4 != 0 && k != len(chunks)-1 {
				t.Fatalf("session %d: chunk %d (%d frames) ends at frame %d, not on a chunk boundary", i+1, k, n, pos)
			}
		}
	}
}

// sessionStarts returns the frame of the stream each report's audio starts
// at (the reports cover the stream, as checkCoverage checks).
func sessionStarts(t *testing.T, reps []refserver.Report, stream []byte) []int {
	t.Helper()
	var starts []int
	for _, rep := range reps {
		start := -1
		for off := 0; off+len(rep.Audio) <= len(stream); off += frame.Size {
			if string(stream[off:off+len(rep.Audio)]) == string(rep.Audio) {
				start = off / frame.Size
				if len(starts) == 0 || start >= starts[len(starts)-1] {
					break
				}
			}
		}
		starts = append(starts, start)
	}
	return starts
}

// TestChunkedCadence: chunks of 4 frames leave every 128 ms, aligned, the
// short one last; the cadence is counted in chunks.
func TestChunkedCadence(t *testing.T) {
	if testing.Short() {
		t.Skip("paced stream")
	}
	t.Parallel()
	in := reconnectInput(t)[:16000*2*3+3*frame.Size] // 3 s and 3 frames
	o, d := streamChunky(t, in, refserver.Options{}, &Options{NoTailSilence: true})
	if o.err != nil {
		t.Fatal(o.err)
	}
	sessions := d.sessions()
	frames := (len(in) + frame.Size - 1) / frame.Size
	if len(sessions) != 1 || len(sessions[0]) != (frames+3)/4 || sessions[0][len(sessions[0])-1] != frames%4 {
		t.Fatalf("chunks %v; want %d chunks of 4 frames, the last of %d", sessions, (frames+3)/4, frames%4)
	}
	checkAligned(t, sessions, []int{0})
	arr := o.reports[0].Arrivals
	// Frames of one chunk arrive together, chunks 128 ms apart: the
	// median of the gaps between chunks' first frames is 128 ms.
	var gaps []time.Duration
	for i := 4; i < len(arr); i += 4 {
		gaps = append(gaps, arr[i]-arr[i-4])
	}
	slices.Sort(gaps)
	if med := gaps[len(gaps)/2]; med < 120*time.Millisecond || med > 136*time.Millisecond {
		t.Fatalf("median gap between chunks %v, want 128 ms", med)
	}
	if o.stats.Cadence.Frames != int64(len(sessions[0])) {
		t.Fatalf("cadence counted %d, want the %d chunks", o.stats.Cadence.Frames, len(sessions[0]))
	}
	if o.stats.Frames != int64(frames) {
		t.Fatalf("Stats.Frames %d, want %d", o.stats.Frames, frames)
	}
}

// TestChunkedReplay drops the first session of a service without segment
// ends at several points: inside speech, between the end of a segment (as
// the server's detector sees it) and its transcript, in the silence between
// segments, in the second segment and in the tail. Each segment must be
// transcribed exactly once and the sessions must cover the stream, in
// aligned chunks.
func TestChunkedReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("paced streams of 7.6 s")
	}
	t.Parallel()
	in := reconnectInput(t)
	want := onWire16k(in)
	clean, _ := streamChunky(t, in, refserver.Options{}, nil)
	if clean.err != nil || len(clean.texts) != 2 {
		t.Fatalf("fault-free run: %v, %q", clean.err, clean.texts)
	}
	// Segment 0 is frames 10–64; the server's detector ends it at ~80 and
	// its transcript comes 300 ms (~9 frames) later; segment 1 runs from
	// frame 99 to about 203; the tail is frames 207–238. With a delay of
	// 800 ms, segment 0's transcript comes at frame ~105, after segment 1
	// began: it must not confirm segment 1's start.
	for _, c := range []struct {
		drop  int
		delay time.Duration
	}{{40, 0}, {83, 0}, {120, 0}, {170, 0}, {212, 0}, {225, 0}, {120, 800 * time.Millisecond}} {
		t.Run(fmt.Sprintf("drop after frame %d, transcripts %v after the end", c.drop, c.delay), func(t *testing.T) {
			t.Parallel()
			o, d := streamChunky(t, in, refserver.Options{ProcessingDelay: c.delay, Faults: refserver.Faults{DropAfterFrames: c.drop}}, nil)
			if o.err != nil {
				t.Fatalf("Stream: %v\nwarnings: %q", o.err, o.warnings)
			}
			if !slices.Equal(durations(o.texts), durations(clean.texts)) {
				t.Errorf("transcripts %q, want the fault-free %q", o.texts, clean.texts)
			}
			if o.stats.Reconnects != 1 || o.stats.GivenUp != 0 {
				t.Errorf("stats: %d reconnections, %d frames given up", o.stats.Reconnects, o.stats.GivenUp)
			}
			checkCoverage(t, o.reports, want)
			checkAligned(t, d.sessions(), sessionStarts(t, o.reports, want))
			for _, w := range o.warnings {
				if strings.Contains(w, "did not come") {
					t.Errorf("warning %q", w)
				}
			}
		})
	}
}

// TestChunkedDrainAwaitsLastTranscript: with no segment end to count, the
// drain still waits for a transcript of each utterance it sent, here both
// coming after the last frame (6 s after the server's detector ended each),
// beyond the settling time.
func TestChunkedDrainAwaitsLastTranscript(t *testing.T) {
	if testing.Short() {
		t.Skip("paced stream")
	}
	t.Parallel()
	in := reconnectInput(t) // two segments
	o, _ := streamChunky(t, in, refserver.Options{ProcessingDelay: 6 * time.Second}, &Options{NoReconnect: true})
	if o.err != nil || len(o.texts) != 2 || len(o.warnings) != 0 {
		t.Fatalf("Stream = %v, transcripts %q, warnings %q; want both transcripts", o.err, o.texts, o.warnings)
	}
}

// TestChunkedDrainNoAnswer: speech the service never transcribes costs the
// drain its limit and a warning that says so, not a failure.
func TestChunkedDrainNoAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("paced stream")
	}
	t.Parallel()
	in := reconnectInput(t)[:16000*2*25/10]
	o, _ := streamChunky(t, in, refserver.Options{ProcessingDelay: time.Hour}, &Options{NoReconnect: true, DrainTimeout: time.Second})
	if o.err != nil || len(o.texts) != 0 || len(o.warnings) != 1 || !strings.Contains(o.warnings[0], "1 transcript(s) did not come within") {
		t.Fatalf("Stream = %v, transcripts %q, warnings %q; want success and one warning", o.err, o.texts, o.warnings)
	}
}

// TestChunkRefused: chunk sizes the sender cannot make are refused before
// anything is sent.
func TestChunkRefused(t *testing.T) {
	for _, n := range []int{0, -1, 65, 3} { // 3 does not divide 16000
		d := badChunks{n}
		_, err := Stream(context.Background(), strings.NewReader(""), d, nil)
		if err == nil || !strings.Contains(err.Error(), "chunks of") {
			t.Errorf("ChunkFrames %d: %v", n, err)
		}
	}
}

type badChunks struct{ n int }

func (d badChunks) Audio() transport.Audio {
	return transport.Audio{Rate: frame.Rate16k, ChunkFrames: d.n}
}
func (badChunks) Dial(context.Context) (transport.Session, error) {
	panic("dialled a dialer whose chunks were refused")
}
func (badChunks) Close(context.Context) error { return nil }

// TestChunkedFastService: a service that ends utterances sooner than the
// client's 450 ms of quiet (here after 200 ms), and so may split what the
// client takes for one utterance, is not waited for in vain at the end.
func TestChunkedFastService(t *testing.T) {
	if testing.Short() {
		t.Skip("paced stream")
	}
	t.Parallel()
	in := reconnectInput(t)
	o, _ := streamChunky(t, in, refserver.Options{Hangover: 200 * time.Millisecond, ProcessingDelay: 50 * time.Millisecond}, &Options{NoReconnect: true, DrainTimeout: 5 * time.Second})
	if o.err != nil || len(o.texts) < 2 || len(o.warnings) != 0 {
		t.Fatalf("Stream = %v, transcripts %q, warnings %q; want every transcript and no warning", o.err, o.texts, o.warnings)
	}
	// 6.6 s of input and 1 s of tail; the drain's 5 s limit must not be spent.
	if limit := 10 * time.Second; o.stats.Elapsed > limit {
		t.Fatalf("the stream took %v: the drain waited for a transcript that was not owed", o.stats.Elapsed)
	}
	t.Logf("%d transcripts: %q", len(o.texts), o.texts)
}

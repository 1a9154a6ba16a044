package pipeline

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"testing"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// At 16 kHz, in frames of 32 ms: the numbers the cases below are worked out
// with.
const (
	rbWindow = 157 // gapWindow, 5 s
	rbNeed   = 15  // gapMin, 450 ms
	rbPre    = 8   // preRoll, 250 ms
	rbMargin = 15  // replayMargin, 450 ms
	rbLimit  = 939 // FramesIn(DefaultReplay)+1
)

// newTestReplay returns a 16 kHz buffer holding at most limit frames, or
// DefaultReplay's if limit is 0, and checks the numbers above.
func newTestReplay(t testing.TB, limit int64) *replayBuffer {
	t.Helper()
	d := DefaultReplay
	if limit > 0 {
		d = frame.Rate16k.FrameAt(limit - 1)
	}
	b := newReplayBuffer(frame.Rate16k, d, new(arena))
	if b.window != rbWindow || b.need != rbNeed || b.pre != rbPre || b.margin != rbMargin {
		t.Fatalf("window %d, need %d, preRoll %d, margin %d frames: the cases assume %d, %d, %d, %d",
			b.window, b.need, b.pre, b.margin, rbWindow, rbNeed, rbPre, rbMargin)
	}
	want := limit
	if limit == 0 {
		want = rbLimit
	}
	if b.limit != want {
		t.Fatalf("limit %d frames, want %d", b.limit, want)
	}
	return b
}

// testFrame returns frame i of a test stream, loud (-10 dBFS) or digital
// silence, with i written into its first eight samples, four bits each (a
// level far below quietDBFS), so that a frame out of place shows.
func testFrame(i int64, loud bool) frame.Frame {
	var f frame.Frame
	if loud {
		for k := range frame.Samples {
			v := int16(10362)
			if k%2 == 1 {
				v = -v
			}
			binary.LittleEndian.PutUint16(f[2*k:], uint16(v))
		}
	}
	tag(&f, i)
	return f
}

func tag(f *frame.Frame, i int64) {
	for k := range 8 {
		binary.LittleEndian.PutUint16(f[2*k:], uint16(i>>(4*k)&0xF))
	}
}

// span is a stretch of frames [from, to).
type span struct{ from, to int64 }

func inSpans(i int64, quiet []span) bool {
	for _, s := range quiet {
		if i >= s.from && i < s.to {
			return true
		}
	}
	return false
}

// pushTo pushes frames up to n, loud except in quiet.
func pushTo(b *replayBuffer, n int64, quiet []span) {
	for i := b.n; i < n; i++ {
		push(b, testFrame(i, !inSpans(i, quiet)))
	}
}

// push pushes a copy of f to b, in a buffer of b's arena, as the sender
// does.
func push(b *replayBuffer, f frame.Frame) {
	g := b.Take()
	*g = f
	b.Push(g, g.Energy())
}

// checkFrames fails unless frames [from, to) are held and are the stream's.
func checkFrames(t *testing.T, b *replayBuffer, from, to int64, quiet []span) {
	t.Helper()
	for i := from; i < to; i++ {
		if got, want := *b.Frame(i), testFrame(i, !inSpans(i, quiet)); got != want {
			t.Fatalf("Frame(%d) is not frame %d of the stream", i, i)
		}
	}
}

// TestReplayBufferResume: where one lost session's replay starts, after 300
// frames (9.6 s) of loud audio with the quiet stretches given.
func TestReplayBufferResume(t *testing.T) {
	tests := []struct {
		name      string
		limit     int64   // frames held at most; 0 for DefaultReplay's
		frames    int64   // frames pushed and written; 300 if 0
		quiet     []span  // quiet frames
		confirms  []int64 // positions confirmed, in order, after the frames
		wantStart int64
		wantLost  int64
	}{
		{name: "no confirmation: the session's start", wantStart: 0},
		{name: "nothing sent", frames: -1, wantStart: 0},
		{name: "silent gap: preRoll before its end", quiet: []span{{200, 240}}, confirms: []int64{270}, wantStart: 240 - rbPre},
		{name: "gap ending at the mark", quiet: []span{{250, 300}}, confirms: []int64{280}, wantStart: 280 - rbPre},
		{name: "gap of gapMin", quiet: []span{{200, 200 + rbNeed}}, confirms: []int64{270}, wantStart: 200 + rbNeed - rbPre},
		{name: "gap one frame shorter than gapMin: margin", quiet: []span{{200, 200 + rbNeed - 1}}, confirms: []int64{270}, wantStart: 270 - rbMargin},
		{name: "noise: margin before the mark", confirms: []int64{270}, wantStart: 270 - rbMargin},
		{name: "latest of two gaps", quiet: []span{{150, 180}, {220, 240}}, confirms: []int64{270}, wantStart: 240 - rbPre},
		{name: "later gap too short: the earlier one", quiet: []span{{150, 180}, {220, 230}}, confirms: []int64{270}, wantStart: 180 - rbPre},
		{name: "gap before the window: margin", quiet: []span{{50, 100}}, confirms: []int64{270}, wantStart: 270 - rbMargin},
		{name: "gap cut by the window, long enough", quiet: []span{{90, 140}}, confirms: []int64{270}, wantStart: 140 - rbPre},
		{name: "gap cut by the window, too short: margin", quiet: []span{{90, 270 - rbWindow + rbNeed - 1}}, confirms: []int64{270}, wantStart: 270 - rbMargin},
		{name: "gap cut by the window to gapMin", quiet: []span{{90, 270 - rbWindow + rbNeed}}, confirms: []int64{270}, wantStart: 270 - rbWindow + rbNeed - rbPre},
		{name: "mark before margin: the session's start", confirms: []int64{10}, wantStart: 0},
		{name: "later confirmation moves forward", confirms: []int64{100, 270}, wantStart: 270 - rbMargin},
		{name: "earlier confirmation ignored", confirms: []int64{270, 200}, wantStart: 270 - rbMargin},
		{name: "limit exceeded before any confirmation", limit: 33, wantStart: 300 - 33, wantLost: 300 - 33},
		{name: "limit exceeded after a confirmation", limit: 33, confirms: []int64{100}, wantStart: 300 - 33, wantLost: 300 - 33 - (100 - rbMargin)},
		{name: "confirmation within the limit", limit: 33, confirms: []int64{290}, wantStart: 290 - rbMargin},
		{name: "gap cut by the limit: margin", limit: 33, quiet: []span{{250, 280}}, confirms: []int64{290}, wantStart: 290 - rbMargin},
		{name: "gap within the limit", limit: 50, quiet: []span{{250, 280}}, confirms: []int64{290}, wantStart: 280 - rbPre},
		{name: "one frame held", limit: 1, confirms: []int64{290}, wantStart: 299, wantLost: 299 - (290 - rbMargin)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTestReplay(t, tt.limit)
			defer b.Free()
			n := tt.frames
			if n == 0 {
				n = 300
			}
			n = max(n, 0)
			pushTo(b, n, tt.quiet)
			for _, pos := range tt.confirms {
				b.Confirm(pos)
			}
			start, lost := b.Resume(n)
			if start != tt.wantStart || lost != tt.wantLost {
				t.Fatalf("Resume(%d) = %d, %d lost; want %d, %d lost", n, start, lost, tt.wantStart, tt.wantLost)
			}
			checkFrames(t, b, start, n, tt.quiet)
		})
	}
}

// TestReplayBufferSessions loses several sessions in a row: each replay
// starts no earlier than the session it replaces started, whatever the
// confirmations say.
func TestReplayBufferSessions(t *testing.T) {
	b := newTestReplay(t, 0)
	defer b.Free()
	resume := func(written, wantStart int64) {
		t.Helper()
		if start, lost := b.Resume(written); start != wantStart || lost != 0 {
			t.Fatalf("Resume(%d) = %d, %d lost; want %d, 0 lost", written, start, lost, wantStart)
		}
		checkFrames(t, b, wantStart, b.n, nil)
	}
	pushTo(b, 300, nil)
	b.Confirm(250)
	resume(300, 235)
	b.NewSession(235) // session 2 replays 235..299
	resume(280, 235)  // lost during the replay, before a confirmation
	pushTo(b, 320, nil)
	resume(320, 235)
	b.Confirm(240) // 240-margin is before the session's start
	resume(320, 235)
	b.Confirm(300)
	resume(320, 285)
	b.NewSession(285) // session 3
	resume(290, 285)  // lost at once
	b.NewSession(285) // session 4
	pushTo(b, 400, nil)
	b.Confirm(390)
	b.Confirm(250) // late, and before the session: ignored
	resume(400, 375)
}

// TestReplayBufferOldest: the frames held, their memory and the given-up
// counts once the limit, a confirmation or a new session moves the oldest
// frame held.
func TestReplayBufferOldest(t *testing.T) {
	tests := []struct {
		name       string
		limit      int64
		frames     int64
		confirm    int64 // 0 for none
		newSession int64 // 0 for none
		wantOldest int64
	}{
		{name: "one frame", frames: 1},
		{name: "some frames", frames: 65},
		{name: "limit", limit: 100, frames: 163, wantOldest: 63},
		{name: "limit of one frame", limit: 1, frames: 129, wantOldest: 128},
		// All the frames are loud: a replay starts replayMargin before
		// the mark.
		{name: "confirmed", frames: 300, confirm: 63 + rbMargin, wantOldest: 63},
		{name: "new session", frames: 300, newSession: 63, wantOldest: 63},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTestReplay(t, tt.limit)
			defer b.Free()
			pushTo(b, tt.frames, nil)
			if tt.confirm > 0 {
				b.Confirm(tt.confirm)
			}
			if tt.newSession > 0 {
				b.NewSession(tt.newSession)
			}
			frames, bytes := b.Held()
			if want := tt.frames - tt.wantOldest; frames != want || bytes != want*frame.Size {
				t.Errorf("Held() = %d frames, %d bytes; want %d, %d", frames, bytes, want, want*frame.Size)
			}
			checkFrames(t, b, tt.wantOldest, tt.frames, nil)
			for _, i := range []int64{tt.wantOldest - 1, tt.frames} {
				if got := frameHeld(b, i); got {
					t.Errorf("Frame(%d) did not panic: frames %d to %d are held", i, tt.wantOldest, tt.frames-1)
				}
			}
			wantStart, wantLost := tt.wantOldest, tt.wantOldest
			switch {
			case tt.newSession > 0:
				wantLost = 0
			case tt.confirm > 0:
				wantStart, wantLost = tt.confirm-rbMargin, 0
			}
			if start, lost := b.Resume(tt.frames); start != wantStart || lost != wantLost {
				t.Errorf("Resume(%d) = %d, %d lost; want %d, %d lost", tt.frames, start, lost, wantStart, wantLost)
			}
		})
	}
}

// frameHeld reports whether Frame(i) returns instead of panicking.
func frameHeld(b *replayBuffer, i int64) (held bool) {
	defer func() { recover() }()
	b.Frame(i)
	return true
}

// TestReplayBufferMemory streams 20 minutes of 3 s segments, each confirmed
// 500 ms of silence and a 300 ms turnaround after its speech: the buffer
// holds the audio from replayMargin before the last mark on (the
// unconfirmed audio), not the whole Replay nor the look-back window (whose
// loudness it keeps as bits), and gives frames back as it goes. Without confirmations (an
// unpaced stream) it holds the whole Replay.
func TestReplayBufferMemory(t *testing.T) {
	const (
		period = 94 // frames from the start of one segment to the next, 3 s
		speech = 60
		total  = 37500 // 20 minutes
		silent = 16    // the service's 500 ms of silence
		delay  = 10    // the turnaround, 320 ms
	)
	quietAt := func(i int64) bool { return i%period >= speech }
	for _, paced := range []bool{true, false} {
		t.Run(fmt.Sprintf("paced %v", paced), func(t *testing.T) {
			b := newTestReplay(t, 0)
			defer b.Free()
			var maxFrames, maxBytes, mark int64
			for i := int64(0); i < total; i++ {
				f := testFrame(i, !quietAt(i))
				push(b, f)
				// The processing event of the segment that ended at
				// speech comes at speech+silent, its transcript delay
				// frames later.
				if paced && i%period == speech+silent+delay {
					mark = i - delay
					b.Confirm(mark)
				}
				if i > 4*rbLimit {
					frames, bytes := b.Held()
					maxFrames, maxBytes = max(maxFrames, frames), max(maxBytes, bytes)
				}
			}
			t.Logf("held at most %d frames in %d KiB", maxFrames, maxBytes>>10)
			wantFrames := int64(rbMargin + period + delay + 1)
			if !paced {
				wantFrames = rbLimit
			}
			wantBytes := wantFrames * frame.Size
			if maxFrames > wantFrames || maxBytes > wantBytes {
				t.Fatalf("held up to %d frames in %d bytes; want at most %d frames in %d bytes", maxFrames, maxBytes, wantFrames, wantBytes)
			}
			if paced && maxFrames < period {
				t.Fatalf("held at most %d frames, less than a segment and its pause", maxFrames)
			}
			// Paced, the last mark is in the silence after a segment: the
			// replay starts preRoll before it. Unpaced, it would go back
			// to the session's start, which no longer fits.
			wantStart, wantLost := mark-rbPre, int64(0)
			if !paced {
				wantStart, wantLost = total-rbLimit, total-rbLimit
			}
			if start, lost := b.Resume(total); start != wantStart || lost != wantLost {
				t.Fatalf("Resume = %d, %d lost; want %d, %d lost", start, lost, wantStart, wantLost)
			}
		})
	}
}

// naiveReplay is the reference: today's ring and ack fields, as a slice of
// every frame and a forward scan of the quiet stretches, quiet judged by
// floating-point RMS in dBFS.
type naiveReplay struct {
	frames []frame.Frame
	limit  int64 // frames a replay can reach back
	start  int64 // of the current session
	floor  int64 // the session's start or the last confirmAll: the service is done with what is before
	ack    int64 // as events.go sets r.ack
	mark   int64 // as events.go sets r.ackMark
	exact  bool  // the last confirmation was a confirmAll
}

func (r *naiveReplay) confirm(pos int64) {
	if pos <= r.mark {
		return
	}
	r.ack = max(r.floor, pos-frame.Rate16k.FramesIn(replayMargin))
	r.mark, r.exact = pos, false
}

func (r *naiveReplay) confirmAll(pos int64) {
	if pos < r.mark || pos == r.mark && r.exact {
		return
	}
	r.ack, r.mark, r.floor, r.exact = pos, pos, pos, true
}

func (r *naiveReplay) newSession(start int64) {
	r.start, r.floor, r.ack, r.mark, r.exact = start, start, start, start, false
}

func (r *naiveReplay) resume(written int64) (start, lost int64) {
	rate := frame.Rate16k
	oldest := max(0, int64(len(r.frames))-r.limit)
	start = r.ack
	if r.mark > r.start && !r.exact {
		lo := max(r.floor, r.mark-rate.FramesIn(gapWindow), oldest)
		var best *span // the latest quiet stretch of gapMin at least
		for i := lo; i < r.mark; {
			j := i
			for j < r.mark && naiveQuiet(&r.frames[j]) {
				j++
			}
			if j-i >= rate.FramesIn(gapMin) {
				best = &span{i, j}
			}
			i = j + 1
		}
		if best != nil {
			start = max(best.from, best.to-rate.FramesIn(preRoll))
		}
	}
	if start < oldest {
		lost = oldest - start
		start = oldest
	}
	return min(start, written), lost
}

func naiveQuiet(f *frame.Frame) bool {
	var sum float64
	for k := range frame.Samples {
		v := float64(int16(binary.LittleEndian.Uint16(f[2*k:])))
		sum += v * v
	}
	return 20*math.Log10(math.Sqrt(sum/frame.Samples)/32768) < quietDBFS
}

// TestReplayBufferMatchesNaive drives the buffer and the reference as the
// sender and the events reader would, on random audio (speech and pauses of
// random lengths and levels, some close to gapMin), random processing
// events and transcripts, and sessions lost at random, during replays too.
// Some runs also confirm everything now and then (ConfirmAll: a flush
// answered, a long pause the service finished with). Every replay start,
// given-up count and replayed frame must agree.
func TestReplayBufferMatchesNaive(t *testing.T) {
	t.Parallel() // long under -race, and independent of the clock
	const steps = 20000
	tests := []struct {
		name   string
		limit  int64 // 0 for DefaultReplay's
		paced  bool
		losses int // one in losses frames loses the session
		all    int // one in all frames confirms everything; 0 for never
	}{
		{name: "default replay, confirming all now and then", paced: true, losses: 300, all: 150},
		{name: "3 s replay, confirming all often", limit: 95, paced: true, losses: 200, all: 60},
		{"default replay", 0, true, 300, 0},
		{"default replay, frequent losses", 0, true, 40, 0},
		{"unpaced", 0, false, 300, 0},
		{"3 s replay", 95, true, 200, 0},
		{"a chunk", 64, true, 150, 0},
		{"one frame", 1, true, 100, 0},
	}
	for _, tt := range tests {
		for seed := uint64(1); seed <= 3; seed++ {
			t.Run(fmt.Sprintf("%s/seed %d", tt.name, seed), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 11))
				b := newTestReplay(t, tt.limit)
				defer b.Free()
				ref := &naiveReplay{limit: b.limit, frames: make([]frame.Frame, 0, steps)}
				var (
					cursor     int64   // the next frame to write
					marks      []int64 // processing events awaiting their transcript
					latest     int64   // the last position confirmed, which the sender passes on every frame
					loud       bool
					left       int // frames left in the current stretch
					level      float64
					losses     int
					lostFrames int64
				)
				for range steps {
					if cursor < int64(len(ref.frames)) { // replaying
						if *b.Frame(cursor) != ref.frames[cursor] {
							t.Fatalf("Frame(%d) differs from the reference", cursor)
						}
					} else {
						if left == 0 {
							loud = !loud
							if loud {
								left, level = 5+rng.IntN(200), -35+29*rng.Float64()
							} else {
								left, level = 1+rng.IntN(2*rbNeed), -90+45*rng.Float64()
							}
						}
						left--
						f := levelFrame(int64(len(ref.frames)), level, rng)
						ref.frames = append(ref.frames, f)
						b.Confirm(latest)
						g := b.Take()
						*g = f
						b.Push(g, g.Energy())
						if p := b.Frame(cursor); p != g {
							t.Fatalf("Frame(%d) is not the frame pushed", cursor)
						}
					}
					cursor++
					if tt.paced && rng.IntN(40) == 0 {
						marks = append(marks, cursor)
					}
					if len(marks) > 0 && rng.IntN(15) == 0 {
						latest = marks[0]
						marks = marks[1:]
						ref.confirm(latest)
					}
					if tt.all > 0 && rng.IntN(tt.all) == 0 {
						b.ConfirmAll(cursor)
						ref.confirmAll(cursor)
					}
					if frames, bytes := b.Held(); frames > b.limit || bytes != frames*frame.Size {
						t.Fatalf("holds %d frames in %d bytes, more than the limit of %d frames allows", frames, bytes, b.limit)
					}
					if rng.IntN(tt.losses) != 0 {
						continue
					}
					b.Confirm(latest)
					start, lost := b.Resume(cursor)
					wantStart, wantLost := ref.resume(cursor)
					if start != wantStart || lost != wantLost {
						t.Fatalf("loss %d at frame %d (session from %d, mark %d): Resume = %d, %d lost; the reference says %d, %d lost",
							losses+1, cursor, ref.start, ref.mark, start, lost, wantStart, wantLost)
					}
					b.NewSession(start)
					ref.newSession(start)
					cursor, marks, latest = start, marks[:0], start
					losses++
					lostFrames += lost
				}
				t.Logf("%d frames, %d sessions lost, %d frames given up", len(ref.frames), losses, lostFrames)
				if losses == 0 {
					t.Fatal("no session was lost")
				}
			})
		}
	}
}

// levelFrame returns a square wave at dbfs with a little noise, tagged with
// i.
func levelFrame(i int64, dbfs float64, rng *rand.Rand) frame.Frame {
	var f frame.Frame
	a := 32768 * math.Pow(10, dbfs/20)
	for k := range frame.Samples {
		v := a * (0.97 + 0.06*rng.Float64())
		if k%2 == 1 {
			v = -v
		}
		binary.LittleEndian.PutUint16(f[2*k:], uint16(int16(math.Round(v))))
	}
	tag(&f, i)
	return f
}

// raceEnabled reports whether the test runs under the race detector, where
// sync.Pool drops a quarter of what it is given on purpose.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// replaySteady returns a function that pushes one frame to b, with a
// segment confirmed every second if confirm, and fills b to its steady
// state.
func replaySteady(b *replayBuffer, confirm bool) func() {
	f := testFrame(0, true)
	e := f.Energy()
	push := func() {
		g := b.Take() // a frame the buffer gave back, in the steady state
		*g = f
		b.Push(g, e)
		if confirm && b.n%32 == 0 {
			b.Confirm(b.n - 10)
		}
	}
	for range 4 * b.limit {
		push()
	}
	return push
}

// TestReplayBufferPushAllocs: in the steady state, held by the limit or by
// confirmations, Push allocates nothing: the frames circulate through the
// arena's slabs (a slab given back and taken again comes from the pool),
// and the list of frames stops growing. Each run pushes 160 frames,
// so even one allocation in 16 would show.
func TestReplayBufferPushAllocs(t *testing.T) {
	if raceEnabled() {
		t.Skip("the race detector makes sync.Pool drop slabs")
	}
	for _, confirm := range []bool{false, true} {
		b := newTestReplay(t, 0)
		push := replaySteady(b, confirm)
		got := testing.AllocsPerRun(20, func() {
			for range 160 {
				push()
			}
		})
		b.Free()
		if got != 0 {
			t.Errorf("confirmations %v: %v allocations per 160 frames, want 0", confirm, got)
		}
	}
}

func BenchmarkReplayBufferPush(b *testing.B) {
	for _, confirm := range []bool{false, true} {
		name := "limit"
		if confirm {
			name = "confirmed"
		}
		b.Run(name, func(b *testing.B) {
			r := newReplayBuffer(frame.Rate16k, DefaultReplay, new(arena))
			defer r.Free()
			push := replaySteady(r, confirm)
			b.SetBytes(frame.Size)
			b.ReportAllocs()
			for b.Loop() {
				push()
			}
		})
	}
}

// TestReplayByTranscript: for a service without segment ends, transcripts
// confirm the utterances the client detects, in order, each once it has
// been followed by gapMin of quiet, and a replay starts in that quiet.
func TestReplayByTranscript(t *testing.T) {
	// Utterances at frames 10–59, 100–179 and from 240 on.
	loud := func(i int64) bool { return i >= 10 && i < 60 || i >= 100 && i < 180 || i >= 240 }
	type call struct{ n, written int64 } // ConfirmTranscripts(n, written)
	cases := []struct {
		name      string
		calls     []call
		written   int64
		wantStart int64
	}{
		{"no transcript: the session's start", nil, 150, 0},
		{"a transcript in the quiet after utterance 0", []call{{1, 80}}, 150, 80 - rbPre},
		{"a transcript after utterance 1 began: the quiet before it", []call{{1, 110}}, 150, 100 - rbPre},
		{"the same count again changes nothing", []call{{1, 110}, {1, 120}}, 150, 100 - rbPre},
		{"a late transcript inside utterance 1: utterance 0 only", []call{{1, 170}}, 175, 100 - rbPre},
		{"utterance 0's transcript late, after utterance 1 and its quiet: one utterance", []call{{1, 215}}, 230, 100 - rbPre},
		{"and the next transcript the next utterance", []call{{1, 215}, {2, 220}}, 230, 220 - rbPre},
		{"two transcripts at once: two utterances", []call{{2, 220}}, 230, 220 - rbPre},
		{"a transcript before gapMin of quiet waits for it", []call{{1, 65}}, 66, 0},
		{"and confirms once the quiet has come", []call{{1, 65}, {1, 80}}, 150, 80 - rbPre},
		{"more transcripts than utterances: the rest wait", []call{{3, 220}}, 230, 220 - rbPre},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newTestReplay(t, 0)
			b.byTranscript = true
			defer b.Free()
			var n int64
			push := func(to int64) {
				for ; n < to; n++ {
					f := testFrame(n, loud(n))
					push(b, f)
				}
			}
			for _, cl := range c.calls {
				push(cl.written)
				b.ConfirmTranscripts(cl.n, cl.written)
			}
			push(c.written)
			start, lost := b.Resume(c.written)
			if start != c.wantStart || lost != 0 {
				t.Fatalf("replay from %d (%d lost), want %d", start, lost, c.wantStart)
			}
		})
	}
}

// TestReplayUtterances counts the utterances after the last confirmed one,
// what the drain awaits transcripts for.
func TestReplayUtterances(t *testing.T) {
	loud := func(i int64) bool { return i >= 10 && i < 60 || i >= 100 && i < 180 || i >= 240 && i < 250 }
	for _, c := range []struct{ n, written, want int64 }{
		{0, 300, 3}, {0, 245, 3}, {0, 100, 1}, {1, 300, 2}, {3, 300, 0},
	} {
		b := newTestReplay(t, 0)
		b.byTranscript = true
		for i := range int64(300) {
			f := testFrame(i, loud(i))
			push(b, f)
		}
		b.ConfirmTranscripts(c.n, c.written)
		defer b.Free()
		if got := b.Utterances(c.written) - b.Unconsumed(c.n); got != c.want {
			t.Errorf("%d transcripts, written %d: %d utterances owed, want %d", c.n, c.written, got, c.want)
		}
	}
}

// TestReplayConfirmAfterConfirmAll: a segment confirmed soon after a
// ConfirmAll (speech right after a long pause the service had finished
// with) neither starts the replay before the ConfirmAll's position, which
// would ask for frames given back, nor counts them as lost.
func TestReplayConfirmAfterConfirmAll(t *testing.T) {
	const c = 16
	b := newTestReplay(t, 0)
	defer b.Free()
	quiet := []span{{from: 0, to: 20 * c}} // the pause, then speech
	pushTo(b, 10*c, quiet)
	b.ConfirmAll(10 * c)
	if frames, _ := b.Held(); frames != 0 {
		t.Fatalf("after ConfirmAll at the newest frame, %d frames are held; want 0", frames)
	}
	pushTo(b, 20*c+30, quiet)
	b.Confirm(10*c + 5) // replayMargin before it lies before the ConfirmAll
	if start, lost := b.Resume(b.n); start != 10*c || lost != 0 {
		t.Fatalf("Resume = %d, %d lost; want %d, 0 lost", start, lost, 10*c)
	}
	checkFrames(t, b, 10*c, b.n, quiet)
	b.Confirm(20*c + 20) // in the speech: the silent stretch before it is the pause
	if start, lost := b.Resume(b.n); start != 20*c-rbPre || lost != 0 {
		t.Fatalf("Resume = %d, %d lost; want %d, 0 lost", start, lost, 20*c-rbPre)
	}
	checkFrames(t, b, 20*c-rbPre, b.n, quiet)
}

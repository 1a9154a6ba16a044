package pipeline

import (
	"fmt"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// replayBuffer holds the frames a new session may need after the current one
// is lost, and decides where the replay starts. It is synchronous and not
// safe for concurrent use: the sending goroutine owns it and makes every
// call; the events reader hands it confirmations through the sender.
//
// Frame n is the n-th frame given to Push, counting from 0. A position p is a
// frame number of the stream: the session had been written up to p, frame p
// excluded. The first session starts at frame 0, each later one at the frame
// its replay starts with.
//
// The calls, in order:
//   - Push takes each new frame, in stream order, before it is written.
//   - Confirm(pos) reports a finished segment: its segment end came when
//     the current session had been written up to pos, and its final
//     transcript has now come. Confirmed means the service is done with
//     everything before the segment's end, which lies at least the service's
//     500 ms of silence before pos. Positions only move forward within a
//     session; one not after the last confirmed is ignored, so passing the
//     latest one again is free. A confirmation from an earlier session must
//     not be passed: Confirm cannot tell it from one of the current session.
//     An unpaced stream never confirms: it can be seconds ahead of the
//     service, so pos says little about where the segment ended.
//   - Resume(written), once the session is lost, says where the replay starts
//     and how many frames are given up. It changes nothing.
//   - NewSession(start), with that start, before the new session's first
//     frame is written; the sender then writes Frame(i) for i from start up to
//     the frames pushed, and goes on with Push.
//   - Free, when the run ends, gives the memory back.
//
// Where a replay starts: before any confirmation in the current session, at
// the session's start. After one, with mark the last confirmed position: the
// latest stretch of at least gapMin of quiet frames (Energy below
// frame.EnergyAt(quietDBFS)) in the gapWindow before mark, not counting
// frames before the session's start (or the last ConfirmAll) or whose loudness is no longer kept, is the silence after
// the finished segment; the replay starts preRoll before its end, or at its
// start if it is shorter. Without such a stretch, it starts replayMargin
// before mark. In every case it starts never before the session's start
// (nor before the last position ConfirmAll confirmed),
// never before the oldest frame held (the frames before it are given up, and
// counted), and never after written.
//
// Where a replay starts is decided from the frames' loudness alone, which
// the buffer keeps as one bit a frame for the last FramesIn(Replay)+1
// frames: the look-back over gapWindow costs no audio.
//
// Memory: the buffer keeps the frames Push is given, not copies, and gives
// each back to its arena (the run's) as soon as no replay can need it. It
// holds at most the last FramesIn(Replay)+1 frames, and of those only the
// ones a replay may still need: from the session's start or, once a
// segment is confirmed, from where a replay would start now or
// replayMargin before the mark, whichever is earlier (a later Resume never
// starts before either). It allocates only to grow its list of frames, and
// in Take when the arena takes a slab.
type replayBuffer struct {
	limit      int64 // the most frames held
	window     int64 // gapWindow, in frames
	need       int64 // gapMin, in frames
	pre        int64 // preRoll, in frames
	margin     int64 // replayMargin, in frames
	quietBelow int64 // the Energy of a frame at quietDBFS

	frames []*frame.Frame // frames[k] is frame first+k; the ones before head are given back
	head   int            // frames[head] is the oldest frame held
	first  int64          // the frame of frames[0]
	n      int64          // frames pushed
	quiet  []uint64       // bit i%(64·len) is set when frame i is quiet, for the last limit frames
	arena  *arena         // where Take takes frames and the buffer gives them back

	start int64 // the current session's first frame
	floor int64 // the service is done with every frame before: the session's start, or the last ConfirmAll
	ack   int64 // a replay starts no later than this without a silent stretch
	mark  int64 // the last confirmed position, or start
	keep  int64 // no replay of the current session starts before this frame; it never decreases
	exact bool  // mark was confirmed by ConfirmAll: a replay starts there

	// byTranscript: the service sends no segment ends, and its
	// transcripts confirm through ConfirmTranscripts.
	byTranscript bool
	consumed     int64 // transcripts of the current session that confirmed an utterance
}

// newReplayBuffer returns an empty buffer for a stream at rate r that keeps
// up to replay of audio (the Replay option), rounded up to whole frames, plus
// one frame. Take takes frames from a, the run's arena, to which the buffer
// gives them back; every frame pushed must be a's.
func newReplayBuffer(r frame.Rate, replay time.Duration, a *arena) *replayBuffer {
	limit := r.FramesIn(replay) + 1
	return &replayBuffer{
		limit:      limit,
		window:     r.FramesIn(gapWindow),
		need:       r.FramesIn(gapMin),
		pre:        r.FramesIn(preRoll),
		margin:     r.FramesIn(replayMargin),
		quietBelow: frame.EnergyAt(quietDBFS),
		quiet:      make([]uint64, (limit+63)/64),
		arena:      a,
	}
}

// Take returns a frame buffer from the arena, to give the read-ahead queue
// in place of the one Push keeps: a sender swaps a frame for each frame it
// pushes, so in a steady stream the same slabs serve.
func (b *replayBuffer) Take() *frame.Frame { return b.arena.get() }

// oldest returns the first frame held.
func (b *replayBuffer) oldest() int64 { return max(b.n-b.limit, b.keep) }

// Push takes f, whose Energy is energy, as the next frame of the stream:
// the buffer owns it from now on, and gives it back to the arena once no
// replay can need it. It may give back frames the limit makes unneeded.
func (b *replayBuffer) Push(f *frame.Frame, energy int64) {
	i := b.n
	b.n++
	w, bit := b.bit(i)
	if energy < b.quietBelow {
		b.quiet[w] |= bit
	} else {
		b.quiet[w] &^= bit
	}
	if b.head == len(b.frames) {
		b.frames, b.head, b.first = b.frames[:0], 0, i
	}
	b.frames = append(b.frames, f)
	held.replay.Add(1)
	b.trim()
}

// Confirm reports that the service finished a segment whose end (SegmentEnded)
// came when the current session had been written up to pos. A pos not after
// the last one confirmed (or the session's start) is ignored; pos must not
// exceed the frames pushed. It gives back the frames no replay needs any
// more.

func (b *replayBuffer) Confirm(pos int64) {
	if pos <= b.mark {
		return
	}
	if pos > b.n {
		panic(fmt.Sprintf("pipeline: segment confirmed at frame %d, but only %d frames were pushed", pos, b.n))
	}
	b.mark, b.exact = pos, false
	b.ack = max(b.floor, pos-b.margin)
	// A later Resume starts at ack, or in the latest silent stretch
	// before mark, which only more frames could move later.
	b.keep = max(b.keep, min(b.ack, b.gapStart()))
	b.trim()
}

// ConfirmAll reports that the service is done with everything before pos,
// a position of the current session: it answered a flush sent there, or
// it has had only silence since its last segment and ended it. A replay
// then starts at pos exactly. A pos not after the last one confirmed is
// ignored. It gives back the frames before pos.
func (b *replayBuffer) ConfirmAll(pos int64) {
	if pos < b.mark || pos == b.mark && b.exact {
		return
	}
	if pos > b.n {
		panic(fmt.Sprintf("pipeline: stream confirmed up to frame %d, but only %d frames were pushed", pos, b.n))
	}
	b.mark, b.ack, b.keep, b.floor, b.exact = pos, pos, pos, pos, true
	b.trim()
}

// Resume returns where the replay to a new session starts after the current
// one is lost, having been written up to written (which the sender had
// pushed), and how many frames before start were given up because they were
// no longer held. The type's comment gives the rule.
func (b *replayBuffer) Resume(written int64) (start, lost int64) {
	start = b.gapStart()
	if oldest := b.oldest(); start < oldest {
		lost = oldest - start
		start = oldest
	}
	return min(start, written), lost
}

// gapStart returns where a replay would start now, before the frames no
// longer held are counted: ack, or in the latest silent stretch before
// mark.
func (b *replayBuffer) gapStart() int64 {
	if b.mark > b.start && !b.exact {
		if g, ok := b.silentGap(max(b.floor, b.mark-b.window), b.mark); ok {
			return g
		}
	}
	return b.ack
}

// bit returns the word of b.quiet and the bit in it of frame i.
func (b *replayBuffer) bit(i int64) (int, uint64) {
	j := i % int64(64*len(b.quiet))
	return int(j / 64), 1 << (j % 64)
}

// isQuiet reports whether frame i, one of the last b.limit pushed, was
// quiet.
func (b *replayBuffer) isQuiet(i int64) bool {
	w, bit := b.bit(i)
	return b.quiet[w]&bit != 0
}

// measured returns the first frame whose loudness is known.
func (b *replayBuffer) measured() int64 { return max(0, b.n-b.limit) }

// silentGap returns the replay start for the latest stretch of at least
// b.need quiet frames in [lo, hi), or false if there is none.
func (b *replayBuffer) silentGap(lo, hi int64) (int64, bool) {
	lo = max(lo, b.measured())
	run, end := int64(0), hi // quiet frames counted back from end
	for i := hi - 1; i >= lo; i-- {
		if b.isQuiet(i) {
			run++
			continue
		}
		if run >= b.need {
			break
		}
		run, end = 0, i
	}
	if run < b.need {
		return 0, false
	}
	return max(end-run, end-b.pre), true
}

// ConfirmTranscripts reports, for a service that sends no segment ends
// (byTranscript), that the current session has given n final transcripts
// and been written up to written. Transcripts answer the utterances the
// client detects, in order: each one not used yet confirms the first
// utterance after the last confirmed position that was followed by a
// stretch of at least gapMin of quiet frames before written (the stretch
// may reach written), and a replay then starts in that stretch, preRoll
// before its end or at its start if it is shorter, as ConfirmAll would
// start it. A transcript whose utterance has not been followed by gapMin
// of quiet yet (a service that ends utterances sooner) waits for it: the
// next call tries again. A service that merges two utterances into one
// transcript gets the second replayed, never lost; one that splits an
// utterance in two confirms the next utterance early, which the drain's
// count of what is owed does not rely on.
func (b *replayBuffer) ConfirmTranscripts(n, written int64) {
	written = min(written, b.n)
	for b.consumed < n {
		g, ok := b.firstGap(b.mark, written)
		if !ok || g <= b.mark {
			return
		}
		b.ConfirmAll(g)
		b.consumed++
	}
}

// Unconsumed returns how many of the n transcripts of the current session
// have not confirmed an utterance yet.
func (b *replayBuffer) Unconsumed(n int64) int64 { return max(0, n-b.consumed) }

// Utterances returns the utterances in what the current session was sent
// after the last confirmed position, up to written: loud stretches that
// gapMin of quiet ends, or that written ends.
func (b *replayBuffer) Utterances(written int64) int64 {
	written = min(written, b.n)
	var count, quiet int64
	loud := false
	for i := max(b.mark, b.measured()); i < written; i++ {
		if !b.isQuiet(i) {
			loud, quiet = true, 0
			continue
		}
		if quiet++; loud && quiet >= b.need {
			count++
			loud = false
		}
	}
	if loud {
		count++
	}
	return count
}

// firstGap returns the replay start for the first stretch of at least
// b.need quiet frames in [lo, hi) that follows a loud frame, or false if
// there is none: the end of the first utterance after lo.
func (b *replayBuffer) firstGap(lo, hi int64) (int64, bool) {
	lo = max(lo, b.measured())
	loud := false
	for i := lo; i < hi; i++ {
		if !b.isQuiet(i) {
			loud = true
			continue
		}
		if !loud {
			continue
		}
		end := i // the stretch is [i, end)
		for end < hi && b.isQuiet(end) {
			end++
		}
		if end-i >= b.need {
			return max(i, end-b.pre), true
		}
		i = end - 1
	}
	return 0, false
}

// NewSession starts the next session at frame start, the start Resume
// returned: the confirmations of earlier sessions no longer count. It gives
// back the frames before start.
func (b *replayBuffer) NewSession(start int64) {
	if start < b.oldest() || start > b.n {
		panic(fmt.Sprintf("pipeline: session started at frame %d, outside the frames held, %d to %d", start, b.oldest(), b.n))
	}
	b.start, b.floor, b.ack, b.mark, b.keep, b.exact, b.consumed = start, start, start, start, start, false, 0
	b.trim()
}

// Frame returns frame i, which must be held: from the replay start Resume
// returns (or the current session's start) up to the frames pushed. It is
// valid until a call to Push, Confirm, ConfirmAll, ConfirmTranscripts,
// NewSession or Free gives it back:
// while it is replayed or written, as long as those calls come only
// between writes.
func (b *replayBuffer) Frame(i int64) *frame.Frame {
	if i < b.oldest() || i >= b.n {
		panic(fmt.Sprintf("pipeline: replay frame %d is not held; frames %d to %d are", i, b.oldest(), b.n-1))
	}
	return b.frames[i-b.first]
}

// Held returns the number of frames held and their bytes.
func (b *replayBuffer) Held() (frames, bytes int64) {
	frames = int64(len(b.frames) - b.head)
	return frames, frames * frame.Size
}

// Free gives every frame back to the arena. The buffer must not be used
// afterwards.
func (b *replayBuffer) Free() {
	b.keep = b.n
	b.trim()
}

// trim gives back the frames before oldest.
func (b *replayBuffer) trim() {
	end := min(int64(len(b.frames)), b.oldest()-b.first) // frames[end] is the oldest frame to keep
	if end <= int64(b.head) {
		return
	}
	for k := b.head; k < int(end); k++ {
		if !b.arena.put(b.frames[k]) {
			panic("pipeline: the replay buffer held a frame buffer that is not its arena's")
		}
		b.frames[k] = nil
	}
	held.replay.Add(-(end - int64(b.head)))
	b.head = int(end)
	if b.head == len(b.frames) {
		b.frames, b.head, b.first = b.frames[:0], 0, b.first+end
	} else if b.head >= 64 && b.head >= len(b.frames)/2 {
		// Move the frames held to the front, now and then: the list
		// does not grow past twice the most frames held.
		m := copy(b.frames, b.frames[b.head:])
		clear(b.frames[m:])
		b.frames, b.head, b.first = b.frames[:m], 0, b.first+end
	}
}

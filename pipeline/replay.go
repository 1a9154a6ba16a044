package pipeline

import (
	"fmt"
	"sync"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// chunkFrames is the number of frames in a chunk of a [replayBuffer]: 2 s at
// 16 kHz, 64 KiB.
const chunkFrames = 64

type chunk [chunkFrames]frame.Frame

// chunkPool holds the chunks no replay buffer holds, for every run of the
// process: a chunk one stream gives back serves the next, and chunks nobody
// takes are freed by the garbage collector. It holds *chunk.
var chunkPool sync.Pool

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
//   - Push copies each new frame in, in stream order, before it is written.
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
// frames before the session's start or no longer held, is the silence after
// the finished segment; the replay starts preRoll before its end, or at its
// start if it is shorter. Without such a stretch, it starts replayMargin
// before mark. In every case it starts never before the session's start,
// never before the oldest frame held (the frames before it are given up, and
// counted), and never after written.
//
// Memory: frames are stored in chunks of chunkFrames taken from chunkPool.
// The buffer holds at most the last FramesIn(Replay)+1 frames, and of those
// only the ones a replay may still need: from the session's start or, once a
// segment is confirmed, from gapWindow before its mark. A chunk goes back to
// the pool as soon as it holds none of them, so Push allocates only when the
// pool is empty: in a steady stream, never.
type replayBuffer struct {
	limit      int64 // the most frames held
	window     int64 // gapWindow, in frames
	need       int64 // gapMin, in frames
	pre        int64 // preRoll, in frames
	margin     int64 // replayMargin, in frames
	quietBelow int64 // the Energy of a frame at quietDBFS

	chunks []*chunk // chunks[k] holds frames from (base+k)*chunkFrames
	base   int64    // the chunk number of chunks[0]
	n      int64    // frames pushed

	start int64 // the current session's first frame
	ack   int64 // a replay starts no later than this without a silent stretch
	mark  int64 // the last confirmed position, or start
	keep  int64 // no replay of the current session starts before this frame
	exact bool  // mark was confirmed by ConfirmAll: a replay starts there

	// byTranscript: the service sends no segment ends, and its
	// transcripts confirm through ConfirmTranscripts.
	byTranscript bool
	consumed     int64 // transcripts of the current session that confirmed an utterance
}

// newReplayBuffer returns an empty buffer for a stream at rate r that keeps
// up to replay of audio (the Replay option), rounded up to whole frames, plus
// one frame.
func newReplayBuffer(r frame.Rate, replay time.Duration) *replayBuffer {
	limit := r.FramesIn(replay) + 1
	return &replayBuffer{
		limit:      limit,
		window:     r.FramesIn(gapWindow),
		need:       r.FramesIn(gapMin),
		pre:        r.FramesIn(preRoll),
		margin:     r.FramesIn(replayMargin),
		quietBelow: frame.EnergyAt(quietDBFS),
		chunks:     make([]*chunk, 0, (limit+chunkFrames-1)/chunkFrames+1),
	}
}

// oldest returns the first frame held.
func (b *replayBuffer) oldest() int64 { return max(b.n-b.limit, b.keep) }

// Push copies f in as the next frame of the stream and returns the copy,
// which is valid like one from Frame. It may give back a chunk the limit
// makes unneeded, and allocates only when it needs a chunk and the pool has
// none.
func (b *replayBuffer) Push(f *frame.Frame) *frame.Frame {
	i := b.n
	b.n++
	b.trim()
	if i%chunkFrames == 0 {
		c, _ := chunkPool.Get().(*chunk)
		if c == nil {
			c = new(chunk)
		}
		if len(b.chunks) == 0 {
			b.base = i / chunkFrames
		}
		b.chunks = append(b.chunks, c)
	}
	p := &b.chunks[i/chunkFrames-b.base][i%chunkFrames]
	*p = *f
	return p
}

// Confirm reports that the service finished a segment whose end (SegmentEnded)
// came when the current session had been written up to pos. A pos not after
// the last one confirmed (or the session's start) is ignored; pos must not
// exceed the frames pushed. It gives back the chunks no replay needs any
// more.

func (b *replayBuffer) Confirm(pos int64) {
	if pos <= b.mark {
		return
	}
	if pos > b.n {
		panic(fmt.Sprintf("pipeline: segment confirmed at frame %d, but only %d frames were pushed", pos, b.n))
	}
	b.mark, b.exact = pos, false
	b.ack = max(b.start, pos-b.margin)
	b.keep = min(b.ack, max(b.start, pos-b.window))
	b.trim()
}

// ConfirmAll reports that the service is done with everything before pos,
// a position of the current session: it answered a flush sent there, or
// it has had only silence since its last segment and ended it. A replay
// then starts at pos exactly. A pos not after the last one confirmed is
// ignored. It gives back the chunks before pos.
func (b *replayBuffer) ConfirmAll(pos int64) {
	if pos < b.mark || pos == b.mark && b.exact {
		return
	}
	if pos > b.n {
		panic(fmt.Sprintf("pipeline: stream confirmed up to frame %d, but only %d frames were pushed", pos, b.n))
	}
	b.mark, b.ack, b.keep, b.exact = pos, pos, pos, true
	b.trim()
}

// Resume returns where the replay to a new session starts after the current
// one is lost, having been written up to written (which the sender had
// pushed), and how many frames before start were given up because they were
// no longer held. The type's comment gives the rule.
func (b *replayBuffer) Resume(written int64) (start, lost int64) {
	start = b.ack
	if b.mark > b.start && !b.exact {
		if g, ok := b.silentGap(max(b.start, b.mark-b.window), b.mark); ok {
			start = g
		}
	}
	if oldest := b.oldest(); start < oldest {
		lost = oldest - start
		start = oldest
	}
	return min(start, written), lost
}

// silentGap returns the replay start for the latest stretch of at least
// b.need quiet frames in [lo, hi), or false if there is none.
func (b *replayBuffer) silentGap(lo, hi int64) (int64, bool) {
	lo = max(lo, b.oldest())
	run, end := int64(0), hi // quiet frames counted back from end
	for i := hi - 1; i >= lo; i-- {
		if b.Frame(i).Energy() < b.quietBelow {
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
	for i := max(b.mark, b.oldest()); i < written; i++ {
		if b.Frame(i).Energy() >= b.quietBelow {
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
	lo = max(lo, b.oldest())
	loud := false
	for i := lo; i < hi; i++ {
		if b.Frame(i).Energy() >= b.quietBelow {
			loud = true
			continue
		}
		if !loud {
			continue
		}
		end := i // the stretch is [i, end)
		for end < hi && b.Frame(end).Energy() < b.quietBelow {
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
// back the chunks before start.
func (b *replayBuffer) NewSession(start int64) {
	if start < b.oldest() || start > b.n {
		panic(fmt.Sprintf("pipeline: session started at frame %d, outside the frames held, %d to %d", start, b.oldest(), b.n))
	}
	b.start, b.ack, b.mark, b.keep, b.exact, b.consumed = start, start, start, start, false, 0
	b.trim()
}

// Frame returns frame i, which must be held: from the replay start Resume
// returns (or the current session's start) up to the frames pushed. It is
// valid until a call to Push, Confirm, NewSession or Free gives its chunk
// back: while it is replayed or written, as long as those calls come only
// between writes.
func (b *replayBuffer) Frame(i int64) *frame.Frame {
	if i < b.oldest() || i >= b.n {
		panic(fmt.Sprintf("pipeline: replay frame %d is not held; frames %d to %d are", i, b.oldest(), b.n-1))
	}
	return &b.chunks[i/chunkFrames-b.base][i%chunkFrames]
}

// Held returns the number of frames held and the bytes of the chunks holding
// them.
func (b *replayBuffer) Held() (frames, bytes int64) {
	return b.n - b.oldest(), int64(len(b.chunks)) * chunkFrames * frame.Size
}

// Free gives every chunk back to the pool. The buffer must not be used
// afterwards.
func (b *replayBuffer) Free() {
	for _, c := range b.chunks {
		chunkPool.Put(c)
	}
	clear(b.chunks)
	b.chunks = b.chunks[:0]
	b.keep = b.n
}

// trim gives back the chunks that hold no frame from oldest on.
func (b *replayBuffer) trim() {
	first := b.oldest() / chunkFrames // the chunk of the oldest frame held
	k := int64(0)
	for k < int64(len(b.chunks)) && b.base+k < first {
		chunkPool.Put(b.chunks[k])
		k++
	}
	if k == 0 {
		return
	}
	m := copy(b.chunks, b.chunks[k:])
	clear(b.chunks[m:])
	b.chunks = b.chunks[:m]
	b.base += k
}

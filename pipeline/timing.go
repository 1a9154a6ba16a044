package pipeline

import (
	"sync"
	"sync/atomic"
	"time"
)

// Timestamps. The sender detects speech in every frame it takes from the
// queue (the first time only: a replay sends the same frames again), as
// utterances: stretches of loud frames (Energy at least
// frame.EnergyAt(quietDBFS)) that gapMin of quiet ends, in the stream's
// frame numbers. The listener places each segment the service ends among
// them, from the stream position at which its end came (the frames the
// session had been written up to, as the replay's confirmations do):
//
//   - An utterance is complete at a position once gapMin of quiet after it
//     had been sent. The service ends a segment segmentHangover of quiet
//     after its speech (Vachana's and the reference server's detectors; 0.5
//     to 1 s for Sarvam), so at its segment end every utterance of the
//     segment is complete, and the next speech has at most begun.
//   - A segment end at position pos covers the complete utterances not yet
//     placed that began before pos−segmentHangover; the first of them
//     starts the segment, the last ends it. A transcript of a service
//     without segment ends (aiOla), which may come late, covers the next
//     complete utterance, as the replay pairs them, with the complete ones
//     after it that pauses shorter than segmentHangover join to it (no
//     service ends a segment there); so does a segment end of an unpaced
//     stream, whose position says nothing.
//   - Without a complete utterance (the service cut a long utterance
//     without a pause, heard speech below the client's threshold, or
//     heard speech in noise the client takes for speech that never
//     pauses), the segment ends at pos−segmentHangover (for a service
//     without segment ends, at pos or where the speech in progress
//     paused) and starts where the speech in progress began, but not
//     before the segment's audio duration before its end, when the
//     service says it (Vachana with the transcript, after its segment
//     end: see estimate and account). Without any of these its times
//     stay unknown.
//   - A new session starts placing at the frame its replay starts with, so
//     a segment transcribed again after a lost session gets the same times.
//
// Times are converted to the input's timeline by leaving out the filler a
// keep-alive sent while the input paused, and are exact to a frame (32 ms
// at 16 kHz).
const segmentHangover = 500 * time.Millisecond

// utterance is a stretch of speech the sender detected: frames [start,
// end) of the stream, end the frame after the last loud one.
type utterance struct{ start, end int64 }

// fillRun is a run of n filler frames that began at stream frame at.
type fillRun struct{ at, n int64 }

// speechMap is what the sender detected, shared with the listeners. The
// sender locks it only when an utterance begins or ends and when a filler
// run ends, so a frame costs no lock.
type speechMap struct {
	loud atomic.Int64 // the frame after the last loud one so far

	mu     sync.Mutex
	utts   []utterance // oldest first; the last one is still open when open
	open   bool
	fills  []fillRun
	shift  int64 // filler frames in runs trimmed from fills
	window int64 // utterances that ended this many frames before the newest are forgotten, placed or not
}

// forgetAfter is how long an utterance is kept for segment ends that have
// not come (a service that stopped answering): at least this, or the
// replay's window if longer.
const forgetAfter = time.Minute

// begin records an utterance beginning at frame i, forgetting those that
// ended more than the window before it.
func (m *speechMap) begin(i int64) {
	m.mu.Lock()
	k := 0
	for k < len(m.utts) && m.utts[k].end < i-m.window {
		k++
	}
	if k > 0 {
		n := copy(m.utts, m.utts[k:])
		m.utts = m.utts[:n]
	}
	m.utts = append(m.utts, utterance{start: i, end: i + 1})
	m.open = true
	m.mu.Unlock()
}

// end records that the open utterance ended before frame end.
func (m *speechMap) end(end int64) {
	m.mu.Lock()
	if m.open {
		m.utts[len(m.utts)-1].end = end
		m.open = false
	}
	m.mu.Unlock()
}

// spanOf returns utterance i with the end of an open one as far as it is
// known. It runs under m.mu.
func (m *speechMap) spanOf(i int) (u utterance, open bool) {
	u = m.utts[i]
	if open = m.open && i == len(m.utts)-1; open {
		u.end = max(u.end, m.loud.Load())
	}
	return u, open
}

// filled records a run of n filler frames that began at stream frame at.
func (m *speechMap) filled(at, n int64) {
	m.mu.Lock()
	m.fills = append(m.fills, fillRun{at, n})
	m.mu.Unlock()
}

// inputFrame converts stream frame i to the input's timeline: the filler
// sent before it is left out. It runs under m.mu.
func (m *speechMap) inputFrame(i int64) int64 {
	out := i - m.shift
	for _, f := range m.fills {
		if f.at >= i {
			break
		}
		out -= min(f.n, i-f.at)
	}
	return out
}

// placer places the segments of the current session: the listeners own it,
// one at a time (sessions follow each other), and the sender resets it for
// each new session before its listener starts.
type placer struct {
	m      *speechMap
	next   int64 // segments start no earlier than this frame: the end of the last placed
	need   int64 // gapMin, in frames
	hang   int64 // segmentHangover, in frames
	keep   int64 // frames the replay may send again (its limit); utterances older are forgotten once placed
	paced  bool
	single bool // one utterance per segment: a service without segment ends, or an unpaced stream (see Stream)
}

// reset starts placing for a session whose first frame is start.
func (p *placer) reset(start int64) { p.next = start }

// placement is where a segment was placed, in stream frames.
type placement struct {
	start, end int64 // the speech it covers, in the input's frames, when ok
	ok, exact  bool  // placed; placed among complete utterances, not estimated
	// Not ok: its place kept for estimate, in the input's frames
	// (converted at once, while the filler before it is still known): it
	// ends at at, and starts no earlier than floor, the end of the
	// segment placed before. at is -1 when no place is kept.
	floor, at int64
}

// place places the speech a segment the service ended covers, its end
// having come at stream position pos; dur is the segment's audio as the
// service counts it, if it says. A segment that nothing places keeps its
// place in time (at), so that the length its transcript says later can
// place it there (estimate) even if other segments were placed meanwhile.
func (p *placer) place(pos int64, dur int64) placement {
	m := p.m
	m.mu.Lock()
	defer m.mu.Unlock()
	pl := placement{at: -1}
	floor := p.next
	cut, limit := pos-p.need, pos-p.hang
	if p.single {
		limit = 1 << 62 // a transcript may come late: its utterance is the next one
	}
	if !p.paced {
		cut, limit = 1<<62, 1<<62 // the stream runs ahead of the service: pair in order
	}
	first, last := -1, -1
	for i := range m.utts {
		u, open := m.spanOf(i)
		if u.end <= p.next && !open {
			continue
		}
		if open || u.end > cut || max(u.start, p.next) >= limit {
			break
		}
		if first >= 0 && p.single && u.start-m.utts[last].end >= p.hang {
			break // the next utterance: one a transcript at a time
		}
		// (In one segment: every complete utterance before its end, or
		// for a service paired in order, those a pause shorter than a
		// service's end of speech joins: it could not have ended one
		// there.)
		if first < 0 {
			first = i
		}
		last = i
	}
	end := pos - p.hang
	if first >= 0 {
		pl.start, pl.end = max(m.utts[first].start, p.next), m.utts[last].end
		pl.ok, pl.exact = true, true
	} else {
		// No complete utterance: speech in progress the service cut,
		// or speech the client did not detect.
		if p.single || !p.paced {
			end = pos
		}
		start := end
		for i := range m.utts {
			if u, open := m.spanOf(i); (u.end > p.next || open) && u.start < end {
				if p.single && p.paced && open && u.end >= pos-p.need/4 {
					// Speech that has not paused up to the transcript
					// (noise, to the client): the service heard its
					// quiet before the end.
					end = pos - p.hang
				}
				if s := max(u.start, p.next); s < end {
					start, end = s, min(end, max(u.end, s+1))
				}
				break
			}
		}
		if dur > 0 {
			// The service's length of the segment bounds it: in noise the
			// speech in progress may have begun long before.
			if start == end {
				start = p.next
			}
			start = max(start, end-dur)
		}
		pl.start, pl.end, pl.ok = start, end, start < end
	}
	switch {
	case pl.ok:
		p.next = pl.end
		pl.start, pl.end = m.inputFrame(pl.start), m.inputFrame(pl.end)
	case p.paced:
		p.next = max(end, p.next)
		pl.floor, pl.at = m.inputFrame(floor), m.inputFrame(p.next)
	}
	p.trim(pos)
	return pl
}

// estimate places a segment from its length alone, dur frames, in the
// place kept for it (pl.at, where place could not place it), in the
// input's frames: the client detected no speech there, and the service
// said the length only with the transcript. ok is false when no place was
// kept (an unpaced stream, where positions say nothing). It needs no lock.
func (p *placer) estimate(pl placement, dur int64) (start, end int64, ok bool) {
	if pl.at < 0 || dur <= 0 {
		return 0, 0, false
	}
	start, end = max(pl.floor, pl.at-dur), pl.at
	return start, end, start < end
}

// trim forgets the utterances placed and older than any replay may start,
// and the filler runs before them. It runs under m.mu.
func (p *placer) trim(pos int64) {
	m := p.m
	bound := min(p.next, pos-p.keep)
	k := 0
	for k < len(m.utts)-1 && m.utts[k].end <= bound {
		k++
	}
	if k > 0 {
		n := copy(m.utts, m.utts[k:])
		m.utts = m.utts[:n]
	}
	if len(m.utts) > 0 {
		bound = min(bound, m.utts[0].start)
	}
	j := 0
	for j < len(m.fills) && m.fills[j].at+m.fills[j].n <= bound {
		m.shift += m.fills[j].n
		j++
	}
	if j > 0 {
		n := copy(m.fills, m.fills[j:])
		m.fills = m.fills[:n]
	}
}

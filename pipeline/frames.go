package pipeline

import (
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// Frames move through a run without being copied after the reader fills
// them: the reader fills a buffer of the read-ahead queue, the sender takes
// it and, with a replay buffer, keeps that very buffer for a replay, giving
// the queue another from the run's arena in its place; the replay buffer
// gives each frame back to the arena once no replay can need it. A frame
// is copied once, from the input into its buffer.
//
// A run's frame buffers come in slabs of slabFrames, each one object for
// the garbage collector: with a buffer per object, a thousand streams whose
// replay buffers grew (a service that confirms little) made the collector
// mark a million objects a cycle, and its assists delayed frames by
// milliseconds. A slab all of whose buffers are back leaves the run at
// once, for slabPool, where any run can take it: a stream in silence holds
// no slab for audio it no longer needs, and no run's frames pin another's
// slabs.

// slabFrames is how many frame buffers make a slab: 32 KiB, about a second
// of audio at 16 kHz, and half a read-ahead queue of the default size. A
// thousand streams whose replay buffers are full (30 s) hold about 32 000
// slabs.
const slabFrames = 32

// fullSlab is the used bits of a slab whose buffers are all out.
const fullSlab uint64 = 1<<slabFrames - 1

// slab is the frame buffers a run takes at a time.
type slab [slabFrames]frame.Frame

// slabPool holds the slabs no run holds, for every run of the process; the
// garbage collector frees those nobody takes. It holds *slab.
var slabPool = sync.Pool{New: newSlab}

// newSlab allocates every frame buffer of the pipeline: heap profiles show
// the audio it holds under this name.
func newSlab() any { return new(slab) }

// arena holds the frame buffers of one run. Its methods are for one
// goroutine at a time: the run's setup, then its sender, then its end. It
// allocates only when it takes a slab: the slab, when slabPool has none,
// and room in its list past the most slabs it has held.
type arena struct {
	slabs []heldSlab
}

// heldSlab is a slab an arena holds and which of its buffers are out: the
// two side by side, so that taking a buffer reads one line of memory, not
// two (for one stream among a thousand, each is a cache miss).
type heldSlab struct {
	s    *slab
	used uint64 // bit j is set while s[j] is out
}

// get returns a frame buffer from the newest slab held, or from a slab it
// takes when that one has none in. It never fills the holes of older slabs:
// frames are given back in about the order they were taken (the queue and
// the replay buffer are both first in, first out), so an older slab empties
// and leaves, and a run holds about a slab more than it uses. Its content
// is anything.
func (a *arena) get() *frame.Frame {
	if k := len(a.slabs) - 1; k >= 0 && a.slabs[k].used != fullSlab {
		h := &a.slabs[k]
		j := bits.TrailingZeros64(^h.used)
		h.used |= 1 << j
		held.idle.Add(-1)
		// The address is computed, not indexed: indexing through the slab
		// pointer loads the slab's first bytes (Go's nil check), a cache
		// and TLB miss of its own for one stream among a thousand: about
		// 0.6 µs a frame at 1 000 streams (a CPU profile, 2026-12-02).
		return (*frame.Frame)(unsafe.Add(unsafe.Pointer(h.s), j*frame.Size))
	}
	s := slabPool.Get().(*slab)
	a.slabs = append(a.slabs, heldSlab{s, 1})
	held.idle.Add(slabFrames - 1)
	return &s[0]
}

// put gives back f, which nobody may use afterwards, and the slab it is in
// to slabPool if that was its last buffer out. It reports false, and
// leaves f to the garbage collector, if f is in no slab the arena holds; it
// panics if f was given back already while its slab is held (a buffer
// given back twice after its slab left is not told from a stranger's).
func (a *arena) put(f *frame.Frame) bool {
	p := uintptr(unsafe.Pointer(f))
	for k := range a.slabs {
		h := &a.slabs[k]
		off := p - uintptr(unsafe.Pointer(h.s)) // wraps around (large) below the slab
		if off >= unsafe.Sizeof(*h.s) {
			continue
		}
		bit := uint64(1) << (off / frame.Size)
		if h.used&bit == 0 || off%frame.Size != 0 {
			panic(fmt.Sprintf("pipeline: frame buffer %d of slab %d given back twice, or not a buffer", off/frame.Size, k))
		}
		if h.used &^= bit; h.used != 0 {
			held.idle.Add(1)
			return true
		}
		s := h.s
		a.slabs = slices.Delete(a.slabs, k, k+1)
		held.idle.Add(-(slabFrames - 1))
		slabPool.Put(s)
		return true
	}
	return false
}

// close leaves the slabs still held to the garbage collector, once the run
// is over and nobody uses its buffers: put has given back every slab whose
// buffers are all in, so each has one nobody gave back (none, unless a
// stage of the run failed to).
func (a *arena) close() {
	slabsDropped.Add(int64(len(a.slabs)))
	held.idle.Add(-a.idle())
	clear(a.slabs)
	a.slabs = a.slabs[:0]
}

// slabsDropped counts the slabs close left to the garbage collector, for
// the tests.
var slabsDropped atomic.Int64

// idle returns the buffers in, in the slabs held.
func (a *arena) idle() int64 {
	n := int64(len(a.slabs)) * slabFrames
	for _, h := range a.slabs {
		n -= int64(bits.OnesCount64(h.used))
	}
	return n
}

// held counts the frames the runs of the process hold, for HeldAudio.
var held struct {
	replay    atomic.Int64 // in replay buffers
	readAhead atomic.Int64 // in read-ahead queues: Options.ReadAhead a run
	idle      atomic.Int64 // in the runs' arenas, holding nothing
}

// Held is the audio the runs of a process hold, in bytes.
type Held struct {
	// Replay is the audio replay buffers hold for a replay after a lost
	// session: what the service has not confirmed, from where a replay
	// would start (see Options.Replay).
	Replay int64
	// ReadAhead is the frame buffers of the runs' read-ahead queues
	// (Options.ReadAhead each), full or not.
	ReadAhead int64
	// Idle is the frame buffers that hold nothing, in the slabs of 32
	// (32 KiB) in which each run takes memory for audio: at most 31 per
	// slab the run holds, as a slab all of whose buffers are free leaves
	// the run at once; in a steady stream, about a slab's worth. Slabs
	// no run holds, kept for the next, are not counted.
	Idle int64
}

// HeldAudio returns the audio every Run and Stream of the process holds
// now: for monitoring the memory of many streams, with
// [runtime.ReadMemStats] for the rest. It is safe for concurrent use.
func HeldAudio() Held {
	return Held{
		Replay:    held.replay.Load() * frame.Size,
		ReadAhead: held.readAhead.Load() * frame.Size,
		Idle:      held.idle.Load() * frame.Size,
	}
}

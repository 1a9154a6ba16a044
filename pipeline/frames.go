package pipeline

import (
	"sync"
	"sync/atomic"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// Frames move through a run without being copied after the reader fills
// them: the reader fills a buffer of the read-ahead queue, the sender takes
// it and, with a replay buffer, keeps that very buffer for a replay, giving
// the queue a fresh one from framePool in its place; the replay buffer
// gives each frame back to framePool once no replay can need it. A frame
// is copied once, from the input into its buffer.
//
// framePool holds the frame buffers nobody holds, for every run of the
// process: a frame one stream gives back serves the next, and those nobody
// takes are freed by the garbage collector. It holds *frame.Frame.
var framePool = sync.Pool{New: newFrameBuffer}

// newFrameBuffer allocates every frame buffer of the pipeline: heap
// profiles show the audio it holds under this name.
func newFrameBuffer() any { return new(frame.Frame) }

// getFrame returns a frame buffer from framePool. Its content is anything.
func getFrame() *frame.Frame { return framePool.Get().(*frame.Frame) }

// putFrame gives f back to framePool. Nobody may use it afterwards.
func putFrame(f *frame.Frame) { framePool.Put(f) }

// held counts the frames the runs of the process hold, for HeldAudio.
var held struct {
	replay    atomic.Int64 // in replay buffers
	readAhead atomic.Int64 // in read-ahead queues: Options.ReadAhead a run
}

// Held is the audio the runs of a process hold, in bytes.
type Held struct {
	// Replay is the audio replay buffers hold for a replay after a lost
	// session: what the service has not confirmed, from where a replay
	// would start (see Options.Replay), and up to 32 frames each keeps for
	// reuse.
	Replay int64
	// ReadAhead is the frame buffers of the runs' read-ahead queues
	// (Options.ReadAhead each), full or not.
	ReadAhead int64
}

// HeldAudio returns the audio every Run and Stream of the process holds
// now: for monitoring the memory of many streams, with
// [runtime.ReadMemStats] for the rest. It is safe for concurrent use.
func HeldAudio() Held {
	return Held{
		Replay:    held.replay.Load() * frame.Size,
		ReadAhead: held.readAhead.Load() * frame.Size,
	}
}

package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"unsafe"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/sink"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
)

// TestArena: an arena hands out distinct buffers of its newest slab, takes
// a slab when that one is full, gives a slab back as soon as its last
// buffer is, and counts the buffers in.
func TestArena(t *testing.T) {
	var a arena
	defer a.close()
	out := map[*frame.Frame]bool{}
	var fs []*frame.Frame
	for i := range 3*slabFrames + 1 {
		f := a.get()
		if out[f] {
			t.Fatalf("buffer %d: handed out twice", i)
		}
		out[f] = true
		fs = append(fs, f)
		f[0], f[frame.Size-1] = byte(i), ^byte(i)
	}
	for i, f := range fs {
		if f[0] != byte(i) || f[frame.Size-1] != ^byte(i) {
			t.Fatalf("buffer %d was written through another", i)
		}
	}
	for i := 1; i < len(fs); i++ {
		// Each buffer is whole: none overlaps the one before it.
		if d := uintptr(unsafe.Pointer(fs[i])) - uintptr(unsafe.Pointer(fs[i-1])); d < frame.Size && -d < frame.Size {
			t.Fatalf("buffers %d and %d overlap", i-1, i)
		}
	}
	check := func(what string, slabs int, idle int64) {
		t.Helper()
		if len(a.slabs) != slabs || a.idle() != idle {
			t.Fatalf("%s: %d slabs, %d buffers in; want %d, %d", what, len(a.slabs), a.idle(), slabs, idle)
		}
	}
	check("97 out", 4, slabFrames-1)

	// A buffer given back to an older slab stays a hole: the next comes
	// from the newest slab.
	a.put(fs[5])
	check("one given back", 4, slabFrames)
	if f := a.get(); f == fs[5] || f != &a.slabs[3].s[1] {
		t.Fatal("the buffer after one given back to the oldest slab was not the newest slab's next")
	}
	check("one more out", 4, slabFrames-1)
	// The second slab, all given back, leaves; the others stay.
	for _, f := range fs[slabFrames : 2*slabFrames] {
		if !a.put(f) {
			t.Fatal("a buffer of the arena's was not recognised")
		}
	}
	check("the second slab given back", 3, slabFrames-1)
	if a.put(fs[slabFrames]) {
		t.Fatal("the second slab is still held")
	}
	// The newest slab full, the next buffer takes a slab, hole or not.
	for range slabFrames - 2 {
		a.get()
	}
	check("the newest slab full", 3, 1)
	fs = append(fs, a.get())
	check("one more", 4, slabFrames)

	// Not its own: false, and nothing changes.
	var own frame.Frame
	if a.put(&own) {
		t.Fatal("put took a buffer of no slab of the arena's")
	}
	check("a foreign buffer", 4, slabFrames)

	// Twice: a panic, which names the buffer.
	a.put(fs[0])
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("a buffer given back twice did not panic")
			}
		}()
		a.put(fs[0])
	}()
}

// TestArenaClose: closing an arena with buffers still out (a run that
// failed while its sender held some) counts its idle buffers out of the
// process's, and leaves it empty.
func TestArenaClose(t *testing.T) {
	before := held.idle.Load()
	var a arena
	for range slabFrames + 3 {
		a.get()
	}
	if got := held.idle.Load() - before; got != slabFrames-3 {
		t.Fatalf("%d buffers counted in, want %d", got, slabFrames-3)
	}
	a.close()
	if got := held.idle.Load() - before; got != 0 || len(a.slabs) != 0 || a.idle() != 0 {
		t.Fatalf("after close: %d counted in (want 0), %d slabs, %d in", got, len(a.slabs), a.idle())
	}
}

// TestArenaFollowsReplay: the slabs of a replay buffer's arena hold what
// it and the read-ahead queue hold and at most two slabs' worth more (the
// newest slab's rest, the oldest's holes), over 20 minutes of speech whose
// segments are confirmed, and all leave when nothing is held: a stream
// holds slabs for what the service has not confirmed, not for the most it
// ever held. (Filling the holes of older slabs first kept up to 102
// buffers idle.)
func TestArenaFollowsReplay(t *testing.T) {
	const (
		period = 94 // a segment every 3 s, 60 frames of speech
		speech = 60
		total  = 37500
	)
	b := newTestReplay(t, 0)
	a := b.arena
	var queue []*frame.Frame // the read-ahead queue, 64 buffers of the arena's
	for range 64 {
		queue = append(queue, a.get())
	}
	const mostIdle = 2 * slabFrames
	var seenIdle, seenFrames, sumIdle int64
	for i := range int64(total) {
		// The sender's swap: the queue's oldest buffer to the replay
		// buffer, one from Take to the queue.
		f := queue[0]
		*f = testFrame(i, i%period < speech)
		queue = append(queue[1:], b.Take())
		b.Push(f, f.Energy())
		if i%period == speech+26 {
			b.Confirm(i - 10)
		}
		frames, _ := b.Held()
		if int64(len(a.slabs))*slabFrames != frames+64+a.idle() {
			t.Fatalf("frame %d: %d slabs for %d frames held, the queue's 64 and %d idle", i, len(a.slabs), frames, a.idle())
		}
		if a.idle() > mostIdle {
			t.Fatalf("frame %d: %d buffers idle beside %d frames held and the queue's 64; want at most %d", i, a.idle(), frames, mostIdle)
		}
		seenIdle, seenFrames = max(seenIdle, a.idle()), max(seenFrames, frames)
		sumIdle += a.idle()
	}
	t.Logf("at most %d buffers idle (%d on average), %d frames held", seenIdle, sumIdle/total, seenFrames)
	b.ConfirmAll(b.n)
	for _, f := range queue {
		a.put(f)
	}
	if len(a.slabs) != 0 || a.idle() != 0 {
		t.Fatalf("with nothing held, the arena keeps %d slabs (%d buffers in)", len(a.slabs), a.idle())
	}
	b.Free()
}

// TestRunsGiveAudioBack: a run gives every frame buffer back when it ends,
// and with the last of each slab the slab to the pool, whether it ended
// well or not: HeldAudio is as before, and no slab was left to the garbage
// collector (which would cost the next run a fresh one).
func TestRunsGiveAudioBack(t *testing.T) {
	in := reconnectInput(t)
	dl := dialects[0]
	runs := []struct {
		name string
		run  func() error
	}{
		{"a stream that lost a session and replayed", func() error {
			o := stream(t, dl, in, refserver.Faults{DropAfterFrames: dl.count(82)}, &Options{Unpaced: true})
			if o.err == nil && o.stats.Reconnects != 1 {
				return fmt.Errorf("%d reconnections, want 1", o.stats.Reconnects)
			}
			return o.err
		}},
		{"a run to a file", func() error {
			_, err := Run(context.Background(), bytes.NewReader(in), sink.NewFile(io.Discard), &Options{Unpaced: true})
			return err
		}},
		{"a run whose sink fails", func() error {
			_, err := Run(context.Background(), bytes.NewReader(in), &failingSink{}, &Options{Unpaced: true})
			if err == nil {
				return errors.New("no error from a failing sink")
			}
			return nil
		}},
		{"a run with a queue of 33 frames", func() error {
			_, err := Run(context.Background(), bytes.NewReader(in), sink.NewFile(io.Discard), &Options{Unpaced: true, ReadAhead: 33})
			return err
		}},
	}
	for _, r := range runs {
		before, dropped := HeldAudio(), slabsDropped.Load()
		if err := r.run(); err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		if after := HeldAudio(); after != before {
			t.Errorf("%s: HeldAudio after it: %+v, before: %+v", r.name, after, before)
		}
		if n := slabsDropped.Load() - dropped; n != 0 {
			t.Errorf("%s: %d slabs left to the garbage collector, not given back", r.name, n)
		}
	}
}

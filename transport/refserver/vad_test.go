package refserver

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// feedAll feeds audio to v in pieces of size bytes and returns every
// boundary with the number of whole frames judged when it was reported.
func feedAll(v *segmenter, audio []byte, size int) (events []vadEvent, at []int) {
	fed := 0
	for _, c := range chunks(audio, size) {
		fed += len(c)
		for _, e := range v.Feed(c) {
			events = append(events, e)
			at = append(at, fed/frame.Size)
		}
	}
	return events, at
}

func TestSegmenterChunking(t *testing.T) {
	audio := pcm(frame.Rate16k, twoSegments...)
	// Worked by hand: the tone of 300..1300 ms touches frames 9..40 (samples
	// 4608..20992), that of 2000..2500 ms frames 62..78 (31744..40448). The
	// 500 ms hangover (8000 samples) is complete in frames 56 and 94.
	want := []vadEvent{
		{seg: Segment{Index: 0, StartMS: 288, DurationMS: 32}},
		{end: true, seg: Segment{Index: 0, StartMS: 288, DurationMS: 1024, Text: "[segment 0: 1024 ms of speech]"}},
		{seg: Segment{Index: 1, StartMS: 1984, DurationMS: 32}},
		{end: true, seg: Segment{Index: 1, StartMS: 1984, DurationMS: 544, Text: "[segment 1: 544 ms of speech]"}},
	}
	wantAt := []int{10, 57, 63, 95} // whole frames judged, counting the one that fired
	for _, size := range []int{1, 2, 479, 1023, 1024, 1025, 4096, len(audio)} {
		v := newSegmenter(frame.Rate16k, -45, 500*time.Millisecond)
		got, at := feedAll(v, audio, size)
		if !slices.Equal(got, want) {
			t.Errorf("chunks of %d: events = %+v, want %+v", size, got, want)
		}
		if size == frame.Size && !slices.Equal(at, wantAt) {
			t.Errorf("chunks of %d: events after frames %v, want %v", size, at, wantAt)
		}
		if _, open := v.Open(); open {
			t.Errorf("chunks of %d: a segment is still open", size)
		}
	}
}

func TestSegmenter(t *testing.T) {
	quiet := func(d time.Duration) part { return part{d: d, dBFS: -50} } // RMS -53 dBFS
	tests := []struct {
		name      string
		rate      frame.Rate
		threshold float64
		hangover  time.Duration
		audio     []part
		want      []Segment // ended segments
		wantOpen  *Segment
	}{
		{
			name: "below threshold", rate: frame.Rate16k, threshold: -45, hangover: 500 * time.Millisecond,
			audio: []part{quiet(time.Second), silence(time.Second)},
		},
		{
			name: "lower threshold", rate: frame.Rate16k, threshold: -60, hangover: 500 * time.Millisecond,
			audio: []part{quiet(512 * time.Millisecond), silence(time.Second)},
			want:  []Segment{{Index: 0, StartMS: 0, DurationMS: 512, Text: "[segment 0: 512 ms of speech]"}},
		},
		{
			// At 8 kHz a frame is 64 ms; no hangover ends a segment at its first quiet frame.
			name: "no hangover", rate: frame.Rate8k, threshold: -45, hangover: 0,
			audio: []part{tone(128 * time.Millisecond), silence(64 * time.Millisecond), tone(128 * time.Millisecond), silence(64 * time.Millisecond)},
			want: []Segment{
				{Index: 0, StartMS: 0, DurationMS: 128, Text: "[segment 0: 128 ms of speech]"},
				{Index: 1, StartMS: 192, DurationMS: 128, Text: "[segment 1: 128 ms of speech]"},
			},
		},
		{
			// 100 ms is 800 samples at 8 kHz: one 512-sample quiet frame is not enough.
			name: "hangover counted in samples", rate: frame.Rate8k, threshold: -45, hangover: 100 * time.Millisecond,
			audio:    []part{tone(128 * time.Millisecond), silence(64 * time.Millisecond), tone(128 * time.Millisecond), silence(64 * time.Millisecond)},
			wantOpen: &Segment{Index: 0, StartMS: 0, DurationMS: 320},
		},
		{
			name: "ends mid-speech", rate: frame.Rate48k, threshold: -45, hangover: 500 * time.Millisecond,
			audio:    []part{silence(frame.Rate48k.FrameAt(10)), tone(frame.Rate48k.FrameAt(30))},
			wantOpen: &Segment{Index: 0, StartMS: roundMS(frame.Rate48k.FrameAt(10)), DurationMS: 320},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newSegmenter(tt.rate, tt.threshold, tt.hangover)
			events, _ := feedAll(v, pcm(tt.rate, tt.audio...), frame.Size)
			var got []Segment
			for _, e := range events {
				if e.end {
					got = append(got, e.seg)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("segments = %+v, want %+v", got, tt.want)
			}
			open, ok := v.Open()
			switch {
			case tt.wantOpen == nil && ok:
				t.Errorf("open segment %+v, want none", open)
			case tt.wantOpen != nil && (!ok || open != *tt.wantOpen):
				t.Errorf("open segment = %+v (%v), want %+v", open, ok, *tt.wantOpen)
			}
		})
	}
}

// TestSegmenterThreshold checks the loudness judgement at the threshold
// itself: a frame is loud exactly when its mean square over full scale is at
// least 10^(threshold/10), its RMS at least the threshold in dBFS.
func TestSegmenterThreshold(t *testing.T) {
	for _, threshold := range []float64{-60, -45, -45.5, -20, 0} {
		v := newSegmenter(frame.Rate16k, threshold, 0)
		minPower := math.Pow(10, threshold/10)
		// Frames of a constant |sample| a, its energy 512·a², around the
		// threshold.
		a0 := int(32768 * math.Pow(10, threshold/20))
		for a := max(a0-2, 0); a <= min(a0+2, 32767); a++ {
			var f frame.Frame
			for i := 0; i < frame.Size; i += 2 {
				f[i], f[i+1] = byte(a), byte(a>>8)
			}
			want := float64(a*a)/(32768*32768) >= minPower
			if got := f.Energy() >= v.minEnergy; got != want {
				t.Errorf("threshold %v dBFS, samples %d: loud %v, want %v", threshold, a, got, want)
			}
			if events := v.Feed(f[:]); len(events) > 0 != want || (want && events[0].end) {
				t.Errorf("threshold %v dBFS, samples %d: events %+v, want a start: %v", threshold, a, events, want)
			}
			v = newSegmenter(frame.Rate16k, threshold, 0)
		}
	}
}

// TestSegmenterEnd: a flush ends the open segment at the current position,
// the end of the last whole frame judged, loud or not.
func TestSegmenterEnd(t *testing.T) {
	tests := []struct {
		name  string
		audio []byte
		want  *Segment // nil: nothing open
	}{
		{"nothing", nil, nil},
		{"silence", pcm(frame.Rate16k, silence(time.Second)), nil},
		{"mid-speech", pcm(frame.Rate16k, silence(320*time.Millisecond), tone(640*time.Millisecond)),
			&Segment{Index: 0, StartMS: 320, DurationMS: 640, Text: "[segment 0: 640 ms of speech]", Flushed: true}},
		// The quiet frames of the hangover count, and a partial frame does not.
		{"in the hangover", pcm(frame.Rate16k, tone(320*time.Millisecond), silence(330*time.Millisecond)),
			&Segment{Index: 0, StartMS: 0, DurationMS: 640, Text: "[segment 0: 640 ms of speech]", Flushed: true}},
		{"after an ended segment", pcm(frame.Rate16k, tone(320*time.Millisecond), silence(time.Second), tone(64*time.Millisecond)),
			&Segment{Index: 1, StartMS: 1312, DurationMS: 64, Text: "[segment 1: 64 ms of speech]", Flushed: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newSegmenter(frame.Rate16k, -45, 500*time.Millisecond)
			feedAll(v, tt.audio, 479)
			got, ok := v.End()
			switch {
			case tt.want == nil && ok:
				t.Fatalf("End() = %+v, want nothing open", got)
			case tt.want != nil && (!ok || got != *tt.want):
				t.Fatalf("End() = %+v, %v; want %+v", got, ok, *tt.want)
			}
			if _, open := v.Open(); open {
				t.Error("a segment is open after End")
			}
			if _, again := v.End(); again {
				t.Error("End ended a segment twice")
			}
			// The next segment gets the next index.
			next := v.Feed(pcm(frame.Rate16k, silence(32*time.Millisecond), tone(64*time.Millisecond)))
			wantIndex := 0
			if tt.want != nil {
				wantIndex = tt.want.Index + 1
			}
			if len(next) == 0 || next[0].end || next[0].seg.Index != wantIndex {
				t.Errorf("after End: events %+v, want a start of segment %d", next, wantIndex)
			}
		})
	}
}

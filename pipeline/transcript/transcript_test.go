package transcript

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/internal/leakcheck"
	"github.com/vachana-pipe/vachana-pipe/pipeline"
	"github.com/vachana-pipe/vachana-pipe/transport"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

const ms = time.Millisecond

// final returns a final transcript event of text spanning start to end.
func final(text string, start, end time.Duration) pipeline.Event {
	return pipeline.Event{
		Event:   transport.Event{Kind: transport.Transcript, Final: true, Text: text, Language: "hi-IN"},
		Session: 1,
		Start:   start,
		End:     end,
	}
}

func TestAssemblerAdd(t *testing.T) {
	partial := final("hel", 0, time.Second)
	partial.Final = false
	ended := final("", 0, 0)
	ended.Kind = transport.SegmentEnded
	translation := final("hello", 0, time.Second)
	translation.Kind = transport.Translation
	numbered := final("hello", time.Second, 2*time.Second)
	numbered.Session, numbered.Segment = 2, 7
	tests := []struct {
		name string
		ev   pipeline.Event
		want Segment
		ok   bool
	}{
		{"final", final("  hello world \n", time.Second, 2*time.Second), Segment{Channel: 3, Start: time.Second, End: 2 * time.Second, Text: "hello world", Language: "hi-IN", Session: 1}, true},
		{"numbering", numbered, Segment{Channel: 3, Start: time.Second, End: 2 * time.Second, Text: "hello", Language: "hi-IN", Session: 2, Index: 7}, true},
		{"untimed", final("hello", 0, 0), Segment{Channel: 3, Text: "hello", Language: "hi-IN", Session: 1}, true},
		{"end before start is untimed", final("hello", 2*time.Second, time.Second), Segment{Channel: 3, Text: "hello", Language: "hi-IN", Session: 1}, true},
		{"empty span is untimed", final("hello", time.Second, time.Second), Segment{Channel: 3, Text: "hello", Language: "hi-IN", Session: 1}, true},
		{"negative start is untimed", final("hello", -time.Second, time.Second), Segment{Channel: 3, Text: "hello", Language: "hi-IN", Session: 1}, true},
		{"blank", final(" \t\n", 0, time.Second), Segment{}, false},
		{"partial", partial, Segment{}, false},
		{"segment ended", ended, Segment{}, false},
		{"translation", translation, Segment{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a Assembler
			got, ok := a.Add(3, tt.ev)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("got %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
			if n := len(a.Segments()); n != map[bool]int{true: 1}[ok] {
				t.Fatalf("got %d segments", n)
			}
		})
	}
}

// add is one call of Assembler.Add.
type add struct {
	channel    int
	text       string
	start, end time.Duration
	ok         bool // what Add should report
}

func TestAssemblerOrder(t *testing.T) {
	s := time.Second
	tests := []struct {
		name string
		adds []add
		want []string // the texts of Segments, in order
	}{
		{"in order", []add{{0, "a", 0, s, true}, {0, "b", s, 2 * s, true}}, []string{"a", "b"}},
		{"late arrival", []add{{0, "b", 2 * s, 3 * s, true}, {0, "a", s, 2 * s, true}}, []string{"a", "b"}},
		{"channels interleave", []add{
			{0, "a0", 0, 2 * s, true}, {0, "c0", 5 * s, 6 * s, true},
			{1, "b1", 1 * s, 3 * s, true}, {1, "d1", 7 * s, 8 * s, true},
		}, []string{"a0", "b1", "c0", "d1"}},
		{"same start: channel first", []add{{1, "one", s, 2 * s, true}, {0, "zero", s, 3 * s, true}}, []string{"zero", "one"}},
		{"same start and channel: arrival", []add{{0, "first", s, 2 * s, true}, {0, "second", s, 3 * s, true}}, []string{"first", "second"}},
		{"replayed duplicate", []add{
			{0, "a", 0, s, true}, {0, "b", s, 2 * s, true},
			{0, "b", s, 2 * s, false}, {0, "c", 2 * s, 3 * s, true},
		}, []string{"a", "b", "c"}},
		{"same text elsewhere is no duplicate", []add{
			{0, "yes", 0, s, true}, {0, "yes", s, 2 * s, true}, {1, "yes", 0, s, true}, {0, "yes", 0, 2 * s, true},
		}, []string{"yes", "yes", "yes", "yes"}},
		{"untimed repeats are kept", []add{{0, "yes", 0, 0, true}, {0, "yes", 0, 0, true}}, []string{"yes", "yes"}},
		{"untimed follows its channel's previous", []add{
			{0, "a0", 0, s, true}, {1, "b1", 2 * s, 3 * s, true},
			{0, "u0", 0, 0, true}, {1, "u1", 0, 0, true},
			{0, "c0", 4 * s, 5 * s, true}, {1, "d1", 1 * s, 2 * s, true},
		}, []string{"a0", "u0", "d1", "b1", "u1", "c0"}},
		{"untimed first", []add{{0, "u", 0, 0, true}, {0, "a", 0, s, true}, {0, "v", 0, 0, true}}, []string{"u", "a", "v"}},
		{"untimed after late arrival", []add{
			{0, "b", 2 * s, 3 * s, true}, {0, "a", 0, s, true}, {0, "u", 0, 0, true},
		}, []string{"a", "u", "b"}},
		{"runs of untimed", []add{
			{0, "u", 0, 0, true}, {0, "v", 0, 0, true}, {0, "a", s, 2 * s, true}, {0, "w", 0, 0, true}, {0, "x", 0, 0, true},
		}, []string{"u", "v", "a", "w", "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a Assembler
			for i, ad := range tt.adds {
				if _, ok := a.Add(ad.channel, final(ad.text, ad.start, ad.end)); ok != ad.ok {
					t.Fatalf("add %d (%q): got %v, want %v", i, ad.text, ok, ad.ok)
				}
			}
			var got []string
			for _, s := range a.Segments() {
				got = append(got, s.Text)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestAssemblerConcurrent adds the segments of four channels from four
// goroutines, each channel's segments twice (the second time as replays),
// while a fifth reads: run it with -race.
func TestAssemblerConcurrent(t *testing.T) {
	const channels, perChannel = 4, 300
	var a Assembler
	var wg sync.WaitGroup
	added := make([]int, channels)
	for ch := range channels {
		wg.Go(func() {
			for round := range 2 {
				for i := range perChannel {
					start := time.Duration(i) * time.Second
					if _, ok := a.Add(ch, final(fmt.Sprintf("ch%d seg%d", ch, i), start+time.Duration(ch)*ms, start+time.Second)); ok {
						added[ch]++
					} else if round == 0 {
						t.Errorf("channel %d segment %d: not added", ch, i)
					}
				}
			}
		})
	}
	done := make(chan struct{})
	var reader sync.WaitGroup
	reader.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
				a.Segments()
			}
		}
	})
	wg.Wait()
	close(done)
	reader.Wait()

	for ch, n := range added {
		if n != perChannel {
			t.Errorf("channel %d: %d segments added, want %d", ch, n, perChannel)
		}
	}
	segs := a.Segments()
	if len(segs) != channels*perChannel {
		t.Fatalf("got %d segments, want %d", len(segs), channels*perChannel)
	}
	for i, s := range segs {
		want := fmt.Sprintf("ch%d seg%d", i%channels, i/channels)
		if s.Text != want || s.Channel != i%channels {
			t.Fatalf("segment %d: got %q on channel %d, want %q", i, s.Text, s.Channel, want)
		}
	}
}

func TestSegmentTimed(t *testing.T) {
	tests := []struct {
		name string
		s    Segment
		want bool
	}{
		{"zero", Segment{}, false},
		{"span", Segment{Start: time.Second, End: 2 * time.Second}, true},
		{"from zero", Segment{End: time.Millisecond}, true},
		{"end only at start", Segment{Start: time.Second, End: time.Second}, false},
		{"reversed", Segment{Start: 2 * time.Second, End: time.Second}, false},
		{"negative start", Segment{Start: -time.Second, End: time.Second}, false},
	}
	for _, tt := range tests {
		if got := tt.s.Timed(); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

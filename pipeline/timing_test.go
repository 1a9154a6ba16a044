package pipeline

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
)

// tspan is a stretch of the input, in time.
type tspan struct{ start, end time.Duration }

// voiced is a generated input whose speech boundaries are known by
// construction: segments of a voiced signal (a 140 Hz harmonic series,
// its loudness modulated four times a second like syllables, 10 ms ramps
// at each end) separated by pauses of 0.6 to 2.5 s, each segment made of
// bursts with pauses of 0.2–0.3 s inside it (shorter than any service's
// end of speech), over noise at −65 dBFS.
var voiced = struct {
	segments []tspan   // the truth: from the first burst's start to the last's end
	bursts   [][]tspan // the bursts of each segment
	length   time.Duration
}{
	bursts: [][]tspan{
		{{400 * ms, 950 * ms}, {1150 * ms, 1900 * ms}},
		{{2600 * ms, 3300 * ms}},
		{{4600 * ms, 5400 * ms}, {5600 * ms, 6900 * ms}, {7200 * ms, 8100 * ms}},
		{{8700 * ms, 9600 * ms}},
		{{12100 * ms, 14000 * ms}},
		{{14900 * ms, 15400 * ms}},
	},
	length: 16500 * ms,
}

const ms = time.Millisecond

func init() {
	for _, b := range voiced.bursts {
		voiced.segments = append(voiced.segments, tspan{b[0].start, b[len(b)-1].end})
	}
}

// voicedAudio returns voiced as 16 kHz s16le.
func voicedAudio() []byte {
	const rate = 16000
	n := int(voiced.length.Seconds() * rate)
	out := make([]byte, 2*n)
	rng := rand.New(rand.NewPCG(1, 2))
	noise := 32768 * math.Pow(10, -65.0/20) * math.Sqrt(3) // uniform noise of that RMS
	for i := range n {
		t := float64(i) / rate
		v := (rng.Float64()*2 - 1) * noise
		for _, seg := range voiced.bursts {
			for _, b := range seg {
				s, e := b.start.Seconds(), b.end.Seconds()
				if t < s || t >= e {
					continue
				}
				env := 0.7 + 0.3*math.Sin(2*math.Pi*4*(t-s)) // syllables
				env *= min(1, (t-s)/0.01, (e-t)/0.01)        // ramps
				var x float64
				for k := 1.0; k <= 6; k++ {
					x += math.Sin(2*math.Pi*140*k*t) / k
				}
				v += 0.25 * 32768 * env * x / 2.45
			}
		}
		binary.LittleEndian.PutUint16(out[2*i:], uint16(int16(max(-32768, min(32767, math.Round(v))))))
	}
	return out
}

var voicedOnce = sync.OnceValue(voicedAudio)

// TestTimestamps streams the generated input through each dialect of the
// reference server and compares the times of its transcripts with the
// segments' true boundaries: the median error of the starts and ends must
// be at most 80 ms, the 90th percentile at most 200 ms. The same stream
// with its session dropped inside the third segment must give the same
// times. The bundled speech sample, whose boundaries are not known by
// construction, is held to the same limits against a finer analysis of it
// than the client's (speechSpans).
func TestTimestamps(t *testing.T) {
	forDialectsParallel(t, func(t *testing.T, dl dialect) {
		t.Run("sample", func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile("../testdata/speech-16k.s16le")
			if err != nil {
				t.Fatal(err)
			}
			truth := speechSpans(in)
			checkTimes(t, dl.name+", the speech sample", transcriptTimes(t, dl, in, refserver.Faults{}), truth)
		})
		t.Run("late", func(t *testing.T) {
			// The events that place segments come late, as over a slow
			// network: segment ends 300 ms, aiOla's transcripts 800 ms
			// (after the next speech has begun).
			t.Parallel()
			late := func(s transport.Session) transport.Session {
				if dl.segmentEnd == "" {
					return &slowEvents{Session: s, kind: transport.Transcript, d: 800 * ms}
				}
				return &slowEvents{Session: s, kind: transport.SegmentEnded, d: 300 * ms}
			}
			checkTimes(t, dl.name+", generated, late events", transcriptTimesVia(t, dl, voicedOnce(), &refserver.Options{}, late), voiced.segments)
		})
		t.Run("quiet", func(t *testing.T) {
			// Speech 26 dB quieter (about −50 dBFS), which the client does
			// not hear (its threshold is −40 dBFS) and a server listening
			// down to −55 dBFS does: the service's segment lengths place
			// the segments. aiOla says none: its transcripts stay untimed.
			t.Parallel()
			quiet := slices.Clone(voicedOnce())
			for i := 0; i < len(quiet); i += 2 {
				v := float64(int16(binary.LittleEndian.Uint16(quiet[i:]))) * math.Pow(10, -26.0/20)
				binary.LittleEndian.PutUint16(quiet[i:], uint16(int16(math.Round(v))))
			}
			got := transcriptTimesVia(t, dl, quiet, &refserver.Options{Threshold: -55}, nil)
			if dl.segmentEnd == "" {
				for _, g := range got {
					if g != (tspan{}) {
						t.Errorf("aiOla, quiet: a transcript placed at %v from nothing", g)
					}
				}
				return
			}
			checkTimes(t, dl.name+", generated, quiet", got, voiced.segments)
		})
		t.Run("noisy", func(t *testing.T) {
			// Noise at −35 dBFS, which the client takes for speech that
			// never pauses, and a server that hears speech from −30 dBFS
			// up: segments are estimated where their ends came and bounded
			// by the lengths the service says. aiOla says none: only the
			// ends are held to the limits.
			t.Parallel()
			noisy := slices.Clone(voicedOnce())
			rng := rand.New(rand.NewPCG(3, 4))
			amp := 32768 * math.Pow(10, -35.0/20) * math.Sqrt(3)
			for i := 0; i < len(noisy); i += 2 {
				v := float64(int16(binary.LittleEndian.Uint16(noisy[i:]))) + (rng.Float64()*2-1)*amp
				binary.LittleEndian.PutUint16(noisy[i:], uint16(int16(max(-32768, min(32767, math.Round(v))))))
			}
			got := transcriptTimesVia(t, dl, noisy, &refserver.Options{Threshold: -30}, nil)
			if dl.segmentEnd == "" {
				ends := make([]tspan, len(got))
				for i, g := range got {
					ends[i] = tspan{voiced.segments[min(i, len(voiced.segments)-1)].start, g.end}
				}
				checkTimes(t, dl.name+", generated, noisy (ends)", ends, voiced.segments)
				return
			}
			checkTimes(t, dl.name+", generated, noisy", got, voiced.segments)
		})
		in := voicedOnce()
		clean := transcriptTimes(t, dl, in, refserver.Faults{})
		checkTimes(t, dl.name+", generated", clean, voiced.segments)

		// Dropped 6 s in, inside the third segment's second burst.
		faulty := transcriptTimes(t, dl, in, refserver.Faults{DropAfterFrames: dl.count(int(frame.Rate16k.FramesIn(6 * time.Second))), Sessions: 1})
		if len(faulty) != len(clean) {
			t.Fatalf("%s: after a lost session %d transcripts came, %v; without, %d, %v", dl.name, len(faulty), faulty, len(clean), clean)
		}
		for i := range clean {
			if d := max(abs(faulty[i].start-clean[i].start), abs(faulty[i].end-clean[i].end)); d > 32*ms {
				t.Errorf("%s: segment %d placed at %v after a lost session, at %v without", dl.name, i, faulty[i], clean[i])
			}
		}
	})
}

// checkTimes compares the times of transcripts with the true segments.
func checkTimes(t *testing.T, name string, got, truth []tspan) {
	t.Helper()
	errs := boundaryErrors(t, got, truth)
	med, p90 := percentile(errs, 50), percentile(errs, 90)
	t.Logf("%s: %d segments, boundary error median %v, p90 %v, max %v", name, len(got), med, p90, slices.Max(errs))
	if med > 80*ms || p90 > 200*ms {
		t.Errorf("%s: boundary error median %v (limit 80 ms), p90 %v (limit 200 ms); times %v, truth %v", name, med, p90, got, truth)
	}
}

// speechSpans finds the segments of 16 kHz s16le speech more finely than
// the client does: 10 ms windows (not 32 ms frames) at −45 dBFS (not −40),
// a segment ending at a pause of 500 ms, as the services' detectors end
// one. For the bundled sample: 0.31–2.07, 3.16–6.49, 7.59–11.07 and
// 12.17–15.22 s.
func speechSpans(pcm []byte) []tspan {
	const win = 160 // 10 ms
	threshold := float64(win) * 32768 * 32768 * math.Pow(10, -45.0/10)
	var spans []tspan
	open := false
	var last time.Duration
	for i := 0; i+2*win <= len(pcm); i += 2 * win {
		var e float64
		for k := range win {
			v := float64(int16(binary.LittleEndian.Uint16(pcm[i+2*k:])))
			e += v * v
		}
		if e < threshold {
			continue
		}
		at := time.Duration(i/2) * time.Second / 16000
		switch {
		case !open || at-last >= 500*ms:
			spans = append(spans, tspan{at, at + 10*ms})
			open = true
		default:
			spans[len(spans)-1].end = at + 10*ms
		}
		last = at + 10*ms
	}
	return spans
}

// transcriptTimes streams in paced to a reference server speaking dl with
// faults and returns the times of its final transcripts, in order.
func transcriptTimes(t *testing.T, dl dialect, in []byte, faults refserver.Faults) []tspan {
	t.Helper()
	return transcriptTimesVia(t, dl, in, &refserver.Options{Faults: faults}, nil)
}

// transcriptTimesVia is transcriptTimes with a server started with ro and
// each session wrapped by wrap, if not nil.
func transcriptTimesVia(t *testing.T, dl dialect, in []byte, ro *refserver.Options, wrap func(transport.Session) transport.Session) []tspan {
	t.Helper()
	var got []tspan
	opts := &Options{}
	srv, d := refSession(t, dl, ro)
	if wrap != nil {
		d = wrapDialer{d, wrap}
	}
	o := streamEvents(t, srv, d, in, opts, func(ev Event) {
		if ev.Kind == transport.Transcript && ev.Final {
			got = append(got, tspan{ev.Start, ev.End})
		}
	})
	if o.err != nil {
		t.Fatalf("%s: %v (warnings %q)", dl.name, o.err, o.warnings)
	}
	return got
}

// streamEvents is streamTo with each event also handed to each.
func streamEvents(t *testing.T, srv *refserver.Server, d transport.Dialer, in []byte, opts *Options, each func(Event)) outcome {
	t.Helper()
	var o outcome
	var mu sync.Mutex
	opts.OnEvent = each
	opts.OnWarning = func(err error) {
		mu.Lock()
		o.warnings = append(o.warnings, err.Error())
		mu.Unlock()
	}
	o.stats, o.err = Stream(t.Context(), bytes.NewReader(in), d, opts)
	return o
}

// boundaryErrors pairs got with the true segments in order and returns the
// error of each start and end.
func boundaryErrors(t *testing.T, got, truth []tspan) []time.Duration {
	t.Helper()
	if len(got) != len(truth) {
		t.Fatalf("%d transcripts, %v, for %d segments, %v", len(got), got, len(truth), truth)
	}
	var errs []time.Duration
	for i := range got {
		errs = append(errs, abs(got[i].start-truth[i].start), abs(got[i].end-truth[i].end))
	}
	return errs
}

func percentile(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

func abs(d time.Duration) time.Duration { return max(d, -d) }

func (s tspan) String() string { return fmt.Sprintf("[%v–%v]", s.start, s.end) }

// TestPlacer checks the rules of placing a segment among the detected
// utterances (frames of 32 ms; gapMin 15 frames, segmentHangover 16).
func TestPlacer(t *testing.T) {
	type call struct {
		pos, dur   int64
		start, end int64 // want; end 0: not placed
	}
	for _, tc := range []struct {
		name   string
		utts   []utterance
		open   bool  // the last utterance is open
		loud   int64 // the frame after its last loud one
		single bool
		paced  bool
		reset  int64 // a new session starts here before the calls; -1 none
		calls  []call
	}{
		{name: "one segment", paced: true, reset: -1, utts: []utterance{{10, 40}},
			calls: []call{{pos: 40 + 16 + 3, start: 10, end: 40}}},
		{name: "two utterances merged by the service", paced: true, reset: -1, utts: []utterance{{10, 40}, {56, 80}},
			calls: []call{{pos: 80 + 16 + 2, start: 10, end: 80}}},
		{name: "next speech begun, not taken", paced: true, reset: -1, utts: []utterance{{10, 40}, {57, 90}}, open: true, loud: 62,
			calls: []call{{pos: 40 + 16 + 6, start: 10, end: 40}}},
		{name: "a short next utterance begun after the end", paced: true, reset: -1, utts: []utterance{{10, 40}, {57, 60}},
			calls: []call{{pos: 40 + 16 + 4, start: 10, end: 40}, {pos: 60 + 16 + 1, start: 57, end: 60}}},
		{name: "a short next utterance complete when the end comes late", paced: true, reset: -1, utts: []utterance{{10, 40}, {57, 58}},
			calls: []call{{pos: 40 + 16 + 17, start: 10, end: 40}}},
		{name: "cut inside long speech", paced: true, reset: -1, utts: []utterance{{10, 11}}, open: true, loud: 480,
			calls: []call{{pos: 400, start: 10, end: 384}, {pos: 520, start: 384, end: 480}}},
		{name: "speech not detected, duration said", paced: true, reset: -1,
			calls: []call{{pos: 100, dur: 20, start: 64, end: 84}}},
		{name: "speech not detected, nothing said", paced: true, reset: -1,
			calls: []call{{pos: 100}}},
		{name: "late transcripts of a service without segment ends", paced: true, single: true, reset: -1, utts: []utterance{{10, 40}, {60, 70}, {90, 120}},
			calls: []call{{pos: 100, start: 10, end: 40}, {pos: 101, start: 60, end: 70}, {pos: 140, start: 90, end: 120}}},
		{name: "a service that ends utterances sooner", paced: true, single: true, reset: -1, utts: []utterance{{10, 40}}, open: true, loud: 40,
			calls: []call{{pos: 48, start: 10, end: 40}}},
		{name: "unpaced pairs in order", single: true, reset: -1, utts: []utterance{{10, 40}, {60, 70}},
			calls: []call{{pos: 500, start: 10, end: 40}, {pos: 500, start: 60, end: 70}}},
		{name: "unpaced joins what a pause too short for a segment end splits", single: true, reset: -1, utts: []utterance{{10, 40}, {55, 70}, {90, 100}},
			calls: []call{{pos: 500, start: 10, end: 70}, {pos: 500, start: 90, end: 100}}},
		{name: "a late transcript joins what a pause too short for a segment end splits", paced: true, single: true, reset: -1, utts: []utterance{{10, 40}, {55, 70}, {90, 100}},
			calls: []call{{pos: 130, start: 10, end: 70}, {pos: 131, start: 90, end: 100}}},
		{name: "replay from before a placed segment", paced: true, reset: 30, utts: []utterance{{10, 40}, {60, 70}},
			calls: []call{{pos: 40 + 17, start: 30, end: 40}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &speechMap{utts: slices.Clone(tc.utts), open: tc.open}
			m.loud.Store(tc.loud)
			p := &placer{m: m, need: 15, hang: 16, paced: tc.paced, single: tc.single}
			if tc.reset >= 0 {
				p.reset(tc.reset)
			}
			for i, c := range tc.calls {
				pl := p.place(c.pos, c.dur)
				s, e, ok := pl.start, pl.end, pl.ok
				if c.end == 0 {
					if ok {
						t.Errorf("call %d: placed at [%d, %d), want not placed", i, s, e)
					}
					continue
				}
				if !ok || s != c.start || e != c.end {
					t.Errorf("call %d (pos %d): placed at [%d, %d) (%v), want [%d, %d)", i, c.pos, s, e, ok, c.start, c.end)
				}
			}
		})
	}
}

// TestPlacerEstimate: a segment the client heard nothing of is placed by
// the length the service says, before its end, in the place kept for it
// even when a later segment was placed meanwhile.
func TestPlacerEstimate(t *testing.T) {
	m := &speechMap{}
	p := &placer{m: m, need: 15, hang: 16, paced: true}
	first := p.place(100, 0)
	if first.ok || first.at != 84 {
		t.Fatalf("placed %+v without speech or a length; want its place kept at 84", first)
	}
	m.utts = append(m.utts, utterance{110, 130})
	if pl := p.place(148, 0); !pl.ok || pl.start != 110 || pl.end != 130 {
		t.Fatalf("the next segment: %+v, want [110, 130)", pl)
	}
	if s, e, ok := p.estimate(first, 20); !ok || s != 64 || e != 84 {
		t.Fatalf("estimated [%d, %d) (%v), want [64, 84): in its place, not after the later segment", s, e, ok)
	}
	if s, e, ok := p.estimate(first, 200); !ok || s != 0 || e != 84 {
		t.Fatalf("estimated [%d, %d) (%v), want [0, 84): never before the segment before", s, e, ok)
	}
	p.paced = false
	if pl := p.place(500, 0); pl.ok || pl.at >= 0 {
		t.Fatalf("an unpaced stream: %+v, want nothing placed and no place kept", pl)
	}
}

// TestPlacerEstimateAcrossFiller: a kept place is converted to the input's
// timeline when it is kept, before the filler runs in it are forgotten.
func TestPlacerEstimateAcrossFiller(t *testing.T) {
	m := &speechMap{utts: []utterance{{2, 10}}}
	p := &placer{m: m, need: 15, hang: 16, paced: true}
	if pl := p.place(10+16+2, 0); !pl.ok || pl.end != 10 {
		t.Fatalf("first segment %+v, want it to end at 10", pl)
	}
	m.fills = append(m.fills, fillRun{at: 20, n: 30}) // filler [20, 50)
	kept := p.place(100, 0)
	if kept.ok || kept.floor != 10 || kept.at != 84-30 {
		t.Fatalf("kept %+v, want its place [10, 54) in the input", kept)
	}
	if s, e, ok := p.estimate(kept, 80); !ok || s != 10 || e != 54 {
		t.Fatalf("estimated [%d, %d) (%v), want [10, 54): never before the segment before", s, e, ok)
	}
}

// TestInputTimeline checks that filler sent while the input paused is left
// out of the times.
func TestInputTimeline(t *testing.T) {
	m := &speechMap{fills: []fillRun{{at: 100, n: 50}, {at: 300, n: 10}}}
	for _, tc := range []struct{ stream, input int64 }{
		{0, 0}, {100, 100}, {120, 100}, {150, 100}, {151, 101}, {300, 250}, {305, 250}, {310, 250}, {400, 340},
	} {
		if got := m.inputFrame(tc.stream); got != tc.input {
			t.Errorf("stream frame %d: input frame %d, want %d", tc.stream, got, tc.input)
		}
	}
}

// TestSpeechMapForgets: a stream whose service never answers does not
// keep every utterance it detected.
func TestSpeechMapForgets(t *testing.T) {
	m := &speechMap{window: 100}
	for i := int64(0); i < 100000; i += 50 {
		m.begin(i)
		m.end(i + 10)
	}
	if len(m.utts) > 4 {
		t.Fatalf("%d utterances held, want the last window's (3)", len(m.utts))
	}
}

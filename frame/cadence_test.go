package frame

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/internal/leakcheck"
)

// round7 is the obviously correct reference for the recorder's resolution:
// d in whole microseconds, keeping its 7 leading bits.
func round7(d time.Duration) time.Duration {
	us := int64(d / time.Microsecond)
	shift := 0
	for us >= 128 {
		us >>= 1
		shift++
	}
	return time.Duration(us<<shift) * time.Microsecond
}

// naiveCadence is the reference: every deviation kept and sorted, the
// nearest-rank percentile taken, then rounded to the recorder's resolution.
func naiveCadence(r Rate, times []time.Time) Cadence {
	c := Cadence{Frames: int64(len(times))}
	if len(times) < 2 {
		return c
	}
	var dev []time.Duration
	for i := 1; i < len(times); i++ {
		d := times[i].Sub(times[i-1]) - (r.FrameAt(int64(i)) - r.FrameAt(int64(i-1)))
		dev = append(dev, max(d, -d))
	}
	slices.Sort(dev)
	rank := func(p int) time.Duration {
		k := (p*len(dev) + 99) / 100 // ⌈p/100 × n⌉
		return dev[max(k, 1)-1]
	}
	c.P50, c.P99, c.Max = round7(rank(50)), round7(rank(99)), dev[len(dev)-1]
	c.Drift = times[len(times)-1].Sub(times[0]) - r.FrameAt(int64(len(times)-1))
	return c
}

// withDeviations returns the times of frames at rate r whose intervals
// deviate from the period by dev[i-1], from epoch.
func withDeviations(r Rate, dev ...time.Duration) []time.Time {
	t := []time.Time{epoch}
	for i, d := range dev {
		t = append(t, t[i].Add(r.FrameAt(int64(i+1))-r.FrameAt(int64(i))+d))
	}
	return t
}

func record(r Rate, times []time.Time) *CadenceRecorder {
	c := NewCadenceRecorder(r)
	for _, t := range times {
		c.Add(t)
	}
	return c
}

func TestCadenceBuckets(t *testing.T) {
	check := func(us uint64) {
		t.Helper()
		d := time.Duration(us) * time.Microsecond
		i := cadenceBucket(us)
		if i < 0 || i >= cadenceBuckets {
			t.Fatalf("%d µs: bucket %d out of range", us, i)
		}
		if got, want := cadenceValue(i), round7(d); got != want && us < 1<<33 {
			t.Fatalf("%d µs: bucket %d stands for %v, want %v", us, i, got, want)
		}
		if us >= 1<<33 && i != cadenceBuckets-1 {
			t.Fatalf("%d µs, over 2³³: bucket %d, want the last", us, i)
		}
	}
	prev := -1
	for us := range uint64(1 << 16) { // every value, and the buckets in order
		check(us)
		if i := cadenceBucket(us); i != prev && i != prev+1 {
			t.Fatalf("%d µs: bucket %d after bucket %d", us, i, prev)
		}
		prev = cadenceBucket(us)
	}
	for e := 16; e < 40; e++ { // octave boundaries, and random values
		for _, us := range []uint64{1<<e - 1, 1 << e, 1<<e + 1, 1<<e + rand.Uint64N(1<<e)} {
			check(us)
		}
	}
	if got := cadenceValue(cadenceBuckets - 1); got != round7(1<<33*time.Microsecond-1) {
		t.Fatalf("the last bucket stands for %v", got)
	}
}

// TestCadenceNearestRank pins the percentile rule on deviations of
// 1..n µs, all exact: Pp is the ⌈p/100 × n⌉-th smallest.
func TestCadenceNearestRank(t *testing.T) {
	tests := []struct {
		n, p int
		want time.Duration
	}{
		{1, 50, 1}, {1, 99, 1}, {2, 50, 1}, {2, 99, 2}, {4, 50, 2}, {100, 50, 50}, {100, 99, 99}, {101, 99, 100}, {127, 99, 126},
		{1000, 99, 984}, // the 990th, rounded to 7 bits: 990 = 0b1111011110 → 0b1111011000
	}
	for _, tt := range tests {
		dev := make([]time.Duration, tt.n)
		for i := range dev {
			dev[i] = time.Duration(tt.n-i) * time.Microsecond // in any order
		}
		c := record(Rate16k, withDeviations(Rate16k, dev...)).Cadence()
		got := c.P50
		if tt.p == 99 {
			got = c.P99
		}
		if want := tt.want * time.Microsecond; got != want {
			t.Errorf("p%d of 1..%d µs = %v, want %v", tt.p, tt.n, got, want)
		}
		if c.Max != time.Duration(tt.n)*time.Microsecond {
			t.Errorf("max of 1..%d µs = %v", tt.n, c.Max)
		}
	}
}

func TestCadence(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name  string
		rate  Rate
		times []time.Time
		want  Cadence
	}{
		{"none", Rate16k, nil, Cadence{}},
		{"one", Rate16k, withDeviations(Rate16k), Cadence{Frames: 1}},
		{"perfect 44.1 kHz", Rate44k, withDeviations(Rate44k, make([]time.Duration, 999)...), Cadence{Frames: 1000}},
		{"sub-microsecond", Rate48k, withDeviations(Rate48k, 999, -999), Cadence{Frames: 3, Max: 999}},
		{"jitter", Rate16k, withDeviations(Rate16k, -2*ms, 4*ms, -2*ms), Cadence{Frames: 4, P50: 2 * ms, P99: 4 * ms, Max: 4 * ms}},
		{"slow", Rate16k, withDeviations(Rate16k, ms, ms, ms), Cadence{Frames: 4, P50: ms, P99: ms, Max: ms, Drift: 3 * ms}},
		{"fast", Rate8k, withDeviations(Rate8k, -64*ms, -64*ms), Cadence{Frames: 3, P50: 64 * ms, P99: 64 * ms, Max: 64 * ms, Drift: -128 * ms}},
		{"rounded", Rate16k, withDeviations(Rate16k, 50*ms, 99*ms), Cadence{Frames: 3, P50: 49664 * time.Microsecond, P99: 98304 * time.Microsecond, Max: 99 * ms, Drift: 149 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := record(tt.rate, tt.times).Cadence(); got != tt.want {
				t.Errorf("Cadence() = %+v, want %+v", got, tt.want)
			}
			if got := naiveCadence(tt.rate, tt.times); got != tt.want {
				t.Errorf("the reference = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestCadenceMatchesReference compares the recorder with the reference on
// random streams: jitter from nanoseconds to seconds, either way.
func TestCadenceMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	c := NewCadenceRecorder(Rate16k)
	for range 300 {
		r := []Rate{Rate8k, Rate16k, Rate44k, Rate48k}[rng.IntN(4)]
		dev := make([]time.Duration, rng.IntN(2000))
		scale := time.Duration(1) << rng.IntN(34)
		for i := range dev {
			dev[i] = time.Duration(rng.Int64N(int64(scale))) - scale/3
		}
		times := withDeviations(r, dev...)
		c.Reset(r)
		for _, t := range times {
			c.Add(t)
		}
		if got, want := c.Cadence(), naiveCadence(r, times); got != want {
			t.Fatalf("rate %d, %d frames, jitter up to %v: Cadence() = %+v, want %+v", r, len(times), scale, got, want)
		}
	}
}

// TestCadenceMerge pools several streams: percentiles and Max over every
// frame, Drift the largest in magnitude, Frames the sum. (10 and 20 ms
// are 9.984 and 19.968 ms at 7 significant bits of µs.)
func TestCadenceMerge(t *testing.T) {
	ms := time.Millisecond
	a := withDeviations(Rate16k, ms, 2*ms, 3*ms)        // drift +6 ms
	b := withDeviations(Rate48k, -10*ms, 0, 0, 0, 0, 0) // drift −10 ms
	c := withDeviations(Rate8k)                         // one frame
	total := NewCadenceRecorder(Rate16k)
	for _, s := range []struct {
		r     Rate
		times []time.Time
	}{{Rate16k, a}, {Rate48k, b}, {Rate8k, c}} {
		total.Merge(record(s.r, s.times))
	}
	want := Cadence{Frames: 12, P50: 0, P99: 9984 * time.Microsecond, Max: 10 * ms, Drift: -10 * ms}
	if got := total.Cadence(); got != want {
		t.Fatalf("merged Cadence() = %+v, want %+v", got, want)
	}
	// Its own stream continues beside the merged ones.
	for _, t := range withDeviations(Rate16k, 20*ms) {
		total.Add(t)
	}
	want = Cadence{Frames: 14, P50: 0, P99: 19968 * time.Microsecond, Max: 20 * ms, Drift: 20 * ms}
	if got := total.Cadence(); got != want {
		t.Fatalf("merged and recorded Cadence() = %+v, want %+v", got, want)
	}
}

func TestCadenceRecorderZeroAllocs(t *testing.T) {
	if others := leakcheck.Others(time.Second); others != "" {
		t.Fatalf("goroutines that could allocate during the count:\n%s", others)
	}
	c := NewCadenceRecorder(Rate16k)
	now := epoch
	allocs := testing.AllocsPerRun(1000, func() {
		now = now.Add(31 * time.Millisecond)
		c.Add(now)
	})
	if allocs != 0 {
		t.Fatalf("CadenceRecorder.Add allocates %.1f times per call, want 0", allocs)
	}
}

func BenchmarkCadenceRecorderAdd(b *testing.B) {
	c := NewCadenceRecorder(Rate16k)
	now := epoch
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(31 * time.Millisecond)
		c.Add(now)
	}
}

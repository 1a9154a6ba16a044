package frame

import (
	"math"
	"testing"
)

func TestEnergy(t *testing.T) {
	var f Frame
	if got := f.Energy(); got != 0 {
		t.Errorf("silence: Energy() = %d, want 0", got)
	}
	for i := 0; i < Size; i += 2 {
		f[i], f[i+1] = 0x00, 0x80 // -32768
	}
	if got := f.Energy(); got != fullScale || got != EnergyAt(0) {
		t.Errorf("full-scale square: Energy() = %d, want 2³⁹ = EnergyAt(0) = %d", got, EnergyAt(0))
	}
	for i := 0; i < Size; i += 4 {
		f[i], f[i+1] = 0xff, 0x7f // 32767, then -32768
	}
	if got, want := f.Energy(), int64(Samples/2)*(32767*32767+32768*32768); got != want {
		t.Errorf("alternating ±full scale: Energy() = %d, want %d", got, want)
	}
}

// TestEnergyAtBoundary checks that Energy() >= EnergyAt(dbfs) is exactly
// the judgement of RMS ≥ dbfs the slow way, mean square over full scale
// against 10^(dbfs/10), at the boundary itself: the energy one below
// EnergyAt is quieter, EnergyAt itself is not.
func TestEnergyAtBoundary(t *testing.T) {
	loud := func(sum int64, dbfs float64) bool {
		return float64(sum)/(Samples*32768*32768) >= math.Pow(10, dbfs/10)
	}
	for _, dbfs := range []float64{-96, -60, -50.5, -45, -40, -33.3, -20, -6.02, -3, -1e-9, 0} {
		e := EnergyAt(dbfs)
		if !loud(e, dbfs) || loud(e-1, dbfs) {
			t.Errorf("EnergyAt(%v) = %d: loud %v, one less loud %v; want true, false", dbfs, e, loud(e, dbfs), loud(e-1, dbfs))
		}
	}
	tests := []struct {
		dbfs float64
		want int64
	}{
		{math.Inf(-1), 0},
		{-1e6, 0},
		{math.Inf(1), math.MaxInt64},
		{100, math.MaxInt64},
		{math.NaN(), math.MaxInt64},
		{0, 1 << 39},
		{-10 * math.Log10(1<<39), 1}, // one unit of energy
	}
	for _, tt := range tests {
		if got := EnergyAt(tt.dbfs); got != tt.want {
			t.Errorf("EnergyAt(%v) = %d, want %d", tt.dbfs, got, tt.want)
		}
	}
}

// BenchmarkEnergy: the client's speech detection measures every frame it
// sends (package pipeline); it must cost little beside a write's ~7 µs.
func BenchmarkEnergy(b *testing.B) {
	var f Frame
	for i := range f {
		f[i] = byte(i * 7)
	}
	b.SetBytes(Size)
	b.ReportAllocs()
	var sum int64
	for b.Loop() {
		sum += f.Energy()
	}
	if sum == 42 {
		b.Log(sum)
	}
}

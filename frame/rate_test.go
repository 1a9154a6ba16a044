package frame

import (
	"testing"
	"time"
)

func TestRateFrameDuration(t *testing.T) {
	tests := []struct {
		rate Rate
		want time.Duration
	}{
		{Rate8k, 64 * time.Millisecond},
		{Rate16k, 32 * time.Millisecond},
		{Rate44k, 11609977 * time.Nanosecond}, // 512/44100 s = 11.6099773… ms
		{Rate48k, 10666667 * time.Nanosecond}, // 512/48000 s = 10.6666… ms
	}
	for _, tt := range tests {
		if got := tt.rate.FrameDuration(); got != tt.want {
			t.Errorf("Rate(%d).FrameDuration() = %v, want %v", tt.rate, got, tt.want)
		}
	}
}

func TestRateFrameAtDoesNotDrift(t *testing.T) {
	// After an hour of frames at 44.1 kHz the schedule must be within a
	// nanosecond of the exact value, not n × a rounded frame duration.
	r := Rate44k
	n := int64(3600 * 44100 / Samples)
	exact := time.Duration(n * Samples * int64(time.Second) / 44100)
	if got := r.FrameAt(n); got-exact > 1 || exact-got > 1 {
		t.Fatalf("FrameAt(%d) = %v, want %v", n, got, exact)
	}
	if naive := time.Duration(n) * r.FrameDuration(); naive == r.FrameAt(n) {
		t.Fatalf("test is too weak: the rounded product equals the exact value")
	}
}

func TestRateConversions(t *testing.T) {
	if got := Rate16k.N(time.Second); got != 16000 {
		t.Errorf("N(1s) = %d", got)
	}
	if got := Rate16k.FramesIn(time.Second); got != 32 { // 16000/512 = 31.25 → 32
		t.Errorf("FramesIn(1s) = %d, want 32", got)
	}
	if got := Rate16k.FramesIn(0); got != 0 {
		t.Errorf("FramesIn(0) = %d", got)
	}
	if got := Rate8k.D(8000 * 1000 * 3600); got != 1000*time.Hour {
		t.Errorf("D(1000 h of samples) = %v", got)
	}
}

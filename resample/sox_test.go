package resample

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"testing"
)

// sox runs sox on raw s16le mono input and returns its raw output. Tests
// that need it skip when it is not installed (.ci/run installs it).
func sox(t *testing.T, in []byte, inRate int, args ...string) []byte {
	t.Helper()
	path, err := exec.LookPath("sox")
	if err != nil {
		t.Skip("sox is not installed (apt-get install sox): the comparison with sox is skipped")
	}
	cmd := exec.Command(path, append([]string{"-D", "-t", "raw", "-r", fmt.Sprint(inRate), "-e", "signed", "-b", "16", "-c", "1", "-L", "-"}, args...)...)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sox %v: %v: %s", args, err, stderr.String())
	}
	return out
}

func rawOut(rate int, effects ...string) []string {
	return append([]string{"-t", "raw", "-r", fmt.Sprint(rate), "-e", "signed", "-b", "16", "-c", "1", "-L", "-"}, effects...)
}

// sdr returns the signal-to-difference ratio of got against ref in dB.
func sdr(got, ref []float64) float64 {
	n := min(len(got), len(ref))
	var s, d float64
	for i := range n {
		s += ref[i] * ref[i]
		d += (got[i] - ref[i]) * (got[i] - ref[i])
	}
	if d == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(s/d)
}

// sweep returns a logarithmic sine sweep from f0 to f1 Hz over n samples.
func sweep(n, rate int, f0, f1, amp float64) []byte {
	b := make([]byte, 2*n)
	T := float64(n) / float64(rate)
	k := math.Log(f1 / f0)
	for i := range n {
		t := float64(i) / float64(rate)
		ph := 2 * math.Pi * f0 * T / k * (math.Exp(t/T*k) - 1)
		binary.LittleEndian.PutUint16(b[2*i:], uint16(int16(math.Round(amp*32767*math.Sin(ph)))))
	}
	return b
}

// TestAgainstSox compares our output with sox's "rate -v" (very high
// quality, no dither) on speech at 44.1 and 48 kHz, a sweep and tones.
func TestAgainstSox(t *testing.T) {
	speech16, err := os.ReadFile("../testdata/speech-16k.s16le")
	if err != nil {
		t.Fatal(err)
	}
	speech16 = speech16[:16000*2*5] // 5 s
	// Minimum SDR in dB for very high, high and medium quality. sox's rate
	// effect is libsoxr's algorithm with its own pass-band settings, so
	// the outputs differ most where a sweep crosses the 7–8 kHz roll-off.
	inputs := []struct {
		name string
		rate int
		min  [3]float64
		in   func() []byte
	}{
		{"speech 44.1k", 44100, [3]float64{75, 65, 60}, func() []byte { return sox(t, speech16, 16000, rawOut(44100, "rate", "-v")...) }},
		{"speech 48k", 48000, [3]float64{75, 65, 60}, func() []byte { return sox(t, speech16, 16000, rawOut(48000, "rate", "-v")...) }},
		{"sweep 44.1k", 44100, [3]float64{65, 45, 40}, func() []byte { return sweep(44100*4, 44100, 50, 21000, 0.5) }},
		{"tones 48k", 48000, [3]float64{95, 90, 85}, func() []byte {
			a, b := s16(tone(48000*2, 48000, 440, 0.3)), s16(tone(48000*2, 48000, 3100, 0.3))
			out := make([]byte, 2*len(a))
			for i := range a {
				binary.LittleEndian.PutUint16(out[2*i:], uint16(int16(math.Round((a[i]+b[i])*32767))))
			}
			return out
		}},
	}
	for _, in := range inputs {
		for i, q := range []Quality{VeryHigh, High, Medium} {
			tc := struct {
				q   Quality
				min float64
			}{q, in.min[i]}
			t.Run(fmt.Sprintf("%s/q%d", in.name, tc.q), func(t *testing.T) {
				x := in.in()
				ref := s16(sox(t, x, in.rate, rawOut(16000, "rate", "-v")...))
				got := s16(resampleAll(t, bytes.NewReader(x), in.rate, 16000, tc.q))
				if d := len(got) - len(ref); d < -1 || d > 1 {
					t.Fatalf("%d samples, sox gives %d", len(got), len(ref))
				}
				r := sdr(got, ref)
				t.Logf("SDR against sox rate -v: %.1f dB", r)
				if r < tc.min {
					t.Errorf("SDR %.1f dB, want ≥ %.0f", r, tc.min)
				}
			})
		}
	}
}

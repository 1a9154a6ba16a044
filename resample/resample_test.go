package resample

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"testing"
	"testing/iotest"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/internal/leakcheck"
)

// TestMain fails the run if a test leaves a goroutine behind, such as a
// Read that Stop or Interrupt did not end.
func TestMain(m *testing.M) { leakcheck.Main(m) }

// tone returns n samples of a sine at freq Hz and the given amplitude
// (full scale 1.0) at rate, as s16le.
func tone(n, rate int, freq, amp float64) []byte {
	b := make([]byte, 2*n)
	for i := range n {
		v := amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate))
		binary.LittleEndian.PutUint16(b[2*i:], uint16(int16(math.Round(v*32767))))
	}
	return b
}

func s16(b []byte) []float64 {
	out := make([]float64, len(b)/2)
	for i := range out {
		out[i] = float64(int16(binary.LittleEndian.Uint16(b[2*i:]))) / 32768
	}
	return out
}

// chunked returns reads of exactly k bytes (the last shorter).
type chunked struct {
	r io.Reader
	k int
}

func (c *chunked) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.k)]) }

func resampleAll(t testing.TB, src io.Reader, in, out int, q Quality) []byte {
	t.Helper()
	r, err := New(src, frame.Rate(in), frame.Rate(out), q)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLengthIsExact(t *testing.T) {
	// 441000 → 9000 Hz: L = 49 input samples make one output sample, and
	// zaf refuses a write of 49 (49 × 9000/441000 < 1 in floating point).
	rates := [][2]int{{44100, 16000}, {48000, 16000}, {8000, 16000}, {22050, 16000}, {11025, 16000}, {32000, 16000}, {96000, 16000}, {16000, 8000}, {44100, 8000}, {16000, 48000}, {44056, 16000}, {441000, 9000}}
	for _, rr := range rates {
		for _, n := range []int{0, 1, 2, 49, 50, 440, 441, 442, 4409, 4410, 4411, 12345, 100_000} {
			t.Run(fmt.Sprintf("%d-%d/%d", rr[0], rr[1], n), func(t *testing.T) {
				out := resampleAll(t, bytes.NewReader(tone(n, rr[0], 440, 0.5)), rr[0], rr[1], High)
				want := (int64(n)*int64(rr[1]) + int64(rr[0])/2) / int64(rr[0])
				if got := int64(len(out) / 2); got != want {
					t.Fatalf("%d samples in gave %d out, want round(n × out / in) = %d", n, got, want)
				}
			})
		}
	}
}

// TestChunkingDoesNotMatter: 1, 7, 441 and 4096-sample reads from the
// source give identical output, and so do repeated runs.
func TestChunkingDoesNotMatter(t *testing.T) {
	in := tone(44100*3/2, 44100, 1000, 0.7)
	want := resampleAll(t, bytes.NewReader(in), 44100, 16000, High)
	for _, k := range []int{1, 7, 441, 4096} {
		got := resampleAll(t, &chunked{bytes.NewReader(in), 2 * k}, 44100, 16000, High)
		if !bytes.Equal(got, want) {
			t.Errorf("%d-sample reads give different output", k)
		}
	}
	if got := resampleAll(t, iotest.OneByteReader(bytes.NewReader(in)), 44100, 16000, High); !bytes.Equal(got, want) {
		t.Error("one-byte reads give different output")
	}
	// Output reads of odd sizes too.
	r, _ := New(bytes.NewReader(in), 44100, 16000, High)
	defer r.Close()
	var got []byte
	buf := make([]byte, 1001)
	for i := 1; ; i++ {
		n, err := r.Read(buf[:i%1000+1])
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, want) {
		t.Error("odd-sized output reads give different output")
	}
}

func TestBypassIsBitExact(t *testing.T) {
	in := tone(1000, 16000, 440, 0.9)
	r, err := New(bytes.NewReader(in), 16000, 16000, High)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Bypass() {
		t.Fatal("equal rates do not bypass")
	}
	if got, _ := io.ReadAll(r); !bytes.Equal(got, in) {
		t.Fatal("bypass changed the samples")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSilenceStaysSilent: no dither noise.
func TestSilenceStaysSilent(t *testing.T) {
	out := resampleAll(t, bytes.NewReader(make([]byte, 2*48000)), 48000, 16000, VeryHigh)
	for i, v := range s16(out) {
		if v != 0 {
			t.Fatalf("sample %d of resampled silence is %v", i, v)
		}
	}
}

// TestTimeAligned: a short smooth pulse centred on input sample k peaks at
// output sample k × out / in (± 1): soxr's delay is compensated.
func TestTimeAligned(t *testing.T) {
	for _, rr := range [][2]int{{44100, 16000}, {48000, 16000}, {8000, 16000}, {16000, 8000}} {
		for _, q := range []Quality{Quick, High, VeryHigh} {
			n, k, w := rr[0], rr[0]/3, rr[0]/500 // a 4 ms Hann pulse
			in := make([]byte, 2*n)
			for i := -w; i <= w; i++ {
				v := 20000 * (0.5 + 0.5*math.Cos(math.Pi*float64(i)/float64(w)))
				binary.LittleEndian.PutUint16(in[2*(k+i):], uint16(int16(v)))
			}
			out := s16(resampleAll(t, bytes.NewReader(in), rr[0], rr[1], q))
			peak := 0
			for i, v := range out {
				if math.Abs(v) > math.Abs(out[peak]) {
					peak = i
				}
			}
			want := float64(k) * float64(rr[1]) / float64(rr[0])
			if math.Abs(float64(peak)-want) > 1 {
				t.Errorf("%d→%d quality %d: pulse at %d peaks at %d, want %.1f", rr[0], rr[1], q, k, peak, want)
			}
		}
	}
}

// TestAliasRejection: a tone above the output's Nyquist frequency must
// vanish: at least 100 dB down.
func TestAliasRejection(t *testing.T) {
	for _, f := range []float64{8500, 10000, 12000, 15000, 20000} {
		in := tone(44100, 44100, f, 1)
		out := s16(resampleAll(t, bytes.NewReader(in), 44100, 16000, High))
		inRMS, outRMS := rms(s16(in)), rms(out[400:len(out)-400]) // past the edges
		att := 20 * math.Log10(inRMS/math.Max(outRMS, 1e-12))
		t.Logf("%5.0f Hz: %.1f dB down", f, att)
		if att < 100 {
			t.Errorf("%.0f Hz at 44.1 → 16 kHz is only %.1f dB down, want ≥ 100", f, att)
		}
	}
}

func rms(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v * v
	}
	return math.Sqrt(s / float64(len(x)))
}

func TestBadArguments(t *testing.T) {
	for _, c := range []struct{ in, out int }{{0, 16000}, {-1, 16000}, {16000, 0}, {1 << 30, 16000}} {
		if _, err := New(bytes.NewReader(nil), frame.Rate(c.in), frame.Rate(c.out), High); err == nil {
			t.Errorf("New(%d, %d) accepted", c.in, c.out)
		}
	}
	if _, err := New(bytes.NewReader(nil), 44100, 16000, 7); err == nil {
		t.Error("quality 3 accepted")
	}
	for _, s := range []string{"quick", "low", "medium", "high", "very-high"} {
		if q, err := ParseQuality(s); err != nil || q.String() != s {
			t.Errorf("ParseQuality(%q) = %v, %v", s, q, err)
		}
	}
	if _, err := ParseQuality("best"); err == nil {
		t.Error("quality best accepted")
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	r, err := New(bytes.NewReader(tone(10000, 48000, 440, 0.5)), 48000, 16000, High)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	r.Read(buf) // mid-stream
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkResample reports speed as × real time for mono input.
func BenchmarkResample(b *testing.B) {
	for _, rr := range [][2]int{{8000, 16000}, {44100, 16000}, {48000, 16000}} {
		b.Run(fmt.Sprintf("%d-%d", rr[0], rr[1]), func(b *testing.B) {
			in := tone(rr[0]*10, rr[0], 440, 0.5) // 10 s
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			buf := make([]byte, 32<<10)
			for b.Loop() {
				r, err := New(bytes.NewReader(in), frame.Rate(rr[0]), frame.Rate(rr[1]), High)
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, err := r.Read(buf); err != nil {
						break
					}
				}
				r.Close()
			}
			b.ReportMetric(10*float64(b.N)/b.Elapsed().Seconds(), "x-realtime")
		})
	}
}

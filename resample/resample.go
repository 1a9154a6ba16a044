// Package resample converts mono s16le audio from one sample rate to another
// with libsoxr (through github.com/zaf/resample), the resampler of SoX.
//
// A [Reader] pulls samples at the input rate from an io.Reader and returns
// them at the output rate: it is a stage to put between a reader of audio
// and whatever reads it (see [Reader] for its lifecycle). It works around
// the traps of zaf/resample:
//
//   - zaf drops input unless every Write holds a whole multiple of
//     L = in/gcd(in, out) frames. The Reader feeds it fixed blocks of a
//     multiple of L samples (about 100 ms), whatever sizes its source returns,
//     and pads only the very last block (with silence, to a whole block: zaf
//     refuses a write too short to make an output sample), then cuts the
//     output to the exact length the rate ratio implies: round(n × out / in)
//     samples for n in.
//   - zaf's 16-bit mode dithers with a clock seed, so identical runs differ.
//     The Reader resamples in 32-bit float, which is deterministic, and
//     converts to 16 bits itself, rounding to nearest and clamping.
//   - soxr holds back its delay until the end of input; the Reader flushes it
//     at EOF, so the last samples arrive and the output is time-aligned with
//     the input.
//   - zaf has no finalizer: [Reader.Close] frees the C memory and must always
//     be called. Equal rates bypass soxr entirely (bit-exact, no C memory).
//
// Because the output of a block depends only on the blocks before it, the
// output is identical for any chunking of the input. zaf allocates twice per
// block written (about every 100 ms of audio); the Reader itself allocates
// only in New.
package resample

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	zaf "github.com/zaf/resample"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// Quality selects the soxr recipe. The zero value is High.
type Quality int

// Qualities, as SoX names them.
const (
	High     Quality = iota // 20-bit precision; the default, as sox rate -h
	VeryHigh                // 28-bit, as sox rate -v
	Medium                  // 16-bit, medium roll-off
	Low                     // 16-bit, large roll-off
	Quick                   // cubic interpolation, no anti-alias filter
)

var zafQuality = [...]int{High: zaf.HighQ, VeryHigh: zaf.VeryHighQ, Medium: zaf.MediumQ, Low: zaf.LowQ, Quick: zaf.Quick}

// String returns the name ParseQuality accepts.
func (q Quality) String() string {
	switch q {
	case High:
		return "high"
	case VeryHigh:
		return "very-high"
	case Medium:
		return "medium"
	case Low:
		return "low"
	case Quick:
		return "quick"
	}
	return fmt.Sprintf("Quality(%d)", int(q))
}

// ParseQuality parses quick, low, medium, high or very-high.
func ParseQuality(s string) (Quality, error) {
	switch s {
	case "quick":
		return Quick, nil
	case "low":
		return Low, nil
	case "medium":
		return Medium, nil
	case "high", "":
		return High, nil
	case "very-high", "veryhigh", "vhq":
		return VeryHigh, nil
	}
	return 0, fmt.Errorf("resample: unknown quality %q; use quick, low, medium, high or very-high", s)
}

// blockDiv sets the audio per block handed to soxr: about 1/blockDiv s.
const blockDiv = 10

// Reader resamples mono s16le from its source. It is an io.Reader stage:
//
//	rs, err := resample.New(src, 48000, 16000, resample.High)
//	if err != nil { … }
//	defer rs.Close() // always: it frees soxr's C memory
//	io.Copy(dst, rs)  // or hand rs to the next stage as its io.Reader
//
// Read it until it returns an error. io.EOF from src (an input that ends, or
// is ended early, as by Input.Stop of package source) makes it resample what
// it holds, flush soxr and return io.EOF after the last sample; another error
// of src is returned the same way, after that output. Close must be called
// on every path, after the last Read: a Reader abandoned without Close leaks
// C memory. Close does not close src. A Reader is not safe for concurrent
// use: one goroutine reads it and then closes it.
type Reader struct {
	src     io.Reader
	in, out int64 // rates
	l, m    int64 // in/gcd and out/gcd: L input samples make M output samples

	rs      *zaf.Resampler // nil when bypassing or closed
	raw     []byte         // one block of s16le input
	f32     []byte         // the block as float32
	pending []byte         // float32 output of soxr not yet returned
	off     int            // read offset in pending

	nIn, nOut int64 // samples read from src, samples returned
	// end is why the input ended, once it has (soxr is then flushed and
	// freed): io.EOF, the error of src, or soxr's. Read returns it, and
	// keeps returning it, once pending is drained.
	end error
}

// errClosed is returned by Read after Close.
var errClosed = errors.New("resample: Read after Close")

// New returns a Reader converting src, mono s16le at rate in, to rate out.
// Each rate must be between 1 Hz and [frame.MaxRate]. Equal rates make a
// pass-through that never touches soxr.
func New(src io.Reader, in, out frame.Rate, q Quality) (*Reader, error) {
	if in <= 0 || out <= 0 || in > frame.MaxRate || out > frame.MaxRate {
		return nil, fmt.Errorf("resample: rates %d Hz → %d Hz: each must be between 1 and %d Hz", in, out, frame.MaxRate)
	}
	if q < 0 || int(q) >= len(zafQuality) {
		return nil, fmt.Errorf("resample: invalid quality %d", int(q))
	}
	r := &Reader{src: src, in: int64(in), out: int64(out)}
	if in == out {
		return r, nil
	}
	g := gcd(r.in, r.out)
	r.l, r.m = r.in/g, r.out/g
	block := r.l * max(1, (r.in/blockDiv+r.l-1)/r.l) // a multiple of L, about 100 ms
	r.raw = make([]byte, 2*block)
	r.f32 = make([]byte, 4*block)
	// soxr may hold back up to its delay plus a block; size for both.
	r.pending = make([]byte, 0, 4*(block*r.m/r.l+int64(out)+1024))
	rs, err := zaf.New((*collector)(r), float64(in), float64(out), 1, zaf.F32, zafQuality[q])
	if err != nil {
		return nil, fmt.Errorf("resample: %w", err)
	}
	r.rs = rs
	return r, nil
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// collector receives soxr's float32 output.
type collector Reader

func (c *collector) Write(p []byte) (int, error) {
	c.pending = append(c.pending, p...)
	return len(p), nil
}

// Bypass reports whether the Reader passes samples through unchanged.
func (r *Reader) Bypass() bool { return r.l == 0 }

// Read fills p with resampled mono s16le samples: whole samples only, so a
// p of one byte reads nothing. It returns io.EOF after the last sample. A
// read error of the source other than io.EOF ends the input the same way
// (what was read before it is resampled and soxr flushed) and is returned
// after that output instead of io.EOF, and on every later call.
func (r *Reader) Read(p []byte) (int, error) {
	if r.Bypass() {
		if r.end != nil {
			return 0, r.end
		}
		return r.src.Read(p)
	}
	p = p[:len(p)&^1]
	if len(p) == 0 {
		return 0, nil
	}
	for r.off == len(r.pending) {
		if r.end != nil {
			return 0, r.end
		}
		r.pending, r.off = r.pending[:0], 0
		r.fill()
	}
	// Return at most the samples the ratio allows so far; the cut only
	// bites at the end, where padding added output.
	n := min(len(p)/2, (len(r.pending)-r.off)/4)
	if r.end != nil {
		n = int(min(int64(n), r.expected()-r.nOut))
		if n <= 0 {
			r.off = len(r.pending)
			return 0, r.end
		}
	}
	for i := range n {
		v := math.Float32frombits(binary.LittleEndian.Uint32(r.pending[r.off+4*i:]))
		binary.LittleEndian.PutUint16(p[2*i:], uint16(toS16(v)))
	}
	r.off += 4 * n
	r.nOut += int64(n)
	return 2 * n, nil
}

// expected is the output length the ratio implies for the input read:
// round(nIn × out / in).
func (r *Reader) expected() int64 {
	return (r.nIn*r.out + r.in/2) / r.in
}

// fill reads one block from src and resamples it into pending. When src
// ends, with io.EOF or another error, it sets end, resamples the partly
// filled last block padded with silence to a whole block, and flushes and
// frees soxr.
func (r *Reader) fill() {
	n, err := io.ReadFull(r.src, r.raw)
	switch err {
	case nil:
	case io.EOF, io.ErrUnexpectedEOF:
		r.end = io.EOF
	default:
		r.end = err
	}
	if n%2 == 1 { // only at the end: raw holds whole samples
		n--
		if r.end == io.EOF {
			r.end = errors.New("resample: input ends with half a sample")
		}
	}
	if samples := int64(n / 2); samples > 0 {
		for i := range samples {
			v := float32(int16(binary.LittleEndian.Uint16(r.raw[2*i:]))) / 32768
			binary.LittleEndian.PutUint32(r.f32[4*i:], math.Float32bits(v))
		}
		clear(r.f32[4*samples:]) // the silence after the end; cut from the output
		if _, err := r.rs.Write(r.f32); err != nil && (r.end == nil || r.end == io.EOF) {
			r.end = fmt.Errorf("resample: %w", err)
		}
		r.nIn += samples
	}
	if r.end != nil {
		// Close flushes what soxr holds back (its delay) and frees it.
		err := r.rs.Close()
		r.rs = nil
		if err != nil && r.end == io.EOF {
			r.end = fmt.Errorf("resample: flushing: %w", err)
		}
	}
}

// toS16 rounds a float sample (full scale ±1.0) to 16 bits, clamping.
func toS16(v float32) int16 {
	x := math.Floor(float64(v)*32768 + 0.5)
	return int16(max(-32768, min(32767, x)))
}

// Close frees the resampler's C memory. It must be called on every path,
// also when Read was not read to the end, and after the last Read has
// returned: it is not safe to call concurrently with Read. It does not close
// the source. Close is safe to call more than once; a Read after it returns
// an error.
func (r *Reader) Close() error {
	if r.end == nil {
		r.end = errClosed
		r.pending, r.off = r.pending[:0], 0
	}
	if r.rs == nil {
		return nil
	}
	err := r.rs.Close()
	r.rs = nil
	return err
}

package source

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// Encoding is how one sample is stored.
type Encoding uint8

// Sample encodings. WAV files use the little-endian ones, U8, MuLaw and ALaw.
const (
	S16LE Encoding = iota + 1 // signed 16-bit little-endian
	S16BE                     // signed 16-bit big-endian
	S24LE                     // signed 24-bit little-endian, packed in 3 bytes
	S32LE                     // signed 32-bit little-endian
	F32LE                     // IEEE float, 32-bit little-endian, full scale ±1.0
	F64LE                     // IEEE float, 64-bit little-endian, full scale ±1.0
	MuLaw                     // G.711 µ-law, 8-bit
	ALaw                      // G.711 A-law, 8-bit
	U8                        // unsigned 8-bit, 128 is silence
)

var encodingNames = [...]string{
	S16LE: "s16le", S16BE: "s16be", S24LE: "s24le", S32LE: "s32le",
	F32LE: "f32le", F64LE: "f64le", MuLaw: "mulaw", ALaw: "alaw", U8: "u8",
}

var encodingSizes = [...]int{
	S16LE: 2, S16BE: 2, S24LE: 3, S32LE: 4, F32LE: 4, F64LE: 8, MuLaw: 1, ALaw: 1, U8: 1,
}

// EncodingNames lists the names ParseEncoding accepts.
const EncodingNames = "s16le, s16be, s24le, s32le, f32le, f64le, mulaw, alaw, u8"

// ParseEncoding returns the encoding with the given name (as in
// [EncodingNames]; "ulaw" and "pcm_" prefixes are accepted too).
func ParseEncoding(name string) (Encoding, error) {
	n := strings.TrimPrefix(strings.ToLower(name), "pcm_")
	switch n {
	case "ulaw", "u-law", "mu-law":
		n = "mulaw"
	case "a-law":
		n = "alaw"
	}
	for e, s := range encodingNames {
		if s != "" && s == n {
			return Encoding(e), nil
		}
	}
	return 0, fmt.Errorf("source: unknown sample encoding %q; use one of %s", name, EncodingNames)
}

func (e Encoding) String() string {
	if int(e) < len(encodingNames) && encodingNames[e] != "" {
		return encodingNames[e]
	}
	return fmt.Sprintf("Encoding(%d)", int(e))
}

// Size returns the number of bytes of one sample.
func (e Encoding) Size() int {
	if int(e) < len(encodingSizes) {
		return encodingSizes[e]
	}
	return 0
}

// MaxChannels is the most channels a Format may have; beyond it a header is
// taken to be corrupt, as beyond [frame.MaxRate].
const MaxChannels = 64

// Format describes interleaved PCM.
type Format struct {
	Encoding Encoding
	Rate     frame.Rate // samples per second per channel
	Channels int
}

// FrameSize returns the bytes of one sample of every channel.
func (f Format) FrameSize() int { return f.Encoding.Size() * f.Channels }

func (f Format) String() string {
	return fmt.Sprintf("%s, %d Hz, %d channel(s)", f.Encoding, f.Rate, f.Channels)
}

// Validate reports what is wrong with f, if anything.
func (f Format) Validate() error {
	switch {
	case f.Encoding.Size() == 0:
		return fmt.Errorf("unknown sample encoding %d", int(f.Encoding))
	case f.Channels <= 0:
		return fmt.Errorf("%d channels: there must be at least one", f.Channels)
	case f.Channels > MaxChannels:
		return fmt.Errorf("%d channels is more than the %d supported: the header is probably corrupt", f.Channels, MaxChannels)
	case f.Rate <= 0:
		return fmt.Errorf("sample rate %d Hz: it must be positive", f.Rate)
	case f.Rate > frame.MaxRate:
		return fmt.Errorf("sample rate %d Hz is above the %d Hz supported: the header is probably corrupt", f.Rate, frame.MaxRate)
	}
	return nil
}

// ErrPartialSample is reported by [Decoder.Err] when the input ended in the
// middle of a sample frame (for several channels, a frame is one sample of
// each). The incomplete frame cannot be decoded and is left out.
var ErrPartialSample = errors.New("source: input ends with an incomplete sample")

// Decoder converts interleaved PCM of any [Format] read from an io.Reader
// into mono signed 16-bit little-endian samples, the pipeline's format, or,
// made by [NewChannelDecoder], into interleaved s16le of every channel.
//
// [NewDecoder] down-mixes channels by averaging, so the mix can never clip.
// Integer samples wider than 16 bits and float samples are rounded to the
// nearest 16-bit value; floats beyond ±1.0 are clamped, NaN becomes 0. 16-bit
// mono passes through bit-identical. The µ-law and A-law tables are those of
// ITU-T G.711. A channel kept apart by NewChannelDecoder is converted sample
// by sample exactly as the same samples alone in a mono input would be.
//
// Decoder reads its input with whatever sizes the reader returns (a pipe's
// short reads included) and carries partial samples over. It allocates only
// in NewDecoder.
type Decoder struct {
	r     io.Reader
	f     Format
	in    []byte // raw input; in[:n] holds bytes not yet decoded
	n     int
	out   [2 * MaxChannels]byte // the end of a decoded frame not yet returned (when Read is given less than a frame)
	nout  int
	keep  bool  // channels kept apart (NewChannelDecoder), not averaged
	total int64 // input bytes read
	err   error // end-of-input problem, for Err
	rerr  error // read error of r: sticky, returned once the samples before it are out
	eof   bool
}

// decodeBlock is the number of input sample frames decoded per read.
const decodeBlock = 4096

// NewDecoder returns a Decoder reading PCM of format f from r.
func NewDecoder(r io.Reader, f Format) (*Decoder, error) {
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	return &Decoder{r: r, f: f, in: make([]byte, decodeBlock*f.FrameSize())}, nil
}

// NewChannelDecoder returns a Decoder reading PCM of format f from r that
// keeps the channels apart: Read returns interleaved s16le, one sample of
// each of f.Channels channels per frame, in the input's order. Every sample
// is converted as [NewDecoder] converts a mono input's. Signed 16-bit
// little-endian input is returned as it is, read straight into the caller's
// buffer when nothing is pending. [NewSplitter] turns the output into one
// reader per channel.
func NewChannelDecoder(r io.Reader, f Format) (*Decoder, error) {
	d, err := NewDecoder(r, f)
	if err != nil {
		return nil, err
	}
	d.keep = true
	return d, nil
}

// Format returns the input format.
func (d *Decoder) Format() Format { return d.f }

// Channels returns the number of channels Read returns: 1, or all of the
// input's for a Decoder made by [NewChannelDecoder].
func (d *Decoder) Channels() int {
	if d.keep {
		return d.f.Channels
	}
	return 1
}

// outSize returns the bytes of one decoded frame.
func (d *Decoder) outSize() int { return 2 * d.Channels() }

// InputBytes returns the number of input bytes read so far.
func (d *Decoder) InputBytes() int64 { return d.total }

// Err returns a problem found at the end of the input, such as
// [ErrPartialSample], once Read has returned io.EOF; nil otherwise.
func (d *Decoder) Err() error { return d.err }

// Read fills p with mono s16le samples (interleaved s16le of every channel
// for a Decoder made by [NewChannelDecoder]). It returns io.EOF at the end
// of the input. A read error of the underlying reader is returned once the
// samples read before it have been returned (an incomplete sample frame just
// before it is dropped), and again on every later call: it is never turned
// into a clean end of input.
func (d *Decoder) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	written := 0
	osz := d.outSize()
	if d.nout > 0 { // a frame split by a short read
		written = copy(p, d.out[osz-d.nout:osz])
		d.nout -= written
		if written == len(p) {
			return written, nil
		}
	}
	fs := d.f.FrameSize()
	if d.keep && d.f.Encoding == S16LE && written == 0 && d.n == 0 && !d.eof && d.rerr == nil && len(p) >= fs {
		if n := d.readDirect(p[:len(p)-len(p)%fs]); n > 0 {
			return n, nil
		}
	}
	for {
		if whole := d.n / fs; whole > 0 {
			room := (len(p) - written) / osz
			if room == 0 {
				if written > 0 {
					return written, nil
				}
				// p has room for part of a frame only: decode one into out.
				d.convert(d.out[:osz], d.in[:fs])
				d.shift(fs)
				n := copy(p, d.out[:osz])
				d.nout = osz - n
				return n, nil
			}
			k := min(whole, room)
			d.convert(p[written:written+osz*k], d.in[:k*fs])
			d.shift(k * fs)
			return written + osz*k, nil
		}
		if d.eof {
			if d.n > 0 && d.err == nil {
				d.err = fmt.Errorf("%w (%d of %d bytes)", ErrPartialSample, d.n, fs)
				d.n = 0
			}
			if written > 0 {
				return written, nil
			}
			return 0, io.EOF
		}
		if d.rerr != nil {
			if written > 0 {
				return written, nil // the error comes on the next call
			}
			return 0, d.rerr
		}
		m, err := d.r.Read(d.in[d.n:])
		d.n += m
		d.total += int64(m)
		if err == io.EOF {
			d.eof = true
		} else if err != nil {
			d.rerr = err // decode what came with it first
		}
	}
}

// readDirect reads s16le input whose channels are kept straight into p,
// whose length is a whole number of frames, and returns the number of bytes
// of whole frames read. It keeps an incomplete last frame in d.in and records
// an end or an error of the input for the next Read, as Read does.
func (d *Decoder) readDirect(p []byte) int {
	m, err := d.r.Read(p)
	d.total += int64(m)
	whole := m - m%d.f.FrameSize()
	d.n = copy(d.in, p[whole:m])
	if err == io.EOF {
		d.eof = true
	} else if err != nil {
		d.rerr = err
	}
	return whole
}

// convert converts the whole frames in src into dst, as the Decoder's mode
// says: averaged, or every channel kept.
func (d *Decoder) convert(dst, src []byte) {
	if d.keep {
		decodeMono(dst, src, d.f.Encoding)
		return
	}
	decode(dst, src, d.f)
}

// shift drops the first k bytes of the pending input.
func (d *Decoder) shift(k int) {
	d.n = copy(d.in, d.in[k:d.n])
}

// decode converts the whole frames in src to mono s16le in dst, which holds
// exactly one 2-byte sample per frame. Every path rounds the same way: to the
// nearest 16-bit value, ties upwards (as sox does).
func decode(dst, src []byte, f Format) {
	ch, size := f.Channels, f.Encoding.Size()
	switch {
	case ch == 1:
		decodeMono(dst, src, f.Encoding)
	case ch == 2 && f.Encoding == S16LE:
		for i, o := 0, 0; o < len(dst); i, o = i+4, o+2 {
			l := int32(int16(binary.LittleEndian.Uint16(src[i:])))
			r := int32(int16(binary.LittleEndian.Uint16(src[i+2:])))
			binary.LittleEndian.PutUint16(dst[o:], uint16((l+r+1)>>1))
		}
	default:
		// Sum channels in units of 2^-31 of full scale (an int64 holds 64
		// full-scale channels with room to spare), then divide by the
		// channel count and 2^16 at once: a shift when it is a power of two.
		fs := size * ch
		shift, pow2 := 16, ch&(ch-1) == 0
		for c := ch; c > 1; c >>= 1 {
			shift++
		}
		div := int64(ch) << 16
		for i, o := 0, 0; o < len(dst); i, o = i+fs, o+2 {
			var sum int64
			for c := 0; c < ch; c++ {
				sum += int64(sample31(src[i+c*size:], f.Encoding))
			}
			n := sum + div/2
			var q int64
			if pow2 {
				q = n >> shift
			} else if q = n / div; n%div < 0 {
				q-- // floor, not truncation
			}
			binary.LittleEndian.PutUint16(dst[o:], uint16(max(-32768, min(32767, q))))
		}
	}
}

// decodeMono converts samples one by one, one loop per encoding: those of a
// single channel, or interleaved ones whose channels are kept apart.
func decodeMono(dst, src []byte, e Encoding) {
	n := len(dst) / 2
	switch e {
	case S16LE:
		copy(dst, src[:2*n]) // bit-exact pass-through
	case S16BE:
		for i := range n {
			dst[2*i], dst[2*i+1] = src[2*i+1], src[2*i]
		}
	case U8:
		for i := range n {
			dst[2*i], dst[2*i+1] = 0, src[i]-128
		}
	case MuLaw:
		for i := range n {
			binary.LittleEndian.PutUint16(dst[2*i:], uint16(ulawTable[src[i]]))
		}
	case ALaw:
		for i := range n {
			binary.LittleEndian.PutUint16(dst[2*i:], uint16(alawTable[src[i]]))
		}
	default:
		size := e.Size()
		for i := range n {
			v := int64(sample31(src[i*size:], e))
			binary.LittleEndian.PutUint16(dst[2*i:], uint16(min(32767, (v+1<<15)>>16)))
		}
	}
}

// sample31 returns the sample at b scaled to a signed 32-bit full scale.
func sample31(b []byte, e Encoding) int32 {
	switch e {
	case S16LE:
		return int32(int16(binary.LittleEndian.Uint16(b))) << 16
	case S16BE:
		return int32(int16(binary.BigEndian.Uint16(b))) << 16
	case S24LE:
		return int32(uint32(b[0])<<8 | uint32(b[1])<<16 | uint32(b[2])<<24)
	case S32LE:
		return int32(binary.LittleEndian.Uint32(b))
	case F32LE:
		return float31(float64(math.Float32frombits(binary.LittleEndian.Uint32(b))))
	case F64LE:
		return float31(math.Float64frombits(binary.LittleEndian.Uint64(b)))
	case MuLaw:
		return int32(ulawTable[b[0]]) << 16
	case ALaw:
		return int32(alawTable[b[0]]) << 16
	case U8:
		return (int32(b[0]) - 128) << 24
	}
	return 0
}

// float31 scales a float sample (full scale ±1.0) to 32 bits, rounded and
// clamped; NaN is silence.
func float31(v float64) int32 {
	x := math.Floor(v*(1<<31) + 0.5)
	switch {
	case x != x: // NaN
		return 0
	case x >= math.MaxInt32:
		return math.MaxInt32
	case x <= math.MinInt32:
		return math.MinInt32
	}
	return int32(x)
}

// G.711 decoding tables, built as ITU-T G.711 and sox's g711.c define them.
var ulawTable, alawTable [256]int16

func init() {
	for i := range 256 {
		// µ-law: complement, then sign, 3-bit exponent, 4-bit mantissa.
		u := ^byte(i)
		t := (int(u&0x0F) << 3) + 0x84
		t <<= (u & 0x70) >> 4
		if u&0x80 != 0 {
			ulawTable[i] = int16(0x84 - t)
		} else {
			ulawTable[i] = int16(t - 0x84)
		}
		// A-law: even bits inverted.
		a := byte(i) ^ 0x55
		v := int(a&0x0F) << 4
		switch seg := (a & 0x70) >> 4; seg {
		case 0:
			v += 8
		case 1:
			v += 0x108
		default:
			v += 0x108
			v <<= seg - 1
		}
		if a&0x80 != 0 {
			alawTable[i] = int16(v)
		} else {
			alawTable[i] = int16(-v)
		}
	}
}

package source

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/go-audio/audio"
	"github.com/go-audio/wav"
)

// chunky returns the reads of r in random sizes from 1 to 333 bytes, like a
// pipe under load.
type chunky struct {
	r   io.Reader
	rng *rand.Rand
}

func (c *chunky) Read(p []byte) (int, error) {
	n := 1 + c.rng.IntN(333)
	return c.r.Read(p[:min(n, len(p))])
}

// readers returns the ways the tests feed an input: whole, one byte at a
// time, in halves, and in random short reads.
func readers(b []byte) map[string]io.Reader {
	return map[string]io.Reader{
		"whole":   bytes.NewReader(b),
		"onebyte": iotest.OneByteReader(bytes.NewReader(b)),
		"half":    iotest.HalfReader(bytes.NewReader(b)),
		"chunky":  &chunky{bytes.NewReader(b), rand.New(rand.NewPCG(1, uint64(len(b))))},
	}
}

// readAll drains s with odd-sized reads, so output splitting is exercised too.
func readAll(t *testing.T, s io.Reader) []byte {
	t.Helper()
	var out []byte
	buf := make([]byte, 777)
	for i := 0; ; i++ {
		n, err := s.Read(buf[:1+i%len(buf)])
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func samples(b []byte) []int16 {
	s := make([]int16, len(b)/2)
	for i := range s {
		s[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return s
}

// compare checks got against want sample by sample: at most tol apart.
func compare(t *testing.T, got, want []byte, tol int) {
	t.Helper()
	g, w := samples(got), samples(want)
	if len(g) != len(w) {
		t.Fatalf("%d samples, want %d", len(g), len(w))
	}
	worst, at := 0, 0
	for i := range g {
		if d := int(g[i]) - int(w[i]); max(d, -d) > worst {
			worst, at = max(d, -d), i
		}
	}
	if worst > tol {
		t.Fatalf("sample %d is %d, reference %d: off by %d (tolerance %d)", at, g[at], w[at], worst, tol)
	}
}

func TestDecodeFixtures(t *testing.T) {
	tests := []struct {
		file string
		raw  Format // zero for WAV
		want Format
		tol  int // the reference rounds some conversions differently
	}{
		{"u8_mono_8k.wav", Format{}, Format{U8, 8000, 1}, 0},
		{"s16_mono_16k.wav", Format{}, Format{S16LE, 16000, 1}, 0},
		{"s16_stereo_44k.wav", Format{}, Format{S16LE, 44100, 2}, 1},
		{"s24_mono_48k.wav", Format{}, Format{S24LE, 48000, 1}, 0},
		{"s32_stereo_16k.wav", Format{}, Format{S32LE, 16000, 2}, 1},
		{"mulaw_mono_8k.wav", Format{}, Format{MuLaw, 8000, 1}, 0},
		{"alaw_mono_8k.wav", Format{}, Format{ALaw, 8000, 1}, 0},
		{"f32_mono_16k.wav", Format{}, Format{F32LE, 16000, 1}, 0},
		{"f64_stereo_22k.wav", Format{}, Format{F64LE, 22050, 2}, 1},
		{"s16_4ch_16k.wav", Format{}, Format{S16LE, 16000, 4}, 1},
		{"f32_4ch_16k.wav", Format{}, Format{F32LE, 16000, 4}, 1},
		{"s16_stereo_16k_streamed.wav", Format{}, Format{S16LE, 16000, 2}, 1},
		{"s16_stereo_16k.wav", Format{}, Format{S16LE, 16000, 2}, 1},
		{"s24_mono_16k_rf64.wav", Format{}, Format{S24LE, 16000, 1}, 0},
		{"s16be.raw", Format{S16BE, 8000, 1}, Format{S16BE, 8000, 1}, 0},
		{"s24le.raw", Format{S24LE, 8000, 1}, Format{S24LE, 8000, 1}, 0},
		{"s32le.raw", Format{S32LE, 8000, 1}, Format{S32LE, 8000, 1}, 0},
		{"f32le.raw", Format{F32LE, 8000, 1}, Format{F32LE, 8000, 1}, 0},
		{"f64le.raw", Format{F64LE, 8000, 1}, Format{F64LE, 8000, 1}, 0},
		{"mulaw.raw", Format{MuLaw, 8000, 1}, Format{MuLaw, 8000, 1}, 0},
		{"alaw.raw", Format{ALaw, 8000, 1}, Format{ALaw, 8000, 1}, 0},
		{"u8.raw", Format{U8, 8000, 1}, Format{U8, 8000, 1}, 0},
	}
	for _, tt := range tests {
		in, err := os.ReadFile(filepath.Join("testdata", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("testdata", strings.TrimSuffix(tt.file, filepath.Ext(tt.file))+".ref"))
		if err != nil {
			t.Fatal(err)
		}
		for how, r := range readers(in) {
			t.Run(tt.file+"/"+how, func(t *testing.T) {
				opts := Options{Raw: tt.raw}
				if tt.raw.Encoding != 0 {
					opts.Container = Raw
				}
				s, err := NewReader(r, opts)
				if err != nil {
					t.Fatal(err)
				}
				if s.Format() != tt.want {
					t.Fatalf("format %v, want %v", s.Format(), tt.want)
				}
				got := readAll(t, s)
				if err := s.Err(); err != nil {
					t.Fatalf("Err() = %v", err)
				}
				compare(t, got, want, tt.tol)
			})
		}
	}
}

// TestPassThroughIsBitExact: 16-bit mono, WAV or raw, comes out unchanged.
func TestPassThroughIsBitExact(t *testing.T) {
	in, err := os.ReadFile("../testdata/speech-16k.s16le")
	if err != nil {
		t.Fatal(err)
	}
	for how, r := range readers(in) {
		s, err := NewReader(r, Options{Raw: Format{Rate: 16000}})
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, s); !bytes.Equal(got, in) {
			t.Fatalf("%s: raw s16le mono changed on the way through", how)
		}
	}
}

// wavFile builds a WAV byte stream by hand: fmt body, extra chunks before
// data, the data size field and the data.
func wavFile(fmtBody []byte, extra [][2]string, dataSize uint32, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(0xFFFFFFFF))
	b.WriteString("WAVE")
	chunk := func(id string, body []byte) {
		b.WriteString(id)
		binary.Write(&b, binary.LittleEndian, uint32(len(body)))
		b.Write(body)
		if len(body)%2 == 1 {
			b.WriteByte(0)
		}
	}
	for _, c := range extra {
		if c[0] != "fmt " {
			chunk(c[0], []byte(c[1]))
		} else {
			chunk("fmt ", fmtBody)
		}
	}
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, dataSize)
	b.Write(data)
	return b.Bytes()
}

func pcmFmt(tag, channels uint16, rate uint32, bits uint16) []byte {
	align := channels * ((bits + 7) / 8)
	b := binary.LittleEndian.AppendUint16(nil, tag)
	b = binary.LittleEndian.AppendUint16(b, channels)
	b = binary.LittleEndian.AppendUint32(b, rate)
	b = binary.LittleEndian.AppendUint32(b, rate*uint32(align))
	b = binary.LittleEndian.AppendUint16(b, align)
	return binary.LittleEndian.AppendUint16(b, bits)
}

func TestWAVChunks(t *testing.T) {
	data := []byte{1, 0, 2, 0, 3, 0, 0xFF, 0x7F}
	f := pcmFmt(1, 1, 16000, 16)
	tests := []struct {
		name  string
		extra [][2]string
		size  uint32
	}{
		{"fmt first", [][2]string{{"fmt ", ""}}, 8},
		{"odd chunk with pad byte before fmt", [][2]string{{"JUNK", "abc"}, {"fmt ", ""}, {"LIST", "INFOxxxxx"}}, 8},
		{"fact and bext", [][2]string{{"fact", "\x04\x00\x00\x00"}, {"fmt ", ""}, {"bext", strings.Repeat("b", 601)}}, 8},
		{"size 0 means to the end", [][2]string{{"fmt ", ""}}, 0},
		{"size 0xFFFFFFFF means to the end", [][2]string{{"fmt ", ""}}, 0xFFFFFFFF},
	}
	for _, tt := range tests {
		file := wavFile(f, tt.extra, tt.size, data)
		for how, r := range readers(file) {
			t.Run(tt.name+"/"+how, func(t *testing.T) {
				s, err := NewReader(r, Options{})
				if err != nil {
					t.Fatal(err)
				}
				if got := readAll(t, s); !bytes.Equal(got, data) || s.Err() != nil {
					t.Fatalf("got % x, Err %v; want % x", got, s.Err(), data)
				}
			})
		}
	}
	// A known data size stops there, even with chunks after it.
	file := append(wavFile(f, [][2]string{{"fmt ", ""}}, 4, data[:4]), []byte("LIST\x04\x00\x00\x00abcd")...)
	s, err := NewReader(bytes.NewReader(file), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s); !bytes.Equal(got, data[:4]) {
		t.Fatalf("read past the data chunk: % x", got)
	}
}

func TestBadInput(t *testing.T) {
	pcm := pcmFmt(1, 1, 16000, 16)
	ext := func(sub uint16) []byte {
		b := append(pcmFmt(0xFFFE, 2, 16000, 16), 22, 0, 16, 0, 3, 0, 0, 0)
		b = binary.LittleEndian.AppendUint16(b, sub)
		return append(b, ksSubformatTail...)
	}
	tests := []struct {
		name string
		in   []byte
		opts Options
		want error
		msg  string
	}{
		{"empty", nil, Options{}, ErrEmpty, "empty"},
		{"truncated RIFF header", []byte("RIFF\x00\x00"), Options{}, ErrBadWAV, "before the RIFF header"},
		{"not WAVE", []byte("RIFF\x10\x00\x00\x00AVI LIST"), Options{}, ErrNotWAV, "AVI"},
		{"wav forced on raw", []byte("hello world, not audio"), Options{Container: WAV}, ErrNotWAV, "no RIFF header; it starts with \"hell\""},
		{"no fmt", wavFile(nil, nil, 4, []byte{1, 2, 3, 4}), Options{}, ErrBadWAV, "before the fmt"},
		{"0 channels", wavFile(pcmFmt(1, 0, 16000, 16), [][2]string{{"fmt ", ""}}, 4, nil), Options{}, ErrBadWAV, "0 channels"},
		{"0 Hz", wavFile(pcmFmt(1, 1, 0, 16), [][2]string{{"fmt ", ""}}, 4, nil), Options{}, ErrBadWAV, "0 Hz"},
		{"absurd channels", wavFile(pcmFmt(1, 5000, 16000, 16), [][2]string{{"fmt ", ""}}, 4, nil), Options{}, ErrBadWAV, "5000 channels"},
		{"absurd rate", wavFile(pcmFmt(1, 1, 0xFFFFFFFF, 16), [][2]string{{"fmt ", ""}}, 4, nil), Options{}, ErrBadWAV, "Hz"},
		{"absurd fmt size", []byte("RIFF\x00\x00\x00\x00WAVEfmt \xff\xff\xff\x7f"), Options{}, ErrBadWAV, "fmt chunk of"},
		{"MP3 in WAV", wavFile(pcmFmt(0x55, 1, 16000, 0), [][2]string{{"fmt ", ""}}, 4, nil), Options{}, ErrUnsupported, "MP3"},
		{"ADPCM in WAV", wavFile(pcmFmt(0x11, 1, 16000, 4), [][2]string{{"fmt ", ""}}, 4, nil), Options{}, ErrUnsupported, "ffmpeg -i INPUT"},
		{"extensible MP3", wavFile(ext(0x55), [][2]string{{"fmt ", ""}}, 4, nil), Options{}, ErrUnsupported, "MP3"},
		{"odd GUID", wavFile(append(ext(1)[:38], 1, 2), [][2]string{{"fmt ", ""}}, 4, nil), Options{}, ErrUnsupported, "GUID"},
		{"12-bit in 1 byte", wavFile(pcmFmt(1, 1, 8000, 12)[:14], [][2]string{{"fmt ", ""}}, 4, nil), Options{}, ErrBadWAV, ""},
		{"chunk runs past the end", append(wavFile(pcm, [][2]string{{"fmt ", ""}}, 0, nil)[:36], "LIST\xff\x00\x00\x00ab"...), Options{}, ErrTruncated, "before any audio"},
		{"MP3 as raw", []byte("ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), Options{}, nil, "looks like an MP3"},
		{"Ogg as raw", []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00"), Options{}, nil, "Ogg"},
		{"raw without a rate", []byte{1, 2}, Options{Container: Raw}, nil, "needs its sample rate"},
		{"raw 0 channels", []byte{1, 2}, Options{Container: Raw, Raw: Format{Rate: 8000, Channels: -1}}, nil, "-1 channels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(tt.in), tt.opts)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("NewReader = %v; want %v containing %q", err, tt.want, tt.msg)
			}
		})
	}
}

func TestTruncatedData(t *testing.T) {
	data := []byte{1, 0, 2, 0, 3, 0}
	file := wavFile(pcmFmt(1, 1, 16000, 16), [][2]string{{"fmt ", ""}}, 100, data)
	s, err := NewReader(bytes.NewReader(file), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s); !bytes.Equal(got, data) {
		t.Fatalf("got % x, want what is there: % x", got, data)
	}
	if err := s.Err(); !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "announces 100 bytes of audio, the input has 6") {
		t.Fatalf("Err() = %v", err)
	}
}

func TestPartialSample(t *testing.T) {
	for _, tt := range []struct {
		in   []byte
		f    Format
		want []byte
	}{
		{[]byte{1, 0, 2}, Format{S16LE, 16000, 1}, []byte{1, 0}},
		{[]byte{0, 0, 1, 0, 0, 2, 0}, Format{S16LE, 8000, 2}, []byte{1, 0}}, // (0+1)/2 rounds up to 1; then half a frame
	} {
		s, err := NewReader(bytes.NewReader(tt.in), Options{Container: Raw, Raw: tt.f})
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(t, s)
		if !bytes.Equal(got, tt.want) {
			t.Fatalf("%v: got % x", tt.f, got)
		}
		if err := s.Err(); !errors.Is(err, ErrPartialSample) {
			t.Fatalf("%v: Err() = %v, want ErrPartialSample", tt.f, err)
		}
	}
}

// TestConversions checks each encoding's mapping at its extremes.
func TestConversions(t *testing.T) {
	f32 := func(v float32) []byte { return binary.LittleEndian.AppendUint32(nil, math.Float32bits(v)) }
	f64 := func(v float64) []byte { return binary.LittleEndian.AppendUint64(nil, math.Float64bits(v)) }
	tests := []struct {
		enc  Encoding
		ch   int
		in   []byte
		want []int16
	}{
		{U8, 1, []byte{0, 128, 255}, []int16{-32768, 0, 32512}},
		{S16BE, 1, []byte{0x80, 0x00, 0x7F, 0xFF}, []int16{-32768, 32767}},
		{S24LE, 1, []byte{0, 0, 0x80, 0xFF, 0xFF, 0x7F, 0x80, 0x00, 0x00, 0x7F, 0x00, 0x00}, []int16{-32768, 32767, 1, 0}},
		{S32LE, 1, []byte{0, 0, 0, 0x80, 0xFF, 0xFF, 0xFF, 0x7F}, []int16{-32768, 32767}},
		{F32LE, 1, bytes.Join([][]byte{f32(-1), f32(1), f32(0.5), f32(2), f32(-3), f32(float32(math.NaN())), f32(float32(math.Inf(1)))}, nil), []int16{-32768, 32767, 16384, 32767, -32768, 0, 32767}},
		{F64LE, 1, bytes.Join([][]byte{f64(-0.25), f64(1e300), f64(0.9999999999), f64(-0.9999999999), f64(math.Inf(-1))}, nil), []int16{-8192, 32767, 32767, -32768, -32768}},
		{MuLaw, 1, []byte{0x00, 0x80, 0xFF, 0x7F}, []int16{-32124, 32124, 0, 0}},
		{ALaw, 1, []byte{0x55, 0xD5, 0x2A, 0xAA}, []int16{-8, 8, -32256, 32256}},
		// Down-mix averages, so full-scale channels in phase do not clip.
		{S16LE, 2, []byte{0xFF, 0x7F, 0xFF, 0x7F, 0x00, 0x80, 0x00, 0x80, 0x01, 0x00, 0x02, 0x00}, []int16{32767, -32768, 2}},
		{S16LE, 3, []byte{0xFF, 0x7F, 0xFF, 0x7F, 0x00, 0x80}, []int16{10922}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v/%d", tt.enc, tt.ch), func(t *testing.T) {
			d, err := NewDecoder(bytes.NewReader(tt.in), Format{tt.enc, 8000, tt.ch})
			if err != nil {
				t.Fatal(err)
			}
			got := samples(readAll(t, d))
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseEncoding(t *testing.T) {
	for _, name := range strings.Split(EncodingNames, ", ") {
		e, err := ParseEncoding(name)
		if err != nil || e.String() != name {
			t.Errorf("ParseEncoding(%q) = %v, %v", name, e, err)
		}
	}
	if e, err := ParseEncoding("pcm_ulaw"); e != MuLaw || err != nil {
		t.Errorf("pcm_ulaw: %v, %v", e, err)
	}
	if _, err := ParseEncoding("mp3"); err == nil || !strings.Contains(err.Error(), "s16le") {
		t.Errorf("ParseEncoding(mp3) = %v", err)
	}
}

// TestGoAudio checks both directions against go-audio: a WAV written by its
// encoder decodes here to the same samples, and its IntBuffer is accepted as
// a source.
func TestGoAudio(t *testing.T) {
	for _, depth := range []int{8, 16, 24, 32} {
		t.Run(fmt.Sprint(depth), func(t *testing.T) {
			const n = 1000
			buf := &audio.IntBuffer{Format: &audio.Format{NumChannels: 2, SampleRate: 16000}, SourceBitDepth: depth, Data: make([]int, 2*n)}
			rng := rand.New(rand.NewPCG(7, uint64(depth)))
			lo, hi := -(1 << (depth - 1)), 1<<(depth-1)
			if depth == 8 {
				lo, hi = 0, 256
			}
			for i := range buf.Data {
				buf.Data[i] = lo + rng.IntN(hi-lo)
			}
			path := filepath.Join(t.TempDir(), "x.wav")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			enc := wav.NewEncoder(f, 16000, depth, 2, 1)
			if err := enc.Write(buf); err != nil {
				t.Fatal(err)
			}
			if err := enc.Close(); err != nil {
				t.Fatal(err)
			}
			f.Close()
			file, _ := os.ReadFile(path)
			s, err := NewReader(bytes.NewReader(file), Options{})
			if err != nil {
				t.Fatal(err)
			}
			fromWAV := readAll(t, s)
			s2, err := FromIntBuffer(buf)
			if err != nil {
				t.Fatal(err)
			}
			fromBuf := readAll(t, s2)
			if len(fromWAV) != 2*n || !bytes.Equal(fromWAV, fromBuf) {
				t.Fatalf("WAV decode (%d bytes) and IntBuffer (%d bytes) differ", len(fromWAV), len(fromBuf))
			}
			// And against the obvious formula, for one frame.
			shift := depth - 16
			l, r := buf.Data[0], buf.Data[1]
			if depth == 8 {
				l, r, shift = l-128, r-128, -8
			}
			want := math.Round(float64(l+r) / 2 / math.Pow(2, float64(shift)))
			if got := samples(fromWAV)[0]; math.Abs(float64(got)-max(-32768, min(32767, want))) > 0 {
				t.Fatalf("first sample %d, want %v", got, want)
			}
		})
	}
}

// BenchmarkDecode decodes 1 MiB, channels averaged or ("keep") kept apart.
func BenchmarkDecode(b *testing.B) {
	for _, tt := range []struct {
		f    Format
		keep bool
	}{
		{Format{S16LE, 16000, 1}, false}, {Format{S16LE, 44100, 2}, false}, {Format{F32LE, 48000, 1}, false},
		{Format{F32LE, 48000, 2}, false}, {Format{S24LE, 48000, 2}, false}, {Format{MuLaw, 8000, 1}, false},
		{Format{S16LE, 44100, 2}, true}, {Format{F32LE, 48000, 2}, true}, {Format{S24LE, 48000, 2}, true}, {Format{MuLaw, 8000, 2}, true},
	} {
		f, name := tt.f, fmt.Sprintf("%v/%dch", tt.f.Encoding, tt.f.Channels)
		if tt.keep {
			name += "/keep"
		}
		b.Run(name, func(b *testing.B) {
			in := make([]byte, 1<<20-(1<<20)%f.FrameSize())
			rng := rand.New(rand.NewPCG(1, 1))
			for i := range in {
				in[i] = byte(rng.Uint32())
			}
			if f.Encoding == F32LE { // keep floats finite and in range
				for i := 0; i < len(in); i += 4 {
					binary.LittleEndian.PutUint32(in[i:], math.Float32bits(float32(i%2000)/1000-1))
				}
			}
			r := bytes.NewReader(in)
			d, err := newDecoder(r, f, tt.keep)
			if err != nil {
				b.Fatal(err)
			}
			out := make([]byte, 32<<10)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(in)
				*d = Decoder{r: r, f: f, in: d.in, keep: tt.keep}
				for {
					if _, err := d.Read(out); err == io.EOF {
						break
					}
				}
			}
		})
	}
}

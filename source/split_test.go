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
	"sync"
	"testing"
	"testing/iotest"
	"testing/synctest"
	"time"

	"github.com/vachana-pipe/vachana-pipe/internal/testutil"
)

// wavTag returns the WAV format tag and bits per sample of e, for the
// encodings a WAV file can hold.
func wavTag(e Encoding) (tag, bits uint16, ok bool) {
	switch e {
	case U8, S16LE, S24LE, S32LE:
		return tagPCM, uint16(8 * e.Size()), true
	case F32LE, F64LE:
		return tagFloat, uint16(8 * e.Size()), true
	case MuLaw:
		return tagMuLaw, 8, true
	case ALaw:
		return tagALaw, 8, true
	}
	return 0, 0, false
}

// randomSamples returns n samples of encoding e: random bytes, with floats
// kept mostly in range and a few beyond it or NaN, so clamping shows.
func randomSamples(e Encoding, n int, rng *rand.Rand) []byte {
	b := make([]byte, n*e.Size())
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	for i := 0; i < n; i++ {
		v := rng.Float64()*2.2 - 1.1
		if rng.IntN(50) == 0 {
			v = math.NaN()
		}
		switch e {
		case F32LE:
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(v)))
		case F64LE:
			binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
		}
	}
	return b
}

// interleave returns the frames of chans, each the samples of one channel
// in encoding e.
func interleave(chans [][]byte, size int) []byte {
	var out []byte
	for i := 0; i < len(chans[0]); i += size {
		for _, c := range chans {
			out = append(out, c[i:i+size]...)
		}
	}
	return out
}

// monoDecode is the reference: the samples of one channel decoded as a mono
// input of their own.
func monoDecode(t testing.TB, e Encoding, samples []byte) []byte {
	t.Helper()
	d, err := NewDecoder(bytes.NewReader(samples), Format{e, 8000, 1})
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(d)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// drainChannels reads every channel of s in its own goroutine, channel k in
// reads of sizes[k%len(sizes)] bytes, and returns what each got and the
// error that ended it.
func drainChannels(s *Splitter, sizes []int) ([][]byte, []error) {
	n := s.Channels()
	got := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for k := range n {
		wg.Go(func() {
			buf := make([]byte, sizes[k%len(sizes)])
			for {
				m, err := s.Channel(k).Read(buf)
				got[k] = append(got[k], buf[:m]...)
				if err != nil {
					errs[k] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return got, errs
}

// TestSplitMatchesMono: every channel of a WAV or raw input of several
// channels, split, equals that channel decoded alone as a mono input,
// whatever the encoding, the input's read sizes, each channel's read sizes
// and the bound on how far ahead one may run.
func TestSplitMatchesMono(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const frames = 1025
	for _, e := range []Encoding{S16LE, S16BE, S24LE, S32LE, F32LE, F64LE, MuLaw, ALaw, U8} {
		for _, channels := range []int{2, 4} {
			chans := make([][]byte, channels)
			want := make([][]byte, channels)
			for k := range chans {
				chans[k] = randomSamples(e, frames, rng)
				want[k] = monoDecode(t, e, chans[k])
			}
			data := interleave(chans, e.Size())
			containers := map[string][]byte{"raw": data}
			if tag, bits, ok := wavTag(e); ok {
				containers["wav"] = wavFile(pcmFmt(tag, uint16(channels), 8000, bits), [][2]string{{"fmt ", ""}}, uint32(len(data)), data)
			}
			for cname, file := range containers {
				for _, ahead := range []int{0, 2, 999} {
					for how, r := range readers(file) {
						name := fmt.Sprintf("%v/%dch/%s/%s/ahead=%d", e, channels, cname, how, ahead)
						t.Run(name, func(t *testing.T) {
							opts := Options{KeepChannels: true}
							if cname == "raw" {
								opts.Container, opts.Raw = Raw, Format{e, 8000, channels}
							}
							src, err := NewReader(r, opts)
							if err != nil {
								t.Fatal(err)
							}
							s, err := src.Split(&SplitOptions{Ahead: ahead})
							if err != nil {
								t.Fatal(err)
							}
							got, errs := drainChannels(s, []int{1, 479, 3, 4096})
							for k := range channels {
								if errs[k] != io.EOF {
									t.Fatalf("channel %d ended with %v, want io.EOF", k, errs[k])
								}
								if !bytes.Equal(got[k], want[k]) {
									t.Fatalf("channel %d: %d bytes differ from its mono decode (%d bytes)", k, len(got[k]), len(want[k]))
								}
							}
							if err := s.Err(); err != nil {
								t.Fatalf("Err() = %v", err)
							}
						})
					}
				}
			}
		}
	}
}

// TestKeepChannels: a Reader with KeepChannels returns the channels'
// samples interleaved, each converted as alone, whatever the read sizes on
// either side; 16-bit input comes out unchanged.
func TestKeepChannels(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, e := range []Encoding{S16LE, S24LE, F32LE, MuLaw} {
		for _, channels := range []int{1, 2, 3} {
			chans := make([][]byte, channels)
			want := make([][]byte, channels)
			for k := range chans {
				chans[k] = randomSamples(e, 1025, rng)
				want[k] = monoDecode(t, e, chans[k])
			}
			in := interleave(chans, e.Size())
			for how, r := range readers(in) {
				t.Run(fmt.Sprintf("%v/%dch/%s", e, channels, how), func(t *testing.T) {
					s, err := NewReader(r, Options{Container: Raw, Raw: Format{e, 16000, channels}, KeepChannels: true})
					if err != nil {
						t.Fatal(err)
					}
					if s.Channels() != channels {
						t.Fatalf("Channels() = %d, want %d", s.Channels(), channels)
					}
					got := readAll(t, s)
					if w := interleave(want, 2); !bytes.Equal(got, w) {
						t.Fatalf("got %d bytes, want %d: not the channels' mono decodes interleaved", len(got), len(w))
					}
					if e == S16LE && !bytes.Equal(got, in) {
						t.Fatal("s16le changed on the way through")
					}
				})
			}
		}
	}
}

// TestSplitMono: a mono input split has one channel, equal to what the
// Reader returns without splitting.
func TestSplitMono(t *testing.T) {
	for _, tt := range []struct {
		file string
		opts Options
	}{
		{"../testdata/speech-16k.s16le", Options{Raw: Format{Rate: 16000}}},
		{"testdata/f32_mono_16k.wav", Options{}},
		{"testdata/mulaw_mono_8k.wav", Options{}},
	} {
		t.Run(tt.file, func(t *testing.T) {
			in, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := NewReader(bytes.NewReader(in), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			want := readAll(t, plain)
			for _, keep := range []bool{false, true} {
				opts := tt.opts
				opts.KeepChannels = keep
				r, err := NewReader(iotest.HalfReader(bytes.NewReader(in)), opts)
				if err != nil {
					t.Fatal(err)
				}
				s, err := r.Split(nil)
				if err != nil {
					t.Fatal(err)
				}
				if s.Channels() != 1 {
					t.Fatalf("%d channels, want 1", s.Channels())
				}
				got := readAll(t, s.Channel(0))
				if !bytes.Equal(got, want) {
					t.Fatalf("KeepChannels %v: %d bytes, not the %d the Reader returns", keep, len(got), len(want))
				}
			}
		})
	}
}

// TestSplitSpeeds: channels read at different paces (one as fast as it
// can, one 3 bytes every 10 ms, one byte every millisecond) in reads of
// different sizes all get their samples, and the fast one is held back by
// the bound, not by the input.
func TestSplitSpeeds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const channels, frames = 3, 500
		in := make([]byte, 2*channels*frames)
		for i := range in {
			in[i] = byte(i * 13)
		}
		s, _ := NewSplitter(iotest.HalfReader(bytes.NewReader(in)), channels, &SplitOptions{Ahead: 64})
		pace := []struct {
			size  int
			sleep time.Duration
		}{{4096, 0}, {3, 10 * time.Millisecond}, {1, time.Millisecond}}
		got := make([][]byte, channels)
		start := time.Now()
		var fastDone time.Duration
		var wg sync.WaitGroup
		for k, p := range pace {
			wg.Go(func() {
				buf := make([]byte, p.size)
				for {
					n, err := s.Channel(k).Read(buf)
					got[k] = append(got[k], buf[:n]...)
					if err == io.EOF {
						if k == 0 {
							fastDone = time.Since(start)
						}
						return
					}
					if err != nil {
						t.Errorf("channel %d: %v", k, err)
						return
					}
					time.Sleep(p.sleep)
				}
			})
		}
		wg.Wait()
		for k := range channels {
			var want []byte
			for i := 2 * k; i < len(in); i += 2 * channels {
				want = append(want, in[i], in[i+1])
			}
			if !bytes.Equal(got[k], want) {
				t.Fatalf("channel %d: %d bytes differ from the %d of its channel", k, len(got[k]), len(want))
			}
		}
		// The slowest reads 3 bytes every 10 ms: the fast one cannot end
		// before the slowest is within 64 bytes of the end.
		if slowest := time.Duration((2*frames-64)/3-1) * 10 * time.Millisecond; fastDone < slowest {
			t.Fatalf("the fast channel ended after %v, before the slowest could be within the bound (%v)", fastDone, slowest)
		}
	})
}

// stereo returns n frames of s16le stereo: left sample i is i, right -i.
func stereo(n int) []byte {
	var b []byte
	for i := range n {
		b = binary.LittleEndian.AppendUint16(b, uint16(i))
		b = binary.LittleEndian.AppendUint16(b, uint16(-i))
	}
	return b
}

// channelOf returns channel k of s16le stereo.
func channelOf(b []byte, k int) []byte {
	var out []byte
	for i := 2 * k; i < len(b); i += 4 {
		out = append(out, b[i], b[i+1])
	}
	return out
}

// readResult is what a Read started by goRead returned.
type readResult struct {
	n   int
	err error
}

// goRead starts a Read of len(buf) bytes on c.
func goRead(c *ChannelReader, buf []byte) <-chan readResult {
	done := make(chan readResult, 1)
	go func() {
		n, err := c.Read(buf)
		done <- readResult{n, err}
	}()
	return done
}

// TestSplitAheadBlocks: a channel that has read Ahead bytes more than the
// slowest waits for it, and goes on as soon as the slowest reads.
func TestSplitAheadBlocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := stereo(100)
		s, err := NewSplitter(bytes.NewReader(in), 2, &SplitOptions{Ahead: 8})
		if err != nil {
			t.Fatal(err)
		}
		left, right := s.Channel(0), s.Channel(1)
		buf := make([]byte, 100)
		if n, err := left.Read(buf); n != 8 || err != nil {
			t.Fatalf("first Read = %d, %v; want the 8 bytes of the bound", n, err)
		}
		done := goRead(left, buf)
		synctest.Wait()
		select {
		case r := <-done:
			t.Fatalf("Read 8 bytes ahead of the other channel returned %d, %v; want it to wait", r.n, r.err)
		default:
		}
		rbuf := make([]byte, 3)
		if n, err := right.Read(rbuf); n != 3 || err != nil || !bytes.Equal(rbuf, channelOf(in, 1)[:3]) {
			t.Fatalf("right Read = %d, %v, % x", n, err, rbuf)
		}
		synctest.Wait()
		var r readResult
		select {
		case r = <-done:
		default:
			t.Fatal("the right channel read a sample, yet the left one still waits")
		}
		// One whole sample was read on the right: one more fits on the left.
		if r.n != 2 || r.err != nil || !bytes.Equal(buf[:2], channelOf(in, 0)[8:10]) {
			t.Fatalf("released Read = %d, %v, % x", r.n, r.err, buf[:r.n])
		}
		got, errs := drainChannels(s, []int{7, 5})
		if errs[0] != io.EOF || errs[1] != io.EOF {
			t.Fatalf("ends %v", errs)
		}
		if !bytes.Equal(got[0], channelOf(in, 0)[10:]) || !bytes.Equal(got[1], channelOf(in, 1)[3:]) {
			t.Fatal("the rest of the channels differs")
		}
	})
}

// TestSplitClose: closing a channel releases the channel waiting for it,
// ends a Read of its own waiting, and the other channels get all their
// samples; closing the Splitter ends every channel.
func TestSplitClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := stereo(1000)
		s, err := NewSplitter(iotest.HalfReader(bytes.NewReader(in)), 2, &SplitOptions{Ahead: 6})
		if err != nil {
			t.Fatal(err)
		}
		left, right := s.Channel(0), s.Channel(1)
		buf := make([]byte, 64)
		var got []byte
		for len(got) < 6 {
			n, err := left.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, buf[:n]...)
		}
		done := goRead(left, buf)
		synctest.Wait()
		select {
		case r := <-done:
			t.Fatalf("Read ahead returned %d, %v; want it to wait", r.n, r.err)
		default:
		}
		right.Close()
		r := <-done
		got = append(got, buf[:r.n]...)
		if r.err != nil {
			t.Fatal(r.err)
		}
		got = append(got, readAll(t, left)...)
		if !bytes.Equal(got, channelOf(in, 0)) {
			t.Fatalf("left channel: %d bytes, want %d", len(got), len(in)/2)
		}
		if n, err := right.Read(buf); n != 0 || err != io.ErrClosedPipe {
			t.Fatalf("Read after Close = %d, %v; want io.ErrClosedPipe", n, err)
		}
		if err := right.Close(); err != nil {
			t.Fatalf("second Close = %v", err)
		}

		// A Read waiting for the other channel ends when its own channel
		// is closed.
		s, _ = NewSplitter(bytes.NewReader(in), 2, &SplitOptions{Ahead: 2})
		if _, err := s.Channel(0).Read(buf[:2]); err != nil {
			t.Fatal(err)
		}
		done = goRead(s.Channel(0), buf)
		synctest.Wait()
		s.Channel(0).Close()
		if r := <-done; r.err != io.ErrClosedPipe {
			t.Fatalf("Read of a channel closed while it waits = %d, %v", r.n, r.err)
		}

		// Splitter.Close ends every channel, waiting or not.
		s, _ = NewSplitter(bytes.NewReader(in), 3, &SplitOptions{Ahead: 2})
		s.Channel(2).Read(buf[:2])
		done = goRead(s.Channel(2), buf)
		synctest.Wait()
		s.Close()
		if r := <-done; r.err != io.ErrClosedPipe {
			t.Fatalf("waiting Read after Splitter.Close = %d, %v", r.n, r.err)
		}
		for k := range 3 {
			if _, err := s.Channel(k).Read(buf); err != io.ErrClosedPipe {
				t.Fatalf("channel %d after Splitter.Close: %v", k, err)
			}
		}
	})
}

// blockingReader returns data, then blocks until release is closed, then
// returns end.
type blockingReader struct {
	data    []byte
	release chan struct{}
	end     error
}

func (b *blockingReader) Read(p []byte) (int, error) {
	if len(b.data) > 0 {
		n := copy(p, b.data)
		b.data = b.data[n:]
		return n, nil
	}
	<-b.release
	return 0, b.end
}

// TestSplitReadOutsideLock: while one channel's Read is blocked reading the
// input, another channel reads what it holds and can be closed; the end of
// the input then reaches every channel.
func TestSplitReadOutsideLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := stereo(10)
		src := &blockingReader{data: in, release: make(chan struct{}), end: errBoom}
		s, _ := NewSplitter(src, 3, nil) // 3 channels of 40 bytes: frames of 6 bytes, 6 and 2/3 of them
		buf := make([]byte, 64)
		n, err := s.Channel(0).Read(buf)
		if n != 12 || err != nil {
			t.Fatalf("first Read = %d, %v; want the 6 whole frames' 12 bytes", n, err)
		}
		done := goRead(s.Channel(0), buf) // reads the input, which blocks
		synctest.Wait()
		if n, err := s.Channel(1).Read(buf); n != 12 || err != nil {
			t.Fatalf("channel 1 while channel 0 waits on the input: %d, %v", n, err)
		}
		s.Channel(2).Close()
		close(src.release)
		if r := <-done; r.n != 0 || r.err != errBoom {
			t.Fatalf("channel 0 after the input failed: %d, %v", r.n, r.err)
		}
		if n, err := s.Channel(1).Read(buf); n != 0 || err != errBoom {
			t.Fatalf("channel 1 after the input failed: %d, %v", n, err)
		}
		if err := s.Err(); err != nil {
			t.Fatalf("Err after a read error = %v, want nil", err)
		}
	})
}

// TestSplitEnd: the end of the input and a read error reach every channel
// once the samples before them are out, and an error stays; an input that
// ends inside a frame is reported by Err.
func TestSplitEnd(t *testing.T) {
	in := stereo(1025)
	inputs := map[string]struct {
		r     func() io.Reader
		want  error
		bytes int // of in, before the end
	}{
		"EOF":                      {func() io.Reader { return bytes.NewReader(in) }, io.EOF, len(in)},
		"EOF with the last data":   {func() io.Reader { return iotest.DataErrReader(bytes.NewReader(in)) }, io.EOF, len(in)},
		"error once, then EOF":     {func() io.Reader { return &failOnce{r: bytes.NewReader(in), err: errBoom} }, errBoom, len(in)},
		"error with the last data": {func() io.Reader { return withLast(iotest.HalfReader(bytes.NewReader(in)), errBoom) }, errBoom, len(in)},
		"error, one byte at a time": {func() io.Reader {
			return &failOnce{r: iotest.OneByteReader(bytes.NewReader(in)), err: errBoom}
		}, errBoom, len(in)},
		// Half a frame, then the error, with more data after it that must
		// never be read: the incomplete frame is dropped.
		"error mid-stream": {func() io.Reader {
			return io.MultiReader(&failOnce{r: bytes.NewReader(in[:2050]), err: errBoom}, bytes.NewReader(in[2050:]))
		}, errBoom, 2048},
	}
	for name, tt := range inputs {
		for _, ahead := range []int{2, 1023, 1024, 1025, 0} {
			t.Run(fmt.Sprintf("%s/ahead=%d", name, ahead), func(t *testing.T) {
				s, err := NewSplitter(tt.r(), 2, &SplitOptions{Ahead: ahead})
				if err != nil {
					t.Fatal(err)
				}
				got, errs := drainChannels(s, []int{1, 333})
				for k := range 2 {
					if !errors.Is(errs[k], tt.want) {
						t.Fatalf("channel %d ended with %v, want %v", k, errs[k], tt.want)
					}
					if want := channelOf(in[:tt.bytes], k); !bytes.Equal(got[k], want) {
						t.Fatalf("channel %d: %d bytes before the end, want %d", k, len(got[k]), len(want))
					}
					if _, err := s.Channel(k).Read(make([]byte, 4)); !errors.Is(err, tt.want) {
						t.Fatalf("channel %d: Read after the end = %v, want %v again", k, err, tt.want)
					}
				}
				if err := s.Err(); err != nil {
					t.Fatalf("Err() = %v", err)
				}
			})
		}
	}
}

// TestSplitPartialFrame: an input ending inside a frame gives every channel
// the whole frames, then io.EOF, and Err reports ErrPartialSample, from the
// Splitter for interleaved s16le and from the Reader for a decoded input.
func TestSplitPartialFrame(t *testing.T) {
	in := append(stereo(5), 1, 2, 3)
	s, _ := NewSplitter(iotest.OneByteReader(bytes.NewReader(in)), 2, nil)
	got, errs := drainChannels(s, []int{3})
	for k := range 2 {
		if errs[k] != io.EOF || !bytes.Equal(got[k], channelOf(in[:20], k)) {
			t.Fatalf("channel %d: % x, %v", k, got[k], errs[k])
		}
	}
	if err := s.Err(); !errors.Is(err, ErrPartialSample) || err.Error() != "source: input ends with an incomplete sample (3 of 4 bytes)" {
		t.Fatalf("Err() = %v, want ErrPartialSample", err)
	}

	// s24le stereo through a Reader: the Reader drops the incomplete frame
	// and says so; so does the Splitter's Err.
	r, _ := NewReader(bytes.NewReader(make([]byte, 6*7+4)), Options{Container: Raw, Raw: Format{S24LE, 8000, 2}, KeepChannels: true})
	s, _ = r.Split(nil)
	got, _ = drainChannels(s, []int{5})
	if len(got[0]) != 14 || len(got[1]) != 14 {
		t.Fatalf("%d and %d bytes, want 7 samples each", len(got[0]), len(got[1]))
	}
	if err := s.Err(); !errors.Is(err, ErrPartialSample) {
		t.Fatalf("Err() = %v, want ErrPartialSample", err)
	}

	// A WAV file shorter than its header says: ErrTruncated.
	data := stereo(3)
	r, _ = NewReader(bytes.NewReader(wavFile(pcmFmt(1, 2, 8000, 16), [][2]string{{"fmt ", ""}}, 100, data)), Options{KeepChannels: true})
	s, _ = r.Split(nil)
	got, _ = drainChannels(s, []int{4})
	if !bytes.Equal(got[1], channelOf(data, 1)) {
		t.Fatalf("right channel % x", got[1])
	}
	if err := s.Err(); !errors.Is(err, ErrTruncated) {
		t.Fatalf("Err() = %v, want ErrTruncated", err)
	}
}

func TestSplitOptions(t *testing.T) {
	rate8k, err := NewReader(bytes.NewReader(make([]byte, 8)), Options{Container: Raw, Raw: Format{S16LE, 8000, 2}, KeepChannels: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		split func() (*Splitter, error)
		size  int // bytes per channel, 0 for an error
	}{
		{"NewSplitter default", func() (*Splitter, error) { return NewSplitter(nil, 2, nil) }, 192000},
		{"NewSplitter zero Ahead", func() (*Splitter, error) { return NewSplitter(nil, 2, &SplitOptions{}) }, 192000},
		{"Reader.Split default: 2 s at 8 kHz", func() (*Splitter, error) { return rate8k.Split(nil) }, 32000},
		{"odd Ahead: whole samples", func() (*Splitter, error) { return NewSplitter(nil, 2, &SplitOptions{Ahead: 7}) }, 6},
		{"Ahead below one sample", func() (*Splitter, error) { return NewSplitter(nil, 2, &SplitOptions{Ahead: 1}) }, 2},
		{"Reader.Split with Ahead", func() (*Splitter, error) { return rate8k.Split(&SplitOptions{Ahead: 100}) }, 100},
		{"negative Ahead", func() (*Splitter, error) { return NewSplitter(nil, 2, &SplitOptions{Ahead: -1}) }, 0},
		{"0 channels", func() (*Splitter, error) { return NewSplitter(nil, 0, nil) }, 0},
		{"65 channels", func() (*Splitter, error) { return NewSplitter(nil, MaxChannels+1, nil) }, 0},
		{"channels averaged", func() (*Splitter, error) {
			r, err := NewReader(bytes.NewReader(make([]byte, 8)), Options{Container: Raw, Raw: Format{S16LE, 8000, 2}})
			if err != nil {
				return nil, err
			}
			return r.Split(nil)
		}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.split()
			if tt.size == 0 {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.demux.size != tt.size {
				t.Fatalf("%d bytes per channel, want %d", s.demux.size, tt.size)
			}
		})
	}
}

// TestDemux checks the Splitter's state without goroutines: the rings wrap
// around, room is what the slowest open channel leaves, a closed channel is
// neither written nor waited for.
func TestDemux(t *testing.T) {
	d := newDemux(3, 6)
	frame := func(i int) []byte { return []byte{byte(i), 0, byte(i), 1, byte(i), 2} }
	if d.room() != 6 {
		t.Fatalf("room %d of an empty demux, want 6", d.room())
	}
	d.push(append(frame(1), frame(2)...))
	p := make([]byte, 6)
	if n := d.pull(0, p[:3]); n != 3 || !bytes.Equal(p[:3], []byte{1, 0, 2}) {
		t.Fatalf("pull = %d, % x", n, p[:3])
	}
	if d.room() != 2 || d.buffered(0) != 1 || d.buffered(1) != 4 {
		t.Fatalf("room %d, buffered %d and %d; want 2, 1 and 4", d.room(), d.buffered(0), d.buffered(1))
	}
	d.push(frame(3))
	if d.room() != 0 {
		t.Fatalf("room %d, want 0", d.room())
	}
	d.close(1)
	if d.room() != 0 { // channel 2 is as far behind
		t.Fatalf("room %d with channel 2 unread, want 0", d.room())
	}
	if n := d.pull(2, p); n != 6 || !bytes.Equal(p, []byte{1, 2, 2, 2, 3, 2}) {
		t.Fatalf("channel 2: %d, % x", n, p)
	}
	if d.room() != 3 { // channel 0 holds 3 bytes
		t.Fatalf("room %d, want 3", d.room())
	}
	d.push(frame(4)) // wraps around
	if n := d.pull(0, p); n != 5 || !bytes.Equal(p[:5], []byte{0, 3, 0, 4, 0}) {
		t.Fatalf("channel 0 across the wrap: %d, % x", n, p[:n])
	}
	if d.buffered(2) != 2 || d.room() != 4 {
		t.Fatalf("buffered %d, room %d; want 2, 4", d.buffered(2), d.room())
	}
	d.close(0)
	d.close(2)
	if d.room() != 6 {
		t.Fatalf("room %d with every channel closed, want all 6", d.room())
	}
}

// endless returns s16le frames of channels channels forever.
type endless struct{ frame []byte }

func (e *endless) Read(p []byte) (int, error) {
	n := len(p) - len(p)%len(e.frame)
	for i := 0; i < n; i += len(e.frame) {
		copy(p[i:], e.frame)
	}
	return n, nil
}

// TestSplitNoAllocs: reading the channels in turn allocates nothing,
// input reads included.
func TestSplitNoAllocs(t *testing.T) {
	s, _ := NewSplitter(&endless{stereo(1)}, 2, &SplitOptions{Ahead: 4096})
	buf := make([]byte, 333)
	testutil.NoAllocs(t, "ChannelReader.Read", func() {
		for k := range 2 {
			if _, err := s.Channel(k).Read(buf); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestDecodeNoAllocs: a Decoder's Read allocates nothing, channels
// averaged or kept, 16-bit input read straight into the caller's buffer
// included.
func TestDecodeNoAllocs(t *testing.T) {
	for _, f := range []Format{{S16LE, 16000, 1}, {S16LE, 16000, 2}, {F32LE, 48000, 2}} {
		frame := make([]byte, f.FrameSize())
		for _, keep := range []bool{false, true} {
			d, err := newDecoder(&endless{frame}, f, keep)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 1001)
			testutil.NoAllocs(t, fmt.Sprintf("Decoder.Read of %v, keep %v", f, keep), func() {
				for _, n := range []int{1, 1001, 3} {
					if _, err := d.Read(buf[:n]); err != nil {
						t.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkSplit reads the channels of endless s16le input in 4096-byte
// reads: in turn from one goroutine, and concurrently, one goroutine per
// channel (the first one's reads are counted).
func BenchmarkSplit(b *testing.B) {
	for _, channels := range []int{2, 4} {
		frame := make([]byte, 2*channels)
		for i := range frame {
			frame[i] = byte(i)
		}
		const chunk = 4096
		b.Run(fmt.Sprintf("%dch/inturn", channels), func(b *testing.B) {
			s, _ := NewSplitter(&endless{frame}, channels, nil)
			buf := make([]byte, chunk)
			b.SetBytes(int64(channels * chunk))
			b.ReportAllocs()
			for b.Loop() {
				for k := range channels {
					for n := 0; n < chunk; {
						m, err := s.Channel(k).Read(buf[n:])
						if err != nil {
							b.Fatal(err)
						}
						n += m
					}
				}
			}
		})
		b.Run(fmt.Sprintf("%dch/concurrent", channels), func(b *testing.B) {
			s, _ := NewSplitter(&endless{frame}, channels, nil)
			var wg sync.WaitGroup
			for k := 1; k < channels; k++ {
				wg.Go(func() {
					buf := make([]byte, chunk)
					for {
						if _, err := s.Channel(k).Read(buf); err != nil {
							return
						}
					}
				})
			}
			buf := make([]byte, chunk)
			b.SetBytes(chunk)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Channel(0).Read(buf); err != nil {
					b.Fatal(err)
				}
			}
			s.Close()
			wg.Wait()
		})
	}
}

package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/go-audio/audio"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// Container says how to read the input.
type Container uint8

// Containers.
const (
	Auto Container = iota // WAV if the input starts with a RIFF/RF64 header or is named *.wav, raw PCM otherwise
	WAV
	Raw
)

// ParseContainer parses "auto", "wav" or "raw".
func ParseContainer(s string) (Container, error) {
	switch s {
	case "auto", "":
		return Auto, nil
	case "wav":
		return WAV, nil
	case "raw":
		return Raw, nil
	}
	return 0, fmt.Errorf("source: unknown input format %q; use auto, wav or raw", s)
}

// Options says how to read an input. The zero value reads WAV; raw PCM
// needs at least Raw.Rate.
type Options struct {
	// Container is how to read the input; default Auto.
	Container Container
	// Name is the input's file name, if it has one. With Auto, a name
	// ending in .wav or .wave (in any case) means WAV: an input named so
	// without a RIFF header is refused rather than read as raw PCM.
	Name string
	// Raw describes raw PCM input: its encoding (default S16LE), rate and
	// channels (default 1). It is ignored for WAV, whose header says.
	Raw Format
	// KeepChannels makes the Reader keep the input's channels apart, as
	// [NewChannelDecoder] does: Read returns interleaved s16le of every
	// channel instead of their average, and [Reader.Split] gives one reader
	// per channel. The default averages them into mono.
	KeepChannels bool
}

// ErrEmpty reports an input with no bytes at all.
var ErrEmpty = errors.New("source: the input is empty")

// CompressedError is the error [NewReader] returns for an input that is
// known compressed audio or another container it does not decode (MP3,
// Ogg, FLAC, MP4/M4A, AIFF, AU, AMR, Matroska/WebM), recognised by its
// first bytes. A caller that can decode such input another way (the
// command runs ffmpeg) recognises it with errors.As; the message tells a
// user to install ffmpeg or to convert the input to WAV.
type CompressedError struct {
	// Kind names the format as a phrase, e.g. "an MP3 file".
	Kind string
}

func (e *CompressedError) Error() string {
	return "source: the input looks like " + e.Kind + ", not WAV or raw PCM; install ffmpeg and vachana-pipe decodes it itself, or convert it first: ffmpeg -i INPUT OUTPUT.wav"
}

// Reader is an input decoded to mono s16le (or to interleaved s16le of
// every channel, with [Options.KeepChannels]): Read returns samples at
// Format().Rate. It ends when its input ends: io.EOF from the input (as after
// [Input.Stop]) ends it normally, any other error is returned after the
// samples read before it. It is not safe for concurrent use.
type Reader struct {
	dec  *Decoder
	data *dataReader // WAV data chunk; nil for raw
	wav  *WAVInfo
}

// NewReader reads the start of r to tell WAV from raw PCM (for Auto), reads
// the WAV header if there is one, and returns a Reader decoding the rest.
// Content that is known compressed audio (MP3, Ogg, FLAC, MP4…) is refused
// with a [*CompressedError], unless the container is Raw.
func NewReader(r io.Reader, opts Options) (*Reader, error) {
	var head [12]byte
	n, err := io.ReadFull(r, head[:])
	switch {
	case err == io.EOF:
		return nil, ErrEmpty
	case err != nil && err != io.ErrUnexpectedEOF:
		return nil, err
	}
	body := io.MultiReader(bytes.NewReader(head[:n]), r)
	isRIFF := n >= 4 && (string(head[:4]) == "RIFF" || string(head[:4]) == "RF64" || string(head[:4]) == "BW64")
	c := opts.Container
	if c == Auto && isWAVName(opts.Name) {
		c = WAV
	}
	if c != Raw && !isRIFF {
		if kind := sniffContainer(head[:n]); kind != "" {
			return nil, &CompressedError{Kind: kind}
		}
	}
	if c == Auto {
		c = Raw
		if isRIFF {
			c = WAV
		}
	}
	s := &Reader{}
	if c == WAV { // ReadWAVHeader refuses an input without a RIFF header
		info, err := ReadWAVHeader(body)
		if err != nil {
			return nil, err
		}
		s.wav = &info
		s.data = &dataReader{r: body, left: info.DataSize, want: info.DataSize}
		if s.dec, err = newDecoder(s.data, info.Format, opts.KeepChannels); err != nil {
			return nil, err
		}
		return s, nil
	}
	f := opts.Raw
	if f.Encoding == 0 {
		f.Encoding = S16LE
	}
	if f.Channels == 0 {
		f.Channels = 1
	}
	if f.Rate == 0 {
		return nil, errors.New("source: raw input needs its sample rate (Options.Raw.Rate)")
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("source: raw input: %w", err)
	}
	if s.dec, err = newDecoder(body, f, opts.KeepChannels); err != nil {
		return nil, err
	}
	return s, nil
}

// newDecoder returns a Decoder that averages the channels or keeps them.
func newDecoder(r io.Reader, f Format, keep bool) (*Decoder, error) {
	if keep {
		return NewChannelDecoder(r, f)
	}
	return NewDecoder(r, f)
}

// isWAVName reports whether a file name says WAV: *.wav or *.wave.
func isWAVName(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".wav" || ext == ".wave"
}

// sniffContainer names a compressed or container format recognised by its
// magic bytes, or returns "".
func sniffContainer(b []byte) string {
	has := func(off int, magic string) bool {
		return len(b) >= off+len(magic) && string(b[off:off+len(magic)]) == magic
	}
	switch {
	case has(0, "ID3"):
		return "an MP3 file"
	case has(0, "OggS"):
		return "an Ogg file (Opus or Vorbis)"
	case has(0, "fLaC"):
		return "a FLAC file"
	case has(4, "ftyp"):
		return "an MP4/M4A file"
	case has(0, "FORM") && (has(8, "AIFF") || has(8, "AIFC")):
		return "an AIFF file"
	case has(0, ".snd"):
		return "a Sun/NeXT AU file"
	case has(0, "#!AMR"):
		return "an AMR file"
	case has(0, "\x1A\x45\xDF\xA3"):
		return "a Matroska/WebM file"
	}
	return ""
}

// Read fills p with mono s16le samples, or interleaved s16le of every
// channel with [Options.KeepChannels], as [Decoder.Read] does.
func (s *Reader) Read(p []byte) (int, error) { return s.dec.Read(p) }

// Format returns the format of the input as stored (before decoding).
func (s *Reader) Format() Format { return s.dec.Format() }

// Channels returns the number of channels Read returns: 1, or
// Format().Channels with [Options.KeepChannels].
func (s *Reader) Channels() int { return s.dec.Channels() }

// WAV returns the WAV header, or nil for raw input.
func (s *Reader) WAV() *WAVInfo { return s.wav }

// Err returns what was wrong with the end of the input once Read has
// returned io.EOF: a WAV data chunk shorter than its header said
// ([ErrTruncated]), or an incomplete last sample ([ErrPartialSample]).
func (s *Reader) Err() error {
	if s.data != nil && s.data.trunc {
		got := s.data.want - s.data.left
		return fmt.Errorf("%w: the header announces %d bytes of audio, the input has %d", ErrTruncated, s.data.want, got)
	}
	return s.dec.Err()
}

// FromIntBuffer returns a Reader reading the samples of a go-audio buffer,
// as its decoders produce them: SourceBitDepth 8 (unsigned), 16, 24 or 32, and
// Format giving the rate and channels.
func FromIntBuffer(buf *audio.IntBuffer) (*Reader, error) {
	if buf == nil || buf.Format == nil {
		return nil, errors.New("source: IntBuffer without a Format")
	}
	depth := buf.SourceBitDepth
	if depth == 0 {
		depth = 16
	}
	if depth != 8 && depth != 16 && depth != 24 && depth != 32 {
		return nil, fmt.Errorf("source: IntBuffer of %d-bit samples; want 8, 16, 24 or 32", depth)
	}
	f := Format{Encoding: S32LE, Rate: frame.Rate(buf.Format.SampleRate), Channels: buf.Format.NumChannels}
	dec, err := NewDecoder(&intReader{data: buf.Data, depth: depth}, f)
	if err != nil {
		return nil, err
	}
	return &Reader{dec: dec}, nil
}

// intReader encodes go-audio ints as s32le.
type intReader struct {
	data  []int
	depth int
}

func (r *intReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p)/4, len(r.data))
	if n == 0 {
		return 0, io.ErrShortBuffer
	}
	lo, hi := -(1 << (r.depth - 1)), 1<<(r.depth-1)-1
	for i, v := range r.data[:n] {
		if r.depth == 8 {
			v -= 128
		}
		v = max(lo, min(hi, v))
		u := uint32(int32(v) << (32 - r.depth))
		p[4*i], p[4*i+1], p[4*i+2], p[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	r.data = r.data[n:]
	return 4 * n, nil
}

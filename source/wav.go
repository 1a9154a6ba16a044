package source

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// WAV format tags (the fmt chunk's wFormatTag).
const (
	tagPCM        = 0x0001
	tagFloat      = 0x0003
	tagALaw       = 0x0006
	tagMuLaw      = 0x0007
	tagExtensible = 0xFFFE
)

// compressedTags names WAV format tags of compressed audio, which is refused
// with a hint to convert it.
var compressedTags = map[uint16]string{
	0x0002: "Microsoft ADPCM", 0x0011: "IMA ADPCM", 0x0031: "GSM 6.10", 0x0040: "G.721 ADPCM",
	0x0050: "MPEG audio", 0x0055: "MP3", 0x0064: "G.726 ADPCM", 0x0092: "Dolby AC-3",
	0x00FF: "AAC", 0x0160: "WMA v1", 0x0161: "WMA v2", 0x0162: "WMA Pro", 0x1610: "HE-AAC",
	0x2000: "Dolby AC-3", 0x2001: "DTS", 0x674F: "Vorbis", 0xF1AC: "FLAC", 0x0022: "TrueSpeech",
	0x0045: "G.726", 0x0042: "G.723.1", 0x0070: "Lernout & Hauspie CELP", 0x1000: "Olivetti GSM",
}

// ksSubformatTail is the part of a WAVE_FORMAT_EXTENSIBLE subformat GUID
// after its first two bytes, which hold the format tag.
var ksSubformatTail = []byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

// Errors of the WAV reader. Each is wrapped with the details.
var (
	ErrNotWAV      = errors.New("source: not a WAV file")
	ErrBadWAV      = errors.New("source: malformed WAV header")
	ErrUnsupported = errors.New("source: unsupported WAV format")
	ErrTruncated   = errors.New("source: WAV data is truncated")
)

// unknownSize marks a data chunk read until the end of the input.
const unknownSize = -1

// WAVInfo describes a WAV stream's header.
type WAVInfo struct {
	Format   Format
	Tag      uint16 // format tag, or the extensible subformat's
	Bits     int    // valid bits per sample as declared
	DataSize int64  // size of the data chunk, or -1 when the header leaves it open (streamed WAV)
	RF64     bool
}

// ReadWAVHeader reads a RIFF/WAVE (or RF64) header from r, which need not
// be seekable: chunks before "data" (LIST, fact, JUNK, bext…) are read past in
// any order, odd-sized ones with their pad byte. It returns once r is
// positioned at the first sample. A data size of 0 or 0xFFFFFFFF (and an
// RF64 size it cannot find) means the data runs to the end of the input, as
// in WAV written to a pipe. An input that does not start with RIFF, RF64 or
// BW64 is refused with [ErrNotWAV] ("no RIFF header").
func ReadWAVHeader(r io.Reader) (WAVInfo, error) {
	var info WAVInfo
	var hdr [12]byte
	n, err := io.ReadFull(r, hdr[:])
	magic := string(hdr[:min(n, 4)])
	if !strings.HasPrefix("RIFF", magic) && !strings.HasPrefix("RF64", magic) && !strings.HasPrefix("BW64", magic) {
		return info, fmt.Errorf("%w: no RIFF header; it starts with %s", ErrNotWAV, quoteStart([]byte(magic)))
	}
	if err != nil {
		return info, headerEOF(err, "RIFF header")
	}
	info.RF64 = magic != "RIFF"
	if string(hdr[8:12]) != "WAVE" {
		return info, fmt.Errorf("%w: a RIFF file of type %q, not WAVE", ErrNotWAV, printable(hdr[8:12]))
	}
	var ds64 int64 = unknownSize
	haveFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			if !haveFmt {
				return info, headerEOF(err, "fmt chunk")
			}
			return info, headerEOF(err, "data chunk")
		}
		id := string(ch[0:4])
		size := int64(binary.LittleEndian.Uint32(ch[4:8]))
		switch id {
		case "ds64":
			if size < 24 || size > 1<<16 {
				return info, fmt.Errorf("%w: ds64 chunk of %d bytes", ErrBadWAV, size)
			}
			b := make([]byte, size+size&1)
			if _, err := io.ReadFull(r, b); err != nil {
				return info, headerEOF(err, "ds64 chunk")
			}
			if v := binary.LittleEndian.Uint64(b[8:16]); v < 1<<62 {
				ds64 = int64(v)
			}
		case "fmt ":
			if haveFmt {
				return info, fmt.Errorf("%w: two fmt chunks", ErrBadWAV)
			}
			if size < 14 || size > 1<<12 {
				return info, fmt.Errorf("%w: fmt chunk of %d bytes (expected 16 to 40)", ErrBadWAV, size)
			}
			b := make([]byte, size+size&1)
			if _, err := io.ReadFull(r, b); err != nil {
				return info, headerEOF(err, "fmt chunk")
			}
			if err := parseFmt(&info, b[:size]); err != nil {
				return info, err
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return info, fmt.Errorf("%w: the data chunk comes before the fmt chunk", ErrBadWAV)
			}
			switch {
			case info.RF64 && size == 0xFFFFFFFF:
				info.DataSize = ds64
			case size == 0 || size == 0xFFFFFFFF:
				info.DataSize = unknownSize
			default:
				info.DataSize = size
			}
			return info, nil
		default:
			if _, err := io.CopyN(io.Discard, r, size+size&1); err != nil {
				if errors.Is(err, io.EOF) && haveFmt {
					return info, fmt.Errorf("%w: the input ends inside a %q chunk, before any audio data", ErrTruncated, printable(ch[0:4]))
				}
				return info, headerEOF(err, fmt.Sprintf("%q chunk", printable(ch[0:4])))
			}
		}
	}
}

// headerEOF turns an early end of input into an error naming what was
// missing.
func headerEOF(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: the input ends before the %s", ErrBadWAV, what)
	}
	return err
}

func parseFmt(info *WAVInfo, b []byte) error {
	tag := binary.LittleEndian.Uint16(b[0:2])
	channels := int(binary.LittleEndian.Uint16(b[2:4]))
	rate := int64(binary.LittleEndian.Uint32(b[4:8]))
	blockAlign := int(binary.LittleEndian.Uint16(b[12:14]))
	bits := 0
	if len(b) >= 16 {
		bits = int(binary.LittleEndian.Uint16(b[14:16]))
	}
	if tag == tagExtensible {
		if len(b) < 40 {
			return fmt.Errorf("%w: WAVE_FORMAT_EXTENSIBLE fmt chunk of %d bytes, expected 40", ErrBadWAV, len(b))
		}
		if valid := int(binary.LittleEndian.Uint16(b[18:20])); valid > 0 {
			bits = valid
		}
		guid := b[24:40]
		if !bytes.Equal(guid[2:], ksSubformatTail) {
			return fmt.Errorf("%w: WAVE_FORMAT_EXTENSIBLE with a non-standard subformat GUID % x", ErrUnsupported, guid)
		}
		tag = binary.LittleEndian.Uint16(guid[0:2])
	}
	info.Tag, info.Bits = tag, bits
	if name, ok := compressedTags[tag]; ok {
		return fmt.Errorf("%w: %s (format tag 0x%04x) is compressed; convert it to PCM first, e.g. ffmpeg -i INPUT -f s16le -ac 1 -ar 16000 - | vachana-pipe", ErrUnsupported, name, tag)
	}
	if channels == 0 {
		return fmt.Errorf("%w: 0 channels", ErrBadWAV)
	}
	if rate == 0 {
		return fmt.Errorf("%w: sample rate 0 Hz", ErrBadWAV)
	}
	if blockAlign == 0 || blockAlign%channels != 0 {
		return fmt.Errorf("%w: block size %d does not fit %d channels", ErrBadWAV, blockAlign, channels)
	}
	container := blockAlign / channels // bytes per sample as stored
	var enc Encoding
	switch tag {
	case tagPCM:
		if bits == 0 || bits > 8*container {
			return fmt.Errorf("%w: %d-bit samples in %d-byte containers", ErrBadWAV, bits, container)
		}
		switch container { // samples narrower than their container are left-justified
		case 1:
			enc = U8
		case 2:
			enc = S16LE
		case 3:
			enc = S24LE
		case 4:
			enc = S32LE
		default:
			return fmt.Errorf("%w: %d-bit integer PCM", ErrUnsupported, 8*container)
		}
	case tagFloat:
		switch container {
		case 4:
			enc = F32LE
		case 8:
			enc = F64LE
		default:
			return fmt.Errorf("%w: %d-bit float", ErrUnsupported, 8*container)
		}
	case tagMuLaw, tagALaw:
		if container != 1 {
			return fmt.Errorf("%w: G.711 with %d-byte samples", ErrBadWAV, container)
		}
		enc = MuLaw
		if tag == tagALaw {
			enc = ALaw
		}
	default:
		return fmt.Errorf("%w: format tag 0x%04x is not PCM, float, µ-law or A-law; convert it first, e.g. ffmpeg -i INPUT -f s16le -ac 1 -ar 16000 - | vachana-pipe", ErrUnsupported, tag)
	}
	info.Format = Format{Encoding: enc, Rate: frame.Rate(min(rate, 1<<31-1)), Channels: channels}
	if err := info.Format.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrBadWAV, err)
	}
	return nil
}

// quoteStart shows the first bytes of an input: quoted if they are
// printable ASCII, in hex otherwise.
func quoteStart(b []byte) string {
	if printable(b) == string(b) {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("the bytes % x", b)
}

// printable returns b with bytes outside printable ASCII replaced by '?'.
func printable(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7E {
			c = '?'
		}
		out[i] = c
	}
	return string(out)
}

// dataReader reads a WAV data chunk of known or unknown size and records a
// truncation.
type dataReader struct {
	r     io.Reader
	left  int64 // bytes still expected, or unknownSize
	want  int64
	trunc bool
}

func (d *dataReader) Read(p []byte) (int, error) {
	if d.left == 0 {
		return 0, io.EOF
	}
	if d.left > 0 && int64(len(p)) > d.left {
		p = p[:d.left]
	}
	n, err := d.r.Read(p)
	if d.left > 0 {
		d.left -= int64(n)
		if err == io.EOF && d.left > 0 {
			d.trunc = true
		}
	}
	return n, err
}

package source

import (
	"errors"
	"strings"
	"testing"
)

// TestWAVName: a .wav or .wave name makes Auto mean WAV, so an input
// without a RIFF header is refused instead of being played as raw noise;
// compressed audio gets its own message. Other names, and an explicit
// container, are not affected.
func TestWAVName(t *testing.T) {
	raw := []byte("\x01\x00\x02\x00\x03\x00\x04\x00\x05\x00\x06\x00\x07\x00")
	wavData := wavFile(pcmFmt(1, 1, 16000, 16), [][2]string{{"fmt ", ""}}, 4, []byte{1, 0, 2, 0})
	tests := []struct {
		name string
		in   []byte
		opts Options
		want error  // errors.Is, if not nil
		msg  string // in the error; "" for success
	}{
		{"raw named .wav", raw, Options{Name: "talk.wav"}, ErrNotWAV, "no RIFF header"},
		{"raw named .WAVE", raw, Options{Name: "dir/TALK.WAVE"}, ErrNotWAV, "no RIFF header"},
		{"short input named .wav", []byte{1, 2}, Options{Name: "a.wav"}, ErrNotWAV, "no RIFF header"},
		{"MP3 named .wav", []byte("ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), Options{Name: "a.wav"}, nil, "looks like an MP3 file"},
		{"FLAC named .wav", []byte("fLaC\x00\x00\x00\x22\x00\x00\x00\x00"), Options{Name: "a.wav"}, nil, "looks like a FLAC file"},
		{"MP4 named .wav", []byte("\x00\x00\x00\x20ftypM4A \x00\x00"), Options{Name: "a.wav"}, nil, "looks like an MP4"},
		{"forced WAV on raw", raw, Options{Container: WAV}, ErrNotWAV, "no RIFF header"},
		{"forced WAV on Ogg", []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00"), Options{Container: WAV}, nil, "looks like an Ogg file"},
		{"WAV named .wav", wavData, Options{Name: "a.wav"}, nil, ""},
		{"raw named .raw", raw, Options{Name: "a.raw", Raw: Format{Rate: 16000}}, nil, ""},
		{"raw named .wav.raw", raw, Options{Name: "a.wav.raw", Raw: Format{Rate: 16000}}, nil, ""},
		{"raw named .wav, container raw", raw, Options{Name: "a.wav", Container: Raw, Raw: Format{Rate: 16000}}, nil, ""},
		{"raw from stdin", raw, Options{Name: "stdin", Raw: Format{Rate: 16000}}, nil, ""},
	}
	for _, tt := range tests {
		for how, r := range readers(tt.in) {
			t.Run(tt.name+"/"+how, func(t *testing.T) {
				s, err := NewReader(r, tt.opts)
				if tt.msg == "" {
					if err != nil {
						t.Fatalf("NewReader = %v", err)
					}
					readAll(t, s)
					return
				}
				if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.msg) {
					t.Fatalf("NewReader = %v; want %v containing %q", err, tt.want, tt.msg)
				}
			})
		}
	}
}

// TestCompressedError: known compressed audio is refused with a
// *CompressedError naming it, whatever the container asked for but raw,
// and its message says what to do without dropping the user's flags.
func TestCompressedError(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		opts Options
		kind string // "" for no CompressedError
	}{
		{"MP3", []byte("ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), Options{}, "an MP3 file"},
		{"FLAC named .wav", []byte("fLaC\x00\x00\x00\x22\x00\x00\x00\x00"), Options{Name: "a.wav"}, "a FLAC file"},
		{"Ogg as WAV", []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00"), Options{Container: WAV}, "an Ogg file (Opus or Vorbis)"},
		{"M4A", []byte("\x00\x00\x00\x20ftypM4A \x00\x00"), Options{}, "an MP4/M4A file"},
		{"MP3 as raw", []byte("ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), Options{Container: Raw, Raw: Format{Rate: 16000}}, ""},
		{"not WAV", []byte("hello world, not audio"), Options{Container: WAV}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReader(strings.NewReader(string(tt.in)), tt.opts)
			var ce *CompressedError
			if got := errors.As(err, &ce); got != (tt.kind != "") {
				t.Fatalf("NewReader = %v; errors.As(*CompressedError) = %v, want %v", err, got, tt.kind != "")
			}
			if ce == nil {
				return
			}
			if ce.Kind != tt.kind {
				t.Fatalf("Kind %q, want %q", ce.Kind, tt.kind)
			}
			msg := err.Error()
			want := "source: the input looks like " + tt.kind + ", not WAV or raw PCM; install ffmpeg"
			if !strings.HasPrefix(msg, want) || strings.Contains(msg, "| vachana-pipe") {
				t.Fatalf("message %q; want it to start %q and suggest no pipe", msg, want)
			}
		})
	}
}

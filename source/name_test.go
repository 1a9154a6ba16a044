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

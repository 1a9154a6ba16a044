package refserver

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// wavHeader returns a RIFF/WAVE header: a fmt chunk for PCM (format 1) at
// rate with channels and bits, the extra chunk as is, then a data chunk
// header declaring size bytes.
func wavHeader(rate frame.Rate, channels, bits uint16, size uint32, extra []byte) []byte {
	le := binary.LittleEndian
	b := []byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00")
	b = le.AppendUint16(b, 1)
	b = le.AppendUint16(b, channels)
	b = le.AppendUint32(b, uint32(rate))
	b = le.AppendUint32(b, uint32(rate)*uint32(channels)*uint32(bits)/8)
	b = le.AppendUint16(b, channels*bits/8)
	b = le.AppendUint16(b, bits)
	b = append(b, extra...)
	b = append(b, "data"...)
	b = le.AppendUint32(b, size)
	le.PutUint32(b[4:], uint32(len(b))-8+size)
	return b
}

func TestStripWAV(t *testing.T) {
	body := []byte{1, 2, 3, 4, 5, 6}
	h := wavHeader(frame.Rate16k, 1, 16, uint32(len(body)), nil)
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	tests := []struct {
		name    string
		in      []byte
		want    []byte
		wantErr string
	}{
		{"not a WAV", body, body, ""},
		{"empty", nil, nil, ""},
		{"RIFF but not WAVE", []byte("RIFF\x00\x00\x00\x00AVI "), []byte("RIFF\x00\x00\x00\x00AVI "), ""},
		{"canonical", cat(h, body), body, ""},
		{"data shorter than declared", cat(wavHeader(frame.Rate16k, 1, 16, 100, nil), body), body, ""},
		{"data longer than declared", cat(wavHeader(frame.Rate16k, 1, 16, 2, nil), body), body[:2], ""},
		{"header only", h, []byte{}, ""},
		{"odd chunk padded", cat(wavHeader(frame.Rate16k, 1, 16, 6, []byte("junk\x03\x00\x00\x00abc\x00")), body), body, ""},
		{"no data chunk", h[:36], nil, "no data chunk"},
		{"chunk cut short", cat(h[:36], []byte("LIST\xff\x00\x00\x00ab")), nil, "cut short"},
		{"cut inside the fmt chunk", h[:30], nil, "cut short"},
		{"stereo", cat(wavHeader(frame.Rate16k, 2, 16, 6, nil), body), nil, "2 channels"},
		{"8-bit", cat(wavHeader(frame.Rate16k, 1, 8, 6, nil), body), nil, "8 bits"},
		{"other rate", cat(wavHeader(frame.Rate8k, 1, 16, 6, nil), body), nil, "8000 Hz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := stripWAV(tt.in, frame.Rate16k)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Errorf("stripWAV = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func FuzzStripWAV(f *testing.F) {
	f.Add(wavHeader(frame.Rate16k, 1, 16, 4, nil))
	f.Add(append(wavHeader(frame.Rate16k, 1, 16, 0xFFFFFFFF, []byte("LIST\x01\x00\x00\x00x\x00")), 1, 2))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEdata"))
	f.Fuzz(func(t *testing.T, p []byte) {
		got, err := stripWAV(p, frame.Rate16k)
		if err != nil || len(got) == 0 {
			return
		}
		// The PCM is always a part of p, and all of it when p is no WAV.
		i := indexOf(p, got)
		if i < 0 || i+len(got) > len(p) {
			t.Fatalf("stripWAV returned %d bytes not inside its %d-byte input", len(got), len(p))
		}
		if !bytes.HasPrefix(p, []byte("RIFF")) && len(got) != len(p) {
			t.Fatalf("stripWAV cut %d bytes of PCM to %d", len(p), len(got))
		}
	})
}

// indexOf returns the offset in p of the first byte of sub, which must
// alias p, or -1.
func indexOf(p, sub []byte) int {
	for i := range p {
		if &p[i] == &sub[0] {
			return i
		}
	}
	return -1
}

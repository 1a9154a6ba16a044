package refserver

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// stripWAV returns the PCM in p. If p does not start with a RIFF/WAVE
// header it is PCM already and returned as is. Otherwise stripWAV walks the
// chunks to "data" and returns its payload, which ends at the end of p when
// the chunk declares more (a streamed WAV often declares 0 or 0xFFFFFFFF).
// A "fmt " chunk met on the way must declare 16-bit PCM mono at rate.
// The result aliases p.
func stripWAV(p []byte, rate frame.Rate) ([]byte, error) {
	if len(p) < 12 || string(p[:4]) != "RIFF" || string(p[8:12]) != "WAVE" {
		return p, nil
	}
	for o := 12; ; {
		if len(p)-o < 8 {
			return nil, errors.New("the WAV header has no data chunk; send the header with its data chunk, or raw PCM with input_audio_codec=pcm_s16le")
		}
		id, size := string(p[o:o+4]), int64(binary.LittleEndian.Uint32(p[o+4:o+8]))
		o += 8
		if id == "data" {
			if size > int64(len(p)-o) {
				size = int64(len(p) - o)
			}
			return p[o : o+int(size)], nil
		}
		if int64(o)+size > int64(len(p)) {
			return nil, fmt.Errorf("the WAV chunk %q is cut short; send whole chunks", id)
		}
		if id == "fmt " {
			if err := checkWAVFormat(p[o:o+int(size)], rate); err != nil {
				return nil, err
			}
		}
		o += int(size + size&1) // chunks are padded to even sizes
		o = min(o, len(p))
	}
}

// checkWAVFormat checks a "fmt " chunk's payload against 16-bit PCM mono at
// rate.
func checkWAVFormat(f []byte, rate frame.Rate) error {
	if len(f) < 16 {
		return errors.New("the WAV fmt chunk is shorter than 16 bytes")
	}
	tag := binary.LittleEndian.Uint16(f[0:])
	channels := binary.LittleEndian.Uint16(f[2:])
	hz := binary.LittleEndian.Uint32(f[4:])
	bits := binary.LittleEndian.Uint16(f[14:])
	if (tag != 1 && tag != 0xFFFE) || channels != 1 || bits != 16 || hz != uint32(rate) {
		return fmt.Errorf("the WAV holds format %d, %d channels, %d bits at %d Hz; send 16-bit PCM (format 1) mono at the connection's %d Hz",
			tag, channels, bits, hz, rate)
	}
	return nil
}

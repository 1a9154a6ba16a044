package benchmarks

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

const soxAudio = 4 * time.Minute

var (
	soxOnce  sync.Once
	soxDir   string
	soxInput string // 4 minutes of 44.1 kHz stereo 16-bit WAV
	soxBin   string // the vachana-pipe command, built once
	soxErr   error
)

// soxSetup writes the input file and builds the command, once per run.
func soxSetup(b *testing.B) {
	soxOnce.Do(func() {
		soxDir, soxErr = os.MkdirTemp("", "vachana-bench")
		if soxErr != nil {
			return
		}
		soxInput = filepath.Join(soxDir, "in.wav")
		soxErr = writeWAV(soxInput, 44100, 2, int(soxAudio/time.Second)*44100)
		if soxErr != nil {
			return
		}
		soxBin = filepath.Join(soxDir, "vachana-pipe")
		out, err := exec.Command("go", "build", "-o", soxBin, "../cmd/vachana-pipe").CombinedOutput()
		if err != nil {
			soxErr = fmt.Errorf("building the command: %v: %s", err, out)
		}
	})
	if soxErr != nil {
		b.Fatal(soxErr)
	}
}

// writeWAV writes frames of a two-tone signal with a little noise.
func writeWAV(path string, rate, channels, frames int) error {
	data := make([]byte, 2*channels*frames)
	seed := uint32(1)
	for i := range frames {
		for c := range channels {
			seed = seed*1664525 + 1013904223
			v := 0.3*math.Sin(2*math.Pi*(220+110*float64(c))*float64(i)/float64(rate)) +
				0.2*math.Sin(2*math.Pi*3000*float64(i)/float64(rate)) + float64(int32(seed))/(1<<31)*0.01
			binary.LittleEndian.PutUint16(data[2*(i*channels+c):], uint16(int16(v*32767)))
		}
	}
	h := make([]byte, 0, 44)
	h = append(h, "RIFF"...)
	h = binary.LittleEndian.AppendUint32(h, uint32(36+len(data)))
	h = append(h, "WAVEfmt "...)
	h = binary.LittleEndian.AppendUint32(h, 16)
	h = binary.LittleEndian.AppendUint16(h, 1)
	h = binary.LittleEndian.AppendUint16(h, uint16(channels))
	h = binary.LittleEndian.AppendUint32(h, uint32(rate))
	h = binary.LittleEndian.AppendUint32(h, uint32(rate*channels*2))
	h = binary.LittleEndian.AppendUint16(h, uint16(channels*2))
	h = binary.LittleEndian.AppendUint16(h, 16)
	h = append(h, "data"...)
	h = binary.LittleEndian.AppendUint32(h, uint32(len(data)))
	return os.WriteFile(path, append(h, data...), 0o644)
}

// BenchmarkVersusSox converts the same 4-minute 44.1 kHz stereo WAV to
// 16 kHz mono s16le in a file, once with the sox command (high quality
// resampling, no dither) and once with the vachana-pipe command, unpaced,
// each as a process. The x-realtime metric is audio seconds per second.
func BenchmarkVersusSox(b *testing.B) {
	if _, err := exec.LookPath("sox"); err != nil {
		b.Skip("sox is not installed (apt-get install sox)")
	}
	soxSetup(b)
	out := filepath.Join(soxDir, "out.raw")
	commands := []struct {
		name string
		args []string
	}{
		{"sox", []string{"sox", "-D", soxInput, "-t", "raw", "-r", "16000", "-c", "1", "-e", "signed", "-b", "16", out, "rate", "-h"}},
		{"vachana-pipe", []string{soxBin, "-o", out, "-tail-silence", "0", "-quiet", soxInput}},
	}
	for _, c := range commands {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if msg, err := exec.Command(c.args[0], c.args[1:]...).CombinedOutput(); err != nil {
					b.Fatalf("%v: %s", err, msg)
				}
			}
			b.ReportMetric(soxAudio.Seconds()*float64(b.N)/b.Elapsed().Seconds(), "x-realtime")
			st, err := os.Stat(out)
			if err != nil || st.Size() < int64(soxAudio.Seconds())*32000 {
				b.Fatalf("output missing or short: %v", err)
			}
		})
	}
}

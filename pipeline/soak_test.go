//go:build !race && cgo

// The soak counts goroutines and resident memory, which the race detector
// inflates; .ci/run runs it in a pass without -race.

package pipeline

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/internal/testutil"
	"github.com/vachana-pipe/vachana-pipe/resample"
	"github.com/vachana-pipe/vachana-pipe/sink"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
	"github.com/vachana-pipe/vachana-pipe/transport/vachana"
)

func rssKiB(t *testing.T) int64 {
	n, err := testutil.RSS()
	if err != nil {
		t.Skip(err)
	}
	return n >> 10
}

// settledGoroutines waits for goroutines of finished streams (the server's
// handlers among them) to end and returns the count.
func settledGoroutines(limit int) int {
	deadline := time.Now().Add(2 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= limit || time.Now().After(deadline) {
			return n
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSoak runs 1000 short streams one after another against one reference
// server, each resampled from 48 kHz (so soxr's C memory is allocated and
// freed each time) and transcribed: goroutines and resident memory must
// stay flat.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("1000 streams")
	}
	srv, err := refserver.Start(&refserver.Options{ProcessingDelay: -1, MaxReports: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	// 0.3 s of a loud tone then 0.6 s of silence at 48 kHz: one segment.
	in := make([]byte, 2*48000*9/10)
	for i := range 48000 * 3 / 10 {
		binary.LittleEndian.PutUint16(in[2*i:], uint16(int16(12000*math.Sin(2*math.Pi*440*float64(i)/48000))))
	}
	base := runtime.NumGoroutine()
	var g100, rss100 int64
	var heap100 uint64
	var ms runtime.MemStats
	d, err := vachana.NewDialer(vachana.Config{URL: srv.URL, APIKey: "soak"})
	if err != nil {
		t.Fatal(err)
	}
	defer func(s time.Duration) { settle = s }(settle)
	settle = 0 // the reference server's detector keeps up with its reading
	for i := 1; i <= 1000; i++ {
		src := from48k(t, in)
		stats, err := Stream(context.Background(), src, d, &Options{Unpaced: true, TailSilence: 100 * time.Millisecond})
		src.Close()
		if err != nil || stats.Transcripts != 1 {
			t.Fatalf("stream %d: %v, %d transcripts", i, err, stats.Transcripts)
		}
		switch i {
		case 100:
			g100 = int64(settledGoroutines(base))
			runtime.GC()
			runtime.ReadMemStats(&ms)
			rss100, heap100 = rssKiB(t), ms.HeapAlloc
		case 1000:
			g := int64(settledGoroutines(base))
			runtime.GC()
			runtime.ReadMemStats(&ms)
			rss := rssKiB(t)
			t.Logf("goroutines: %d before, %d after 100 streams, %d after 1000; RSS %d KiB after 100, %d KiB after 1000; live heap %d KiB, %d KiB", base, g100, g, rss100, rss, heap100>>10, ms.HeapAlloc>>10)
			if g > int64(base)+2 || rss > rss100+8<<10 || ms.HeapAlloc > heap100+256<<10 {
				t.Fatalf("leak: goroutines %d → %d, RSS %d → %d KiB, heap %d → %d KiB", g100, g, rss100, rss, heap100>>10, ms.HeapAlloc>>10)
			}
		}
	}
}

// from48k returns in, s16le mono at 48 kHz, resampled to 16 kHz, as a
// caller composes the resampler in front of the pipeline.
func from48k(t *testing.T, in []byte) *resample.Reader {
	r, err := resample.New(bytes.NewReader(in), 48000, 16000, resample.High)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSoakErrorPaths runs 2000 resampled runs that end badly — a sink that
// fails, a context cancelled from the start — and checks that soxr's C
// memory and the goroutines are released on those paths too.
func TestSoakErrorPaths(t *testing.T) {
	if testing.Short() {
		t.Skip("2000 runs")
	}
	in := make([]byte, 2*48000) // 1 s at 48 kHz
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	base := runtime.NumGoroutine()
	var rss100 int64
	var heap100 uint64
	var ms runtime.MemStats
	for i := 1; i <= 1000; i++ {
		src := from48k(t, in)
		_, err := Run(context.Background(), src, &failingSink{}, &Options{Unpaced: true})
		src.Close()
		if err == nil {
			t.Fatal("the failing sink did not fail the run")
		}
		src = from48k(t, in)
		_, err = Run(cancelled, src, &sink.Discard{}, nil)
		src.Close()
		if err == nil {
			t.Fatal("a cancelled run succeeded")
		}
		if i == 100 || i == 1000 {
			g := settledGoroutines(base)
			runtime.GC()
			runtime.ReadMemStats(&ms)
			if i == 100 {
				rss100, heap100 = rssKiB(t), ms.HeapAlloc
				continue
			}
			rss := rssKiB(t)
			t.Logf("goroutines %d → %d; RSS %d → %d KiB; live heap %d → %d KiB", base, g, rss100, rss, heap100>>10, ms.HeapAlloc>>10)
			if g > base+2 || rss > rss100+8<<10 || ms.HeapAlloc > heap100+256<<10 {
				t.Fatalf("leak on error paths: goroutines %d → %d, RSS %d → %d KiB", base, g, rss100, rss)
			}
		}
	}
}

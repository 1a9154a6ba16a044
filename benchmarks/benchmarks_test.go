// Package benchmarks measures vachana-pipe as a whole: pipeline throughput
// and allocations, and the cadence of a paced stream as the reference server
// sees it. The stage benchmarks live beside their packages (frame:
// BenchmarkFramer, BenchmarkPacerWait).
//
//	go test ./benchmarks -run '^$' -bench Pipeline -benchmem
//	go test ./benchmarks -run '^$' -bench VersusSox
//	go test ./benchmarks -run '^$' -bench Framing -benchmem
//	go test ./benchmarks -run '^$' -bench Cadence -benchtime 1x
package benchmarks

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/internal/testutil"
	"github.com/vachana-pipe/vachana-pipe/pipeline"
	"github.com/vachana-pipe/vachana-pipe/resample"
	"github.com/vachana-pipe/vachana-pipe/sink"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
	"github.com/vachana-pipe/vachana-pipe/transport/vachana"
)

// BenchmarkPipelineUnpaced runs one minute of 16 kHz audio per op through
// read, framing and the queue into a discarding sink, unpaced: the cost of
// everything but the network. Reported as bytes/s and × real time.
func BenchmarkPipelineUnpaced(b *testing.B) {
	const audio = time.Minute
	n := frame.Rate16k.N(audio) * frame.BytesPerSample
	b.SetBytes(n)
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		if _, err := pipeline.Run(context.Background(), testutil.Zeros(n), &sink.Discard{}, &pipeline.Options{Unpaced: true, NoTailSilence: true}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*audio.Seconds()/time.Since(start).Seconds(), "x-realtime")
}

// BenchmarkCadence streams the 15.5 s speech sample (and 1 s of tail) at
// real time to the reference server on loopback and reports the cadence the
// server measured: deviation of each inter-arrival time from the frame
// period (p50, p99 over the frames of every op, by the rule of
// [frame.Cadence]; max) and the end drift (its mean over the ops), in µs.
// Beside vachana-pipe's pacer, in the same run, two baselines send the same
// frames: a fixed sleep after each send (the official SDK's pattern) and a
// time.Ticker. Run it with -benchtime 1x: each op takes 16.5 s.
func BenchmarkCadence(b *testing.B) {
	speech, err := os.ReadFile("../testdata/speech-16k.s16le")
	if err != nil {
		b.Fatal(err)
	}
	frames := len(speech)/frame.Size + int(frame.Rate16k.FramesIn(time.Second))
	senders := []struct {
		name string
		send func(cfg vachana.Config) error
	}{
		{"vachana-pipe", func(cfg vachana.Config) error {
			_, err := stream(cfg, speech, nil)
			return err
		}},
		{"sleep-after-send", func(cfg vachana.Config) error {
			return naive(cfg, speech, frames, func() { time.Sleep(frame.Rate16k.FrameDuration()) }, nil)
		}},
		{"ticker", func(cfg vachana.Config) error {
			t := time.NewTicker(frame.Rate16k.FrameDuration())
			defer t.Stop()
			return naive(cfg, speech, frames, nil, func() { <-t.C })
		}},
	}
	for _, s := range senders {
		b.Run(s.name, func(b *testing.B) {
			srv, err := refserver.Start(&refserver.Options{MaxReports: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			var m cadenceMetrics
			for i := 0; b.Loop(); i++ {
				m.add(session(b, srv, i, s.send))
			}
			m.report(b)
		})
	}
}

// stream streams audio with pipeline.Stream to a session opened with cfg.
func stream(cfg vachana.Config, audio []byte, opts *pipeline.Options) (*pipeline.Stats, error) {
	d, err := vachana.NewDialer(cfg)
	if err != nil {
		return nil, err
	}
	defer d.Close(context.Background())
	return pipeline.Stream(context.Background(), bytes.NewReader(audio), d, opts)
}

// naive opens a session with cfg and sends frames of audio, padded, then
// silence, calling before ahead of and after behind each send, reading
// events meanwhile, and closes it.
func naive(cfg vachana.Config, audio []byte, frames int, after, before func()) error {
	ws, err := vachana.Dial(context.Background(), cfg)
	if err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := ws.ReadEvent(); err != nil {
				return
			}
		}
	}()
	var f frame.Frame
	for i := range frames {
		clear(f[:])
		if off := i * frame.Size; off < len(audio) {
			copy(f[:], audio[off:])
		}
		if before != nil {
			before()
		}
		if err := ws.WriteAudio(f[:]); err != nil {
			ws.CloseNow()
			<-done
			return err
		}
		if after != nil {
			after()
		}
	}
	err = ws.Close()
	<-done
	return err
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// BenchmarkPipelineResampled runs one minute of mono audio at 8, 44.1 and
// 48 kHz per op through resampling to 16 kHz, framing and a discarding
// sink, unpaced. zaf/resample allocates twice per 100 ms block.
func BenchmarkPipelineResampled(b *testing.B) {
	for _, rate := range []int{8000, 44100, 48000} {
		b.Run(fmt.Sprint(rate), func(b *testing.B) {
			const audio = time.Minute
			n := int64(rate) * int64(audio/time.Second) * 2
			b.SetBytes(n)
			b.ReportAllocs()
			for b.Loop() {
				in, err := resample.New(testutil.Zeros(n), frame.Rate(rate), frame.Rate16k, resample.High)
				if err != nil {
					b.Fatal(err)
				}
				_, err = pipeline.Run(context.Background(), in, &sink.Discard{}, &pipeline.Options{Unpaced: true, NoTailSilence: true})
				in.Close()
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*audio.Seconds()/b.Elapsed().Seconds(), "x-realtime")
		})
	}
}

// BenchmarkDrift streams four minutes of speech (the sample, repeated) at
// real time to the reference server on loopback and reports the cadence
// the server measured over all 7 500 frames: deviation p50, p99, max and
// the end drift, in µs, and the drift the sender measured on its own clock.
// Each op takes four minutes; run it with -benchtime 1x.
func BenchmarkDrift(b *testing.B) {
	speech, err := os.ReadFile("../testdata/speech-16k.s16le")
	if err != nil {
		b.Fatal(err)
	}
	const audio = 4 * time.Minute
	long := bytes.Repeat(speech, int(frame.Rate16k.N(audio)*frame.BytesPerSample)/len(speech)+1)
	long = long[:frame.Rate16k.N(audio)*frame.BytesPerSample]
	srv, err := refserver.Start(&refserver.Options{MaxReports: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	var m cadenceMetrics
	var sender float64
	for i := 0; b.Loop(); i++ {
		var st *pipeline.Stats
		r := session(b, srv, i, func(cfg vachana.Config) (err error) {
			st, err = stream(cfg, long, &pipeline.Options{NoTailSilence: true})
			return err
		})
		if r.Frames != int(st.Frames) {
			b.Fatalf("the server received %d frames of %d", r.Frames, st.Frames)
		}
		m.add(r)
		sender += us(st.Cadence.Drift)
	}
	m.report(b)
	b.ReportMetric(sender/float64(b.N), "sender-drift-µs")
}

// session has send stream session i to srv and returns the server's report
// of it.
func session(b *testing.B, srv *refserver.Server, i int, send func(cfg vachana.Config) error) refserver.Report {
	if err := send(vachana.Config{URL: srv.URL, APIKey: "bench"}); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reps, err := srv.WaitReports(ctx, i+1)
	if err != nil {
		b.Fatal(err)
	}
	return reps[len(reps)-1]
}

// cadenceMetrics summarises the server's cadence over every frame of the
// ops of a benchmark, by the rule of [frame.Cadence], and the mean of their
// drifts.
type cadenceMetrics struct {
	all   *frame.CadenceRecorder
	one   *frame.CadenceRecorder
	n     int
	drift time.Duration
}

func (m *cadenceMetrics) add(r refserver.Report) {
	if m.all == nil {
		m.all, m.one = frame.NewCadenceRecorder(r.SampleRate), frame.NewCadenceRecorder(r.SampleRate)
	}
	recordArrivals(m.one, r)
	m.all.Merge(m.one)
	m.n++
	m.drift += r.Cadence.Drift
}

func (m *cadenceMetrics) report(b *testing.B) {
	c := m.all.Cadence()
	b.ReportMetric(us(c.P50), "p50-µs")
	b.ReportMetric(us(c.P99), "p99-µs")
	b.ReportMetric(us(c.Max), "max-µs")
	b.ReportMetric(us(m.drift)/float64(m.n), "drift-µs")
}

// recordArrivals empties c and records the arrivals of r's session in it.
func recordArrivals(c *frame.CadenceRecorder, r refserver.Report) {
	c.Reset(r.SampleRate)
	var origin time.Time // Arrivals count from the first one
	for _, a := range r.Arrivals {
		c.Add(origin.Add(a))
	}
}

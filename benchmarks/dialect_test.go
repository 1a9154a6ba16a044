package benchmarks

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/internal/testutil"
	"github.com/vachana-pipe/vachana-pipe/pipeline"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/aiola"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
	"github.com/vachana-pipe/vachana-pipe/transport/sarvam"
	"github.com/vachana-pipe/vachana-pipe/transport/vachana"
)

// dialects are the services compared side by side: each with the
// reference server's mode that speaks it and a dialer for a URL.
var dialects = []struct {
	name    string
	service string
	dial    func(url string) (transport.Dialer, error)
}{
	{"vachana", refserver.ServiceVachana, func(url string) (transport.Dialer, error) {
		return vachana.NewDialer(vachana.Config{URL: url, APIKey: "bench"})
	}},
	{"sarvam", refserver.ServiceSarvam, func(url string) (transport.Dialer, error) {
		return sarvam.NewDialer(sarvam.Config{URL: url, APIKey: "bench"})
	}},
	{"aiola", refserver.ServiceAiola, func(url string) (transport.Dialer, error) {
		return aiola.NewDialer(aiola.Config{APIURL: url, AuthURL: url, APIKey: "bench"}) // the token flow on the same server
	}},
}

// refserverRole is the child role that runs the reference server in the
// mode its environment names, so that the server's reading, decoding and
// allocations are not charged to the benchmark.
const refserverRole = "refserver"

const serviceEnv = "VACHANA_BENCH_SERVICE"

func serveRefserver() int {
	srv, err := refserver.Start(&refserver.Options{Service: os.Getenv(serviceEnv), MaxReports: 1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer srv.Close()
	u := srv.URL
	if os.Getenv(serviceEnv) == refserver.ServiceAiola {
		u = srv.BaseURL // the API's base, and the token flow's
	}
	testutil.ServeUntilStdinCloses(u)
	return 0
}

// childServer starts the reference server for service in a child process
// and returns its URL.
func childServer(b *testing.B, service string) string {
	b.Helper()
	b.Setenv(serviceEnv, service) // the child inherits it
	return testutil.Peer(b, refserverRole)
}

// BenchmarkDialectWriteAudio measures one chunk's write with each dialect
// (Vachana: one binary message a frame; Sarvam: a JSON text message with
// the frame in base64, built in a reused buffer; aiOla: a Socket.IO
// binary event, a text and a binary message, for a chunk of 4 frames), to
// a reference server in another process, as fast as the server reads:
// ns/op is bound by the server (it decodes Sarvam's JSON and base64),
// client-cpu-µs/op is this process's CPU time per chunk, and
// client-cpu-µs/frame per 1024-byte frame of audio, the client's cost;
// allocs/op must be 0.
func BenchmarkDialectWriteAudio(b *testing.B) {
	for _, dl := range dialects {
		b.Run(dl.name, func(b *testing.B) {
			d, err := dl.dial(childServer(b, dl.service))
			if err != nil {
				b.Fatal(err)
			}
			s, err := d.Dial(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			defer s.CloseNow()
			defer d.Close(context.Background())
			a := d.Audio()
			chunk := make([]byte, a.ChunkBytes())
			copy(chunk, "some audio that is not all zeros")
			b.SetBytes(int64(len(chunk)))
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				if err := s.WriteAudio(chunk); err != nil {
					b.Fatal(err)
				}
			}
			cpu := us(cpuTime()-cpu0) / float64(b.N)
			b.ReportMetric(cpu, "client-cpu-µs/op")
			b.ReportMetric(cpu/float64(a.ChunkFrames), "client-cpu-µs/frame")
		})
	}
}

// BenchmarkDialectCadence streams 5 s of the speech sample at real time
// with pipeline.Stream through each dialect to the reference server in a
// child process, the dialects taking turns, five runs each per op, and
// reports the sender-side cadence (deviation of the interval before each
// write from the period of what it writes — a frame, or aiOla's chunk of 4
// —, by the rule of [frame.Cadence]): the median over the runs of each
// run's p50 and p99, in µs, and the ratios of Sarvam's and aiOla's to
// Vachana's. Run it with -benchtime 1x: an op takes about a minute and a
// half.
func BenchmarkDialectCadence(b *testing.B) {
	speech, err := os.ReadFile("../testdata/speech-16k.s16le")
	if err != nil {
		b.Fatal(err)
	}
	speech = speech[:frame.Rate16k.N(5*time.Second)*frame.BytesPerSample]
	dialers := make([]transport.Dialer, len(dialects))
	for i, dl := range dialects {
		if dialers[i], err = dl.dial(childServer(b, dl.service)); err != nil {
			b.Fatal(err)
		}
	}
	const runs = 5
	p50 := make([][]time.Duration, len(dialects))
	p99 := make([][]time.Duration, len(dialects))
	for b.Loop() {
		for range runs {
			for i, d := range dialers {
				st, err := pipeline.Stream(context.Background(), bytes.NewReader(speech), d, nil)
				if err != nil {
					b.Fatalf("%s: %v", dialects[i].name, err)
				}
				p50[i] = append(p50[i], st.Cadence.P50)
				p99[i] = append(p99[i], st.Cadence.P99)
			}
		}
	}
	med := func(ds []time.Duration) time.Duration {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		return ds[(len(ds)+1)/2-1]
	}
	for i, dl := range dialects {
		b.ReportMetric(us(med(p50[i])), dl.name+"-p50-µs")
		b.ReportMetric(us(med(p99[i])), dl.name+"-p99-µs")
	}
	for i := 1; i < len(dialects); i++ {
		b.ReportMetric(us(med(p50[i]))/us(med(p50[0])), dialects[i].name+"/vachana-p50")
		b.ReportMetric(us(med(p99[i]))/us(med(p99[0])), dialects[i].name+"/vachana-p99")
	}
}

package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// oldSample is the output of a run of before BenchmarkScale had peers.
const oldSample = `goos: linux
BenchmarkFraming/framer/write=4096-2         	 1000	  140.1 ns/op	29236.12 MB/s	       0 B/op	       0 allocs/op
BenchmarkFraming/framer/write=4096-2         	 1000	  150.1 ns/op	27000.00 MB/s	       0 B/op	       0 allocs/op
BenchmarkFraming/framer/write=4096-2         	 1000	  160.1 ns/op	25000.00 MB/s	       0 B/op	       0 allocs/op
BenchmarkFraming/copy/write=4096-2           	 1000	  100.1 ns/op	40000.00 MB/s	       0 B/op	       0 allocs/op
BenchmarkCadence/sleep-after-send-2         	       1	17265335615 ns/op	      168000 drift-µs	       900 max-µs	        321 p50-µs	       522 p99-µs
BenchmarkScale/streams=1000-2        	       1	18491017195 ns/op	         0.07952 cpu-%/stream	        25.45 cpu-µs/frame	     11148 drift-µs	      1124 heap+stack-KiB/stream	     13489 late-frames	     32915 max-µs	       115.8 p50-µs	       10159 p99-µs	       343.7 rss-KiB/stream	        18.68 server-cpu-µs/frame	         8.000 threads
BenchmarkScale/streams=100-2        	       1	18491017195 ns/op	         0.2 cpu-%/stream	        60 cpu-µs/frame	     800 drift-µs	      1124 heap+stack-KiB/stream	     9 late-frames	     3000 max-µs	       17 p50-µs	       200 p99-µs	       416 rss-KiB/stream	        34 server-cpu-µs/frame	         6.000 threads
BenchmarkLoopbackWrite-2   	  212246	      5588 ns/op	 184.33 MB/s	        10.00 cpu-µs/write
PASS
`

func TestOldFormat(t *testing.T) {
	p := parseRaw("# 2026-11-21T20:21:02Z 2 cores (Xeon), go1.26.8\n$ go test ./benchmarks -bench '^Benchmark(Framing|LoopbackWrite)$' -count 3\n" + oldSample)
	if got, err := p.cur.get("Framing/framer/write=4096", "MB/s"); err != nil || got != 27000 {
		t.Fatalf("median framer MB/s: got %v, %v; want 27000", got, err)
	}
	var b strings.Builder
	p.render(&b)
	out := b.String()
	for _, want := range []string{
		"Measured 2026-11-21 with `go run ./benchmarks/report` on 2 cores (Xeon), go1.26.8.",
		"| 4096 B | 27.00 | 40.00 | 68 % | 0 |",
		"| sleep 32 ms after each send (the official SDK's pattern) | 321 | 522 | 900 | 168000 |",
		"### Many streams against the reference server (one run each)",
		"longer than their 16.5 s of audio",
		"| 100 | 17 | 200 |",
		"| 1000 | 116 | 10159 | 32915 | 11148 | – | – | 13489 | 0.080 | 25.4 | 18.7 | 344 | 1124 | 8 |",
		"The floor (BenchmarkLoopbackWrite, median of 3): one 1030-byte write on a loopback TCP connection, with its reader, costs 10.0 µs of CPU here",
		"At 1 000 streams the client's CPU per frame is 25.4 µs against the reference server (2.5 × the floor).", "the client holds 1 124 KiB of heap and stacks per stream.",
		"2 cores ÷ (31.25 frames/s × 10.0 µs) = 6 400 streams, if the client cost only the floor and had the cores to itself.",
		"| 1 B | – | – | – | – |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("tables lack %q:\n%s", want, out)
		}
	}
	for _, no := range []string{"drain-only peer: the client's capacity", "The code before", "this code holds", "Memory per stream"} {
		if strings.Contains(out, no) {
			t.Errorf("tables have %q, with no run of it:\n%s", no, out)
		}
	}
	if strings.Index(out, "| 100 |") > strings.Index(out, "| 1000 |") {
		t.Error("scale rows are not in order of stream count")
	}
}

// scaleLine is a line of BenchmarkScale's output.
func scaleLine(name, metrics string) string {
	return "BenchmarkScale/" + name + "-2   1   32000000000 ns/op   " + metrics + "\n"
}

// sample is the raw output of a run: the floor, two runs against the
// reference server, this code's ladder (holds up to 3 000) and the code
// before's (holds up to 700).
var sample = `# 2026-12-01T20:00:00Z 2 cores (Intel(R) Xeon(R) Processor, Linux 6.18), go1.26.8, libsoxr 0.1.3
$ go test ./benchmarks ./resample -run '^$' -bench '^Benchmark(Framing|PipelineUnpaced|PipelineResampled|Resample|LoopbackWrite)$' -benchmem -count 5
BenchmarkLoopbackWrite-2   327404   3655 ns/op   281.82 MB/s   6.9 cpu-µs/write   0 B/op   0 allocs/op
BenchmarkLoopbackWrite-2   327404   3655 ns/op   281.82 MB/s   7.04 cpu-µs/write   0 B/op   0 allocs/op
BenchmarkLoopbackWrite-2   327404   3655 ns/op   281.82 MB/s   7.1 cpu-µs/write   0 B/op   0 allocs/op
$ VACHANA_BENCH_PEERS=server VACHANA_BENCH_STREAMS=100,1000 go test ./benchmarks -run '^$' -bench '^BenchmarkScale$' -benchtime 1x -count 1 -timeout 90m
` + scaleLine("peer=server/streams=100", "1 behind-streams 20 p50-µs 300 p99-µs 12.0 cpu-µs/frame 140 heap+stack-KiB/stream 90 replay-KiB/stream 10 readahead-KiB/stream 5 pool-KiB/stream 20 ws-KiB/stream 8 stack-KiB/stream 12 other-KiB/stream 400 rss-KiB/stream 25.1 server-cpu-µs/frame") +
	scaleLine("peer=server/streams=1000", "0 behind-streams 90 p50-µs 3000 p99-µs 12.34 cpu-µs/frame 150 heap+stack-KiB/stream 100 replay-KiB/stream") + `PASS
$ VACHANA_BENCH_PEERS=drain VACHANA_BENCH_STREAMS=100 go test ./benchmarks -run '^$' -bench '^BenchmarkScale$' -benchtime 1x -count 1 -timeout 90m
` + scaleLine("peer=drain/streams=100", "0 behind-streams 300 p99-µs 30 cpu-µs/frame 4.5 server-cpu-µs/frame 900 heap+stack-KiB/stream") + `# ladder: 100 streams hold (p99 300 µs, 0 streams behind)
$ VACHANA_BENCH_PEERS=drain VACHANA_BENCH_STREAMS=1000 go test ./benchmarks -run '^$' -bench '^BenchmarkScale$' -benchtime 1x -count 1 -timeout 90m
` + scaleLine("peer=drain/streams=1000", "0 behind-streams 1500 p99-µs 9.76 cpu-µs/frame") + `# ladder: 1000 streams hold (p99 1500 µs, 0 streams behind)
$ VACHANA_BENCH_PEERS=drain VACHANA_BENCH_STREAMS=3000 go test ./benchmarks -run '^$' -bench '^BenchmarkScale$' -benchtime 1x -count 1 -timeout 90m
` + scaleLine("peer=drain/streams=3000", "0 behind-streams 2000 p99-µs 8.0 cpu-µs/frame") + `$ VACHANA_BENCH_PEERS=drain VACHANA_BENCH_STREAMS=5000 go test ./benchmarks -run '^$' -bench '^BenchmarkScale$' -benchtime 1x -count 1 -timeout 90m
` + scaleLine("peer=drain/streams=5000", "12 behind-streams 4000 p99-µs 8.0 cpu-µs/frame") + `# ladder: 5000 streams do not hold (p99 4000 µs, 12 streams behind)
$ VACHANA_BENCH_STREAMS=100 go test ./benchmarks -run '^$' -bench '^BenchmarkScaleFloor$' -benchtime 1x -count 1 -timeout 90m
BenchmarkScaleFloor/streams=100-2   1   33000000000 ns/op   0 behind-streams   30.1 cpu-µs/frame   40 p50-µs   500 p99-µs   3.2 server-cpu-µs/frame   0 stalled-writes
# ladder: 100 streams hold (p99 500 µs, 0 streams behind)
$ VACHANA_BENCH_STREAMS=1000 go test ./benchmarks -run '^$' -bench '^BenchmarkScaleFloor$' -benchtime 1x -count 1 -timeout 90m
BenchmarkScaleFloor/streams=1000-2   1   33000000000 ns/op   0 behind-streams   8.44 cpu-µs/frame   40 p50-µs   1200 p99-µs   3.2 server-cpu-µs/frame   2 stalled-writes
# ladder: 1000 streams hold (p99 1200 µs, 0 streams behind)
$ VACHANA_BENCH_STREAMS=3000 go test ./benchmarks -run '^$' -bench '^BenchmarkScaleFloor$' -benchtime 1x -count 1 -timeout 90m
BenchmarkScaleFloor/streams=3000-2   1   33000000000 ns/op   0 behind-streams   7.5 cpu-µs/frame   40 p50-µs   2500 p99-µs   3.2 server-cpu-µs/frame   0 stalled-writes
# ladder: 3000 streams do not hold (p99 2500 µs, 0 streams behind)
# baseline 562f238c00a11cef95defbc5914187569ecf2d0f tests: one TestReadErrorIsReported covers the mono decoder
$ (at 562f238) VACHANA_BENCH_PEERS=drain VACHANA_BENCH_STREAMS=100 go test ./benchmarks -run '^$' -bench '^BenchmarkScale$' -benchtime 1x -count 1 -timeout 90m
` + scaleLine("peer=drain/streams=100", "0 behind-streams 400 p99-µs 40 cpu-µs/frame") + `$ (at 562f238) VACHANA_BENCH_PEERS=drain VACHANA_BENCH_STREAMS=700 go test ./benchmarks -run '^$' -bench '^BenchmarkScale$' -benchtime 1x -count 1 -timeout 90m
` + scaleLine("peer=drain/streams=700", "0 behind-streams 1900 p99-µs 30 cpu-µs/frame") + `$ (at 562f238) VACHANA_BENCH_PEERS=drain VACHANA_BENCH_STREAMS=1000 go test ./benchmarks -run '^$' -bench '^BenchmarkScale$' -benchtime 1x -count 1 -timeout 90m
` + scaleLine("peer=drain/streams=1000", "3 behind-streams 1900 p99-µs 25 cpu-µs/frame") + `# ladder: 1000 streams do not hold (p99 1900 µs, 3 streams behind)
# took 31m0s
`

func TestBaselineHasItsOwnResults(t *testing.T) {
	p := parseRaw(sample)
	if p.baseShort != "562f238" || p.baseHash != defaultBaseline {
		t.Errorf("baseline %q %q, want 562f238 %s", p.baseShort, p.baseHash, defaultBaseline)
	}
	for _, c := range []struct {
		name    string
		r       results
		n       int
		p99     float64
		missing bool
	}{
		{"this code, 1000", p.cur, 1000, 1500, false},
		{"this code, 5000", p.cur, 5000, 4000, false},
		{"this code, 700", p.cur, 700, 0, true},
		{"the code before, 1000", p.base, 1000, 1900, false},
		{"the code before, 700", p.base, 700, 1900, false},
		{"the code before, 5000", p.base, 5000, 0, true},
	} {
		got, err := c.r.get(scaleName("drain", c.n), "p99-µs")
		if c.missing != (err != nil) || got != c.p99 {
			t.Errorf("%s: got p99 %v, %v; want %v (missing: %v)", c.name, got, err, c.p99, c.missing)
		}
	}
	if len(p.base.scaleRuns("server")) != 0 || len(p.base) != 3 {
		t.Errorf("the code before has results %v, want its three ladder runs only", p.base)
	}
	if p.cores != 2 || p.took != "31m0s" || p.count != "5" {
		t.Errorf("cores %d, took %q, count %q; want 2, 31m0s, 5", p.cores, p.took, p.count)
	}
}

func TestTablesAndSummary(t *testing.T) {
	p := parseRaw(sample)
	var b strings.Builder
	p.render(&b)
	out := b.String()
	ladder := `VACHANA_BENCH_PEERS=drain VACHANA_BENCH_STREAMS=$n go test ./benchmarks -run '^$' -bench '^BenchmarkScale$' -benchtime 1x -count 1 -timeout 90m; done`
	for _, want := range []string{
		"Measured 2026-12-01 (31m0s)",
		"\nVACHANA_BENCH_PEERS=server VACHANA_BENCH_STREAMS=100,1000 go test ./benchmarks",
		"\nfor n in 100 1000 3000 5000; do " + ladder + "\nfor n in 100 1000 3000; do VACHANA_BENCH_STREAMS=$n go test ./benchmarks -run '^$' -bench '^BenchmarkScaleFloor$' -benchtime 1x -count 1 -timeout 90m; done\n# the code before, at 562f238, in a git worktree with benchmarks/*_test.go and internal/testutil from this tree:\nfor n in 100 700 1000; do " + ladder + "\n```",
		"### Many streams against the reference server (one run each)\n\nN paced streams in one process",
		"than their 32 s of audio once the machine cannot keep up. Resident memory and heap+stack are taken 8 s in, after a garbage collection. Here the peer is the reference server,",
		"| streams | p50 µs | p99 µs | max µs | worst \\|drift\\| µs | streams behind | sender's p99 µs (median stream) | frames > 1 ms late | client CPU % of a core per stream | client CPU µs per frame | server CPU µs per frame |",
		"| 100 | 20 | 300 | – | – | 1 | – | – | – | 12.0 | 25.1 | 400 | 140 | – |",
		"### Many streams against the drain-only peer: the client's capacity (one run each)",
		"| client CPU µs per frame | peer CPU µs per frame |",
		"| 100 | – | 300 | – | – | 0 | – | – | – | 30.0 | 4.5 | – | 900 | – |",
		"### The code before (562f238), against the drain-only peer (one run each)",
		"| 1000 | – | 1900 | – | – | 3 | – | – | – | 25.0 | – | – | – | – |",
		"| peer | streams | heap+stack KiB | replay KiB | read-ahead KiB | idle frame buffers KiB | WebSocket KiB | stacks KiB | other KiB | RSS KiB |\n|---|",
		"| reference server | 100 | 140 | 90 | 10 | 5 | 20 | 8 | 12 | 400 |",
		"costs 7.0 µs of CPU here",
		"### A client that does little more than the floor's work, against the drain-only peer (one run each)",
		"| streams | p50 µs | p99 µs | max µs | worst \\|drift\\| µs | streams behind | sender's p99 µs (median stream) | client CPU µs per frame | peer CPU µs per frame | writes not taken whole at once |",
		"| 1000 | 40 | 1200 | – | – | 0 | – | 8.4 | 3.2 | 2 |",
		"A client that does little more than the floor's work, one event loop per core (BenchmarkScaleFloor), costs 8.4 µs of client CPU per frame at 1 000 streams (the pipeline 1.2 × as much; with the peer's 3.2 µs, 1.7 × the floor, which counts both ends of a write) and holds 1 000 streams.",
		"At 1 000 streams the client's CPU per frame is 9.8 µs against the drain-only peer (1.4 × the floor) and 12.3 µs against the reference server (1.8 × the floor).",
		"Against the drain-only peer, with p99 ≤ 2 ms and no stream behind, this code holds 3 000 streams, the code before (562f238) 700 streams: 4.3 × as many.",
		"At 1 000 streams against the reference server the client holds 150 KiB of heap and stacks per stream.",
		"The ceiling on this machine: 2 cores ÷ (31.25 frames/s × 7.0 µs) = 9 140 streams, if the client cost only the floor and had the cores to itself; at the 9.8 µs per frame measured at 1 000 streams against the drain-only peer, 6 530 streams.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("tables lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "16.5 s of audio") {
		t.Error("the new runs are described as the old ones")
	}
	// The code before's 1000 must not land in this code's table.
	drain := out[strings.Index(out, "against the drain-only peer: the client's capacity"):strings.Index(out, "### The code before")]
	if strings.Contains(drain, "| 1000 | – | 1900 |") || !strings.Contains(drain, "| 1000 | – | 1500 |") {
		t.Errorf("this code's table mixes in the code before's runs:\n%s", drain)
	}
}

func TestHolds(t *testing.T) {
	r := results{}
	r.parse(scaleLine("peer=drain/streams=1", "2000 p99-µs 0 behind-streams") +
		scaleLine("peer=drain/streams=2", "2001 p99-µs 0 behind-streams") +
		scaleLine("peer=drain/streams=3", "100 p99-µs 1 behind-streams") +
		scaleLine("peer=drain/streams=4", "100 p99-µs") +
		scaleLine("peer=drain/streams=5", "0 behind-streams 5 p50-µs"))
	for _, c := range []struct {
		n    int
		want bool
	}{{1, true}, {2, false}, {3, false}, {4, false}, {5, false}, {6, false}} {
		if got, why := r.holds(scaleName("drain", c.n)); got != c.want {
			t.Errorf("%d: got %v (%s), want %v", c.n, got, why, c.want)
		}
	}
}

func TestClimb(t *testing.T) {
	ladder := []int{100, 300, 500, 700, 1000, 1500, 2000}
	for _, c := range []struct {
		name  string
		fails []int // the counts that do not hold
		least int
		want  []int // the counts tried
	}{
		{"all hold", nil, 1000, ladder},
		{"fails above the least", []int{1500, 2000}, 1000, []int{100, 300, 500, 700, 1000, 1500}},
		{"fails at the least", []int{1000}, 1000, []int{100, 300, 500, 700, 1000}},
		{"fails below the least, runs to it", []int{500}, 1000, []int{100, 300, 500, 700, 1000}},
		{"fails below the least, and at it", []int{500, 700, 1000}, 1000, []int{100, 300, 500, 700, 1000}},
		{"the first fails, no least", []int{100}, 0, []int{100}},
		{"no least", []int{700}, 0, []int{100, 300, 500, 700}},
		{"a least beyond the ladder", []int{300}, 5000, ladder},
	} {
		var tried []int
		err := climb(ladder, c.least, func(n int) (bool, error) {
			tried = append(tried, n)
			return !slices.Contains(c.fails, n), nil
		})
		if err != nil || !slices.Equal(tried, c.want) {
			t.Errorf("%s: tried %v, %v; want %v", c.name, tried, err, c.want)
		}
	}
	err := climb(ladder, 1000, func(n int) (bool, error) { return true, io.ErrUnexpectedEOF })
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("got %v, want try's error", err)
	}
}

func TestCapacity(t *testing.T) {
	line := func(n, p99 string) string {
		return scaleLine("peer=drain/streams="+n, p99+" p99-µs 0 behind-streams")
	}
	for _, c := range []struct {
		name, out string
		n         int
		all, ok   bool
		held      string
	}{
		{"none", "", 0, false, false, ""},
		{"the first fails", line("100", "3000") + line("300", "100"), 0, false, true, "fewer than 100 streams"},
		{"up to the first that fails", line("100", "100") + line("300", "100") + line("500", "3000") + line("1000", "100"), 300, false, true, "300 streams"},
		{"all hold", line("10000", "100") + line("100", "100"), 10000, true, true, "every count tried, up to 10 000"},
	} {
		r := results{}
		r.parse(c.out)
		n, all, ok := r.capacity(r.scaleRuns("drain"))
		if n != c.n || all != c.all || ok != c.ok {
			t.Errorf("%s: got %d, %v, %v; want %d, %v, %v", c.name, n, all, ok, c.n, c.all, c.ok)
		}
		if ok {
			if got := held(r.scaleRuns("drain"), n, all); got != c.held {
				t.Errorf("%s: got %q, want %q", c.name, got, c.held)
			}
		}
	}
}

func TestNumbers(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{
		{ceiling(2, 7.0), "9 140"}, {ceiling(2, 9.8), "6 530"}, {ceiling(16, 7.0), "73 100"},
		{ceiling(1, 1000), "32"}, {999.6, "1 000"}, {1234567, "1 230 000"}, {0, "0"},
	} {
		if got := spaced(roundSig(c.v, 3)); got != c.want {
			t.Errorf("%v: got %q, want %q", c.v, got, c.want)
		}
	}
}

func TestStepQuotesForTheShell(t *testing.T) {
	s := step{env: []string{"A=1", "B=2"}, args: []string{"test", "./x", "-bench", "^Benchmark(A|B)$", "-run", "it's"}}
	want := `A=1 B=2 go test ./x -bench '^Benchmark(A|B)$' -run 'it'\''s'`
	if got := s.String(); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// TestCommittedResults renders the committed raw output, whatever its
// format, into a copy of the README.
func TestCommittedResults(t *testing.T) {
	readme := filepath.Join(t.TempDir(), "README.md")
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(readme, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rerender(readme, "../results.txt"); err != nil {
		t.Fatal(err)
	}
	b, err = os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "### Many streams against the reference server") {
		t.Errorf("no scale table in\n%s", b)
	}
}

func TestOverlay(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write := func(root string, files map[string]string) {
		for name, text := range files {
			if err := copyFileText(filepath.Join(root, name), text); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(src, map[string]string{
		"benchmarks/scale_test.go":     "new scale",
		"benchmarks/drainpeer_test.go": "new peer",
		"benchmarks/report/main.go":    "new report",
		"internal/testutil/child.go":   "new child",
		"internal/testutil/sub/x.go":   "new x",
		"pipeline/pipeline.go":         "new pipeline",
	})
	write(dst, map[string]string{
		"benchmarks/scale_test.go":   "old scale",
		"benchmarks/gone_test.go":    "old, gone since",
		"benchmarks/report/main.go":  "old report",
		"internal/testutil/child.go": "old child",
		"internal/testutil/gone.go":  "old, gone since",
		"pipeline/pipeline.go":       "old pipeline",
	})
	if err := overlay(src, dst); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"benchmarks/scale_test.go":     "new scale",
		"benchmarks/drainpeer_test.go": "new peer",
		"benchmarks/gone_test.go":      "",
		"benchmarks/report/main.go":    "old report",
		"internal/testutil/child.go":   "new child",
		"internal/testutil/sub/x.go":   "new x",
		"internal/testutil/gone.go":    "",
		"pipeline/pipeline.go":         "old pipeline",
	} {
		b, err := os.ReadFile(filepath.Join(dst, name))
		if got := string(b); got != want || (want == "") != os.IsNotExist(err) {
			t.Errorf("%s: got %q, %v; want %q", name, got, err, want)
		}
	}
}

func copyFileText(path, text string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(text), 0o644)
}

// fakeGo is a go command for the ladders: the output of BenchmarkScale
// against the drain-only peer for $VACHANA_BENCH_STREAMS, with a p99 of 2 µs
// per stream here and 4 in a baseline's worktree, or of
// BenchmarkScaleFloor, with half that p99; "go test -c" fails when
// $FAKE_BUILD_FAILS is set.
const fakeGo = `#!/bin/sh
case " $* " in
*" -c "*)
	if [ -n "$FAKE_BUILD_FAILS" ]; then echo "scale_test.go:1: undefined: pipeline.New" >&2; exit 1; fi
	exit 0;;
esac
n=$VACHANA_BENCH_STREAMS
case "$PWD" in
*vachana-baseline-*) p99=$((n * 4));;
*) p99=$((n * 2));;
esac
case " $* " in
*BenchmarkScaleFloor*) echo "BenchmarkScaleFloor/streams=$n-2   1   32000000000 ns/op   $((p99 / 2)) p99-µs   0 behind-streams";;
*) echo "BenchmarkScale/peer=drain/streams=$n-2   1   32000000000 ns/op   $p99 p99-µs   0 behind-streams";;
esac
`

// fakeRepo makes a git repository of one commit with a benchmark file and
// a test helper, and puts the fake go first on the PATH.
func fakeRepo(t *testing.T) (root string, c *commit) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "go"), []byte(fakeGo), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("TMPDIR", t.TempDir())
	root = t.TempDir()
	for _, f := range []string{"benchmarks/scale_test.go", "internal/testutil/child.go"} {
		if err := copyFileText(filepath.Join(root, f), "package x\n"); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	for _, args := range [][]string{
		{"init", "-q"},
		{"add", "."},
		{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "the code before"},
	} {
		if _, err := git(ctx, root, args...); err != nil {
			t.Fatal(err)
		}
	}
	c, err := resolve(ctx, root, "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	if c.subject != "the code before" || len(c.hash) != 40 {
		t.Fatalf("resolved %+v", c)
	}
	return root, c
}

func TestLadders(t *testing.T) {
	root, c := fakeRepo(t)
	r := &runner{ctx: context.Background(), log: io.Discard, partial: filepath.Join(t.TempDir(), "raw.partial")}
	r.note("# 2026-12-01T20:00:00Z 2 cores (fake)")
	ladder := []int{100, 300, 500, 700, 1000, 1500, 2000}
	if err := r.ladder(ladder, leastLadder, drainLadder, root, ""); err != nil {
		t.Fatal(err)
	}
	if err := r.ladder(ladder, leastLadder, floorLadder, root, ""); err != nil {
		t.Fatal(err)
	}
	dir, remove, err := checkout(context.Background(), root, *c, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.baseline(dir, *c, ladder); err != nil {
		t.Fatal(err)
	}
	if err := remove(); err != nil {
		t.Fatal(err)
	}
	raw := r.out.String()
	for _, want := range []string{
		"\n$ VACHANA_BENCH_PEERS=drain VACHANA_BENCH_STREAMS=1500 go test ./benchmarks",
		"\n# ladder: 1000 streams hold (p99 2000 µs, 0 streams behind)\n",
		"\n# ladder: 1500 streams do not hold (p99 3000 µs, 0 streams behind)\n$ VACHANA_BENCH_STREAMS=100 go test ./benchmarks -run '^$' -bench '^BenchmarkScaleFloor$'",
		"\n# ladder: 2000 streams hold (p99 2000 µs, 0 streams behind)\n# baseline " + c.hash + " the code before\n",
		"\n$ (at " + c.short + ") VACHANA_BENCH_PEERS=drain VACHANA_BENCH_STREAMS=700 go test ./benchmarks",
		"\n# ladder: 700 streams do not hold (p99 2800 µs, 0 streams behind)\n",
	} {
		if !strings.Contains(raw, want) {
			t.Errorf("raw output lacks %q:\n%s", want, raw)
		}
	}
	if strings.Contains(raw, "PEERS=drain VACHANA_BENCH_STREAMS=2000") || strings.Contains(raw, "VACHANA_BENCH_STREAMS=1000 go test ./benchmarks -run '^$' -bench '^BenchmarkScale$' -benchtime 1x -count 1 -timeout 90m\nBenchmarkScale/peer=drain/streams=1000-2   1   32000000000 ns/op   4000") {
		t.Errorf("a ladder went on after a count that did not hold:\n%s", raw)
	}
	p := parseRaw(raw)
	if n, _, _ := p.cur.capacity(p.cur.scaleRuns("drain")); n != 1000 {
		t.Errorf("this code holds %d, want 1000", n)
	}
	if n, all, _ := p.cur.capacity(p.cur.floorRuns()); n != 2000 || !all {
		t.Errorf("the floor's client holds %d (all: %v), want every count, up to 2000", n, all)
	}
	if n, _, _ := p.base.capacity(p.base.scaleRuns("drain")); n != 500 {
		t.Errorf("the code before holds %d, want 500", n)
	}
	checkRemoved(t, root)
}

func TestBaselineDoesNotCompile(t *testing.T) {
	root, c := fakeRepo(t)
	t.Setenv("FAKE_BUILD_FAILS", "1")
	_, _, err := checkout(context.Background(), root, *c, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "do not compile against the code before, "+c.short) || !strings.Contains(err.Error(), "undefined: pipeline.New") {
		t.Errorf("got %v, want an error saying the overlay does not compile", err)
	}
	checkRemoved(t, root)
}

// checkRemoved fails the test if the baseline's worktree is left.
func checkRemoved(t *testing.T, root string) {
	t.Helper()
	out, err := git(context.Background(), root, "worktree", "list")
	if err != nil || strings.Count(out, "\n") != 1 {
		t.Errorf("worktrees left: %s %v", out, err)
	}
	if left, _ := os.ReadDir(os.Getenv("TMPDIR")); len(left) != 0 {
		t.Errorf("left in TMPDIR: %v", left)
	}
}

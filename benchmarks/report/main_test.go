package main

import (
	"strings"
	"testing"
)

const sample = `goos: linux
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

func TestParseAndTables(t *testing.T) {
	r := results{}
	r.parse(sample)
	if got, err := r.get("Framing/framer/write=4096", "MB/s"); err != nil || got != 27000 {
		t.Fatalf("median framer MB/s: got %v, %v; want 27000", got, err)
	}
	var b strings.Builder
	r.tables(&b, "3")
	out := b.String()
	for _, want := range []string{
		"| 4096 B | 27.00 | 40.00 | 68 % | 0 |",
		"| sleep 32 ms after each send (the official SDK's pattern) | 321 | 522 | 900 | 168000 |",
		"| 100 | 17 | 200 |",
		"| 1000 | 116 | 10159 | 32915 | 11148 | – | 13489 | 0.080 | 25.4 | 18.7 | 344 | 1124 | 8 |",
		"that alone is 0.31 cores for 1 000 streams and 3.1 cores for 10 000",
		"| 1 B | – | – | – | – |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("tables lack %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "| 100 |") > strings.Index(out, "| 1000 |") {
		t.Error("scale rows are not in order of stream count")
	}
}

func TestStepQuotesForTheShell(t *testing.T) {
	s := step{env: "A=1", args: []string{"test", "./x", "-bench", "^Benchmark(A|B)$", "-run", "it's"}}
	want := `A=1 go test ./x -bench '^Benchmark(A|B)$' -run 'it'\''s'`
	if got := s.String(); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

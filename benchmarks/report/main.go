// Command report runs the benchmarks of vachana-pipe and rewrites the
// results section of benchmarks/README.md with what it measured: the date,
// the machine, the exact commands, and one table per benchmark, medians of
// the repeated runs. Run it from the repository root on a quiet machine:
//
//	go run ./benchmarks/report
//
// It takes about 15 minutes: the cadence benchmarks stream in real time, one
// for four minutes, and the scale benchmark runs up to 10 000 streams.
// The raw output of every command is kept beside the README
// (benchmarks/results.txt); -from-raw rewrites the tables from it without
// running anything.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	readme := flag.String("readme", "benchmarks/README.md", "the README whose results section is rewritten")
	raw := flag.String("raw", "benchmarks/results.txt", "where the raw benchmark output is written")
	streams := flag.String("streams", "100,300,1000,3000,10000", "stream counts of the scale benchmark")
	count := flag.Int("count", 5, "repetitions of the short benchmarks; the tables show medians")
	from := flag.Bool("from-raw", false, "run nothing: rewrite the tables from the raw output of an earlier run")
	flag.Parse()
	var err error
	if *from {
		err = rerender(*readme, *raw)
	} else {
		err = run(*readme, *raw, *streams, *count)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

// step is one go test command of the report.
type step struct {
	env  string // VAR=value, or empty
	args []string
}

// String returns the command as a shell would take it.
func (s step) String() string {
	var b strings.Builder
	if s.env != "" {
		b.WriteString(s.env + " ")
	}
	b.WriteString("go")
	for _, a := range s.args {
		if strings.ContainsAny(a, "^$()|*?[]{}<>&;'\" \\`!#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		b.WriteString(" " + a)
	}
	return b.String()
}

const (
	beginMark = "<!-- results: written by go run ./benchmarks/report; do not edit by hand -->"
	endMark   = "<!-- end of results -->"
)

func run(readmePath, rawPath, streams string, count int) error {
	if _, _, err := readResults(readmePath); err != nil {
		return err
	}
	n := strconv.Itoa(count)
	steps := []step{
		{args: []string{"test", "./benchmarks", "./resample", "-run", "^$", "-bench", "^Benchmark(Framing|PipelineUnpaced|PipelineResampled|Resample|LoopbackWrite)$", "-benchmem", "-count", n}},
		{args: []string{"test", "./benchmarks", "-run", "^$", "-bench", "^BenchmarkVersusSox$", "-count", n}},
		{args: []string{"test", "./benchmarks", "-run", "^$", "-bench", "^BenchmarkCadence$", "-benchtime", "1x", "-count", "3"}},
		{args: []string{"test", "./benchmarks", "-run", "^$", "-bench", "^BenchmarkDrift$", "-benchtime", "1x", "-count", "1", "-timeout", "30m"}},
		{env: "VACHANA_BENCH_STREAMS=" + streams, args: []string{"test", "./benchmarks", "-run", "^$", "-bench", "^BenchmarkScale$", "-benchtime", "1x", "-count", "1", "-timeout", "90m"}},
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "# %s %s\n", time.Now().UTC().Format(time.RFC3339), machine())
	started := time.Now()
	for _, s := range steps {
		fmt.Fprintf(os.Stderr, "$ %v\n", s)
		fmt.Fprintf(&out, "$ %v\n", s)
		cmd := exec.Command("go", s.args...)
		cmd.Env = os.Environ()
		if s.env != "" {
			cmd.Env = append(cmd.Env, s.env)
		}
		cmd.Stdout = io.MultiWriter(&out, os.Stderr)
		cmd.Stderr = io.MultiWriter(&out, os.Stderr)
		err := cmd.Run()
		// Kept after every step, so a failure loses nothing, but apart
		// from the results of the last whole run.
		if werr := os.WriteFile(rawPath+".partial", out.Bytes(), 0o644); werr != nil {
			return werr
		}
		if err != nil {
			return fmt.Errorf("%v: %v (output so far in %s.partial)", s, err, rawPath)
		}
	}
	fmt.Fprintf(&out, "# took %v\n", time.Since(started).Round(time.Minute))
	if err := os.WriteFile(rawPath+".partial", out.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(rawPath+".partial", rawPath); err != nil {
		return err
	}
	return rerender(readmePath, rawPath)
}

// readResults splits a README around its results section.
func readResults(readmePath string) (before, after string, err error) {
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		return "", "", fmt.Errorf("%v (run this from the repository root)", err)
	}
	before, rest, ok := strings.Cut(string(readme), beginMark)
	_, after, ok2 := strings.Cut(rest, endMark)
	if !ok || !ok2 {
		return "", "", fmt.Errorf("%s has no results section between %q and %q", readmePath, beginMark, endMark)
	}
	return before, after, nil
}

// rerender writes the results section of the README from the raw output
// of a run: its header line ("# time machine"), its commands ("$ …"), the
// benchmark lines and its duration ("# took …").
func rerender(readmePath, rawPath string) error {
	before, after, err := readResults(readmePath)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(rawPath)
	if err != nil {
		return err
	}
	var when, host, took string
	var cmds []string
	counts := map[string]bool{}
	for line := range strings.Lines(string(raw)) {
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "# took "):
			took = strings.TrimPrefix(line, "# took ")
		case strings.HasPrefix(line, "# ") && when == "":
			when, host, _ = strings.Cut(strings.TrimPrefix(line, "# "), " ")
		case strings.HasPrefix(line, "$ "):
			cmds = append(cmds, strings.TrimPrefix(line, "$ "))
			if _, c, ok := strings.Cut(line, "-count "); ok && strings.Contains(line, "Framing") {
				counts[strings.Fields(c)[0]] = true
			}
		}
	}
	if len(cmds) == 0 {
		return fmt.Errorf("%s is not the raw output of a run of this command", rawPath)
	}
	if when == "" { // written by an older version: it was measured here, when last written
		st, err := os.Stat(rawPath)
		if err != nil {
			return err
		}
		when, host = st.ModTime().UTC().Format(time.RFC3339), machine()
	}
	if took != "" {
		took = " (" + took + ")"
	}
	count := "several"
	for c := range counts {
		count = c
	}
	res := results{}
	res.parse(string(raw))
	var t strings.Builder
	t.WriteString(beginMark + "\n\n")
	day, _, _ := strings.Cut(when, "T")
	fmt.Fprintf(&t, "Measured %s%s with `go run ./benchmarks/report` on %s. Raw output: [results.txt](results.txt).\n\n", day, took, host)
	t.WriteString("Commands:\n\n```sh\n")
	for _, c := range cmds {
		fmt.Fprintln(&t, c)
	}
	t.WriteString("```\n")
	res.tables(&t, count)
	t.WriteString(endMark)
	return os.WriteFile(readmePath, []byte(before+t.String()+after), 0o644)
}

// machine describes this computer and toolchain in one line.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	soxr := ""
	if b, err := exec.Command("pkg-config", "--modversion", "soxr").Output(); err == nil {
		soxr = ", libsoxr " + strings.TrimSpace(string(b))
	}
	goVersion := runtime.Version()
	if b, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		goVersion = strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%d cores (%s%s), %s%s", runtime.NumCPU(), model, kernel, goVersion, soxr)
}

// results maps a benchmark name (without the -GOMAXPROCS suffix) and a
// unit to every value measured.
type results map[string]map[string][]float64

func (r results) parse(out string) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndex(name, "-"); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		if r[name] == nil {
			r[name] = map[string][]float64{}
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			r[name][f[i+1]] = append(r[name][f[i+1]], v)
		}
	}
}

var errMissing = errors.New("missing")

// get returns the median of a benchmark's values in unit.
func (r results) get(name, unit string) (float64, error) {
	v := slices.Clone(r[name][unit])
	if len(v) == 0 {
		return 0, errMissing
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2], nil
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2, nil
}

// cell formats a median with prec decimals, or "–" if it was not measured.
func (r results) cell(name, unit string, prec int, scale float64) string {
	v, err := r.get(name, unit)
	if err != nil {
		return "–"
	}
	return strconv.FormatFloat(v*scale, 'f', prec, 64)
}

func (r results) tables(w io.Writer, count string) {
	section(w, "Framing (medians of "+count+")", "", false,
		"write size", "framer GB/s", "plain copy GB/s", "framer / copy", "framer allocs/op")
	for _, s := range []string{"1", "16", "333", "1024", "4096", "65536"} {
		fr, cp := "Framing/framer/write="+s, "Framing/copy/write="+s
		ratio := "–"
		a, err1 := r.get(fr, "MB/s")
		b, err2 := r.get(cp, "MB/s")
		if err1 == nil && err2 == nil && b > 0 {
			ratio = fmt.Sprintf("%.0f %%", 100*a/b)
		}
		row(w, s+" B", r.cell(fr, "MB/s", 2, 1e-3), r.cell(cp, "MB/s", 2, 1e-3), ratio, r.cell(fr, "allocs/op", 0, 1))
	}

	section(w, "Resampling and the whole pipeline, unpaced (medians of "+count+")",
		"One minute of mono s16le input per op through resampling to 16 kHz (libsoxr, high quality), framing and the queue into a discarding sink; the resampler alone for comparison.", true,
		"input", "resampler × real time", "pipeline × real time", "pipeline MB/s of input", "pipeline allocs/op (per minute of audio)")
	for _, rate := range []string{"8000", "44100", "48000"} {
		p := "PipelineResampled/" + rate
		row(w, rate+" Hz", r.cell("Resample/"+rate+"-16000", "x-realtime", 0, 1),
			r.cell(p, "x-realtime", 0, 1), r.cell(p, "MB/s", 0, 1), r.cell(p, "allocs/op", 0, 1))
	}
	row(w, "16000 Hz (no resampling)", "–", r.cell("PipelineUnpaced", "x-realtime", 0, 1),
		r.cell("PipelineUnpaced", "MB/s", 0, 1), r.cell("PipelineUnpaced", "allocs/op", 0, 1))

	section(w, "Converting a file, against sox (medians of "+count+")",
		"4 minutes of 44.1 kHz stereo WAV to 16 kHz mono s16le, each tool as a process.", true,
		"tool", "× real time")
	for _, t := range []string{"sox", "vachana-pipe"} {
		row(w, t, r.cell("VersusSox/"+t, "x-realtime", 0, 1))
	}

	section(w, "Cadence of one stream, against the usual alternatives (medians of 3)",
		"The 15.5 s speech sample and 1 s of silence (517 frames) paced to the reference server on loopback; deviation of each inter-arrival time from the 32 ms frame period and the end drift, as the server measured them, in µs. The four-minute row is BenchmarkDrift (7 500 frames).", true,
		"sender", "p50", "p99", "max", "end drift")
	for _, s := range []struct{ label, name string }{
		{"vachana-pipe (absolute deadlines, kernel-timed last 2 ms)", "Cadence/vachana-pipe"},
		{"sleep 32 ms after each send (the official SDK's pattern)", "Cadence/sleep-after-send"},
		{"time.Ticker", "Cadence/ticker"},
		{"vachana-pipe, four minutes", "Drift"},
	} {
		row(w, s.label, r.cell(s.name, "p50-µs", 0, 1), r.cell(s.name, "p99-µs", 0, 1),
			r.cell(s.name, "max-µs", 0, 1), r.cell(s.name, "drift-µs", 0, 1))
	}
	if v, err := r.get("Drift", "sender-drift-µs"); err == nil {
		fmt.Fprintf(w, "\nOver the four minutes the sender's own clock measured a drift of %.0f µs.\n", v)
	}

	section(w, "Many streams at once (one run each)", "N paced streams of the speech sample in one process, each a `pipeline.Stream` with default options, to a reference server in a child process on loopback. Deviation and drift over every frame of every stream as the server received them; CPU and memory of the client process only. CPU per stream is over the time the streams took, longer than their 16.5 s of audio once the machine cannot keep up. Resident memory is taken 8 s in. Heap+stack counts the replay buffer: since 0.2.0 it holds, in 64 KiB chunks given back as segments are confirmed, only what the service has not confirmed plus 5 s of look-back, at most `Options.Replay` (30 s); results measured before that hold the 30 s in full.", false,
		"streams", "p50 µs", "p99 µs", "max µs", "worst \\|drift\\| µs", "sender's p99 µs (median stream)", "frames > 1 ms late",
		"client CPU % of a core per stream", "client CPU µs per frame", "server CPU µs per frame",
		"client RSS KiB per stream, 8 s in", "client heap+stack KiB per stream", "client OS threads (high-water)")
	var names []string
	for name := range r {
		if strings.HasPrefix(name, "Scale/streams=") {
			names = append(names, name)
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		x, _ := strconv.Atoi(strings.TrimPrefix(a, "Scale/streams="))
		y, _ := strconv.Atoi(strings.TrimPrefix(b, "Scale/streams="))
		return x - y
	})
	for _, n := range names {
		row(w, strings.TrimPrefix(n, "Scale/streams="),
			r.cell(n, "p50-µs", 0, 1), r.cell(n, "p99-µs", 0, 1), r.cell(n, "max-µs", 0, 1), r.cell(n, "drift-µs", 0, 1),
			r.cell(n, "sender-p99-µs", 0, 1), r.cell(n, "late-frames", 0, 1), r.cell(n, "cpu-%/stream", 3, 1), r.cell(n, "cpu-µs/frame", 1, 1),
			r.cell(n, "server-cpu-µs/frame", 1, 1), r.cell(n, "rss-KiB/stream", 0, 1), r.cell(n, "heap+stack-KiB/stream", 0, 1), r.cell(n, "threads", 0, 1))
	}
	if floor, err := r.get("LoopbackWrite", "cpu-µs/write"); err == nil {
		fmt.Fprintf(w, "\nThe floor (BenchmarkLoopbackWrite, median of %s): one 1030-byte write on a loopback TCP connection, with its reader, costs %.1f µs of CPU here, before any pacing, framing or WebSocket work. At 31.25 frames a second per stream that alone is %.2f cores for 1 000 streams and %.1f cores for 10 000.\n",
			count, floor, 1000*31.25*floor/1e6, 10000*31.25*floor/1e6)
	}
	fmt.Fprintln(w)
}

// section writes a heading, a paragraph if intro is not empty, and the
// header of a table whose columns are right-aligned numbers, but for a
// first column of labels when label is set.
func section(w io.Writer, title, intro string, label bool, cols ...string) {
	fmt.Fprintf(w, "\n### %s\n\n", title)
	if intro != "" {
		fmt.Fprintf(w, "%s\n\n", intro)
	}
	row(w, cols...)
	align := make([]string, len(cols))
	for i := range align {
		align[i] = "---:"
	}
	if label {
		align[0] = "---"
	}
	fmt.Fprintf(w, "|%s|\n", strings.Join(align, "|"))
}

// row writes one row of a table.
func row(w io.Writer, cells ...string) {
	fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
}

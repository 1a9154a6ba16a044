package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

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
// of a run.
func rerender(readmePath, rawPath string) error {
	before, after, err := readResults(readmePath)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(rawPath)
	if err != nil {
		return err
	}
	p := parseRaw(string(raw))
	if len(p.cmds) == 0 {
		return fmt.Errorf("%s is not the raw output of a run of this command", rawPath)
	}
	if p.when == "" { // written by an older version: it was measured here, when last written
		st, err := os.Stat(rawPath)
		if err != nil {
			return err
		}
		p.setHeader(st.ModTime().UTC().Format(time.RFC3339) + " " + machine())
	}
	var t strings.Builder
	p.render(&t)
	return os.WriteFile(readmePath, []byte(before+t.String()+after), 0o644)
}

// machine describes this computer and toolchain in one line, starting with
// "N cores".
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

// command is one command of the raw output.
type command struct {
	at   string // the revision it ran at, for the code before; else empty
	line string // as a shell takes it
}

// report is the raw output of a run, parsed.
type report struct {
	when, host, took string
	cores            int    // from the host line; 0 if it does not say
	count            string // repetitions of the short benchmarks
	cmds             []command
	cur              results // this code
	base             results // the code before, from "$ (at REV) …" commands
	baseHash         string  // from "# baseline HASH subject"
	baseShort        string  // from "(at SHORT)"
}

// parseRaw parses the raw output of a run: its header line ("# time
// machine"), its commands ("$ …", "$ (at REV) …"), the benchmark lines of
// each, "# baseline HASH subject" and its duration ("# took …").
func parseRaw(raw string) *report {
	p := &report{count: "several", cur: results{}, base: results{}}
	target := p.cur
	for line := range strings.Lines(raw) {
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "# took "):
			p.took = strings.TrimPrefix(line, "# took ")
		case strings.HasPrefix(line, "# baseline "):
			p.baseHash, _, _ = strings.Cut(strings.TrimPrefix(line, "# baseline "), " ")
		case strings.HasPrefix(line, "# ladder: "):
		case strings.HasPrefix(line, "# ") && p.when == "":
			p.setHeader(strings.TrimPrefix(line, "# "))
		case strings.HasPrefix(line, "$ "):
			c := command{line: strings.TrimPrefix(line, "$ ")}
			target = p.cur
			if rest, ok := strings.CutPrefix(c.line, "(at "); ok {
				c.at, c.line, _ = strings.Cut(rest, ") ")
				p.baseShort = c.at
				target = p.base
			}
			p.cmds = append(p.cmds, c)
			if _, n, ok := strings.Cut(c.line, "-count "); ok && strings.Contains(c.line, "Framing") {
				p.count = strings.Fields(n)[0]
			}
		default:
			target.add(line)
		}
	}
	if p.baseShort == "" && len(p.baseHash) >= 7 {
		p.baseShort = p.baseHash[:7]
	}
	return p
}

// setHeader takes the time and machine of a run from "time machine".
func (p *report) setHeader(h string) {
	p.when, p.host, _ = strings.Cut(h, " ")
	if f := strings.Fields(p.host); len(f) >= 2 && f[1] == "cores" {
		p.cores, _ = strconv.Atoi(f[0])
	}
}

// results maps a benchmark name (without the -GOMAXPROCS suffix) and a
// unit to every value measured.
type results map[string]map[string][]float64

func (r results) parse(out string) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		r.add(sc.Text())
	}
}

// add adds the values of one line of go test's output, if it is a
// benchmark's.
func (r results) add(line string) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
		return
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

// scaleName is the name of BenchmarkScale's run of n streams against peer.
func scaleName(peer string, n int) string {
	return fmt.Sprintf("Scale/peer=%s/streams=%d", peer, n)
}

// floorPrefix is the name of BenchmarkScaleFloor's runs, before the
// stream count.
const floorPrefix = "ScaleFloor/streams="

// floorName is the name of BenchmarkScaleFloor's run of n streams.
func floorName(n int) string { return floorPrefix + strconv.Itoa(n) }

// oldScale is the prefix of BenchmarkScale's runs before it had peers: all
// against the reference server.
const oldScale = "Scale/streams="

// scaleRun is one run of BenchmarkScale.
type scaleRun struct {
	n    int
	name string
}

// scaleRuns returns the runs of BenchmarkScale against peer, in order of
// stream count; against "server", the runs of before it had peers too.
func (r results) scaleRuns(peer string) []scaleRun {
	prefixes := []string{"Scale/peer=" + peer + "/streams="}
	if peer == "server" {
		prefixes = append(prefixes, oldScale)
	}
	return r.runs(prefixes...)
}

// floorRuns returns the runs of BenchmarkScaleFloor, in order of stream
// count.
func (r results) floorRuns() []scaleRun { return r.runs(floorPrefix) }

// runs returns the runs whose names are one of prefixes and a stream
// count, in order of stream count.
func (r results) runs(prefixes ...string) []scaleRun {
	var runs []scaleRun
	for name := range r {
		for _, prefix := range prefixes {
			s, ok := strings.CutPrefix(name, prefix)
			if n, err := strconv.Atoi(s); ok && err == nil {
				runs = append(runs, scaleRun{n, name})
			}
		}
	}
	slices.SortFunc(runs, func(a, b scaleRun) int { return a.n - b.n })
	return runs
}

// scaleGet returns the median of unit in the run of n streams against peer.
func (r results) scaleGet(peer string, n int, unit string) (float64, error) {
	return r.runGet(r.scaleRuns(peer), n, unit)
}

// runGet returns the median of unit in the run of n streams among runs.
func (r results) runGet(runs []scaleRun, n int, unit string) (float64, error) {
	for _, s := range runs {
		if s.n == n {
			return r.get(s.name, unit)
		}
	}
	return 0, errMissing
}

// capacity returns the largest stream count among runs that holds (see
// [results.holds]) below the first that does not. all is set when every
// count holds; ok is false when there is no run at all.
func (r results) capacity(runs []scaleRun) (n int, all, ok bool) {
	for _, s := range runs {
		if held, _ := r.holds(s.name); !held {
			return n, false, true
		}
		n = s.n
	}
	return n, len(runs) > 0, len(runs) > 0
}

// framesPerSecond is the frame rate of one stream: 16 000 samples a second
// in frames of 512.
const framesPerSecond = 31.25

// ceiling returns how many streams cores can carry at cpu µs per frame.
func ceiling(cores int, cpu float64) float64 {
	return float64(cores) / (framesPerSecond * cpu * 1e-6)
}

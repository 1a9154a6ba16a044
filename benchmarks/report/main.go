// Command report runs the benchmarks of vachana-pipe and rewrites the
// results section of benchmarks/README.md with what it measured: the date,
// the machine, the exact commands, and one table per benchmark, medians of
// the repeated runs. Run it from the repository root on a quiet machine:
//
//	go run ./benchmarks/report
//
// It runs, in order:
//
//   - the short benchmarks, -count times each, and the cadence benchmarks,
//     which stream in real time, one for four minutes;
//   - BenchmarkScale against the reference server, for the stream counts of
//     -streams;
//   - the ladder: BenchmarkScale against the drain-only peer, one go test
//     command per count of -ladder, in order, until a count does not hold
//     (p99 over 2 ms, or a stream that ended behind real time), but at least
//     up to 1 000 streams, where the client's CPU per frame is read;
//   - the ladder of BenchmarkScaleFloor, a client that does little more
//     than the floor's work (one event loop per core, one non-blocking
//     write a frame), against the same peer: a measured bound under this code's
//     ladder, with the same counts and the same rule;
//   - the same ladder on the code before (-baseline, a commit), in a git
//     worktree into which this tree's benchmark files (benchmarks/*_test.go)
//     and test helpers (internal/testutil) are copied, so that the same
//     harness and the same drain-only peer measure the old pipeline; it
//     stops at the first count that does not hold. The worktree is made and
//     built before anything runs, so an overlay that does not compile fails
//     at once, and removed at the end. -baseline= skips it.
//
// It takes 20 to 40 minutes: the short benchmarks about 9, and each scale
// run streams 32 s of audio after a few seconds of setup, longer once the
// machine falls behind; the ladders decide how many run.
//
// The raw output of every command is kept beside the README
// (benchmarks/results.txt): a header line ("# time machine"), each command
// ("$ …", or "$ (at REV) …" for the code before, after a line
// "# baseline REV subject"), its output, the ladder's verdicts
// ("# ladder: …") and the duration ("# took …"). -from-raw rewrites the
// tables from it without running anything.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

// defaultBaseline is the last commit before the work on the client's
// capacity: the code before, in the tables.
const defaultBaseline = "562f238c00a11cef95defbc5914187569ecf2d0f"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// run parses the flags and runs the report; progress goes to log.
func run(ctx context.Context, args []string, log io.Writer) error {
	fl := flag.NewFlagSet("report", flag.ContinueOnError)
	fl.SetOutput(log)
	var c config
	fl.StringVar(&c.readme, "readme", "benchmarks/README.md", "the README whose results section is rewritten")
	fl.StringVar(&c.raw, "raw", "benchmarks/results.txt", "where the raw benchmark output is written")
	fl.StringVar(&c.streams, "streams", "100,300,1000,3000", "stream counts of the scale benchmark against the reference server")
	ladder := fl.String("ladder", "100,300,500,700,1000,1500,2000,3000,5000,10000", "stream counts against the drain-only peer, for the pipeline and for the floor's client, tried in turn until one does not hold")
	fl.StringVar(&c.baseline, "baseline", defaultBaseline, "the commit of the code before, whose ladder is run too; empty: none")
	fl.IntVar(&c.count, "count", 5, "repetitions of the short benchmarks; the tables show medians")
	from := fl.Bool("from-raw", false, "run nothing: rewrite the tables from the raw output of an earlier run")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(log, "report: unexpected arguments %q\n", fl.Args())
		return errUsage
	}
	if *from {
		return rerender(c.readme, c.raw)
	}
	var err error
	if c.ladder, err = parseCounts(*ladder); err != nil {
		return fmt.Errorf("-ladder: %v", err)
	}
	if _, err := parseCounts(c.streams); err != nil {
		return fmt.Errorf("-streams: %v", err)
	}
	return measure(ctx, c, log)
}

// config is what the flags choose.
type config struct {
	readme, raw string
	streams     string // as go test takes them: "100,1000"
	ladder      []int
	baseline    string // a revision, or empty
	count       int
}

// parseCounts parses a comma-separated list of stream counts.
func parseCounts(s string) ([]int, error) {
	var ns []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q: want stream counts such as 100,1000", s)
		}
		ns = append(ns, n)
	}
	return ns, nil
}

// step is one go test command of the report.
type step struct {
	env  []string // VAR=value
	args []string
}

// String returns the command as a shell would take it.
func (s step) String() string {
	var b strings.Builder
	for _, e := range s.env {
		b.WriteString(e + " ")
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

// scaleStep runs BenchmarkScale against one kind of peer ("server" or
// "drain") for the stream counts listed in streams.
func scaleStep(peer, streams string) step {
	return step{
		env:  []string{"VACHANA_BENCH_PEERS=" + peer, "VACHANA_BENCH_STREAMS=" + streams},
		args: []string{"test", "./benchmarks", "-run", "^$", "-bench", "^BenchmarkScale$", "-benchtime", "1x", "-count", "1", "-timeout", "90m"},
	}
}

// floorStep runs BenchmarkScaleFloor for the stream counts listed in
// streams.
func floorStep(streams string) step {
	return step{
		env:  []string{"VACHANA_BENCH_STREAMS=" + streams},
		args: []string{"test", "./benchmarks", "-run", "^$", "-bench", "^BenchmarkScaleFloor$", "-benchtime", "1x", "-count", "1", "-timeout", "90m"},
	}
}

const (
	beginMark = "<!-- results: written by go run ./benchmarks/report; do not edit by hand -->"
	endMark   = "<!-- end of results -->"
)

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// measure runs every command of the report, keeps their output in
// c.raw and rewrites the README from it.
func measure(ctx context.Context, c config, log io.Writer) (err error) {
	if _, _, err := readResults(c.readme); err != nil {
		return err
	}
	var base *commit
	var baseDir string
	if c.baseline != "" { // checked out and built first: a failure costs no benchmark
		out, err := git(ctx, "", "rev-parse", "--show-toplevel")
		if err != nil {
			return err
		}
		root := strings.TrimSpace(out)
		if base, err = resolve(ctx, root, c.baseline); err != nil {
			return err
		}
		dir, remove, err := checkout(ctx, root, *base, log)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, remove()) }()
		baseDir = dir
	}
	n := strconv.Itoa(c.count)
	steps := []step{
		{args: []string{"test", "./benchmarks", "./resample", "-run", "^$", "-bench", "^Benchmark(Framing|PipelineUnpaced|PipelineResampled|Resample|LoopbackWrite)$", "-benchmem", "-count", n}},
		{args: []string{"test", "./benchmarks", "-run", "^$", "-bench", "^BenchmarkVersusSox$", "-count", n}},
		{args: []string{"test", "./benchmarks", "-run", "^$", "-bench", "^BenchmarkCadence$", "-benchtime", "1x", "-count", "3"}},
		{args: []string{"test", "./benchmarks", "-run", "^$", "-bench", "^BenchmarkDrift$", "-benchtime", "1x", "-count", "1", "-timeout", "30m"}},
		scaleStep("server", c.streams),
	}
	r := &runner{ctx: ctx, log: log, partial: c.raw + ".partial"}
	r.note(fmt.Sprintf("# %s %s", time.Now().UTC().Format(time.RFC3339), machine()))
	started := time.Now()
	for _, s := range steps {
		if _, err := r.run(s, "", ""); err != nil {
			return err
		}
	}
	if err := r.ladder(c.ladder, leastLadder, drainLadder, "", ""); err != nil {
		return err
	}
	if err := r.ladder(c.ladder, leastLadder, floorLadder, "", ""); err != nil {
		return err
	}
	if base != nil {
		if err := r.baseline(baseDir, *base, c.ladder); err != nil {
			return err
		}
	}
	r.note(fmt.Sprintf("# took %v", time.Since(started).Round(time.Minute)))
	if err := r.save(); err != nil {
		return err
	}
	if err := os.Rename(r.partial, c.raw); err != nil {
		return err
	}
	return rerender(c.readme, c.raw)
}

// runner runs the commands of a report and keeps their output.
type runner struct {
	ctx     context.Context
	out     bytes.Buffer // the raw output so far
	log     io.Writer    // progress, as it happens
	partial string       // where out is saved after every command
}

// note adds a line to the raw output.
func (r *runner) note(line string) {
	fmt.Fprintln(&r.out, line)
	fmt.Fprintln(r.log, line)
}

// save writes the raw output so far, so that a failure loses nothing, but
// apart from the results of the last whole run.
func (r *runner) save() error {
	return os.WriteFile(r.partial, r.out.Bytes(), 0o644)
}

// run runs one command in dir (the current directory if empty) and returns
// its output. at, if not empty, names the revision checked out in dir; the
// raw output marks the command with it.
func (r *runner) run(s step, dir, at string) (string, error) {
	line := s.String()
	if at != "" {
		line = "(at " + at + ") " + line
	}
	r.note("$ " + line)
	var own bytes.Buffer
	cmd := exec.CommandContext(r.ctx, "go", s.args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), s.env...)
	w := io.MultiWriter(&r.out, &own, r.log)
	cmd.Stdout, cmd.Stderr = w, w
	err := cmd.Run()
	if werr := r.save(); werr != nil {
		return "", werr
	}
	if err != nil {
		return "", fmt.Errorf("%s: %v (output so far in %s)", line, err, r.partial)
	}
	return own.String(), nil
}

// leastLadder is the count the ladder of this code reaches even when a
// smaller one does not hold: the client's CPU per frame is read there.
const leastLadder = 1000

// kind is a ladder's benchmark: its command and the name of its run for a
// count.
type kind struct {
	step func(streams string) step
	name func(n int) string
}

var (
	// drainLadder is BenchmarkScale against the drain-only peer.
	drainLadder = kind{func(s string) step { return scaleStep("drain", s) }, func(n int) string { return scaleName("drain", n) }}
	// floorLadder is BenchmarkScaleFloor, which has no other peer.
	floorLadder = kind{floorStep, floorName}
)

// ladder runs the benchmark of k for each count in turn, one command each,
// and stops as [climb] says.
func (r *runner) ladder(counts []int, least int, k kind, dir, at string) error {
	return climb(counts, least, func(n int) (bool, error) {
		out, err := r.run(k.step(strconv.Itoa(n)), dir, at)
		if err != nil {
			return false, err
		}
		res := results{}
		res.parse(out)
		ok, why := res.holds(k.name(n))
		verdict := "hold"
		if !ok {
			verdict = "do not hold"
		}
		r.note(fmt.Sprintf("# ladder: %d streams %s (%s)", n, verdict, why))
		return ok, r.save()
	})
}

// climb calls try for each count in turn and stops after the first that
// does not hold, or, if no count of at least least has been tried yet, after
// the first such count. It returns try's first error.
func climb(counts []int, least int, try func(n int) (bool, error)) error {
	failed, reached := false, false
	for _, n := range counts {
		ok, err := try(n)
		if err != nil {
			return err
		}
		failed = failed || !ok
		reached = reached || n >= least
		if failed && reached {
			return nil
		}
	}
	return nil
}

// holdP99 is the largest p99 deviation, in µs, at which a count holds.
const holdP99 = 2000

// holds reports whether the scale run name kept real time: a p99 deviation
// of at most 2 ms and no stream that ended behind. why says what was
// measured, or what was not.
func (r results) holds(name string) (ok bool, why string) {
	if r[name] == nil {
		return false, "no result for " + name
	}
	p99, err1 := r.get(name, "p99-µs")
	behind, err2 := r.get(name, "behind-streams")
	if err1 != nil || err2 != nil {
		return false, "p99-µs or behind-streams not reported"
	}
	why = fmt.Sprintf("p99 %.0f µs, %.0f streams behind", p99, behind)
	return p99 <= holdP99 && behind == 0, why
}

// commit is a revision of the repository.
type commit struct {
	hash, short, subject string
}

// git runs git in dir and returns its standard output; errors carry its
// standard error.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// resolve finds the commit rev names in the repository at root.
func resolve(ctx context.Context, root, rev string) (*commit, error) {
	out, err := git(ctx, root, "log", "-1", "--format=%H%n%h%n%s", rev+"^{commit}", "--")
	if err != nil {
		return nil, fmt.Errorf("-baseline %s: %v", rev, err)
	}
	f := strings.SplitN(strings.TrimRight(out, "\n"), "\n", 3)
	if len(f) < 3 {
		return nil, fmt.Errorf("-baseline %s: git log printed %q", rev, out)
	}
	return &commit{hash: f[0], short: f[1], subject: f[2]}, nil
}

// checkout checks the code at c out in a new git worktree of the
// repository at root, copies the benchmark files and test helpers of root's
// tree into it, and builds its benchmarks. It returns the worktree's
// folder and a function that removes it; on error, nothing is left.
func checkout(ctx context.Context, root string, c commit, log io.Writer) (dir string, remove func() error, err error) {
	tmp, err := os.MkdirTemp("", "vachana-baseline-")
	if err != nil {
		return "", nil, err
	}
	dir = filepath.Join(tmp, "tree")
	fmt.Fprintf(log, "# git worktree add --detach %s %s\n", dir, c.short)
	if _, err := git(ctx, root, "worktree", "add", "--detach", dir, c.hash); err != nil {
		os.RemoveAll(tmp)
		return "", nil, err
	}
	remove = func() error {
		// Not ctx: an interrupted run removes its worktree too.
		_, err := git(context.Background(), root, "worktree", "remove", "--force", dir)
		if err != nil {
			git(context.Background(), root, "worktree", "prune")
		}
		os.RemoveAll(tmp)
		return err
	}
	if err := overlay(root, dir); err != nil {
		return "", nil, errors.Join(err, remove())
	}
	fmt.Fprintf(log, "# go test -c ./benchmarks (at %s)\n", c.short)
	build := exec.CommandContext(ctx, "go", "test", "-c", "-o", filepath.Join(tmp, "benchmarks.test"), "./benchmarks")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		err = fmt.Errorf("the benchmarks of this tree (%s and %s) do not compile against the code before, %s (%s): %v\n%s",
			overlayBench, overlayHelpers, c.short, c.subject, err, out)
		return "", nil, errors.Join(err, remove())
	}
	return dir, remove, nil
}

// baseline runs the ladder on the code at c, checked out in dir by
// [checkout], and marks its commands in the raw output.
func (r *runner) baseline(dir string, c commit, counts []int) error {
	r.note(fmt.Sprintf("# baseline %s %s", c.hash, c.subject))
	return r.ladder(counts, 0, drainLadder, dir, c.short)
}

// overlaySources are what [overlay] copies: the benchmark files (a glob)
// but overlayNew, and the test helpers (a folder). overlayNew uses what
// only this tree's pipeline has (pipeline.HeldAudio): without it, the
// benchmark breaks memory down by where it was allocated alone.
const (
	overlayBench   = "benchmarks/*_test.go"
	overlayNew     = "heldaudio_test.go"
	overlayHelpers = "internal/testutil"
)

// overlay replaces the benchmark files and the test helpers of the tree at
// dst by those of the tree at src.
func overlay(src, dst string) error {
	old, err := filepath.Glob(filepath.Join(dst, overlayBench))
	if err != nil {
		return err
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	files, err := filepath.Glob(filepath.Join(src, overlayBench))
	if err != nil {
		return err
	}
	for _, f := range files {
		if filepath.Base(f) == overlayNew {
			continue
		}
		if err := copyFile(f, filepath.Join(dst, "benchmarks", filepath.Base(f))); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(filepath.Join(dst, overlayHelpers)); err != nil {
		return err
	}
	from := filepath.Join(src, overlayHelpers)
	return filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		return copyFile(path, filepath.Join(dst, overlayHelpers, rel))
	})
}

// copyFile copies the file src to dst, creating dst's folder.
func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vachana-pipe/vachana-pipe/pipeline"
)

// job is one INPUT and where its transcript goes.
type job struct {
	input  string // a path, or "" or "-" for stdin
	out    string // the transcript's file under -out-dir; "" with stdout
	stdout bool   // the transcript goes to the command's stdout
	prefix string // in a batch, what the console's warnings begin with
}

// jobResult is what became of a job.
type jobResult struct {
	name    string
	audio   time.Duration // input audio streamed (one channel's, when split)
	err     error         // with its exit code
	started bool          // false: interrupted before it began
}

// runJob streams one input, each channel in its own session with -channels
// split, and writes its transcript. Its error carries the exit code: the
// worst of its channels'.
func runJob(ctx, stop context.Context, c *config, j *job, openDst func() (*destination, error), con *console, stdin io.Reader) (res jobResult) {
	res.name, res.started = j.input, true
	if isStdin(j.input) {
		res.name = "stdin"
	}
	in, err := openAudio(ctx, stop, c, j.input, stdin)
	if err != nil {
		res.err = err
		con.failed(res.name, err)
		return res
	}
	defer in.close()
	res.name = in.name
	dst, err := openDst()
	if err == nil {
		w, closeOut, cerr := j.create(con.stdout)
		if cerr == nil {
			return streamJob(ctx, stop, c, j, in, dst, w, closeOut, con)
		}
		err = withCode(exitUsage, cerr)
	}
	res.err = err
	con.failed(res.name, err)
	return res
}

// streamJob streams the opened input in to dst, its transcript to w, which
// closeOut closes.
func streamJob(ctx, stop context.Context, c *config, j *job, in *input, dst *destination, w io.Writer, closeOut func() error, con *console) (res jobResult) {
	res.name, res.started = in.name, true
	out := newOutput(c, w, con, j.stdout, j.stdout && isTerminal(w))

	// A stream that fails alone ends its channel's reader, so that the
	// others go on; an abort ends the input's Read too.
	defer context.AfterFunc(ctx, in.interrupt)()
	n := len(in.audio)
	stats, errs := make([]*pipeline.Stats, n), make([]error, n)
	prog := con.track(in.name, in.length, n, c.rate)
	var wg sync.WaitGroup
	for k, a := range in.audio {
		opts := pipelineOptions(c)
		opts.Stop = stop.Done()
		opts.Interrupt = in.interrupt
		if in.split != nil {
			opts.Interrupt = func() { in.split.Channel(k).Close() }
		}
		opts.OnEvent = out.handler(k)
		opts.OnWarning = con.warnFunc(j.prefix + channelPrefix(c, in, k))
		opts.OnProgress = prog.update(k)
		wg.Go(func() {
			stats[k], errs[k] = dst.send(ctx, a, opts)
			if in.split != nil {
				in.split.Channel(k).Close() // the others no longer keep its samples
			}
		})
	}
	wg.Wait()
	for k := range errs {
		errs[k] = classify(ctx, errs[k])
		if errs[k] != nil && in.split != nil {
			errs[k] = withCode(exitCode(errs[k]), fmt.Errorf("%s: %w", channelLabel(c, k), errs[k]))
		}
	}
	runErr := joinWorst(errs...)
	defer func() { prog.done(res.err) }()
	if werr := out.finish(); werr != nil && runErr == nil {
		runErr = withCode(exitStream, werr)
	}
	if err := closeOut(); err != nil && runErr == nil {
		runErr = withCode(exitStream, fmt.Errorf("writing %s: %w", j.out, err))
	}
	if st := stats[0]; st != nil {
		res.audio = c.rate.FrameAt(st.Frames-st.TailFrames-st.Filler) - c.rate.D(int64(st.Padding/2))
	}
	if c.stats {
		for k, st := range stats {
			name := in.name
			if in.split != nil {
				name += ", " + channelLabel(c, k)
			}
			var local = dst.local
			if n > 1 || !j.stdout {
				local = nil // its first report is not this stream's
			}
			con.stats(func(w io.Writer) { printStats(w, name, in.decoded, c, st, local) })
		}
	}
	if runErr == nil {
		// The audio that was there has been streamed; now say what was
		// wrong with the end of the input.
		runErr = in.end(con)
	}
	res.err = runErr
	return res
}

// channelLabel names channel k for people: its -channel-names label, or
// "Channel k+1".
func channelLabel(c *config, k int) string {
	if name := channelName(c.channelNames, k); name != "" {
		return name
	}
	return fmt.Sprintf("Channel %d", k+1)
}

// channelName returns -channel-names' label of channel k, its runs of
// white space made one space as the transcript's writers make them; "" when
// it has none.
func channelName(names []string, k int) string {
	if k >= len(names) {
		return ""
	}
	return strings.Join(strings.Fields(names[k]), " ")
}

// channelPrefix is what warnings about channel k's stream begin with: ""
// unless the channels are split.
func channelPrefix(c *config, in *input, k int) string {
	if in.split == nil {
		return ""
	}
	return channelLabel(c, k) + ": "
}

// create opens the job's output: its file under -out-dir (and the
// directories above it), or stdout. The returned function closes it.
func (j *job) create(stdout io.Writer) (io.Writer, func() error, error) {
	if j.stdout {
		return stdout, func() error { return nil }, nil
	}
	if err := os.MkdirAll(filepath.Dir(j.out), 0o755); err != nil {
		return nil, nil, fmt.Errorf("-out-dir: cannot make the directory for %s: %w", j.out, err)
	}
	f, err := os.Create(j.out)
	if err != nil {
		return nil, nil, fmt.Errorf("-out-dir: cannot create %s: %w", j.out, err)
	}
	return f, f.Close, nil
}

// joinWorst returns every error of errs joined, with the worst exit code
// of them (see worst); nil when all are nil.
func joinWorst(errs ...error) error {
	w := worst(errs...)
	if w == nil {
		return nil
	}
	var all []error
	for _, err := range errs {
		if err != nil {
			all = append(all, err)
		}
	}
	if len(all) == 1 {
		return w
	}
	msgs := make([]string, len(all))
	for i, err := range all {
		msgs[i] = err.Error()
	}
	return withCode(exitCode(w), errors.New(strings.Join(msgs, "; ")))
}

// worst returns the error with the worst exit code: 130 (interrupted) over
// 4 over 3 over 2 over 1; nil when all are nil.
func worst(errs ...error) error {
	rank := func(err error) int {
		switch code := exitCode(err); code {
		case exitInterrupted:
			return 100
		default:
			return code
		}
	}
	var w error
	for _, err := range errs {
		if err != nil && (w == nil || rank(err) > rank(w)) {
			w = err
		}
	}
	return w
}

// runBatch streams every INPUT, -j at a time, each transcript to its file
// under -out-dir, and prints a summary. A failed input does not stop the
// others; the first interrupt lets the open ones finish cleanly and starts
// no more. The exit code is the worst of the inputs'.
func runBatch(ctx, stop context.Context, c *config, openDst func() (*destination, error), con *console, stdin io.Reader) error {
	begun := time.Now()
	inputs := c.inputs
	if len(inputs) == 0 {
		inputs = []string{"-"}
	}
	abs := make([]string, len(inputs))
	for i, in := range inputs {
		var err error
		if abs[i], err = filepath.Abs(in); err != nil {
			abs[i] = filepath.Clean(in)
		}
		if k := slices.Index(abs, abs[i]); k < i {
			return withCode(exitUsage, fmt.Errorf("%s and %s are the same file: give each INPUT once", inputs[k], in))
		}
	}
	outs := outputNames(inputs, c.outDir, c.output.Ext())
	results := make([]jobResult, len(inputs))
	con.batch(len(inputs))
	var g errgroup.Group
	g.SetLimit(c.jobs)
	for i, name := range inputs {
		results[i].name = name
		if stop.Err() != nil || ctx.Err() != nil {
			continue // interrupted: no more inputs begin
		}
		j := &job{input: name, out: outs[i]}
		if len(inputs) > 1 {
			j.prefix = name + ": "
		}
		g.Go(func() error {
			if stop.Err() != nil || ctx.Err() != nil {
				return nil
			}
			results[i] = runJob(ctx, stop, c, j, openDst, con, stdin)
			return nil
		})
	}
	g.Wait()
	return summarize(con, results, time.Since(begun))
}

// summarize prints the batch's summary and returns its worst error.
func summarize(con *console, results []jobResult, wall time.Duration) error {
	var audio time.Duration
	var failed, stopped, skipped int
	var errs []error
	var lines []string
	for _, r := range results {
		audio += r.audio
		switch {
		case !r.started:
			skipped++
		case exitCode(r.err) == exitInterrupted:
			stopped++
			errs = append(errs, r.err)
		case r.err != nil:
			failed++
			errs = append(errs, r.err)
			lines = append(lines, fmt.Sprintf("  failed: %s (exit %d): %v", r.name, exitCode(r.err), strings.TrimPrefix(r.err.Error(), r.name+": ")))
		}
	}
	head := fmt.Sprintf("%d file(s): %d done, %d failed", len(results), len(results)-failed-stopped-skipped, failed)
	if stopped > 0 {
		head += fmt.Sprintf(", %d stopped early (interrupted; their transcripts so far are written)", stopped)
	}
	if skipped > 0 {
		head += fmt.Sprintf(", %d not started (interrupted)", skipped)
		errs = append(errs, withCode(exitInterrupted, errors.New("interrupted")))
	}
	head += fmt.Sprintf("; %v of audio in %v", audio.Round(100*time.Millisecond), wall.Round(100*time.Millisecond))
	con.summary(head, lines)
	w := worst(errs...)
	switch {
	case w == nil:
		return nil
	case exitCode(w) == exitInterrupted:
		return w
	}
	return withCode(exitCode(w), fmt.Errorf("%d of %d file(s) failed (see above)", failed, len(results)))
}

// outputNames returns the transcript file of each input under dir: its
// name with ext for its extension, or where several inputs have the same
// name, as many of the directories above it as set it apart (a/x.wav and
// b/x.wav give a/x and b/x), and where nothing does (x.wav and x.mp3), the
// input's own extension kept before ext.
func outputNames(inputs []string, dir, ext string) []string {
	parts := make([][]string, len(inputs))
	for i, in := range inputs {
		if isStdin(in) {
			in = "stdin"
		}
		for _, p := range strings.Split(filepath.ToSlash(filepath.Clean(in)), "/") {
			if p != "" && p != "." && p != ".." {
				parts[i] = append(parts[i], p)
			}
		}
	}
	// name returns the last k parts of input i, without its extension
	// unless keep.
	name := func(i, k int, keep bool) string {
		p := parts[i][max(0, len(parts[i])-k):]
		s := filepath.Join(p...)
		if !keep {
			s = strings.TrimSuffix(s, filepath.Ext(s))
		}
		return s
	}
	names := make([]string, len(inputs))
	for i := range inputs {
		n := len(parts[i])
		names[i] = name(i, n, true)
	try:
		for _, keep := range []bool{false, true} {
			for k := 1; k <= n; k++ {
				candidate, clash := name(i, k, keep), false
				for o := range inputs {
					if o != i && name(o, k, keep) == candidate {
						clash = true
						break
					}
				}
				if !clash {
					names[i] = candidate
					break try
				}
			}
		}
		names[i] = filepath.Join(dir, names[i]+ext)
	}
	// Names still alike (x.wav, x.mp3 and x.wav.mp3; ../x.wav and x.wav)
	// get a number.
	for i := range names {
		for n := 2; slices.Index(names, names[i]) < i; n++ {
			stem := strings.TrimSuffix(names[i], ext)
			if n > 2 {
				stem = stem[:strings.LastIndexByte(stem, '-')]
			}
			names[i] = fmt.Sprintf("%s-%d%s", stem, n, ext)
		}
	}
	return names
}

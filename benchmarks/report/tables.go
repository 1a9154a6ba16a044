package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// render writes the results section.
func (p *report) render(w io.Writer) {
	took := ""
	if p.took != "" {
		took = " (" + p.took + ")"
	}
	fmt.Fprintln(w, beginMark)
	fmt.Fprintln(w)
	day, _, _ := strings.Cut(p.when, "T")
	fmt.Fprintf(w, "Measured %s%s with `go run ./benchmarks/report` on %s. Raw output: [results.txt](results.txt).\n\n", day, took, p.host)
	fmt.Fprint(w, "Commands:\n\n```sh\n")
	p.commands(w)
	fmt.Fprintln(w, "```")
	p.tables(w)
	fmt.Fprint(w, endMark)
}

// commands writes the commands of the run, a ladder's as one loop over its
// counts.
func (p *report) commands(w io.Writer) {
	var loop, at string
	var ns []string
	flush := func() {
		if len(ns) > 0 {
			fmt.Fprintf(w, "for n in %s; do %s; done\n", strings.Join(ns, " "), loop)
		}
		loop, ns = "", nil
	}
	for _, c := range p.cmds {
		l, n := ladderLoop(c.line)
		if n == "" || l != loop || c.at != at {
			flush()
		}
		if c.at != at && c.at != "" {
			fmt.Fprintf(w, "# the code before, at %s, in a git worktree with %s and %s from this tree:\n", c.at, overlayBench, overlayHelpers)
		}
		at = c.at
		if n == "" {
			fmt.Fprintln(w, c.line)
			continue
		}
		loop = l
		ns = append(ns, n)
	}
	flush()
}

// ladderLoop returns a command of a ladder with $n in place of its stream
// count, and the count; or "", "" for another command.
func ladderLoop(line string) (loop, n string) {
	f := strings.Fields(line)
	if !slices.Contains(f, "VACHANA_BENCH_PEERS=drain") && !slices.Contains(f, "'^BenchmarkScaleFloor$'") {
		return "", ""
	}
	for i, a := range f {
		if v, ok := strings.CutPrefix(a, "VACHANA_BENCH_STREAMS="); ok && !strings.Contains(v, ",") {
			f[i] = "VACHANA_BENCH_STREAMS=$n"
			return strings.Join(f, " "), v
		}
	}
	return "", ""
}

func (p *report) tables(w io.Writer) {
	r, count := p.cur, p.count
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
		{"vachana-pipe (absolute deadlines, kernel-timed last 50 ms)", "Cadence/vachana-pipe"},
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

	p.scaleTables(w)
	fmt.Fprintln(w)
}

// The texts of the scale tables.
const (
	scaleIntro  = "N paced streams in one process, each a `pipeline.Stream` with default options, to a peer in a child process on loopback. Each stream is the speech sample looped to 31 s, then 1 s of silence: longer than the 30 s replay window. The streams start spread over one second. Deviation and drift are over every frame of every stream as the peer received them; a stream is behind when it ended more than one 32 ms frame period late. CPU and memory are the client process's only; CPU per stream is over the time the streams took, longer than their 32 s of audio once the machine cannot keep up. Resident memory and heap+stack are taken 8 s in, after a garbage collection."
	serverIntro = scaleIntro + " Here the peer is the reference server, which transcribes and confirms segments as a service does; every frame, and every transcript it sends, must arrive, or the run fails."
	// oldServerIntro describes the runs of before BenchmarkScale had peers
	// (names Scale/streams=N), which streamed the sample once.
	oldServerIntro = "N paced streams of the speech sample in one process, each a `pipeline.Stream` with default options, to a reference server in a child process on loopback. Deviation and drift over every frame of every stream as the server received them; CPU and memory of the client process only. CPU per stream is over the time the streams took, longer than their 16.5 s of audio once the machine cannot keep up. Resident memory is taken 8 s in. Heap+stack counts the replay buffer: since 0.2.0 it holds, in 64 KiB chunks given back as segments are confirmed, only what the service has not confirmed plus 5 s of look-back, at most `Options.Replay` (30 s); results measured before that hold the 30 s in full."
	drainIntro     = "The same streams to the drain-only peer, which only reads each frame, discards it and timestamps its arrival, so that it costs little and the table shows what the client alone can carry; it confirms nothing, so each stream's replay buffer keeps all it has sent, up to its window. The counts run in turn, one command each, and stop after the first that does not hold (p99 over 2 ms, or a stream behind), but not before 1 000 streams."
	floorIntro     = "The same streams, frames and peer, from a client that does little more than the floor's work (BenchmarkScaleFloor): no pipeline and no goroutine per stream, but one loop per core that wakes on the shared kernel timer at each millisecond at which a frame of its streams is due and writes each frame then due, masked with a fresh key, with one non-blocking write to a socket outside Go's poller. It reads no source, keeps no replay buffer and reads no events: it is a bound under the pipeline's ladder, what a client built as such an event loop carries here. Its ladder runs as the pipeline's does."
	memoryIntro    = "The client's heap+stack per stream, 8 s in, and what holds it: the audio of the replay buffers (the unconfirmed audio from where a replay would start; the look-back over the last 5 s before a segment end is one bit a frame, not audio) and of the read-ahead queues (`Options.ReadAhead` frames, 64 KiB, and the reader's 4 KiB buffer), as `pipeline.HeldAudio` counts them; idle frame buffers (the rest of the slabs of 32 in which each stream takes them, and the slabs streams gave back, pooled for the next); the WebSocket connections; the goroutine stacks; and the rest, from a heap profile by where it was allocated. Its resident memory per stream beside. Against the reference server only: the drain-only peer confirms nothing, so its streams' replay buffers are still growing 8 s in, and the collection and the profile's sampling would disturb the cadence its ladder is judged by."
)

// scaleCols are the columns of the scale tables but the peer's CPU, which
// is the last but three.
var scaleCols = []string{"streams", "p50 µs", "p99 µs", "max µs", "worst \\|drift\\| µs", "streams behind", "sender's p99 µs (median stream)", "frames > 1 ms late",
	"client CPU % of a core per stream", "client CPU µs per frame", "", "client RSS KiB per stream, 8 s in", "client heap+stack KiB per stream", "client OS threads (high-water)"}

// scaleTables writes the tables of BenchmarkScale and what they add up to.
func (p *report) scaleTables(w io.Writer) {
	cols := func(peerCPU string) []string {
		c := slices.Clone(scaleCols)
		c[len(c)-4] = peerCPU
		return c
	}
	old := slices.ContainsFunc(p.cur.scaleRuns("server"), func(s scaleRun) bool { return strings.HasPrefix(s.name, oldScale) })
	intro := serverIntro
	if old {
		intro = oldServerIntro
	}
	if len(p.cur.scaleRuns("server")) > 0 {
		section(w, "Many streams against the reference server (one run each)", intro, false, cols("server CPU µs per frame")...)
		scaleRows(w, p.cur, "server")
	}
	if len(p.cur.scaleRuns("drain")) > 0 {
		section(w, "Many streams against the drain-only peer: the client's capacity (one run each)", drainIntro, false, cols("peer CPU µs per frame")...)
		scaleRows(w, p.cur, "drain")
	}
	if runs := p.cur.floorRuns(); len(runs) > 0 {
		section(w, "A client that does little more than the floor's work, against the drain-only peer (one run each)", floorIntro, false,
			"streams", "p50 µs", "p99 µs", "max µs", "worst \\|drift\\| µs", "streams behind", "sender's p99 µs (median stream)",
			"client CPU µs per frame", "peer CPU µs per frame", "writes not taken whole at once")
		for _, s := range runs {
			n, r := s.name, p.cur
			row(w, strconv.Itoa(s.n),
				r.cell(n, "p50-µs", 0, 1), r.cell(n, "p99-µs", 0, 1), r.cell(n, "max-µs", 0, 1), r.cell(n, "drift-µs", 0, 1), r.cell(n, "behind-streams", 0, 1),
				r.cell(n, "sender-p99-µs", 0, 1), r.cell(n, "cpu-µs/frame", 1, 1), r.cell(n, "server-cpu-µs/frame", 1, 1), r.cell(n, "stalled-writes", 0, 1))
		}
	}
	if len(p.base.scaleRuns("drain")) > 0 {
		section(w, "The code before ("+p.baseShort+"), against the drain-only peer (one run each)",
			"The same ladder on the code before this work, commit "+p.baseShort+", in a git worktree into which this tree's benchmark files and test helpers were copied: the same harness and the same drain-only peer measure the old pipeline. It stops after the first count that does not hold.", false,
			cols("peer CPU µs per frame")...)
		scaleRows(w, p.base, "drain")
	}
	p.memoryTable(w)
	if s := p.summary(); s != "" {
		fmt.Fprintf(w, "\n%s\n", s)
	}
}

// memoryTable writes the breakdown of the client's memory per stream, if
// it was measured (not before BenchmarkScale had peers).
func (p *report) memoryTable(w io.Writer) {
	peers := []struct{ name, label string }{{"server", "reference server"}}
	var runs [][]scaleRun
	measured := false
	for _, peer := range peers {
		runs = append(runs, p.cur.scaleRuns(peer.name))
		for _, s := range runs[len(runs)-1] {
			measured = measured || p.cur[s.name]["replay-KiB/stream"] != nil
		}
	}
	if !measured {
		return
	}
	section(w, "Memory per stream (one run each)", memoryIntro, true,
		"peer", "streams", "heap+stack KiB", "replay KiB", "read-ahead KiB", "idle frame buffers KiB", "WebSocket KiB", "stacks KiB", "other KiB", "RSS KiB")
	r := p.cur
	for i, peer := range peers {
		for _, s := range runs[i] {
			n := s.name
			row(w, peer.label, strconv.Itoa(s.n), r.cell(n, "heap+stack-KiB/stream", 0, 1), r.cell(n, "replay-KiB/stream", 0, 1),
				r.cell(n, "readahead-KiB/stream", 0, 1), r.cell(n, "pool-KiB/stream", 0, 1), r.cell(n, "ws-KiB/stream", 0, 1), r.cell(n, "stack-KiB/stream", 0, 1),
				r.cell(n, "other-KiB/stream", 0, 1), r.cell(n, "rss-KiB/stream", 0, 1))
		}
	}
}

// scaleRows writes a row of a scale table for each run against peer.
func scaleRows(w io.Writer, r results, peer string) {
	for _, s := range r.scaleRuns(peer) {
		n := s.name
		row(w, strconv.Itoa(s.n),
			r.cell(n, "p50-µs", 0, 1), r.cell(n, "p99-µs", 0, 1), r.cell(n, "max-µs", 0, 1), r.cell(n, "drift-µs", 0, 1), r.cell(n, "behind-streams", 0, 1),
			r.cell(n, "sender-p99-µs", 0, 1), r.cell(n, "late-frames", 0, 1), r.cell(n, "cpu-%/stream", 3, 1), r.cell(n, "cpu-µs/frame", 1, 1),
			r.cell(n, "server-cpu-µs/frame", 1, 1), r.cell(n, "rss-KiB/stream", 0, 1), r.cell(n, "heap+stack-KiB/stream", 0, 1), r.cell(n, "threads", 0, 1))
	}
}

// summary says in a paragraph what the scale runs add up to, each figure
// computed from the results; what was not measured is left out.
func (p *report) summary() string {
	r := p.cur
	var s []string
	// Figures are rounded as printed before they are divided, so that the
	// reader's arithmetic gives the printed result.
	floor, errFloor := r.get("LoopbackWrite", "cpu-µs/write")
	floor = round1(floor)
	if errFloor == nil {
		s = append(s, fmt.Sprintf("The floor (BenchmarkLoopbackWrite, median of %s): one 1030-byte write on a loopback TCP connection, with its reader, costs %.1f µs of CPU here, before any pacing, framing or WebSocket work.", p.count, floor))
	}
	var perFrame []string
	drainCPU, errDrain := r.scaleGet("drain", leastLadder, "cpu-µs/frame")
	drainCPU = round1(drainCPU)
	for _, c := range []struct{ peer, label string }{{"drain", "the drain-only peer"}, {"server", "the reference server"}} {
		v, err := r.scaleGet(c.peer, leastLadder, "cpu-µs/frame")
		if err != nil {
			continue
		}
		v = round1(v)
		f := fmt.Sprintf("%.1f µs against %s", v, c.label)
		if errFloor == nil && floor > 0 {
			f += fmt.Sprintf(" (%.1f × the floor)", v/floor)
		}
		perFrame = append(perFrame, f)
	}
	if len(perFrame) > 0 {
		s = append(s, fmt.Sprintf("At %s streams the client's CPU per frame is %s.", spaced(leastLadder), strings.Join(perFrame, " and ")))
	}
	cur, curAll, curOK := r.capacity(r.scaleRuns("drain"))
	base, baseAll, baseOK := p.base.capacity(p.base.scaleRuns("drain"))
	if curOK {
		t := fmt.Sprintf("Against the drain-only peer, with p99 ≤ 2 ms and no stream behind, this code holds %s", held(r.scaleRuns("drain"), cur, curAll))
		if baseOK {
			t += fmt.Sprintf(", the code before (%s) %s", p.baseShort, held(p.base.scaleRuns("drain"), base, baseAll))
			if cur > 0 && base > 0 && !(curAll && baseAll) {
				atLeast := ""
				if curAll && !baseAll {
					atLeast = "at least "
				}
				if !curAll && baseAll {
					atLeast = "at most "
				}
				t += fmt.Sprintf(": %s%.1f × as many", atLeast, float64(cur)/float64(base))
			}
		}
		s = append(s, t+".")
	}
	if runs := r.floorRuns(); len(runs) > 0 {
		n, all, _ := r.capacity(runs)
		t := "A client that does little more than the floor's work, one event loop per core (BenchmarkScaleFloor),"
		if v, err := r.runGet(runs, leastLadder, "cpu-µs/frame"); err == nil {
			v = round1(v)
			t += fmt.Sprintf(" costs %.1f µs of client CPU per frame at %s streams", v, spaced(leastLadder))
			var why []string
			if errDrain == nil && drainCPU > 0 && v > 0 {
				why = append(why, fmt.Sprintf("the pipeline %.1f × as much", drainCPU/v))
			}
			if pc, err := r.runGet(runs, leastLadder, "server-cpu-µs/frame"); err == nil && errFloor == nil && floor > 0 {
				pc = round1(pc)
				why = append(why, fmt.Sprintf("with the peer's %.1f µs, %.1f × the floor, which counts both ends of a write", pc, (v+pc)/floor))
			}
			if len(why) > 0 {
				t += " (" + strings.Join(why, "; ") + ")"
			}
			t += " and"
		}
		s = append(s, t+" holds "+held(runs, n, all)+".")
	}
	if v, err := r.scaleGet("server", leastLadder, "heap+stack-KiB/stream"); err == nil {
		s = append(s, fmt.Sprintf("At %s streams against the reference server the client holds %s KiB of heap and stacks per stream.", spaced(leastLadder), spaced(int(math.Round(v)))))
	}
	if errFloor == nil && floor > 0 && p.cores > 0 {
		t := fmt.Sprintf("The ceiling on this machine: %d cores ÷ (31.25 frames/s × %.1f µs) = %s streams, if the client cost only the floor and had the cores to itself",
			p.cores, floor, spaced(roundSig(ceiling(p.cores, floor), 3)))
		if errDrain == nil && drainCPU > 0 {
			t += fmt.Sprintf("; at the %.1f µs per frame measured at %s streams against the drain-only peer, %s streams", drainCPU, spaced(leastLadder), spaced(roundSig(ceiling(p.cores, drainCPU), 3)))
		}
		s = append(s, t+".")
	}
	return strings.Join(s, " ")
}

// held says how many streams of runs held, as [results.capacity] found
// them.
func held(runs []scaleRun, n int, all bool) string {
	switch {
	case all:
		return "every count tried, up to " + spaced(n)
	case n == 0:
		return "fewer than " + spaced(runs[0].n) + " streams"
	}
	return spaced(n) + " streams"
}

// round1 rounds v to one decimal, as %.1f prints it.
func round1(v float64) float64 {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', 1, 64), 64)
	return r
}

// roundSig rounds v to digits significant digits.
func roundSig(v float64, digits int) int {
	if v <= 0 {
		return 0
	}
	e := math.Pow(10, math.Floor(math.Log10(v))+1-float64(digits))
	if e < 1 {
		e = 1
	}
	return int(math.Round(v/e) * e)
}

// spaced writes n with its thousands apart: 10 000.
func spaced(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + " " + s[i:]
	}
	return s
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

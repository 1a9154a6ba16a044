package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// wavFile writes 16-bit PCM, interleaved for channels, as a WAV file in
// dir and returns its path.
func wavFile(t testing.TB, dir, name string, pcm []byte, rate, channels int) string {
	t.Helper()
	var b bytes.Buffer
	put := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	put(uint32(36 + len(pcm)))
	b.WriteString("WAVEfmt ")
	put(uint32(16))
	put(uint16(1))
	put(uint16(channels))
	put(uint32(rate))
	put(uint32(rate * channels * 2))
	put(uint16(channels * 2))
	put(uint16(16))
	b.WriteString("data")
	put(uint32(len(pcm)))
	b.Write(pcm)
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// interleave makes stereo 16-bit PCM of two mono signals, the shorter one
// padded with silence.
func interleave(left, right []byte) []byte {
	n := max(len(left), len(right)) / 2
	out := make([]byte, 4*n)
	for i := range n {
		if 2*i+1 < len(left) {
			copy(out[4*i:], left[2*i:2*i+2])
		}
		if 2*i+1 < len(right) {
			copy(out[4*i+2:], right[2*i:2*i+2])
		}
	}
	return out
}

// TestBatch streams 20 files of 3 s, 4 at a time, and a corrupt one: every
// transcript is written beside -out-dir, the corrupt file is reported and
// gives the exit code, two files of the same name keep their directories,
// and the wall time stays within 1.15 × ⌈20/4⌉ × (3 s + 2 s).
func TestBatch(t *testing.T) {
	t.Parallel()
	clip := readSpeech(t)[:3*32000] // the first segment, 0.3–2.05 s
	dir, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	args := []string{"-local", "-quiet", "-j", "4", "-out-dir", out}
	var want []string
	for i := range 20 {
		name := fmt.Sprintf("call-%02d.wav", i)
		switch i {
		case 3:
			name = "a/same.wav"
		case 4:
			name = "b/same.wav"
		}
		args = append(args, wavFile(t, dir, name, clip, 16000, 1))
		want = append(want, strings.TrimSuffix(name, ".wav")+".txt")
	}
	bad := filepath.Join(dir, "bad.wav")
	if err := os.WriteFile(bad, []byte("RIFF\x10\x00\x00\x00WAVEjunkjunkjunk"), 0o644); err != nil {
		t.Fatal(err)
	}
	args = append(args[:10], append([]string{bad}, args[10:]...)...)

	begun := time.Now()
	r := runCLI(t, context.Background(), nil, args...)
	wall := time.Since(begun)
	if r.code != exitUsage {
		t.Fatalf("exit %d, want %d (the corrupt file); stderr:\n%s", r.code, exitUsage, r.stderr)
	}
	for _, s := range []string{"21 file(s): 20 done, 1 failed", "failed: " + bad + " (exit 2): "} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
	for _, name := range want {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "[segment 0: ") {
			t.Errorf("%s holds %q, want one transcript", name, b)
		}
	}
	// The bound, 1.15 × ⌈20/4⌉ × (3 s + 2 s), is measured by
	// BenchmarkBatch on a quiet machine; here only that the files run
	// 4 at a time: one at a time would take 20 × 4.8 s.
	target := 5 * (3*time.Second + 2*time.Second) * 115 / 100
	t.Logf("20 files of 3 s, -j 4: %v (the benchmark's target %v)", wall.Round(time.Millisecond), target)
	if wall > 2*target {
		t.Errorf("the batch took %v, more than twice %v: are the files streamed 4 at a time?", wall, target)
	}
}

// TestOutputNames: an input's transcript takes its name, and as many of
// its directories as set it apart from another of the same name.
func TestOutputNames(t *testing.T) {
	for _, tt := range []struct{ in, want []string }{
		{[]string{"calls/a.wav", "x/one/b.m4a", "y/one/b.m4a", "c.wav", "c.mp3", "../up/d.wav", "/abs/e.flac", "-"},
			[]string{"out/a.srt", "out/x/one/b.srt", "out/y/one/b.srt", "out/c.wav.srt", "out/c.mp3.srt", "out/d.srt", "out/e.srt", "out/stdin.srt"}},
		{[]string{"x.wav", "x.mp3", "x.wav.mp3"}, []string{"out/x.wav.srt", "out/x.mp3.srt", "out/x.wav-2.srt"}},
		{[]string{"../x.wav", "x.wav", "../../x.wav"}, []string{"out/x.wav.srt", "out/x.wav-2.srt", "out/x.wav-3.srt"}},
	} {
		if got := outputNames(tt.in, "out", ".srt"); !slices.Equal(got, tt.want) {
			t.Errorf("%q: got %q, want %q", tt.in, got, tt.want)
		}
	}
	r := runCLI(t, context.Background(), nil, "-local", "-out-dir", t.TempDir(), "a.wav", "./a.wav")
	if r.code != exitUsage || !strings.Contains(r.stderr, "a.wav and ./a.wav are the same file: give each INPUT once") {
		t.Fatalf("the same input twice: exit %d, %s", r.code, r.stderr)
	}
}

// TestSplitChannels streams a stereo call with different speech on each
// channel: split, it gives the two channels' transcripts labelled and in
// time order (text and JSON); mixed to mono, the four transcripts of
// today.
func TestSplitChannels(t *testing.T) {
	t.Parallel()
	speech := readSpeech(t)
	at := func(s float64) int { return int(math.Round(s*16000)) * 2 }
	left := speech[:at(6.6)]                                                       // segments 0 and 1
	right := append(make([]byte, at(6.6)), speech[at(7):]...)                      // segments 2 and 3, after the agent
	path := wavFile(t, t.TempDir(), "call.wav", interleave(left, right), 16000, 2) // 15.1 s
	t.Run("text", func(t *testing.T) {
		t.Parallel()
		r := runCLI(t, context.Background(), nil, "-local", "-channels", "split", "-channel-names", "agent,customer", "-timestamps", path)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		want := []string{"[00:00.3] agent: [segment 0: ", "[00:03.1] agent: [segment 1: ", "[00:07.1] customer: [segment 0: ", "[00:11.7] customer: [segment 1: "}
		if len(lines) != len(want) {
			t.Fatalf("got %q, want lines beginning %q", lines, want)
		}
		for i := range want {
			if !strings.HasPrefix(lines[i], want[i]) {
				t.Errorf("line %d: %q, want it to begin %q", i, lines[i], want[i])
			}
		}
	})
	t.Run("json", func(t *testing.T) {
		t.Parallel()
		r := runCLI(t, context.Background(), nil, "-local", "-pace=false", "-channels", "split", "-channel-names", "agent,customer", "-json", path)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		perChannel := map[int]int{}
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			var ev struct {
				Type          string
				ClientChannel *int   `json:"client_channel"`
				Name          string `json:"client_channel_name"`
				Start         int64  `json:"client_start_ms"`
				End           int64  `json:"client_end_ms"`
			}
			if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.ClientChannel == nil || ev.Name != []string{"agent", "customer"}[*ev.ClientChannel] {
				t.Fatalf("line %q: %v, or no client_channel and its name", line, err)
			}
			if ev.Type == "transcript" {
				perChannel[*ev.ClientChannel]++
				if ev.End <= ev.Start {
					t.Errorf("transcript without times: %s", line)
				}
			}
		}
		if perChannel[0] != 2 || perChannel[1] != 2 {
			t.Fatalf("transcripts per channel %v, want 2 and 2", perChannel)
		}
	})
	t.Run("raw", func(t *testing.T) {
		t.Parallel()
		r := runCLI(t, context.Background(), interleave(left, right), "-local", "-pace=false", "-in-channels", "2", "-channels", "split", "-timestamps", "-")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		if got := strings.Count(r.stdout, "Channel 1: "); got != 2 || strings.Count(r.stdout, "Channel 2: ") != 2 {
			t.Fatalf("raw stereo split: want two transcripts per channel:\n%s", r.stdout)
		}
	})
	t.Run("mixed", func(t *testing.T) {
		t.Parallel()
		r := runCLI(t, context.Background(), nil, "-local", "-pace=false", path)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		if n := countTranscripts(t, r.stdout); n != 4 {
			t.Fatalf("mixed to mono: %d transcripts, want 4:\n%s", n, r.stdout)
		}
	})
}

// TestBatchInterrupted: the first interrupt lets the open inputs finish
// cleanly (their transcripts so far written, their sessions closed
// normally) and starts no more; the exit code is 130 and the summary says
// what was not started.
func TestBatchInterrupted(t *testing.T) {
	t.Parallel()
	speech := readSpeech(t)
	dir, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	srv := startServer(t, cliServices[0], nil)
	args := []string{"-url", cliServices[0].serverURL(srv), "-key", secretKey, "-j", "2", "-out-dir", out}
	for i := range 3 {
		args = append(args, wavFile(t, dir, fmt.Sprintf("f%d.wav", i), speech, 16000, 1))
	}
	stop, interrupt := context.WithCancel(context.Background())
	time.AfterFunc(2500*time.Millisecond, interrupt) // after segment 0 ended (2.06 s)
	clearEnv(t)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), stop, args, nil, &stdout, &stderr)
	if code := exitCode(err); code != exitInterrupted {
		t.Fatalf("exit %d (%v): %s", code, err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "3 file(s): 0 done, 0 failed, 2 stopped early (interrupted; their transcripts so far are written), 1 not started (interrupted)") {
		t.Errorf("summary:\n%s", stderr.String())
	}
	for i := range 2 {
		// What was read ahead of the stop (up to 2 s) is sent too.
		b, err := os.ReadFile(filepath.Join(out, fmt.Sprintf("f%d.txt", i)))
		if err != nil || !strings.HasPrefix(string(b), wantTranscripts[0]+"\n") || strings.Contains(string(b), "segment 2") {
			t.Errorf("f%d.txt: %q (%v), want the first segment's transcript, and the second's at most", i, b, err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "f2.txt")); err == nil {
		t.Error("f2.txt was written: the interrupt started another input")
	}
	reps := waitReports(t, srv, 2)
	for _, rep := range reps {
		if rep.CloseCode != 1000 {
			t.Errorf("a session ended with %d, not normally", rep.CloseCode)
		}
	}
}

// BenchmarkBatch streams 20 files of 3 s, 4 at a time, to the local server
// and reports the wall time as a ratio to the bound, ⌈20/4⌉ ×
// (3 s + 2 s): at most 1.15 is the target. Run it on a quiet machine:
//
//	go test -run '^$' -bench Batch -benchtime 1x ./cmd/vachana-pipe
func BenchmarkBatch(b *testing.B) {
	clip := readSpeech(b)[:3*32000]
	dir := b.TempDir()
	var files []string
	for i := range 20 {
		files = append(files, wavFile(b, dir, fmt.Sprintf("call-%02d.wav", i), clip, 16000, 1))
	}
	bound := 5 * (3*time.Second + 2*time.Second)
	for b.Loop() {
		out := filepath.Join(b.TempDir(), "out")
		var stdout, stderr bytes.Buffer
		begun := time.Now()
		err := run(context.Background(), context.Background(), append([]string{"-local", "-quiet", "-j", "4", "-out-dir", out}, files...), nil, &stdout, &stderr)
		wall := time.Since(begun)
		if err != nil {
			b.Fatalf("%v: %s", err, stderr.String())
		}
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(wall.Seconds()/bound.Seconds(), "wall/bound")
	}
}

// TestJoinWorst: a job's error says what went wrong on every channel, with
// the worst exit code.
func TestJoinWorst(t *testing.T) {
	lost := withCode(exitStream, errors.New("Channel 1: the session was lost"))
	refused := withCode(exitConnect, errors.New("Channel 2: the key was refused"))
	err := joinWorst(nil, lost, refused)
	if exitCode(err) != exitStream || !strings.Contains(err.Error(), "Channel 1: the session was lost") || !strings.Contains(err.Error(), "Channel 2: the key was refused") {
		t.Fatalf("exit %d, %q", exitCode(err), err)
	}
	if err := joinWorst(nil, refused); err != refused {
		t.Fatalf("one error: %v, want it as it is", err)
	}
	if err := joinWorst(nil, nil); err != nil {
		t.Fatalf("no error: %v", err)
	}
	if err := joinWorst(lost, withCode(exitInterrupted, errors.New("interrupted"))); exitCode(err) != exitInterrupted {
		t.Fatalf("an interrupt: exit %d", exitCode(err))
	}
}

// TestOutDirNotWritable: a transcript that cannot be created fails its
// input (exit 2), saying why; it is not counted as done.
func TestOutDirNotWritable(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	in := wavFile(t, dir, "a.wav", readSpeech(t)[:32000], 16000, 1)
	r := runCLI(t, context.Background(), nil, "-local", "-pace=false", "-out-dir", filepath.Join(blocker, "out"), in)
	if r.code != exitUsage || !strings.Contains(r.stderr, "-out-dir: cannot make the directory for") || !strings.Contains(r.stderr, "1 file(s): 0 done, 1 failed") {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
}

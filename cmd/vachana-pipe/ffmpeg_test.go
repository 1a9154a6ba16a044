package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// needFFmpeg returns the path of ffmpeg, or skips the test where it is not
// installed.
func needFFmpeg(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg is not installed (apt-get install ffmpeg): the decoding through ffmpeg is not tested")
	}
	return path
}

// encode makes dir/name from the speech sample with ffmpeg, which picks
// the codec by the name; extra comes before the output name.
func encode(t *testing.T, ffmpeg, dir, name string, extra ...string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append([]string{"-nostdin", "-loglevel", "error", "-y", "-f", "s16le", "-ar", "16000", "-ac", "1", "-i", speechFile}, extra...)
	if b, err := exec.CommandContext(ctx, ffmpeg, append(args, out)...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg making %s: %v\n%s", name, err, b)
	}
	return out
}

// TestFFmpegDecodes: a compressed file is decoded through ffmpeg, with the
// user's flags: FLAC (lossless) gives the very frames the raw sample gives,
// MP3 the same transcripts, whether the name or the first bytes say it is
// compressed; -format raw is taken at its word.
func TestFFmpegDecodes(t *testing.T) {
	ffmpeg := needFFmpeg(t)
	dir := t.TempDir()
	flac := encode(t, ffmpeg, dir, "speech.flac")
	mp3 := encode(t, ffmpeg, dir, "speech.mp3")
	unnamed := filepath.Join(dir, "speech.bin") // an MP3 (ID3 tag first) by its bytes only
	if b, err := os.ReadFile(mp3); err != nil || !bytes.HasPrefix(b, []byte("ID3")) {
		t.Fatalf("no MP3 with an ID3 tag made (%v)", err)
	} else if err := os.WriteFile(unnamed, b, 0o644); err != nil {
		t.Fatal(err)
	}

	want := runCLI(t, context.Background(), nil, "-o", "-", "-tail-silence", "0", speechFile)
	got := runCLI(t, context.Background(), nil, "-o", "-", "-tail-silence", "0", flac)
	if got.code != 0 || want.code != 0 {
		t.Fatalf("exit %d (%s), %d (%s)", got.code, got.stderr, want.code, want.stderr)
	}
	if got.stdout != want.stdout {
		t.Fatalf("the FLAC gave %d bytes of frames, the raw sample %d: they differ", len(got.stdout), len(want.stdout))
	}

	for _, name := range []string{mp3, unnamed} {
		t.Run(filepath.Base(name), func(t *testing.T) {
			r := runCLI(t, context.Background(), nil, "-local", "-pace=false", "-stats", name)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			checkTranscripts(t, r.stdout)
			if !strings.Contains(r.stderr, "WAV, s16le, 16000 Hz, 1 channel(s)") {
				t.Errorf("the stats do not show ffmpeg's WAV:\n%s", r.stderr)
			}
		})
	}

	// -format raw: the MP3's bytes are streamed as they are.
	r := runCLI(t, context.Background(), nil, "-o", "-", "-tail-silence", "0", "-format", "raw", mp3)
	if b, _ := os.ReadFile(mp3); r.code != 0 || !strings.HasPrefix(r.stdout, string(b[:1024])) {
		t.Fatalf("-format raw: exit %d (%s): the file was not read as raw", r.code, r.stderr)
	}
	checkNoFFmpegChild(t)
}

// TestFFmpegFails: a file ffmpeg cannot decode is bad input (exit 2), and
// the error names the file and quotes ffmpeg.
func TestFFmpegFails(t *testing.T) {
	needFFmpeg(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "x.mp3")
	if err := os.WriteFile(bad, []byte("this is not audio at all, only words in a file named .mp3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	id3 := filepath.Join(dir, "song.bin")
	if err := os.WriteFile(id3, []byte("ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, msg string }{
		{bad, "x.mp3: ffmpeg failed (exit status 1): "},
		{id3, "song.bin: ffmpeg failed (exit status 1): "},
	} {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			r := runCLI(t, context.Background(), nil, "-o", filepath.Join(dir, "out.raw"), tt.path)
			if r.code != 2 || !strings.Contains(r.stderr, tt.msg) || !strings.Contains(r.stderr, "file:"+tt.path) {
				t.Fatalf("exit %d, stderr %q; want 2, %q and ffmpeg's message", r.code, r.stderr, tt.msg)
			}
		})
	}
	checkNoFFmpegChild(t)
}

// TestFFmpegMissing: without ffmpeg, a compressed file is refused with how
// to install it or convert the file; raw and WAV files do not need it.
func TestFFmpegMissing(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PATH", t.TempDir()) // nothing there
	mp3 := filepath.Join(dir, "song.mp3")
	if err := os.WriteFile(mp3, []byte("\xff\xfb\x90\x00 an MP3 frame header, no ID3 tag"), 0o644); err != nil {
		t.Fatal(err)
	}
	flac := filepath.Join(dir, "talk.data")
	if err := os.WriteFile(flac, []byte("fLaC\x00\x00\x00\x22\x00\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, msg string }{
		{mp3, "song.mp3: the input is a .mp3 file, which vachana-pipe decodes through ffmpeg, but ffmpeg is not installed: install it (e.g. apt-get install ffmpeg), or convert the file to WAV first (ffmpeg -i " + mp3 + " " + filepath.Join(dir, "song.wav") + ")"},
		{flac, "talk.data: the input is a FLAC file, which vachana-pipe decodes through ffmpeg, but ffmpeg is not installed"},
	} {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			r := runCLI(t, context.Background(), nil, "-o", filepath.Join(dir, "out.raw"), tt.path)
			if r.code != 2 || !strings.Contains(r.stderr, tt.msg) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tt.msg)
			}
		})
	}
	// From a pipe, ffmpeg or not, the user is told to name the file or
	// pipe WAV in, keeping their flags.
	r := runCLI(t, context.Background(), []byte("ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00junk"), "-o", filepath.Join(dir, "out.raw"), "-")
	if want := "stdin: the input looks like an MP3 file, not WAV or raw PCM: vachana-pipe decodes such audio through ffmpeg from a file, not from a pipe"; r.code != 2 || !strings.Contains(r.stderr, want) {
		t.Fatalf("MP3 on stdin: exit %d, stderr %q; want 2 and %q", r.code, r.stderr, want)
	}
	if r := runCLI(t, context.Background(), nil, "-o", filepath.Join(dir, "out.raw"), speechFile); r.code != 0 {
		t.Fatalf("raw input without ffmpeg: exit %d: %s", r.code, r.stderr)
	}
}

// TestFFmpegGracefulStop: a stop while ffmpeg is still decoding (the
// paced stream reads far behind it, so it is blocked on a full pipe) ends
// the run as for any input, with the transcripts of what was read and 130,
// and ffmpeg is killed and reaped.
func TestFFmpegGracefulStop(t *testing.T) {
	ffmpeg := needFFmpeg(t)
	mp3 := encode(t, ffmpeg, t.TempDir(), "speech.mp3")
	stop, interrupt := context.WithCancel(context.Background())
	time.AfterFunc(2500*time.Millisecond, interrupt) // after segment 0 ended (2.06 s)
	clearEnv(t)
	var stdout, stderr bytes.Buffer
	start := time.Now()
	err := run(context.Background(), stop, []string{"-local", "-stats", mp3}, nil, &stdout, &stderr)
	if code := exitCode(err); code != 130 {
		t.Fatalf("exit %d (%v): %s", code, err, stderr.String())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v: the stop did not end the input", d)
	}
	// What was read before the stop (the pipeline reads ahead of the
	// cadence) is sent: the first segment, maybe the start of the second.
	if got := strings.Split(strings.TrimSpace(stdout.String()), "\n"); got[0] != wantTranscripts[0] || len(got) > 2 {
		t.Fatalf("transcripts %q, want the first segment's and at most the start of the second", got)
	}
	if !strings.Contains(stderr.String(), "32 tail silence frames") {
		t.Fatalf("no stats or no tail:\n%s", stderr.String())
	}
	checkNoFFmpegChild(t)
}

// checkNoFFmpegChild fails if this process has an ffmpeg child, running or
// a zombie not waited for (Linux; elsewhere it checks nothing).
func checkNoFFmpegChild(t *testing.T) {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	if len(stats) == 0 {
		return
	}
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		s := string(b)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < open {
			continue
		}
		f := strings.Fields(s[close+1:])
		if len(f) < 2 || s[open+1:close] != "ffmpeg" {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == os.Getpid() {
			t.Errorf("an ffmpeg child (%s, state %s) is left after the run", strings.TrimSpace(s[:open]), f[0])
		}
	}
}

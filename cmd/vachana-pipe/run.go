package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/pipeline"
	"github.com/vachana-pipe/vachana-pipe/resample"
	"github.com/vachana-pipe/vachana-pipe/sink"
	"github.com/vachana-pipe/vachana-pipe/source"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
)

var errHelp = flag.ErrHelp

const usageText = `Usage:
  vachana-pipe [flags] [INPUT]    stream INPUT (a path, or - or nothing for stdin)
  vachana-pipe serve [flags]      run the local reference server

Streams audio to Gnani's Vachana realtime speech-to-text (v3) in frames of
exactly 1024 bytes at real-time cadence, and prints each transcript on a line.
INPUT is a WAV file (PCM 8/16/24/32-bit, float, µ-law, A-law, any channels;
streamed WAV from a pipe too) or raw PCM described by -in-encoding, -in-rate
and -in-channels, at any rate: it is mixed to mono and resampled to -rate
with libsoxr. Anything else goes through ffmpeg first:
  ffmpeg -i in.mp3 -f s16le -ac 1 -ar 16000 - | vachana-pipe

Flags:
`

const exitText = `
Environment:
  GNANI_API_KEY   the API key, when -key is not given
  VACHANA_URL     the endpoint, when -url is not given

Interrupts:
  The first Ctrl-C or SIGTERM stops reading, sends the tail silence, waits
  for outstanding transcripts, closes normally, prints the stats and exits
  130; a second one exits at once.

Exit codes:
  0 ok; 2 bad usage or bad input; 3 could not connect or the handshake was
  rejected (HTTP status, TLS, no connected event); 4 the stream failed (the
  session was lost and could not be replaced, the server stopped reading,
  transcripts still missing at the drain limit, writing -o failed);
  130 interrupted.
`

// pacing is the -pace flag: on or off, or unset (then on for the network,
// off for -o).
type pacing struct{ set, on bool }

func (p *pacing) String() string {
	if !p.set {
		return "auto"
	}
	return fmt.Sprint(p.on)
}

func (p *pacing) Set(s string) error {
	switch s {
	case "true", "1", "on":
		p.on = true
	case "false", "0", "off":
		p.on = false
	default:
		return fmt.Errorf("want true or false")
	}
	p.set = true
	return nil
}

func (p *pacing) IsBoolFlag() bool { return true }

type config struct {
	url, key, lang  string
	rate            int
	json            bool
	out             string
	pace            pacing
	tail, drain     time.Duration
	stats, local    bool
	quiet, insecure bool
	version         bool
	input           string
	format          source.Container
	inEncoding      source.Encoding
	inRate, inChans int
	quality         resample.Quality
	reconnects      int
	replay, stall   time.Duration
	connectTimeout  time.Duration
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("vachana-pipe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.url, "url", "", "service endpoint (env VACHANA_URL; default "+transport.DefaultURL+")")
	fs.StringVar(&c.key, "key", "", "API key (env GNANI_API_KEY); never printed")
	fs.StringVar(&c.lang, "lang", transport.DefaultLang, "language code: bn-IN en-IN gu-IN hi-IN kn-IN ml-IN mr-IN pa-IN ta-IN te-IN …")
	fs.IntVar(&c.rate, "rate", 16000, "sample rate of the stream: 8000, 16000, 44100 or 48000; input at another rate is resampled")
	quality := fs.String("quality", "high", "resampling quality: quick, low, medium, high or very-high")
	fs.BoolVar(&c.json, "json", false, "print every server event as one JSON object per line (as received, compacted; client_session and client_segment added to processing and transcript)")
	fs.StringVar(&c.out, "o", "", "write the frames to this file (- for stdout) instead of connecting")
	fs.Var(&c.pace, "pace", "send frames at real-time cadence (default on when connecting, off with -o)")
	fs.DurationVar(&c.tail, "tail-silence", pipeline.DefaultTailSilence, "silence sent after the input so the last segment ends (0 for none)")
	fs.DurationVar(&c.drain, "drain-timeout", pipeline.DefaultDrainTimeout, "how long to wait for outstanding transcripts after the last frame")
	fs.IntVar(&c.reconnects, "reconnects", pipeline.DefaultReconnects, "reconnections in a row after a lost session, replaying unfinished audio (0 for none)")
	fs.DurationVar(&c.replay, "replay", pipeline.DefaultReplay, "audio kept for replay to a new session")
	fs.DurationVar(&c.stall, "stall-timeout", pipeline.DefaultStallTimeout, "fail when a frame cannot be sent for this long (the server stopped reading)")
	fs.DurationVar(&c.connectTimeout, "connect-timeout", 15*time.Second, "limit for connecting, and each reconnection, up to the server's connected event")
	fs.BoolVar(&c.stats, "stats", false, "print a summary on stderr at the end: frames, bytes, padding, cadence, segments, latency")
	fs.BoolVar(&c.local, "local", false, "start the local reference server in-process and stream to it (no key, no network)")
	fs.BoolVar(&c.quiet, "quiet", false, "print no progress line and no warnings on stderr (errors still)")
	fs.BoolVar(&c.insecure, "insecure", false, "allow sending the key over plain ws:// to a host that is not loopback")
	fs.BoolVar(&c.version, "version", false, "print the version and exit")
	format := fs.String("format", "auto", "input format: auto (WAV if it starts with a RIFF header, raw otherwise), wav or raw")
	inEnc := fs.String("in-encoding", "s16le", "raw input sample encoding: "+source.EncodingNames)
	fs.IntVar(&c.inRate, "in-rate", 0, "raw input sample rate in Hz (default: the -rate)")
	fs.IntVar(&c.inChans, "in-channels", 1, "raw input channels, down-mixed to mono")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), exitText)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, withCode(exitOK, errHelp)
		}
		return nil, withCode(exitUsage, printedError{err}) // flag has printed the problem and the usage
	}
	switch fs.NArg() {
	case 0:
	case 1:
		c.input = fs.Arg(0)
	default:
		// Never echo the arguments: a flag after INPUT may be -key's value.
		for _, a := range fs.Args()[1:] {
			if strings.HasPrefix(a, "-") && len(a) > 1 {
				return nil, withCode(exitUsage, fmt.Errorf("flag %s comes after INPUT %q: flags go before INPUT", strings.SplitN(a, "=", 2)[0], fs.Arg(0)))
			}
		}
		return nil, withCode(exitUsage, fmt.Errorf("one INPUT at most, got %d arguments", fs.NArg()))
	}
	var err error
	if c.format, err = source.ParseContainer(*format); err != nil {
		return nil, withCode(exitUsage, fmt.Errorf("-format: %s", strings.TrimPrefix(err.Error(), "source: ")))
	}
	if c.quality, err = resample.ParseQuality(*quality); err != nil {
		return nil, withCode(exitUsage, fmt.Errorf("-quality: %s", strings.TrimPrefix(err.Error(), "resample: ")))
	}
	if c.inEncoding, err = source.ParseEncoding(*inEnc); err != nil {
		return nil, withCode(exitUsage, fmt.Errorf("-in-encoding: %s", strings.TrimPrefix(err.Error(), "source: ")))
	}
	if c.inRate == 0 {
		c.inRate = c.rate
	}
	if err := (source.Format{Encoding: c.inEncoding, Rate: c.inRate, Channels: c.inChans}).Validate(); err != nil {
		return nil, withCode(exitUsage, fmt.Errorf("-in-rate/-in-channels: %v", err))
	}
	if err := frame.Rate(c.rate).Check(); err != nil {
		return nil, withCode(exitUsage, fmt.Errorf("-rate %d: not accepted by the service; use 8000, 16000, 44100 or 48000", c.rate))
	}
	if c.tail < 0 || c.drain <= 0 || c.replay <= 0 || c.stall <= 0 || c.connectTimeout <= 0 || c.reconnects < 0 {
		return nil, withCode(exitUsage, errors.New("-tail-silence must be ≥ 0, -reconnects ≥ 0, and -drain-timeout, -replay, -stall-timeout, -connect-timeout > 0"))
	}
	if c.reconnects == 0 {
		c.reconnects = -1 // pipeline: negative means none
	}
	if c.out != "" && c.local {
		return nil, withCode(exitUsage, errors.New("-o and -local exclude each other: -o writes frames instead of connecting"))
	}
	if c.url == "" {
		c.url = os.Getenv("VACHANA_URL")
	}
	if c.url == "" {
		c.url = transport.DefaultURL
	}
	if c.key == "" {
		c.key = os.Getenv("GNANI_API_KEY")
	}
	if u, err := url.Parse(c.url); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return nil, withCode(exitUsage, fmt.Errorf("-url %s: not a ws:// or wss:// URL", transport.Redact(c.url)))
	}
	return c, nil
}

// run is the command. ctx aborts it at once; stop (the first SIGINT or
// SIGTERM) ends it gracefully: the input stops, the tail silence is sent,
// transcripts are drained, the session is closed normally, the stats are
// printed, and the exit code is 130.
func run(ctx, stop context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "serve" {
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(stop, cancel)()
		return serve(sctx, args[1:], stderr)
	}
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if c.version {
		fmt.Fprintf(stdout, "vachana-pipe %s\n", transport.Version)
		return nil
	}
	con := &console{stdout: stdout, stderr: stderr, quiet: c.quiet, progress: !c.quiet && isTerminal(stderr)}

	in, name, closeIn, err := openInput(c.input, stdin)
	if err != nil {
		return withCode(exitUsage, err)
	}
	defer closeIn()
	// Reading the header can block on a quiet pipe: an interrupt must
	// still end it.
	sniffDone := func() bool { return true }
	if d, ok := in.(interface{ SetReadDeadline(time.Time) error }); ok {
		sniffDone = context.AfterFunc(stop, func() { d.SetReadDeadline(time.Unix(1, 0)) })
	}
	src, err := source.NewReader(in, source.Options{
		Container: c.format,
		Raw:       source.Format{Encoding: c.inEncoding, Rate: c.inRate, Channels: c.inChans},
	})
	if !sniffDone() || ctx.Err() != nil {
		return withCode(exitInterrupted, errors.New("interrupted before any audio was read"))
	}
	if err != nil {
		return withCode(exitUsage, inputError(name, err))
	}

	opts := &pipeline.Options{
		Rate:           frame.Rate(c.rate),
		InputRate:      src.Format().Rate,
		Quality:        c.quality,
		TailSilence:    c.tail,
		DrainTimeout:   c.drain,
		OnWarning:      con.warn,
		Stop:           stop.Done(),
		Reconnects:     c.reconnects,
		Replay:         c.replay,
		StallTimeout:   c.stall,
		ConnectTimeout: c.connectTimeout,
	}
	if c.tail == 0 {
		opts.TailSilence = -1
	}
	if con.progress {
		opts.OnProgress = func(frames, transcripts int64) {
			con.showProgress(frame.Rate(c.rate).D(frames*frame.Samples), transcripts)
		}
	}

	var dst pipeline.Sink
	var srv *refserver.Server
	switch {
	case c.out != "":
		opts.Unpaced = !(c.pace.set && c.pace.on)
		w, closeOut, err := createOutput(c.out, stdout)
		if err != nil {
			return withCode(exitUsage, err)
		}
		defer closeOut()
		dst = sink.NewFile(w)
	default:
		opts.Unpaced = c.pace.set && !c.pace.on
		if c.local {
			srv, err = refserver.Start(nil)
			if err != nil {
				return withCode(exitFailure, fmt.Errorf("starting the local reference server: %w", err))
			}
			defer srv.Close()
			c.url = srv.URL
			if c.key == "" {
				c.key = "local"
			}
		}
		if c.key == "" {
			return withCode(exitUsage, errors.New("no API key: set GNANI_API_KEY or pass -key (or try -local to use the built-in reference server)"))
		}
		if err := checkPlaintext(c.url, c.insecure); err != nil {
			return withCode(exitUsage, err)
		}
		opts.OnEvent = con.eventPrinter(c.json)
		dctx, cancel := context.WithTimeout(ctx, c.connectTimeout)
		stopDial := context.AfterFunc(stop, cancel)
		ws, err := sink.Dial(dctx, transport.Config{
			URL:        c.url,
			APIKey:     c.key,
			Lang:       c.lang,
			SampleRate: frame.Rate(c.rate),
		})
		stopDial()
		cancel()
		if err != nil {
			if ctx.Err() != nil || stop.Err() != nil {
				return withCode(exitInterrupted, errors.New("interrupted while connecting"))
			}
			return withCode(exitConnect, err)
		}
		dst = ws
	}

	stats, runErr := pipeline.Run(ctx, src, dst, opts)
	con.endProgress()
	if c.stats {
		kind := "raw"
		if src.WAV() != nil {
			kind = "WAV"
		}
		conv := "no resampling"
		if r := src.Format().Rate; r != c.rate {
			conv = fmt.Sprintf("resampled %d → %d Hz, %s quality", r, c.rate, c.quality)
		}
		fmt.Fprintf(stderr, "source:      %s (%s, %v; %s)\n%s", name, kind, src.Format(), conv, stats)
		if srv != nil {
			wctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if reps, err := srv.WaitReports(wctx, 1); err == nil {
				fmt.Fprintf(stderr, "server saw:  %s\n", reps[0])
			}
			cancel()
		}
	}
	if runErr == nil {
		// The audio that was there has been streamed; now say what was
		// wrong with the end of the input.
		if err := src.Err(); errors.Is(err, source.ErrTruncated) {
			return withCode(exitUsage, inputError(name, err))
		} else if err != nil {
			con.warn(inputError(name, err))
		}
	}
	return classify(ctx, runErr)
}

// inputError names the input in a source error.
func inputError(name string, err error) error {
	return fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "source: "))
}

// classify maps an error from pipeline.Run to an exit code.
func classify(ctx context.Context, err error) error {
	var ie *pipeline.InputError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil, errors.Is(err, pipeline.ErrStopped):
		return withCode(exitInterrupted, errors.New("interrupted"))
	case errors.As(err, &ie):
		return withCode(exitUsage, err)
	default:
		return withCode(exitStream, err)
	}
}

// openInput opens the named input, or stdin. When stdin is the process's own
// standard input it is opened through package source, so that a blocked read
// can be interrupted.
func openInput(name string, stdin io.Reader) (io.Reader, string, func(), error) {
	if name != "" && name != "-" || stdin == os.Stdin {
		in, err := source.Open(name)
		if err != nil {
			return nil, "", nil, err
		}
		if in.IsTerminal() {
			in.Close()
			return nil, "", nil, errors.New("no input: standard input is a terminal; give a file or pipe audio in, e.g. ffmpeg -i in.mp3 -f s16le -ac 1 -ar 16000 - | vachana-pipe")
		}
		return in, in.Name(), func() { in.Close() }, nil
	}
	return stdin, "stdin", func() {}, nil
}

func createOutput(name string, stdout io.Writer) (io.Writer, func(), error) {
	if name == "-" {
		return bufio.NewWriterSize(stdout, 64<<10), func() {}, nil
	}
	f, err := os.Create(name)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot create output file: %w", err)
	}
	return bufio.NewWriterSize(f, 64<<10), func() { f.Close() }, nil
}

// checkPlaintext refuses to send a key over unencrypted ws:// to anything but
// loopback, unless allowed.
func checkPlaintext(rawURL string, allow bool) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "ws" || allow {
		return nil // Dial reports malformed URLs
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("refusing to send the API key unencrypted to %s over ws://: use wss://, or pass -insecure if you really mean it", host)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// console serialises what the command prints: transcripts and events on
// stdout, warnings and the progress line on stderr.
type console struct {
	mu             sync.Mutex
	stdout, stderr io.Writer
	quiet          bool
	progress       bool
	shown          bool // a progress line is on screen
}

func (c *console) clearProgress() {
	if c.shown {
		fmt.Fprint(c.stderr, "\r\033[K")
		c.shown = false
	}
}

func (c *console) showProgress(audio time.Duration, transcripts int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.stderr, "\r%v sent, %d transcripts\033[K", audio.Round(100*time.Millisecond), transcripts)
	c.shown = true
}

func (c *console) endProgress() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clearProgress()
}

func (c *console) warn(err error) {
	if c.quiet {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clearProgress()
	fmt.Fprintf(c.stderr, "vachana-pipe: warning: %v\n", err)
}

// eventPrinter returns the OnEvent handler: every event as a JSON line, or
// the text of final transcripts, one per line, with server errors on stderr.
func (c *console) eventPrinter(jsonLines bool) func(transport.Event) {
	var line []byte
	return func(ev transport.Event) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.clearProgress()
		if jsonLines {
			line = appendCompact(line[:0], ev.Raw)
			if ev.Type == transport.Processing || ev.Type == transport.Transcript {
				line = appendNumbering(line, ev.Session, ev.Segment)
			}
			line = append(line, '\n')
			c.stdout.Write(line)
			return
		}
		switch {
		case ev.Type == transport.Transcript && ev.IsFinal:
			if text := strings.TrimSpace(ev.Text); text != "" {
				fmt.Fprintln(c.stdout, text)
			}
		case ev.Type == transport.Error:
			fmt.Fprintf(c.stderr, "vachana-pipe: server error: %s\n", ev.Message)
		}
	}
}

// appendNumbering adds the client's session and segment numbers to the JSON
// object that ends line: the server's segment_index restarts with every
// session, client_segment only grows.
func appendNumbering(line []byte, session, segment int) []byte {
	if len(line) < 2 || line[len(line)-1] != '}' {
		return line
	}
	line = line[:len(line)-1]
	if line[len(line)-1] != '{' {
		line = append(line, ',')
	}
	return fmt.Appendf(line, `"client_session":%d,"client_segment":%d}`, session, segment)
}

// appendCompact appends raw JSON to dst on one line. Input that is not valid
// JSON is appended as a JSON string, so every output line stays parseable.
func appendCompact(dst []byte, raw []byte) []byte {
	var b bytes.Buffer
	if json.Compact(&b, raw) == nil {
		return append(dst, b.Bytes()...)
	}
	q, _ := json.Marshal(string(raw))
	return append(dst, q...)
}

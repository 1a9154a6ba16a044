package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/pipeline"
	"github.com/vachana-pipe/vachana-pipe/pipeline/transcript"
	"github.com/vachana-pipe/vachana-pipe/resample"
	"github.com/vachana-pipe/vachana-pipe/source"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/aiola"
	"github.com/vachana-pipe/vachana-pipe/transport/sarvam"
	"github.com/vachana-pipe/vachana-pipe/transport/vachana"
)

var errHelp = flag.ErrHelp

const usageText = `Usage:
  vachana-pipe [flags] [INPUT]                  stream INPUT (a path, or - or nothing for stdin)
  vachana-pipe [flags] -out-dir DIR INPUT...    stream each INPUT, -j at a time, its transcript to DIR
  vachana-pipe serve [flags]                    run the local reference server

Streams audio to Gnani's Vachana realtime speech-to-text (v3), or with
-service sarvam to Sarvam AI's, or with -service aiola to aiOla's, in
frames of exactly 1024 bytes at real-time cadence, and prints each
transcript on a line.
INPUT is a WAV file (PCM 8/16/24/32-bit, float, µ-law, A-law, any channels;
streamed WAV from a pipe too) or raw PCM described by -in-encoding, -in-rate
and -in-channels, at any rate: it is mixed to mono (or split: -channels)
and resampled to -rate with libsoxr. A compressed file (MP3, M4A/MP4, AAC, FLAC, Ogg/Opus, WebM,
WMA: by its first bytes, or with -format auto by its name) is decoded
through ffmpeg when ffmpeg is installed, with the same flags. From a pipe,
convert first:
  ffmpeg -i in.mp3 -f s16le -ac 1 -ar 16000 - | vachana-pipe

Three flags that sound alike: -output is the transcript's format (text,
json, srt, vtt); -o sends the frames to a file instead of a service; -format
is the input's container (auto, wav, raw). Every final transcript carries
where its speech lies in the input, when known (-timestamps, -output json's
client_start_ms and client_end_ms, captions). -channels split streams each
channel of the input in its own session, at once, and labels the
transcripts (-channel-names agent,customer); a file gets them in time
order. Several INPUTs need -out-dir: each one's transcript goes to
DIR/<name>.txt, .json, .srt or .vtt; a failed INPUT does not stop the
others, and a summary ends the run.

Flags:
`

const exitText = `
Environment:
  GNANI_API_KEY   the Vachana API key, when neither -key nor -key-file is given
  VACHANA_URL     the Vachana endpoint, when -url is not given
  SARVAM_API_KEY  the Sarvam API key (-service sarvam)
  SARVAM_URL      the Sarvam endpoint (-service sarvam)
  AIOLA_API_KEY   the aiOla API key (-service aiola)
  AIOLA_API_URL   aiOla's API base (-service aiola)
  AIOLA_AUTH_URL  aiOla's auth base (-service aiola)

Services:
  vachana (default): binary frames; -lang default en-IN; -rate 8000, 16000,
    44100 or 48000.
  sarvam: JSON messages with base64 audio; -lang default unknown (the
    service detects it); -rate 16000 or 8000; -model, -mode and
    -high-vad-sensitivity are Sarvam's alone. While a live input gives no
    audio for 5s, silence is sent at cadence (Sarvam closes a connection
    after about 60s without audio); -stats counts it.
  aiola: Socket.IO; the key is exchanged for a token at -auth-url, and the
    auth session is deleted when the run ends (a second Ctrl-C still
    deletes it, waiting 2s at most), freeing the key's concurrency slot;
    -url is the API base (http:// only to loopback, or with -insecure);
    -rate 16000 only; chunks of 4 frames (128 ms); -lang default en;
    -workflow and -keywords are aiOla's alone. aiOla sends no segment ends:
    a transcript confirms the speech detected here before it, for the
    replay, and a transcript that does not come is warned about, not an
    error.

Interrupts:
  The first Ctrl-C or SIGTERM stops reading, sends the tail silence, waits
  for outstanding transcripts, closes normally, prints the stats and exits
  130 (with several INPUTs: every open one so, and no more begin); a second one aborts the run and exits (for aiOla after deleting the
  auth session, 2s at most; 4s at most in all, a third one exits at once).

Exit codes:
  0 ok; 2 bad usage or bad input; 3 could not connect or the handshake was
  rejected (HTTP status, TLS, a rejected key, aiOla's concurrency limit,
  no connected event); 4 the stream failed (the
  session was lost and could not be replaced, the server stopped reading,
  transcripts still missing at the drain limit, writing -o or the
  transcript failed); 130 interrupted. With several INPUTs or split
  channels, the worst: 130 over 4 over 3 over 2.
`

// config is what the flags and the environment ask for.
type config struct {
	service         *service
	url, key, lang  string
	model, mode     string            // Sarvam
	highVAD         bool              // Sarvam
	authURL         string            // aiOla
	workflow        string            // aiOla
	keywords        map[string]string // aiOla
	tailSet         bool              // -tail-silence was given; else the service's need
	rate            frame.Rate
	output          transcript.Format // -output (-json: JSON)
	timestamps      bool
	split           bool     // -channels split
	channelNames    []string // -channel-names
	inputs          []string // INPUT...; none for stdin
	jobs            int      // -j
	outDir          string   // -out-dir
	out             string
	paced           bool
	tail, drain     time.Duration
	stats, local    bool
	quiet, insecure bool
	version         bool
	format          source.Container
	inEncoding      source.Encoding
	inRate          frame.Rate
	inChans         int
	quality         resample.Quality
	reconnects      int // 0 for none
	replay, stall   time.Duration
	connectTimeout  time.Duration
	warnings        []error // to print on stderr unless -quiet
}

// connects reports whether the run connects to a service (the real one or
// the -local one) rather than writing the frames to -o.
func (c *config) connects() bool { return c.out == "" }

// textFlags holds the flags that are parsed into config after fs.Parse.
type textFlags struct {
	quality, format, inEncoding, keyFile, service string
	keywords                                      string // -keywords FILE
	output, channels, channelNames                string
	json                                          bool
	pace                                          pacing
}

// pacing is the -pace flag: on or off, or unset (then on when connecting,
// off with -o).
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

// parseConfig turns the arguments and the environment into a config. It
// reads nothing itself: getenv looks up an environment variable and
// readFile reads -key-file (os.Getenv and os.ReadFile in run). It writes
// only the usage, for -h, on stderr. Its errors carry exit code 2, or 0
// for -h ([errHelp]).
func parseConfig(args []string, getenv func(string) string, readFile func(string) ([]byte, error), stderr io.Writer) (*config, error) {
	c := &config{}
	var t textFlags
	fs := defineFlags(c, &t)
	if err := parseFlags(fs, args, stderr, usageText, exitText); err != nil {
		return nil, err
	}
	if err := c.complete(fs, &t, getenv, readFile); err != nil {
		return nil, withCode(exitUsage, err)
	}
	return c, nil
}

// complete checks the parsed flags and fills in what they leave to other
// flags and to the environment.
func (c *config) complete(fs *flag.FlagSet, t *textFlags, getenv func(string) string, readFile func(string) ([]byte, error)) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := c.setInput(fs.Args()); err != nil {
		return err
	}
	var err error
	if c.service, err = findService(t.service); err != nil {
		return err
	}
	if err := c.service.checkFlags(set); err != nil {
		return err
	}
	c.tailSet = set["tail-silence"]
	if !set["lang"] {
		c.lang = c.service.defaultLang
	}
	if err := c.parseText(t, set); err != nil {
		return err
	}
	if err := c.setOutput(t, set); err != nil {
		return err
	}
	if err := c.checkRanges(); err != nil {
		return err
	}
	if err := c.setEndpoint(getenv); err != nil {
		return err
	}
	if err := c.setKeywords(t.keywords, readFile); err != nil {
		return err
	}
	if c.version {
		return nil
	}
	if err := c.setKey(set, t.keyFile, getenv, readFile); err != nil {
		return err
	}
	return c.checkService()
}

// checkService checks the settings whose meaning depends on the service.
func (c *config) checkService() error {
	s := c.service
	if c.lang == "" {
		return fmt.Errorf("-lang: empty; give a language code such as %s (%s: %s)", s.defaultLang, s.title, strings.Join(s.languages, " "))
	}
	if c.connects() && len(s.languages) > 0 && !slices.Contains(s.languages, c.lang) {
		c.warnings = append(c.warnings, fmt.Errorf("-lang %q is not one of %s's documented codes (%s): sending it as given", c.lang, s.title, strings.Join(s.languages, " ")))
	}
	if s.name != "sarvam" {
		return nil
	}
	if !slices.Contains(sarvam.Modes, c.mode) {
		return fmt.Errorf("-mode %q: not a mode of Sarvam's; use %s", c.mode, strings.Join(sarvam.Modes, ", "))
	}
	if c.connects() && !slices.Contains(sarvam.Models, c.model) {
		c.warnings = append(c.warnings, fmt.Errorf("-model %q is not one of Sarvam's documented streaming models (%s): sending it as given", c.model, strings.Join(sarvam.Models, " ")))
	}
	return nil
}

// defineFlags defines the command's flags on a new flag set, to be parsed
// into c and t.
func defineFlags(c *config, t *textFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("vachana-pipe", flag.ContinueOnError)
	fs.StringVar(&t.service, "service", services[0].name, "the speech-to-text service: "+serviceNames)
	fs.StringVar(&c.url, "url", "", "service endpoint (env VACHANA_URL, SARVAM_URL or AIOLA_API_URL; default "+vachana.DefaultURL+", "+sarvam.DefaultURL+" or, aiOla's API base, "+aiola.DefaultAPIURL+")")
	fs.StringVar(&c.authURL, "auth-url", "", "aiOla only: the base of the token exchange (env "+authURLEnv+"; default "+aiola.DefaultAuthURL+")")
	fs.StringVar(&c.key, "key", "", "API key; never printed, but visible to other users in ps: GNANI_API_KEY / SARVAM_API_KEY / AIOLA_API_KEY or -key-file is safer")
	fs.StringVar(&t.keyFile, "key-file", "", "read the API key from the file `PATH` (one trailing newline is ignored)")
	fs.StringVar(&c.lang, "lang", "", "language code (default "+vachana.DefaultLang+" for Vachana, "+sarvam.DefaultLang+" (detect) for Sarvam, "+aiola.DefaultLang+" for aiOla): "+strings.Join(vachana.Languages, " ")+" …")
	fs.IntVar((*int)(&c.rate), "rate", int(pipeline.DefaultRate), "sample rate of the stream: "+rateList(vachana.Rates)+" (Sarvam: "+rateList(sarvam.Rates)+"; aiOla: "+rateList(aiola.Rates)+"); input at another rate is resampled")
	fs.StringVar(&c.model, "model", sarvam.DefaultModel, "Sarvam only: the model: "+strings.Join(sarvam.Models, " "))
	fs.StringVar(&c.mode, "mode", sarvam.DefaultMode, "Sarvam only: "+strings.Join(sarvam.Modes, ", "))
	fs.BoolVar(&c.highVAD, "high-vad-sensitivity", false, "Sarvam only: end segments on shorter pauses (the tail silence becomes 0.5s)")
	fs.StringVar(&c.workflow, "workflow", aiola.DefaultWorkflow, "aiOla only: the workflow id (flow_id)")
	fs.StringVar(&t.keywords, "keywords", "", "aiOla only: a JSON `FILE` of keywords, {\"spoken\": \"written\", …}, sent in the query and with set_keywords")
	fs.StringVar(&t.quality, "quality", resample.High.String(), "resampling quality: quick, low, medium, high or very-high")
	fs.StringVar(&t.output, "output", "text", "the transcript's `FORMAT`: text (a line per transcript), json (every server event, a JSON object per line, with client_ fields), srt or vtt (captions, written when the input ends); not to be confused with -o (frames to a file instead of a service) and -format (the input's container)")
	fs.BoolVar(&t.json, "json", false, "the same as -output json: every server event as one JSON object per line (as received, compacted; client_session and client_segment added to segment ends and transcripts, client_start_ms and client_end_ms, where the speech lies in the input, to final transcripts and the segment ends they answer, when known; client_channel (and client_channel_name with -channel-names) with -channels split; for aiOla client_event, the event's name)")
	fs.BoolVar(&c.timestamps, "timestamps", false, "text: begin each line with the start of its speech in the input, [mm:ss.s]")
	fs.StringVar(&t.channels, "channels", "mix", "mix: mix the input's channels to mono and stream one session; split: stream each channel in its own session, at once, and label each transcript with its channel")
	fs.StringVar(&t.channelNames, "channel-names", "", "with -channels split: the channels' labels, comma-separated (e.g. agent,customer); default Channel 1, Channel 2…")
	fs.IntVar(&c.jobs, "j", 4, "with several INPUTs: how many to stream at once, each at real-time cadence")
	fs.StringVar(&c.outDir, "out-dir", "", "write each INPUT's transcript to `DIR`/<name>.txt|.json|.srt|.vtt instead of stdout (needed for several INPUTs)")
	fs.StringVar(&c.out, "o", "", "write the frames to this file (- for stdout, not a terminal) instead of connecting")
	fs.Var(&t.pace, "pace", "send frames at real-time cadence (default on when connecting, off with -o)")
	fs.DurationVar(&c.tail, "tail-silence", pipeline.DefaultTailSilence, "silence sent after the input so the last segment ends (0 for none; unset: 0.5s for Sarvam with -high-vad-sensitivity)")
	fs.DurationVar(&c.drain, "drain-timeout", pipeline.DefaultDrainTimeout, "how long to wait for outstanding transcripts after the last frame")
	fs.IntVar(&c.reconnects, "reconnects", pipeline.DefaultReconnects, "reconnections in a row after a lost session, replaying unfinished audio (0 for none)")
	fs.DurationVar(&c.replay, "replay", pipeline.DefaultReplay, "audio kept for replay to a new session")
	fs.DurationVar(&c.stall, "stall-timeout", pipeline.DefaultStallTimeout, "fail when a frame cannot be sent for this long (the server stopped reading)")
	fs.DurationVar(&c.connectTimeout, "connect-timeout", pipeline.DefaultConnectTimeout, "limit for connecting, and each reconnection, until the session is ready (Vachana: its connected event)")
	fs.BoolVar(&c.stats, "stats", false, "print a summary on stderr at the end: frames, bytes, padding, cadence, segments, latency")
	fs.BoolVar(&c.local, "local", false, "start the local reference server in-process and stream to it (no key, no network)")
	fs.BoolVar(&c.quiet, "quiet", false, "print no progress line and no warnings on stderr (errors still)")
	fs.BoolVar(&c.insecure, "insecure", false, "allow sending the key over plain ws:// or http:// to a host that is not loopback")
	fs.BoolVar(&c.version, "version", false, "print the version and exit")
	fs.StringVar(&t.format, "format", "auto", "input format: auto (WAV if it starts with a RIFF header or is named *.wav, raw otherwise), wav or raw")
	fs.StringVar(&t.inEncoding, "in-encoding", source.S16LE.String(), "raw input sample encoding: "+source.EncodingNames)
	fs.IntVar((*int)(&c.inRate), "in-rate", 0, "raw input sample rate in Hz (default: the -rate)")
	fs.IntVar(&c.inChans, "in-channels", 1, "raw input channels, mixed to mono unless -channels split")
	return fs
}

// parseFlags parses args with fs. For -h it prints head, the flags and
// tail on stderr and returns [errHelp] with exit code 0; a bad flag is
// returned as one line that points to -h, with exit code 2.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer, head, tail string) error {
	fs.SetOutput(io.Discard) // errors are returned, and printed once by main
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stderr)
		fmt.Fprint(stderr, head)
		fs.PrintDefaults()
		fmt.Fprint(stderr, tail)
		return withCode(exitOK, errHelp)
	default:
		return withCode(exitUsage, fmt.Errorf("%v; see %s -h", err, fs.Name()))
	}
}

// setInput takes the INPUTs from the arguments left after the flags.
func (c *config) setInput(args []string) error {
	// Never echo the arguments: a flag after INPUT may be -key's value.
	for _, a := range args[min(1, len(args)):] {
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			return fmt.Errorf("flag %s comes after INPUT %q: flags go before the INPUTs", strings.SplitN(a, "=", 2)[0], args[0])
		}
	}
	if len(args) > 0 {
		c.inputs = args
	}
	if len(args) > 1 && slices.ContainsFunc(args, isStdin) {
		return errors.New("- (standard input) cannot be one of several INPUTs: stream it on its own")
	}
	return nil
}

// isStdin reports whether INPUT name means standard input.
func isStdin(name string) bool { return name == "" || name == "-" }

// setOutput parses -output (or -json), -channels and -channel-names, and
// checks them with -j, -out-dir and -o.
func (c *config) setOutput(t *textFlags, set map[string]bool) error {
	var err error
	if c.output, err = transcript.ParseFormat(t.output); err != nil {
		return fmt.Errorf("-output %q: not a transcript format; use text, json, srt or vtt", t.output)
	}
	if t.json {
		if set["output"] && c.output != transcript.JSON {
			return fmt.Errorf("-json and -output %s exclude each other: -json means -output json", c.output)
		}
		c.output = transcript.JSON
	}
	switch t.channels {
	case "mix":
	case "split":
		c.split = true
	default:
		return fmt.Errorf("-channels %q: use mix (one session, the channels mixed to mono) or split (a session per channel)", t.channels)
	}
	if set["channel-names"] {
		if !c.split {
			return errors.New("-channel-names labels split channels: add -channels split")
		}
		c.channelNames = strings.Split(t.channelNames, ",")
	}
	if c.timestamps && c.output != transcript.Text {
		return fmt.Errorf("-timestamps is for -output text; -output %s carries the times itself", c.output)
	}
	if c.jobs < 1 {
		return fmt.Errorf("-j %d: out of range; accepted: 1 or more", c.jobs)
	}
	switch {
	case len(c.inputs) > 1 && c.outDir == "":
		return fmt.Errorf("%d INPUTs: give -out-dir DIR, where each one's transcript is written", len(c.inputs))
	case c.out != "" && (len(c.inputs) > 1 || c.outDir != ""):
		return errors.New("-o writes the frames of one INPUT to a file: it excludes several INPUTs and -out-dir")
	case c.out != "" && c.split:
		return errors.New("-o writes one stream of frames: it excludes -channels split")
	case c.out != "" && (set["output"] || t.json || c.timestamps):
		return errors.New("-o writes the frames instead of connecting, so there is no transcript to format: drop -output, -json and -timestamps, or -o")
	}
	return nil
}

// parseText parses the flags given as names, and fills in the defaults
// that depend on other flags.
func (c *config) parseText(t *textFlags, set map[string]bool) error {
	var err error
	if c.format, err = source.ParseContainer(t.format); err != nil {
		return fmt.Errorf("-format: %s", strings.TrimPrefix(err.Error(), "source: "))
	}
	if c.quality, err = resample.ParseQuality(t.quality); err != nil {
		return fmt.Errorf("-quality: %s", strings.TrimPrefix(err.Error(), "resample: "))
	}
	if c.inEncoding, err = source.ParseEncoding(t.inEncoding); err != nil {
		return fmt.Errorf("-in-encoding: %s", strings.TrimPrefix(err.Error(), "source: "))
	}
	if !set["in-rate"] {
		c.inRate = c.rate
	}
	c.paced = c.connects()
	if t.pace.set {
		c.paced = t.pace.on
	}
	if c.out != "" && c.local {
		return errors.New("-o and -local exclude each other: -o writes frames instead of connecting")
	}
	return nil
}

// checkRanges refuses a number out of range, naming its flag, its value
// and what the flag accepts.
func (c *config) checkRanges() error {
	ranges := []struct {
		flag     string
		value    any
		ok       bool
		accepted string
	}{
		{"rate", c.rate, slices.Contains(c.service.rates, c.rate), rateAccepted(c.service)},
		{"in-rate", c.inRate, c.inRate >= 1 && c.inRate <= frame.MaxRate, fmt.Sprintf("1 to %d Hz, or omit -in-rate to mean the -rate", frame.MaxRate)},
		{"in-channels", c.inChans, c.inChans >= 1 && c.inChans <= source.MaxChannels, fmt.Sprintf("1 to %d", source.MaxChannels)},
		{"tail-silence", c.tail, c.tail >= 0, "0 (none) or more"},
		{"drain-timeout", c.drain, c.drain > 0, "more than 0s"},
		{"reconnects", c.reconnects, c.reconnects >= 0, "0 (none) or more"},
		{"replay", c.replay, c.replay > 0, "more than 0s"},
		{"stall-timeout", c.stall, c.stall > 0, "more than 0s"},
		{"connect-timeout", c.connectTimeout, c.connectTimeout > 0, "more than 0s"},
	}
	for _, r := range ranges {
		if !r.ok {
			return fmt.Errorf("-%s %v: out of range; accepted: %s", r.flag, r.value, r.accepted)
		}
	}
	return nil
}

// rateAccepted says which -rate s takes.
func rateAccepted(s *service) string {
	if len(s.rates) == 1 {
		return fmt.Sprintf("%d, the only rate %s takes (input at another rate is resampled to it)", int(s.rates[0]), s.title)
	}
	return rateList(s.rates) + ", the rates " + s.title + " takes"
}

// setEndpoint takes the URL from -url, the service's environment variable
// or its default; for aiOla also the auth base, from -auth-url, its
// variable or its default.
func (c *config) setEndpoint(getenv func(string) string) error {
	c.url = cmp.Or(c.url, getenv(c.service.urlEnv), c.service.defaultURL)
	if !c.service.httpURL {
		if u, err := url.Parse(c.url); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			return fmt.Errorf("-url %s: not a ws:// or wss:// URL", transport.Redact(c.url))
		}
		return nil
	}
	c.authURL = cmp.Or(c.authURL, getenv(authURLEnv), aiola.DefaultAuthURL)
	for _, f := range []struct{ flag, url, env string }{{"url", c.url, c.service.urlEnv}, {"auth-url", c.authURL, authURLEnv}} {
		if u, err := url.Parse(f.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("-%s %s: not an http:// or https:// URL (%s's base, e.g. its default; env %s)", f.flag, transport.Redact(f.url), c.service.title, f.env)
		}
	}
	return nil
}

// setKeywords reads -keywords: a JSON object of strings, what is spoken
// to how it is written.
func (c *config) setKeywords(name string, readFile func(string) ([]byte, error)) error {
	if name == "" {
		return nil
	}
	b, err := readFile(name)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("-keywords %s: cannot read it: %v", name, err)
	}
	if err := json.Unmarshal(b, &c.keywords); err != nil {
		return fmt.Errorf("-keywords %s: not a JSON object of strings, {\"spoken\": \"written\", …}: %v", name, err)
	}
	if c.keywords == nil {
		return fmt.Errorf("-keywords %s: null; give a JSON object of strings, {\"spoken\": \"written\", …}", name)
	}
	return nil
}

// setKey takes the API key from -key, -key-file or the service's
// environment variable (GNANI_API_KEY, SARVAM_API_KEY), and
// refuses to connect without one, or to send it where it could be read on
// the way. -local needs no key.
func (c *config) setKey(set map[string]bool, keyFile string, getenv func(string) string, readFile func(string) ([]byte, error)) error {
	switch {
	case set["key"] && set["key-file"]:
		return errors.New("-key and -key-file exclude each other: give the key one way")
	case set["key-file"]:
		key, err := readKey(keyFile, readFile)
		if err != nil {
			return err
		}
		c.key = key
	case c.key == "":
		c.key = getenv(c.service.keyEnv)
	}
	if !c.connects() || c.local {
		return nil
	}
	if c.key == "" {
		return fmt.Errorf("no API key: set %s or pass -key-file or -key (or try -local to use the built-in reference server)", c.service.keyEnv)
	}
	if c.service.httpURL {
		if err := checkPlaintext(c.authURL, c.insecure); err != nil {
			return err // the key itself goes to the auth base
		}
	}
	return checkPlaintext(c.url, c.insecure)
}

// readKey reads the API key from the named file, which holds the key and
// at most one line break after it.
func readKey(name string, readFile func(string) ([]byte, error)) (string, error) {
	b, err := readFile(name)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the name is said once, below
		}
		return "", fmt.Errorf("-key-file %s: cannot read it: %v", name, err)
	}
	key, ok := strings.CutSuffix(string(b), "\n")
	if ok {
		key = strings.TrimSuffix(key, "\r")
	}
	switch {
	case key == "":
		return "", fmt.Errorf("-key-file %s: the file is empty", name)
	case strings.ContainsFunc(key, unicode.IsControl):
		return "", fmt.Errorf("-key-file %s: the file holds more than one line, or control characters: it should hold the key alone", name)
	}
	return key, nil
}

// checkPlaintext refuses to send a key (or a token made from it) over
// unencrypted ws:// or http:// to anything but loopback, unless allowed.
func checkPlaintext(rawURL string, allow bool) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "ws" && u.Scheme != "http" || allow || isLoopback(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("refusing to send the API key unencrypted to %s over %s://: use %ss://, or pass -insecure if you really mean it", u.Hostname(), u.Scheme, u.Scheme)
}

// isLoopback reports whether host (a name or an IP address) is this machine
// only.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

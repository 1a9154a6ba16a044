package main

import (
	"bytes"
	"errors"
	"flag"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/pipeline"
	"github.com/vachana-pipe/vachana-pipe/pipeline/transcript"
	"github.com/vachana-pipe/vachana-pipe/resample"
	"github.com/vachana-pipe/vachana-pipe/source"
	"github.com/vachana-pipe/vachana-pipe/transport/aiola"
	"github.com/vachana-pipe/vachana-pipe/transport/sarvam"
	"github.com/vachana-pipe/vachana-pipe/transport/vachana"
)

// parseWith runs parseConfig with env as the environment and files as the
// file system.
func parseWith(args []string, env, files map[string]string) (*config, error, string) {
	readFile := func(name string) ([]byte, error) {
		s, ok := files[name]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		return []byte(s), nil
	}
	var stderr bytes.Buffer
	c, err := parseConfig(args, func(k string) string { return env[k] }, readFile, &stderr)
	return c, err, stderr.String()
}

// defaults is the configuration with no flags, with the key in the
// environment.
func defaults() *config {
	return &config{
		service:        services[0],
		model:          sarvam.DefaultModel,
		mode:           sarvam.DefaultMode,
		workflow:       aiola.DefaultWorkflow,
		url:            vachana.DefaultURL,
		key:            "env-key",
		lang:           vachana.DefaultLang,
		rate:           frame.Rate16k,
		paced:          true,
		tail:           pipeline.DefaultTailSilence,
		drain:          pipeline.DefaultDrainTimeout,
		format:         source.Auto,
		inEncoding:     source.S16LE,
		inRate:         frame.Rate16k,
		inChans:        1,
		quality:        resample.High,
		reconnects:     pipeline.DefaultReconnects,
		replay:         pipeline.DefaultReplay,
		stall:          pipeline.DefaultStallTimeout,
		connectTimeout: pipeline.DefaultConnectTimeout,
		jobs:           4,
	}
}

func TestParseConfig(t *testing.T) {
	// Whatever the process's environment holds, parseConfig sees only
	// what it is given.
	t.Setenv("GNANI_API_KEY", "process-key")
	t.Setenv("VACHANA_URL", "wss://process.example/stt")
	env := map[string]string{"GNANI_API_KEY": "env-key"}
	tests := []struct {
		name  string
		args  []string
		env   map[string]string // default env
		files map[string]string
		want  func(c *config) // applied to defaults()
	}{
		{"defaults", nil, nil, nil, func(c *config) {}},
		{"-url", []string{"-url", "wss://example.com/x"}, nil, nil, func(c *config) { c.url = "wss://example.com/x" }},
		{"VACHANA_URL", nil, map[string]string{"GNANI_API_KEY": "env-key", "VACHANA_URL": "ws://127.0.0.1:9/x"}, nil, func(c *config) { c.url = "ws://127.0.0.1:9/x" }},
		{"-url over VACHANA_URL", []string{"-url", "wss://flag.example/x"}, map[string]string{"GNANI_API_KEY": "env-key", "VACHANA_URL": "wss://env.example/x"}, nil, func(c *config) { c.url = "wss://flag.example/x" }},
		{"-key over GNANI_API_KEY", []string{"-key", "flag-key"}, nil, nil, func(c *config) { c.key = "flag-key" }},
		{"-key-file over GNANI_API_KEY", []string{"-key-file", "/k"}, nil, map[string]string{"/k": "file-key"}, func(c *config) { c.key = "file-key" }},
		{"-key-file one newline trimmed", []string{"-key-file", "/k"}, nil, map[string]string{"/k": "file-key\n"}, func(c *config) { c.key = "file-key" }},
		{"-key-file CRLF trimmed", []string{"-key-file", "/k"}, nil, map[string]string{"/k": "file-key\r\n"}, func(c *config) { c.key = "file-key" }},
		{"-key-file spaces kept", []string{"-key-file", "/k"}, nil, map[string]string{"/k": " file key "}, func(c *config) { c.key = " file key " }},
		{"-lang documented", []string{"-lang", "hi-IN"}, nil, nil, func(c *config) { c.lang = "hi-IN" }},
		{"-lang undocumented: warned, sent", []string{"-lang", "xx-YY"}, nil, nil, func(c *config) {
			c.lang = "xx-YY"
			c.warnings = []error{errors.New(`-lang "xx-YY" is not one of Vachana's documented codes (bn-IN en-IN gu-IN hi-IN kn-IN ml-IN mr-IN pa-IN ta-IN te-IN): sending it as given`)}
		}},
		{"-lang undocumented with -o: not sent, no warning", []string{"-lang", "xx-YY", "-o", "f"}, nil, nil, func(c *config) { c.lang, c.out, c.paced = "xx-YY", "f", false }},
		{"-rate sets -in-rate", []string{"-rate", "8000"}, nil, nil, func(c *config) { c.rate, c.inRate = frame.Rate8k, frame.Rate8k }},
		{"-rate 44100", []string{"-rate", "44100"}, nil, nil, func(c *config) { c.rate, c.inRate = frame.Rate44k, frame.Rate44k }},
		{"-rate 48000 -in-rate 8000", []string{"-rate", "48000", "-in-rate", "8000"}, nil, nil, func(c *config) { c.rate, c.inRate = frame.Rate48k, frame.Rate8k }},
		{"-in-rate max", []string{"-in-rate", "768000"}, nil, nil, func(c *config) { c.inRate = frame.MaxRate }},
		{"-in-channels", []string{"-in-channels", "64"}, nil, nil, func(c *config) { c.inChans = 64 }},
		{"-in-encoding", []string{"-in-encoding", "mulaw"}, nil, nil, func(c *config) { c.inEncoding = source.MuLaw }},
		{"-format", []string{"-format", "raw"}, nil, nil, func(c *config) { c.format = source.Raw }},
		{"-quality", []string{"-quality", "very-high"}, nil, nil, func(c *config) { c.quality = resample.VeryHigh }},
		{"-json -stats -quiet -insecure", []string{"-json", "-stats", "-quiet", "-insecure"}, nil, nil, func(c *config) { c.output, c.stats, c.quiet, c.insecure = transcript.JSON, true, true, true }},
		{"-o: unpaced, no key needed", []string{"-o", "-"}, map[string]string{}, nil, func(c *config) { c.out, c.paced, c.key = "-", false, "" }},
		{"-o -pace", []string{"-o", "f", "-pace"}, nil, nil, func(c *config) { c.out = "f" }},
		{"-pace=false", []string{"-pace=false"}, nil, nil, func(c *config) { c.paced = false }},
		{"-pace=off", []string{"-pace=off"}, nil, nil, func(c *config) { c.paced = false }},
		{"-o -pace=on", []string{"-o", "f", "-pace=on"}, nil, nil, func(c *config) { c.out = "f" }},
		{"-local: no key needed", []string{"-local"}, map[string]string{}, nil, func(c *config) { c.local, c.key = true, "" }},
		{"-version: no key needed", []string{"-version"}, map[string]string{}, nil, func(c *config) { c.version, c.key = true, "" }},
		{"-tail-silence 0: none", []string{"-tail-silence", "0"}, nil, nil, func(c *config) { c.tail, c.tailSet = 0, true }},
		{"-service sarvam: its key, URL and language", []string{"-service", "sarvam"}, map[string]string{"GNANI_API_KEY": "vachana-key", "SARVAM_API_KEY": "env-key"}, nil, func(c *config) {
			c.service, c.url, c.lang = services[1], sarvam.DefaultURL, sarvam.DefaultLang
		}},
		{"SARVAM_URL", []string{"-service", "sarvam"}, map[string]string{"SARVAM_API_KEY": "env-key", "SARVAM_URL": "ws://127.0.0.1:9/s", "VACHANA_URL": "wss://v.example/x"}, nil, func(c *config) {
			c.service, c.url, c.lang = services[1], "ws://127.0.0.1:9/s", sarvam.DefaultLang
		}},
		{"Sarvam's flags", []string{"-service", "sarvam", "-model", "saaras:v4", "-mode", "translit", "-high-vad-sensitivity", "-rate", "8000", "-lang", "ta-IN"}, map[string]string{"SARVAM_API_KEY": "env-key"}, nil, func(c *config) {
			c.service, c.url, c.lang, c.model, c.mode, c.highVAD = services[1], sarvam.DefaultURL, "ta-IN", "saaras:v4", "translit", true
			c.rate, c.inRate = frame.Rate8k, frame.Rate8k
		}},
		{"Sarvam, undocumented model: warned, sent", []string{"-service", "sarvam", "-model", "saaras:v9"}, map[string]string{"SARVAM_API_KEY": "env-key"}, nil, func(c *config) {
			c.service, c.url, c.lang, c.model = services[1], sarvam.DefaultURL, sarvam.DefaultLang, "saaras:v9"
			c.warnings = []error{errors.New(`-model "saaras:v9" is not one of Sarvam's documented streaming models (saaras:v3 saaras:v4 saarika:v2.5): sending it as given`)}
		}},
		{"-service aiola: its key, URLs and language", []string{"-service", "aiola"}, map[string]string{"GNANI_API_KEY": "vachana-key", "AIOLA_API_KEY": "env-key"}, nil, func(c *config) {
			c.service, c.url, c.authURL, c.lang = services[2], aiola.DefaultAPIURL, aiola.DefaultAuthURL, aiola.DefaultLang
		}},
		{"AIOLA_API_URL and AIOLA_AUTH_URL", []string{"-service", "aiola"}, map[string]string{"AIOLA_API_KEY": "env-key", "AIOLA_API_URL": "http://127.0.0.1:9", "AIOLA_AUTH_URL": "http://localhost:9/auth", "VACHANA_URL": "wss://v.example/x"}, nil, func(c *config) {
			c.service, c.url, c.authURL, c.lang = services[2], "http://127.0.0.1:9", "http://localhost:9/auth", aiola.DefaultLang
		}},
		{"aiOla's flags", []string{"-service", "aiola", "-workflow", "wf-1", "-keywords", "kw.json", "-lang", "de", "-url", "https://a.example", "-auth-url", "https://b.example"}, map[string]string{"AIOLA_API_KEY": "env-key"}, map[string]string{"kw.json": `{"eye ola": "aiOla"}`}, func(c *config) {
			c.service, c.url, c.authURL, c.lang, c.workflow = services[2], "https://a.example", "https://b.example", "de", "wf-1"
			c.keywords = map[string]string{"eye ola": "aiOla"}
		}},
		{"-reconnects 0: none", []string{"-reconnects", "0"}, nil, nil, func(c *config) { c.reconnects = 0 }},
		{"durations", []string{"-drain-timeout", "1ms", "-replay", "2s", "-stall-timeout", "3s", "-connect-timeout", "4s"}, nil, nil, func(c *config) {
			c.drain, c.replay, c.stall, c.connectTimeout = 1e6, 2e9, 3e9, 4e9
		}},
		{"ws:// to loopback", []string{"-url", "ws://localhost:1/x"}, nil, nil, func(c *config) { c.url = "ws://localhost:1/x" }},
		{"ws:// elsewhere with -insecure", []string{"-url", "ws://example.com/x", "-insecure"}, nil, nil, func(c *config) { c.url, c.insecure = "ws://example.com/x", true }},
		{"INPUT", []string{"in.wav"}, nil, nil, func(c *config) { c.inputs = []string{"in.wav"} }},
		{"INPUT -", []string{"-"}, nil, nil, func(c *config) { c.inputs = []string{"-"} }},
		{"a batch", []string{"-j", "8", "-out-dir", "out", "-output", "srt", "a.wav", "b/c.m4a"}, nil, nil, func(c *config) {
			c.jobs, c.outDir, c.output, c.inputs = 8, "out", transcript.SRT, []string{"a.wav", "b/c.m4a"}
		}},
		{"split channels, named, stamped", []string{"-channels", "split", "-channel-names", "agent,customer", "-timestamps"}, nil, nil, func(c *config) {
			c.split, c.channelNames, c.timestamps = true, []string{"agent", "customer"}, true
		}},
		{"-json is -output json", []string{"-json", "-output", "json"}, nil, nil, func(c *config) { c.output = transcript.JSON }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.env
			if e == nil {
				e = env
			}
			got, err, stderr := parseWith(tt.args, e, tt.files)
			if err != nil || stderr != "" {
				t.Fatalf("error %v, stderr %q", err, stderr)
			}
			want := defaults()
			tt.want(want)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	t.Setenv("GNANI_API_KEY", "process-key")
	env := map[string]string{"GNANI_API_KEY": "env-key"}
	files := map[string]string{"/empty": "", "/newline": "\n", "/two": "a\nb\n", "/k": "k", "bad.json": `["a"]`}
	tests := []struct {
		name string
		args []string
		env  map[string]string // default env
		want string            // the whole message
	}{
		{"unknown flag", []string{"-frobnicate"}, nil, "flag provided but not defined: -frobnicate; see vachana-pipe -h"},
		{"bad number", []string{"-rate", "fast"}, nil, `invalid value "fast" for flag -rate: parse error; see vachana-pipe -h`},
		{"bad duration", []string{"-replay", "5"}, nil, `invalid value "5" for flag -replay: parse error; see vachana-pipe -h`},
		{"bad -pace", []string{"-pace=maybe"}, nil, `invalid boolean value "maybe" for -pace: want true or false; see vachana-pipe -h`},
		{"-rate 22050", []string{"-rate", "22050"}, nil, "-rate 22050: out of range; accepted: 8000, 16000, 44100 or 48000, the rates Vachana takes"},
		{"-rate 0", []string{"-rate", "0"}, nil, "-rate 0: out of range; accepted: 8000, 16000, 44100 or 48000, the rates Vachana takes"},
		{"-in-rate 0", []string{"-in-rate", "0"}, nil, "-in-rate 0: out of range; accepted: 1 to 768000 Hz, or omit -in-rate to mean the -rate"},
		{"-lang empty", []string{"-lang="}, nil, "-lang: empty; give a language code such as en-IN (Vachana: bn-IN en-IN gu-IN hi-IN kn-IN ml-IN mr-IN pa-IN ta-IN te-IN)"},
		{"-service unknown", []string{"-service", "deepgram"}, nil, `-service "deepgram": not a service this tool speaks; use vachana, sarvam or aiola`},
		{"Sarvam's flag for Vachana", []string{"-model", "saaras:v3"}, nil, "-model is a flag of Sarvam, which Vachana does not understand: drop it, or add -service sarvam"},
		{"Sarvam's bool flag for Vachana", []string{"-high-vad-sensitivity"}, nil, "-high-vad-sensitivity is a flag of Sarvam, which Vachana does not understand: drop it, or add -service sarvam"},
		{"Sarvam -rate 44100", []string{"-service", "sarvam", "-rate", "44100"}, map[string]string{"SARVAM_API_KEY": "k"}, "-rate 44100: out of range; accepted: 8000 or 16000, the rates Sarvam takes"},
		{"Sarvam -mode", []string{"-service", "sarvam", "-mode", "summarise"}, map[string]string{"SARVAM_API_KEY": "k"}, `-mode "summarise": not a mode of Sarvam's; use transcribe, translate, verbatim, translit, codemix`},
		{"Sarvam without its key", []string{"-service", "sarvam"}, nil, "no API key: set SARVAM_API_KEY or pass -key-file or -key (or try -local to use the built-in reference server)"},
		{"aiOla -rate 8000", []string{"-service", "aiola", "-rate", "8000"}, map[string]string{"AIOLA_API_KEY": "k"}, "-rate 8000: out of range; accepted: 16000, the only rate aiOla takes (input at another rate is resampled to it)"},
		{"aiOla without its key", []string{"-service", "aiola"}, nil, "no API key: set AIOLA_API_KEY or pass -key-file or -key (or try -local to use the built-in reference server)"},
		{"aiOla's flag for Sarvam", []string{"-service", "sarvam", "-workflow", "w"}, map[string]string{"SARVAM_API_KEY": "k"}, "-workflow is a flag of aiOla, which Sarvam does not understand: drop it, or add -service aiola"},
		{"aiOla ws:// URL", []string{"-service", "aiola", "-url", "wss://apis.aiola.ai"}, map[string]string{"AIOLA_API_KEY": "k"}, "-url wss://apis.aiola.ai: not an http:// or https:// URL (aiOla's base, e.g. its default; env AIOLA_API_URL)"},
		{"aiOla plain http elsewhere", []string{"-service", "aiola", "-url", "http://apis.example"}, map[string]string{"AIOLA_API_KEY": "k"}, "refusing to send the API key unencrypted to apis.example over http://: use https://, or pass -insecure if you really mean it"},
		{"aiOla auth over plain http elsewhere", []string{"-service", "aiola", "-auth-url", "http://auth.example"}, map[string]string{"AIOLA_API_KEY": "k"}, "refusing to send the API key unencrypted to auth.example over http://: use https://, or pass -insecure if you really mean it"},
		{"aiOla keywords not a file", []string{"-service", "aiola", "-keywords", "missing.json"}, map[string]string{"AIOLA_API_KEY": "k"}, "-keywords missing.json: cannot read it: file does not exist"},
		{"aiOla keywords not an object", []string{"-service", "aiola", "-keywords", "bad.json"}, map[string]string{"AIOLA_API_KEY": "k"}, `-keywords bad.json: not a JSON object of strings, {"spoken": "written", …}: json: cannot unmarshal array into Go value of type map[string]string`},
		{"-in-rate -8000", []string{"-in-rate", "-8000"}, nil, "-in-rate -8000: out of range; accepted: 1 to 768000 Hz, or omit -in-rate to mean the -rate"},
		{"-in-rate 768001", []string{"-in-rate", "768001"}, nil, "-in-rate 768001: out of range; accepted: 1 to 768000 Hz, or omit -in-rate to mean the -rate"},
		{"-in-channels 0", []string{"-in-channels", "0"}, nil, "-in-channels 0: out of range; accepted: 1 to 64"},
		{"-in-channels 65", []string{"-in-channels", "65"}, nil, "-in-channels 65: out of range; accepted: 1 to 64"},
		{"-tail-silence -1s", []string{"-tail-silence", "-1s"}, nil, "-tail-silence -1s: out of range; accepted: 0 (none) or more"},
		{"-drain-timeout 0", []string{"-drain-timeout", "0"}, nil, "-drain-timeout 0s: out of range; accepted: more than 0s"},
		{"-drain-timeout -1s", []string{"-drain-timeout", "-1s"}, nil, "-drain-timeout -1s: out of range; accepted: more than 0s"},
		{"-reconnects -1", []string{"-reconnects", "-1"}, nil, "-reconnects -1: out of range; accepted: 0 (none) or more"},
		{"-replay 0", []string{"-replay", "0s"}, nil, "-replay 0s: out of range; accepted: more than 0s"},
		{"-stall-timeout 0", []string{"-stall-timeout", "0s"}, nil, "-stall-timeout 0s: out of range; accepted: more than 0s"},
		{"-connect-timeout 0", []string{"-connect-timeout", "0s"}, nil, "-connect-timeout 0s: out of range; accepted: more than 0s"},
		{"-quality", []string{"-quality", "best"}, nil, `-quality: unknown quality "best"; use quick, low, medium, high or very-high`},
		{"-format", []string{"-format", "mp3"}, nil, `-format: unknown input format "mp3"; use auto, wav or raw`},
		{"-in-encoding", []string{"-in-encoding", "mp3"}, nil, `-in-encoding: unknown sample encoding "mp3"; use one of ` + source.EncodingNames},
		{"-o with -local", []string{"-o", "f", "-local"}, nil, "-o and -local exclude each other: -o writes frames instead of connecting"},
		{"-url http", []string{"-url", "http://example.com/x"}, nil, "-url http://example.com/x: not a ws:// or wss:// URL"},
		{"VACHANA_URL http", nil, map[string]string{"VACHANA_URL": "https://example.com/x"}, "-url https://example.com/x: not a ws:// or wss:// URL"},
		{"no key", nil, map[string]string{}, "no API key: set GNANI_API_KEY or pass -key-file or -key (or try -local to use the built-in reference server)"},
		{"-key and -key-file", []string{"-key", "k", "-key-file", "/k"}, nil, "-key and -key-file exclude each other: give the key one way"},
		{"-key-file missing", []string{"-key-file", "/missing"}, nil, "-key-file /missing: cannot read it: file does not exist"},
		{"-key-file empty", []string{"-key-file", "/empty"}, nil, "-key-file /empty: the file is empty"},
		{"-key-file only a newline", []string{"-key-file", "/newline"}, nil, "-key-file /newline: the file is empty"},
		{"-key-file two lines", []string{"-key-file", "/two"}, nil, "-key-file /two: the file holds more than one line, or control characters: it should hold the key alone"},
		{"ws:// elsewhere", []string{"-url", "ws://example.com/x"}, nil, "refusing to send the API key unencrypted to example.com over ws://: use wss://, or pass -insecure if you really mean it"},
		{"two inputs without -out-dir", []string{"a", "b"}, nil, "2 INPUTs: give -out-dir DIR, where each one's transcript is written"},
		{"stdin among inputs", []string{"-out-dir", "d", "a", "-"}, nil, "- (standard input) cannot be one of several INPUTs: stream it on its own"},
		{"flag after INPUT", []string{"in.raw", "-key=sekrit"}, nil, `flag -key comes after INPUT "in.raw": flags go before the INPUTs`},
		{"flag after INPUTs", []string{"a.wav", "b.wav", "-j", "2"}, nil, `flag -j comes after INPUT "a.wav": flags go before the INPUTs`},
		{"-output unknown", []string{"-output", "docx"}, nil, `-output "docx": not a transcript format; use text, json, srt or vtt`},
		{"-json with -output srt", []string{"-json", "-output", "srt"}, nil, "-json and -output srt exclude each other: -json means -output json"},
		{"-channels unknown", []string{"-channels", "left"}, nil, `-channels "left": use mix (one session, the channels mixed to mono) or split (a session per channel)`},
		{"-channel-names without split", []string{"-channel-names", "a,b"}, nil, "-channel-names labels split channels: add -channels split"},
		{"-timestamps with captions", []string{"-timestamps", "-output", "vtt"}, nil, "-timestamps is for -output text; -output vtt carries the times itself"},
		{"-j 0", []string{"-j", "0"}, nil, "-j 0: out of range; accepted: 1 or more"},
		{"-o with several inputs", []string{"-o", "f", "-out-dir", "d", "a"}, nil, "-o writes the frames of one INPUT to a file: it excludes several INPUTs and -out-dir"},
		{"-o with split", []string{"-o", "f", "-channels", "split"}, nil, "-o writes one stream of frames: it excludes -channels split"},
		{"-o with -output", []string{"-o", "f", "-output", "srt"}, nil, "-o writes the frames instead of connecting, so there is no transcript to format: drop -output, -json and -timestamps, or -o"},
		{"-o with -json", []string{"-o", "f", "-json"}, nil, "-o writes the frames instead of connecting, so there is no transcript to format: drop -output, -json and -timestamps, or -o"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.env
			if e == nil {
				e = env
			}
			c, err, stderr := parseWith(tt.args, e, files)
			if c != nil || exitCode(err) != exitUsage || err.Error() != tt.want || stderr != "" {
				t.Fatalf("got %v, exit %d, stderr %q\nwant %q, exit 2, no output", err, exitCode(err), stderr, tt.want)
			}
		})
	}
}

func TestParseConfigHelp(t *testing.T) {
	c, err, stderr := parseWith([]string{"-h"}, nil, nil)
	if c != nil || !errors.Is(err, errHelp) || exitCode(err) != exitOK {
		t.Fatalf("-h: %v, exit %d", err, exitCode(err))
	}
	for _, want := range []string{usageText, exitText, "-key-file PATH", "GNANI_API_KEY / SARVAM_API_KEY / AIOLA_API_KEY or -key-file is safer", "(default 1s)", "default en-IN for Vachana, unknown (detect) for Sarvam, en for aiOla", "-service sarvam"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("-h lacks %q:\n%s", want, stderr)
		}
	}
	// Every flag is listed.
	var t2 textFlags
	defineFlags(&config{}, &t2).VisitAll(func(f *flag.Flag) {
		if !strings.Contains(stderr, "\n  -"+f.Name+" ") && !strings.Contains(stderr, "\n  -"+f.Name+"\n") {
			t.Errorf("-h lacks -%s", f.Name)
		}
	})
}

func TestPipelineOptions(t *testing.T) {
	defaults := pipeline.Options{
		Rate: pipeline.DefaultRate, DrainTimeout: pipeline.DefaultDrainTimeout, // TailSilence: the service's
		Reconnects: pipeline.DefaultReconnects, Replay: pipeline.DefaultReplay, StallTimeout: pipeline.DefaultStallTimeout,
		ConnectTimeout: pipeline.DefaultConnectTimeout,
	}
	tests := []struct {
		name string
		args []string
		want func(o *pipeline.Options) // applied to defaults
	}{
		{"defaults", nil, func(o *pipeline.Options) {}},
		{"none", []string{"-tail-silence", "0", "-reconnects", "0"}, func(o *pipeline.Options) {
			o.TailSilence, o.NoTailSilence, o.Reconnects, o.NoReconnect = 0, true, 0, true
		}},
		{"-o: the service's tail silence", []string{"-o", "f", "-service", "sarvam", "-high-vad-sensitivity"}, func(o *pipeline.Options) {
			o.Unpaced, o.TailSilence = true, 500*time.Millisecond
		}},
		{"all set", []string{"-o", "f", "-rate", "8000", "-tail-silence", "2s", "-drain-timeout", "3s", "-reconnects", "7",
			"-replay", "4s", "-stall-timeout", "5s", "-connect-timeout", "6s"}, func(o *pipeline.Options) {
			*o = pipeline.Options{Rate: frame.Rate8k, Unpaced: true, TailSilence: 2e9, DrainTimeout: 3e9,
				Reconnects: 7, Replay: 4e9, StallTimeout: 5e9, ConnectTimeout: 6e9}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err, _ := parseWith(tt.args, map[string]string{"GNANI_API_KEY": "k"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := defaults
			tt.want(&want)
			if got := pipelineOptions(c); !reflect.DeepEqual(*got, want) {
				t.Fatalf("got  %+v\nwant %+v", *got, want)
			}
		})
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "127.0.0.1": true, "127.1.2.3": true, "::1": true,
		"0.0.0.0": false, "::": false, "": false, "example.com": false, "192.168.1.1": false, "localhost.example.com": false,
	} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

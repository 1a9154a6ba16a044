package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/pipeline"
	"github.com/vachana-pipe/vachana-pipe/pipeline/transcript"
	"github.com/vachana-pipe/vachana-pipe/source"
	"github.com/vachana-pipe/vachana-pipe/transport"
)

func TestAppendCompact(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{"compacted", "{ \"type\" : \"transcript\",\n  \"text\": \"a  b\" }", `{"type":"transcript","text":"a  b"}`},
		{"already compact", `{"a":1}`, `{"a":1}`},
		{"not JSON: quoted", `{"type": "transcript", "text": `, `"{\"type\": \"transcript\", \"text\": "`},
		{"binary: quoted", "\x01\x02", `"\u0001\u0002"`},
		{"empty: quoted", "", `""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(appendCompact([]byte("x"), []byte(tt.raw))); got != "x"+tt.want {
				t.Fatalf("got %s, want x%s", got, tt.want)
			}
		})
	}
}

func TestAppendNumbering(t *testing.T) {
	tests := []struct {
		name, line, want string
	}{
		{"object", `{"type":"transcript"}`, `{"type":"transcript","client_session":2,"client_segment":7}`},
		{"empty object", `{}`, `{"client_session":2,"client_segment":7}`},
		{"not an object", `"text"`, `"text"`},
		{"too short", `}`, `}`},
		{"empty", ``, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(appendNumbering([]byte(tt.line), 2, 7)); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// testOutput returns the event handler of a mono input's output on
// stdout: text, or JSON lines; named is aiOla's.
func testOutput(stdout, stderr *bytes.Buffer, json, named bool) func(pipeline.Event) {
	c := &config{service: services[0]}
	if named {
		c.service = services[2]
	}
	if json {
		c.output = transcript.JSON
	}
	return newOutput(c, stdout, newConsole(stdout, stderr, false, false), true, false).handler(0)
}

func TestEventPrinter(t *testing.T) {
	ev := func(kind transport.Kind, session, segment int, raw string) pipeline.Event {
		return pipeline.Event{Event: transport.Event{Kind: kind, Raw: []byte(raw)}, Session: session, Segment: segment}
	}
	transcript := func(text string, final bool, session, segment int, raw string) pipeline.Event {
		e := ev(transport.Transcript, session, segment, raw)
		e.Text, e.Final = text, final
		return e
	}
	serverError := ev(transport.Error, 0, 0, `{"type":"error","message":"hiccup"}`)
	serverError.Message = "hiccup"
	events := []pipeline.Event{
		ev(transport.Connected, 0, 0, `{"type": "connected"}`),
		ev(transport.SegmentEnded, 1, 0, `{"type":"processing","segment_index":0}`),
		transcript("partial", false, 1, 0, `{"type":"transcript","text":"partial","is_final":false}`),
		transcript("  hello world \n", true, 1, 0, `{"type":"transcript","text":"  hello world \n"}`),
		transcript("   ", true, 2, 1, `{"type":"transcript","text":"   "}`),
		serverError,
		ev(transport.Other, 0, 0, `{"type":"language_detected"}`),
		ev(transport.SpeechStarted, 2, 1, `{"type":"speech_start"}`),
	}
	tests := []struct {
		name           string
		json           bool
		stdout, stderr string
	}{
		{"text", false, "hello world\n", "vachana-pipe: server error: hiccup\n"},
		{"json", true, `{"type":"connected"}
{"type":"processing","segment_index":0,"client_session":1,"client_segment":0}
{"type":"transcript","text":"partial","is_final":false,"client_session":1,"client_segment":0}
{"type":"transcript","text":"  hello world \n","client_session":1,"client_segment":0}
{"type":"transcript","text":"   ","client_session":2,"client_segment":1}
{"type":"error","message":"hiccup"}
{"type":"language_detected"}
{"type":"speech_start"}
`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			print := testOutput(&stdout, &stderr, tt.json, false)
			for _, ev := range events {
				print(ev)
			}
			if stdout.String() != tt.stdout || stderr.String() != tt.stderr {
				t.Fatalf("stdout:\n%s\nstderr:\n%s\nwant:\n%s\nand:\n%s", stdout.String(), stderr.String(), tt.stdout, tt.stderr)
			}
		})
	}
}

// TestEventPrinterNamed: aiOla's payloads do not name their event; the
// JSON lines get it as client_event, and translations print as text.
func TestEventPrinterNamed(t *testing.T) {
	events := []pipeline.Event{
		{Event: transport.Event{Kind: transport.Transcript, Type: "transcript", Text: "hello", Final: true, Raw: []byte(`{"transcript": "hello"}`)}, Session: 1, Segment: 0},
		{Event: transport.Event{Kind: transport.Translation, Type: "translation", Text: "bonjour", Raw: []byte(`{"translation":"bonjour"}`)}, Session: 1},
		{Event: transport.Event{Kind: transport.Structured, Type: "structured", Raw: []byte(`{"results":{}}`)}, Session: 1},
		{Event: transport.Event{Kind: transport.Other, Type: "odd\"name", Raw: []byte(`["a",1]`)}, Session: 1},
	}
	for _, tt := range []struct {
		json bool
		want string
	}{
		{false, "hello\n[translation] bonjour\n"},
		{true, `{"transcript":"hello","client_event":"transcript","client_session":1,"client_segment":0}
{"translation":"bonjour","client_event":"translation"}
{"results":{},"client_event":"structured"}
{"data":["a",1],"client_event":"odd\"name"}
`},
	} {
		var stdout, stderr bytes.Buffer
		print := testOutput(&stdout, &stderr, tt.json, true)
		for _, ev := range events {
			print(ev)
		}
		if stdout.String() != tt.want || stderr.Len() != 0 {
			t.Fatalf("json %v: stdout:\n%s\nstderr:\n%s\nwant:\n%s", tt.json, stdout.String(), stderr.String(), tt.want)
		}
	}
}

// TestConsoleQuietAndNotTerminal: a quiet console prints no warnings,
// and a console on a buffer (not a terminal) shows no progress.
func TestConsoleQuietAndNotTerminal(t *testing.T) {
	var stdout, stderr bytes.Buffer
	quiet := newConsole(&stdout, &stderr, true, false)
	quiet.warn(errors.New("careful"))
	if quiet.disp != nil || stderr.Len() != 0 {
		t.Fatalf("quiet console: progress shown or warning printed: %q", stderr.String())
	}
	con := newConsole(&stdout, &stderr, false, false)
	con.warn(errors.New("careful"))
	if p := con.track("in", time.Second, 1, frame.Rate16k); con.disp != nil || p.update(0) != nil || stderr.String() != "vachana-pipe: warning: careful\n" {
		t.Fatalf("console on a buffer: progress %v, stderr %q", con.disp, stderr.String())
	}
}

func TestPrintStats(t *testing.T) {
	src, err := source.NewReader(bytes.NewReader(make([]byte, 100)), source.Options{Raw: source.Format{Rate: frame.Rate8k}})
	if err != nil {
		t.Fatal(err)
	}
	stats := &pipeline.Stats{Rate: frame.Rate16k}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"resampled", nil, "source:      in.raw (raw, s16le, 8000 Hz, 1 channel(s); resampled 8000 → 16000 Hz, high quality)\n"},
		{"not resampled", []string{"-rate", "8000", "-quality", "low"}, "source:      in.raw (raw, s16le, 8000 Hz, 1 channel(s); no resampling)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err, _ := parseWith(append(tt.args, "-o", "f"), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			var w bytes.Buffer
			printStats(&w, "in.raw", src, c, stats, nil)
			if want := tt.want + stats.String(); w.String() != want || !strings.Contains(want, "frames:") {
				t.Fatalf("got:\n%s\nwant:\n%s", w.String(), want)
			}
		})
	}
}

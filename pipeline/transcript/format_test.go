package transcript

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in         string
		want       Format
		name, ext  string
		wantErrSub string
	}{
		{"text", Text, "text", ".txt", ""},
		{"json", JSON, "json", ".json", ""},
		{"srt", SRT, "srt", ".srt", ""},
		{"VTT", VTT, "vtt", ".vtt", ""},
		{"txt", 0, "", "", `unknown format "txt": want text, json, srt or vtt`},
		{"", 0, "", "", `unknown format "": want text, json, srt or vtt`},
		{".srt", 0, "", "", `unknown format ".srt"`},
	}
	for _, tt := range tests {
		got, err := ParseFormat(tt.in)
		if tt.wantErrSub != "" {
			if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tt.wantErrSub) {
				t.Errorf("ParseFormat(%q): got error %v, want one wrapping ErrFormat containing %q", tt.in, err, tt.wantErrSub)
			}
			continue
		}
		if err != nil || got != tt.want || got.String() != tt.name || got.Ext() != tt.ext {
			t.Errorf("ParseFormat(%q): got %v (%q, %q), %v; want %v (%q, %q)", tt.in, int(got), got, got.Ext(), err, int(tt.want), tt.name, tt.ext)
		}
	}
	if s, e := Format(9).String(), Format(-1).Ext(); s != "Format(9)" || e != "" {
		t.Errorf("not a format: got %q and %q", s, e)
	}
}

func TestAppendText(t *testing.T) {
	seg := func(ch int, start, end time.Duration, text string) Segment {
		return Segment{Channel: ch, Start: start, End: end, Text: text}
	}
	names := []string{"agent", "  ", "cust\nomer"}
	tests := []struct {
		name string
		s    Segment
		o    *Options
		want string
	}{
		{"plain", seg(0, time.Second, 2*time.Second, "hello"), nil, "hello\n"},
		{"white space", seg(0, 0, 0, "hello\n\n  world\r\n\tagain\x00!"), nil, "hello world again !\n"},
		{"stamp", seg(0, 62345*ms, 63*time.Second, "hello"), &Options{Timestamps: true}, "[01:02.3] hello\n"},
		{"stamp zero", seg(0, 0, time.Second, "hello"), &Options{Timestamps: true}, "[00:00.0] hello\n"},
		{"stamp truncated", seg(0, 59999*ms, 61*time.Second, "hello"), &Options{Timestamps: true}, "[00:59.9] hello\n"},
		{"stamp hour", seg(0, time.Hour+2*time.Minute+3400*ms, 2*time.Hour, "hello"), &Options{Timestamps: true}, "[1:02:03.4] hello\n"},
		{"stamp hours", seg(0, 12*time.Hour, 13*time.Hour, "hello"), &Options{Timestamps: true}, "[12:00:00.0] hello\n"},
		{"untimed stamp", seg(0, 0, 0, "hello"), &Options{Timestamps: true}, "[--:--.-] hello\n"},
		{"label", seg(0, 0, time.Second, "hello"), &Options{Labels: true, Names: names}, "agent: hello\n"},
		{"blank name", seg(1, 0, time.Second, "hello"), &Options{Labels: true, Names: names}, "Channel 2: hello\n"},
		{"name with line break", seg(2, 0, time.Second, "hello"), &Options{Labels: true, Names: names}, "cust omer: hello\n"},
		{"no name", seg(5, 0, time.Second, "hello"), &Options{Labels: true, Names: names}, "Channel 6: hello\n"},
		{"names without labels", seg(0, 0, time.Second, "hello"), &Options{Names: names}, "hello\n"},
		{"both", seg(0, 1500*ms, 2*time.Second, "नमस्ते दुनिया"), &Options{Labels: true, Timestamps: true, Names: names}, "[00:01.5] agent: नमस्ते दुनिया\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendText([]byte("x"), tt.s, tt.o)
			if string(got) != "x"+tt.want {
				t.Fatalf("got %q, want %q", got, "x"+tt.want)
			}
		})
	}
}

func TestWriteText(t *testing.T) {
	segs := []Segment{
		{Start: time.Second, End: 2 * time.Second, Text: "one"},
		{Channel: 1, Text: "two"},
	}
	var b bytes.Buffer
	if err := WriteText(&b, segs, &Options{Timestamps: true, Labels: true}); err != nil {
		t.Fatal(err)
	}
	if want := "[00:01.0] Channel 1: one\n[--:--.-] Channel 2: two\n"; b.String() != want {
		t.Fatalf("got %q, want %q", b.String(), want)
	}
}

func TestWriteJSON(t *testing.T) {
	segs := []Segment{
		{Start: 1234 * ms, End: 2 * time.Second, Text: "a <b> & -->", Language: "en-IN", Session: 1, Index: 4},
		{Channel: 1, Text: "untimed", Session: 2, Index: 5},
	}
	var b bytes.Buffer
	if err := WriteJSON(&b, segs, &Options{Labels: true, Names: []string{"agent"}}); err != nil {
		t.Fatal(err)
	}
	want := `[
{"channel":0,"label":"agent","start":1.234,"end":2,"text":"a <b> & -->","language":"en-IN","session":1,"index":4},
{"channel":1,"label":"Channel 2","text":"untimed","session":2,"index":5}
]
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	var back []map[string]any
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || len(back) != 2 {
		t.Fatalf("not a JSON array of two: %v", err)
	}
}

func TestWriteEmpty(t *testing.T) {
	want := map[Format]string{Text: "", JSON: "[]\n", SRT: "", VTT: "WEBVTT\n\n"}
	for f, w := range want {
		for _, segs := range [][]Segment{nil, {{Text: " \n "}}} {
			var b bytes.Buffer
			if err := Write(&b, f, segs, nil); err != nil {
				t.Fatalf("%v: %v", f, err)
			}
			if b.String() != w {
				t.Errorf("%v of %d blank segments: got %q, want %q", f, len(segs), b.String(), w)
			}
		}
	}
}

func TestWriteInvalidOptions(t *testing.T) {
	segs := []Segment{{Start: 0, End: time.Second, Text: "hello"}}
	for _, o := range []*Options{{MaxLineChars: -1}, {MaxLines: -2}, {MaxCueDuration: -time.Second}} {
		for f := range VTT + 1 {
			var b bytes.Buffer
			if err := Write(&b, f, segs, o); !errors.Is(err, ErrOptions) || b.Len() != 0 {
				t.Errorf("%v with %+v: got %v and %q written, want ErrOptions and nothing", f, *o, err, b.String())
			}
		}
	}
	if err := Write(new(bytes.Buffer), Format(7), segs, nil); !errors.Is(err, ErrFormat) {
		t.Errorf("Format(7): got %v, want ErrFormat", err)
	}
}

// errWriter fails every write.
type errWriter struct{}

var errWrite = errors.New("write failed")

func (errWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestWriteError(t *testing.T) {
	segs := []Segment{{Start: 0, End: time.Second, Text: "hello"}}
	for f := range VTT + 1 {
		if err := Write(errWriter{}, f, segs, nil); !errors.Is(err, errWrite) {
			t.Errorf("%v: got %v, want the writer's error", f, err)
		}
	}
}

package aiola_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/aiola"
)

func TestParseEvent(t *testing.T) {
	tr := func(text string) transport.Event {
		return transport.Event{Kind: transport.Transcript, Type: "transcript", Text: text, Final: true}
	}
	errEv := func(msg string, fatal bool) transport.Event {
		return transport.Event{Kind: transport.Error, Type: "error", Message: msg, Fatal: fatal}
	}
	tests := []struct {
		name, event, args string
		want              transport.Event
		raw               string // default: the one argument
	}{
		{"transcript", "transcript", `[{"transcript":"Hello there."}]`, tr("Hello there."), ""},
		{"transcript as the SDK's doc comment has it", "transcript", `[{"text":"hi","isFinal":true,"timestamp":"2026-12-01T00:00:00Z"}]`,
			transport.Event{Kind: transport.Transcript, Type: "transcript", Text: "hi", Final: true, Timestamp: "2026-12-01T00:00:00Z"}, ""},
		{"partial", "transcript", `[{"transcript":"hel","isFinal":false}]`,
			transport.Event{Kind: transport.Transcript, Type: "transcript", Text: "hel"}, ""},
		{"partial, python spelling", "transcript", `[{"transcript":"hel","is_final":"false"}]`,
			transport.Event{Kind: transport.Transcript, Type: "transcript", Text: "hel"}, ""},
		{"transcript as a bare string", "transcript", `["just text"]`, tr("just text"), ""},
		{"transcript as a number", "transcript", `[{"transcript":42}]`, tr("42"), ""},
		{"transcript null", "transcript", `[{"transcript":null}]`, tr(""), ""},
		{"transcript an array", "transcript", `[[1,2]]`, tr(""), ""},
		{"transcript of an object", "transcript", `[{"transcript":{"a":1}}]`, tr(`{"a":1}`), ""},
		{"transcript without arguments", "transcript", `[]`, tr(""), `[]`},
		{"transcript with two arguments", "transcript", `[{"transcript":"a"},{"b":2}]`, tr("a"), `[{"transcript":"a"},{"b":2}]`},
		{"transcript with invalid UTF-8", "transcript", "[{\"transcript\":\"a\xffb\"}]", tr("a\ufffdb"), ""},
		{"transcript with a wrong field type beside", "transcript", `[{"transcript":"ok","isFinal":{"x":1}}]`, tr("ok"), ""},
		{"translation", "translation", `[{"translation":"Hola."}]`,
			transport.Event{Kind: transport.Translation, Type: "translation", Text: "Hola."}, ""},
		{"translation as text", "translation", `["Hola."]`,
			transport.Event{Kind: transport.Translation, Type: "translation", Text: "Hola."}, ""},
		{"structured", "structured", `[{"results":{"patient":{"name":"Ada"}}}]`,
			transport.Event{Kind: transport.Structured, Type: "structured"}, ""},
		{"error message", "error", `[{"message":"audio too fast"}]`, errEv("audio too fast", false), ""},
		{"error with code", "error", `[{"message":"no","code":401}]`, errEv("no (code 401)", false), ""},
		{"error text", "error", `["session expired"]`, errEv("session expired", false), ""},
		{"error in error", "error", `[{"error":"bad"}]`, errEv("bad", false), ""},
		{"error object in error", "error", `[{"error":{"message":"m","code":"C"}}]`, errEv("m (code C)", false), ""},
		{"error detail", "error", `[{"detail":"d"}]`, errEv("d", false), ""},
		{"error reason", "error", `[{"reason":"r"}]`, errEv("r", false), ""},
		{"error empty", "error", `[{}]`, errEv("the server sent an error without a message", false), ""},
		{"error no argument", "error", `[]`, errEv("the server sent an error without a message", false), `[]`},
		{"error fatal", "error", `[{"message":"over","fatal":true}]`, errEv("over", true), ""},
		{"error fatal as text", "error", `[{"message":"over","fatal":"true"}]`, errEv("over", false), ""},
		{"error number", "error", `[7]`, errEv("7", false), ""},
		{"other", "schema_values_updated", `[{"status":"ok"}]`, transport.Event{Type: "schema_values_updated"}, ""},
		{"binary placeholder kept", "audio_back", `[{"_placeholder":true,"num":0}]`, transport.Event{Type: "audio_back"}, ""},
		{"whitespace", "transcript", " [ {\"transcript\" : \"w\"} ] ", tr("w"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := aiola.ParseEvent(tt.event, []byte(tt.args))
			if err != nil {
				t.Fatal(err)
			}
			raw := tt.raw
			if raw == "" {
				raw = strings.TrimSpace(tt.args)
				raw = strings.TrimSpace(raw[1 : len(raw)-1])
			}
			if string(got.Raw) != raw {
				t.Errorf("Raw = %s, want %s", got.Raw, raw)
			}
			got.Raw = nil
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseEventMalformed(t *testing.T) {
	for _, args := range []string{``, ` `, `{"transcript":"x"}`, `"x"`, `null`, `[`, `[1,`, `[}`, "[\"\xff"} {
		ev, err := aiola.ParseEvent("transcript", []byte(args))
		var me *transport.MalformedError
		if !errors.As(err, &me) || string(ev.Raw) != args || string(me.Raw) != args || ev.Type != "transcript" {
			t.Errorf("ParseEvent(%q) = %+v, %v; want a MalformedError keeping the arguments", args, ev, err)
		}
	}
}

func FuzzParseEvent(f *testing.F) {
	for _, s := range [][2]string{
		{"transcript", `[{"transcript":"Hello there."}]`},
		{"transcript", `[{"text":"hi","isFinal":false,"timestamp":1}]`},
		{"translation", `[{"translation":"Hola"}]`},
		{"structured", `[{"results":{"a":[1,{"b":null}]}}]`},
		{"error", `[{"error":{"message":"m","code":3},"fatal":true}]`},
		{"error", `["text"]`},
		{"other", `[1,2,3]`},
		{"transcript", `[]`},
		{"transcript", `[`},
		{"", "[\"\xff\xfe\"]"},
		{"error", `[{"message":{"deep":[[[[[]]]]]}}]`},
	} {
		f.Add(s[0], []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, name string, args []byte) {
		ev, err := aiola.ParseEvent(name, args)
		if ev.Type != name {
			t.Fatalf("Type %q, want %q", ev.Type, name)
		}
		var me *transport.MalformedError
		if err != nil {
			if !errors.As(err, &me) || string(ev.Raw) != string(args) {
				t.Fatalf("error %v (%T), Raw kept: %v", err, err, string(ev.Raw) == string(args))
			}
			return
		}
		if len(ev.Raw) == 0 {
			t.Fatal("an event without Raw")
		}
		if ev.Kind == transport.Error && ev.Message == "" {
			t.Fatal("an error without a message")
		}
		if !utf8.ValidString(ev.Text) && utf8.Valid(args) {
			t.Fatalf("Text %q is not UTF-8 though the arguments were", ev.Text)
		}
	})
}

package refserver

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// FuzzAiolaParse feeds the aiOla dialect a sequence of messages, separated
// by "\n~", each a text message unless it starts with "B". It must never
// panic, and audio comes only from a binary message that a binary_data
// packet announced.
func FuzzAiolaParse(f *testing.F) {
	for _, seed := range []string{
		"40/events,\n~451-/events,[\"binary_data\",{\"_placeholder\":true,\"num\":0}]\n~B\x01\x02",
		"40/events,\n~452-/events,[\"binary_data\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]\n~Ba\n~Bb",
		"40/events,\n~451-/events,[\"set_keywords\",{\"_placeholder\":true,\"num\":0}]\n~B{\"a\":\"b\"}",
		"40/events,\n~42/events,[\"set_keywords\",{\"a\":\"b\"}]\n~41/events,",
		"40/events,\n~461-/events,1[{\"_placeholder\":true,\"num\":0}]\n~Bx\n~3\n~1",
		"40/x,\n~4\n~\n~B\n~9\n~42/events,[1]",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		d := newAiolaDialect(time.Second, time.Second, false)
		for _, msg := range bytes.Split(in, []byte("\n~")) {
			typ := websocket.MessageText
			if len(msg) > 0 && msg[0] == 'B' {
				typ, msg = websocket.MessageBinary, msg[1:]
			}
			pending := d.pending != nil && d.pending.name == "binary_data" && !d.pending.skip
			m := d.parse(typ, msg)
			if m.kind == msgAudio {
				if typ != websocket.MessageBinary || !pending || !bytes.Equal(m.audio, msg) {
					t.Fatalf("audio from %v %q without a binary_data announcing it", typ, msg)
				}
			}
			if m.kind == msgBad && (m.problem == "" || m.code == "" || m.code != strings.ToUpper(m.code)) {
				t.Fatalf("bad message %q without a problem or an upper-case code: %+v", msg, m)
			}
			for _, r := range m.replies {
				if _, ok := r.(rawText); !ok {
					t.Fatalf("reply %T, want rawText", r)
				}
			}
		}
	})
}

func TestReportStringAiola(t *testing.T) {
	r := Report{
		Service:        ServiceAiola,
		RequestID:      "V1StGXR8_Z5jdHi6B-myT",
		Params:         map[string]string{"lang_code": "en", "flow_id": "wf", "x-aiola-api-token": "…"},
		AuthSession:    "sess_1",
		Frames:         3,
		Bytes:          24576,
		SizeViolations: 1,
		Keywords:       []string{`{"a":"b"}`},
		Pongs:          2,
		Disconnected:   true,
		BadMessages:    1,
		CloseCode:      1005,
	}
	want := "aiola session V1StGXR8_Z5jdHi6B-myT lang=en flow=wf auth=sess_1: frames=3 bytes=24576 violations=1 keywords=1 pongs=2 disconnected=true bad_messages=1 " +
		"cadence p50=0s p99=0s max=0s drift=0s segments=0 transcribed=0 close=1005"
	if got := r.String(); got != want {
		t.Errorf("String() =\n%q\nwant\n%q", got, want)
	}
}

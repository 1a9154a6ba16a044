package refserver

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// sarvamKey is the key the Sarvam tests send; no report, log line or
// response may contain it.
const sarvamKey = "sk_test_secret_7f3a"

// sarvamHeader returns a Sarvam handshake header: the key and a user agent.
func sarvamHeader() http.Header {
	h := http.Header{}
	h.Set("Api-Subscription-Key", sarvamKey)
	h.Set("User-Agent", "refserver-test/1")
	return h
}

// sarvamURL returns s's URL with the query q.
func sarvamURL(s *Server, q string) string {
	if q == "" {
		return s.URL
	}
	return s.URL + "?" + q
}

// dialSarvam connects like the JS SDK, with the key in the header and in
// the offered subprotocol, and query q.
func dialSarvam(t *testing.T, s *Server, q string) *client {
	t.Helper()
	return dialOpts(t, sarvamURL(s, q), &websocket.DialOptions{
		HTTPHeader:   sarvamHeader(),
		Subprotocols: []string{sarvamKeyProtocol + sarvamKey},
	})
}

// audioMsg returns the SDK's audio message carrying b at rate.
func audioMsg(b []byte, rate frame.Rate) []byte {
	return []byte(`{"audio":{"data":"` + base64.StdEncoding.EncodeToString(b) +
		`","sample_rate":` + strconv.Itoa(int(rate)) + `,"encoding":"audio/wav"}}`)
}

// sendText writes each message as a text message.
func (cl *client) sendText(t *testing.T, msgs ...[]byte) {
	t.Helper()
	ctx := testCtx(t, 5*time.Second)
	for i, m := range msgs {
		if err := cl.c.Write(ctx, websocket.MessageText, m); err != nil {
			t.Fatalf("write text message %d: %v", i, err)
		}
	}
}

// sendAudio sends pcm as audio messages of size bytes at rate.
func (cl *client) sendAudio(t *testing.T, pcm []byte, size int, rate frame.Rate) {
	t.Helper()
	var msgs [][]byte
	for _, c := range chunks(pcm, size) {
		msgs = append(msgs, audioMsg(c, rate))
	}
	cl.sendText(t, msgs...)
}

// sync returns once the server has handled every message sent before: it
// answers a ping only after reading them.
func (cl *client) sync(t *testing.T) {
	t.Helper()
	if err := cl.c.Ping(testCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
}

// obj returns e[k] as an object.
func (e event) obj(k string) event { m, _ := e[k].(map[string]any); return m }

// The Sarvam messages as the sarvamai 1.1.10 SDK declares them
// (api/types/*.d.ts). Pointers tell a present field from an absent one;
// decoding fails on a field of the wrong JSON type or one the SDK does not
// declare.

// sdkTranscriptionData mirrors SpeechToTextTranscriptionData.
type sdkTranscriptionData struct {
	RequestID           *string         `json:"request_id"` // required
	Transcript          *string         `json:"transcript"` // required
	Timestamps          *map[string]any `json:"timestamps"`
	DiarizedTranscript  *map[string]any `json:"diarized_transcript"`
	LanguageCode        *string         `json:"language_code"`
	LanguageProbability *float64        `json:"language_probability"`
	Metrics             *struct {       // required
		AudioDuration     *float64 `json:"audio_duration"`     // required
		ProcessingLatency *float64 `json:"processing_latency"` // required
	} `json:"metrics"`
}

// sdkEventsData mirrors EventsData.
type sdkEventsData struct {
	EventType  *string  `json:"event_type"`
	Timestamp  *string  `json:"timestamp"`
	SignalType *string  `json:"signal_type"`
	OccuredAt  *float64 `json:"occured_at"`
}

// sdkErrorData mirrors ErrorData (error, code) and, for the other shape,
// ErrorResponse.Data's message.
type sdkErrorData struct {
	Error   *string `json:"error"`
	Message *string `json:"message"`
	Code    *string `json:"code"`
}

// decodeData decodes the data of Sarvam message e, whose type must be typ,
// strictly into v.
func decodeData(t *testing.T, e event, typ string, v any) {
	t.Helper()
	if e.str("type") != typ {
		t.Fatalf("message %v: type %q, want %q", e, e.str("type"), typ)
	}
	if len(e) != 2 {
		t.Errorf("message %v: want exactly type and data", e)
	}
	b, err := json.Marshal(e["data"])
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s data %s does not decode as the SDK's type: %v", typ, b, err)
	}
}

// checkTranscription decodes a data message and checks its required fields
// and the nulls the WebSocket API always sends; it returns the data.
func checkTranscription(t *testing.T, e event) sdkTranscriptionData {
	t.Helper()
	var d sdkTranscriptionData
	decodeData(t, e, "data", &d)
	if d.RequestID == nil || d.Transcript == nil || d.Metrics == nil ||
		d.Metrics.AudioDuration == nil || d.Metrics.ProcessingLatency == nil ||
		d.LanguageCode == nil || d.LanguageProbability == nil {
		t.Fatalf("data %v: a field is missing", e)
	}
	for _, k := range []string{"timestamps", "diarized_transcript"} {
		if v, ok := e.obj("data")[k]; !ok || v != nil {
			t.Errorf("data %v: %s = %v, want present and null", e, k, v)
		}
	}
	return d
}

// checkEvent decodes an events message and checks it is a VAD signal.
func checkEvent(t *testing.T, e event, signal string) {
	t.Helper()
	var d sdkEventsData
	decodeData(t, e, "events", &d)
	if d.EventType == nil || *d.EventType != "vad" || d.SignalType == nil || *d.SignalType != signal ||
		d.OccuredAt == nil || d.Timestamp == nil {
		t.Fatalf("events %v: want a vad %s with occured_at and timestamp", e, signal)
	}
	if _, err := time.Parse(time.RFC3339Nano, *d.Timestamp); err != nil {
		t.Errorf("events timestamp: %v", err)
	}
	if at := time.Unix(0, int64(*d.OccuredAt*1e9)); time.Since(at).Abs() > time.Minute {
		t.Errorf("occured_at %v is not about now", at)
	}
}

// checkError decodes an error message, checks its text is in field (error
// or message) and its code, and returns the text.
func checkError(t *testing.T, e event, field, code string) string {
	t.Helper()
	var d sdkErrorData
	decodeData(t, e, "error", &d)
	text, other := d.Error, d.Message
	if field == "message" {
		text, other = other, text
	}
	if text == nil || *text == "" || other != nil || d.Code == nil || *d.Code != code {
		t.Fatalf("error %v: want the text in %q only, and code %q", e, field, code)
	}
	return *text
}

package refserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/transport/socketio"
)

func TestAiolaUpgradeRefused(t *testing.T) {
	s := startAiola(t, Options{})
	jwt, _ := aiolaGrant(t, s)
	deleted, _ := aiolaGrant(t, s)
	if st, _ := aiolaDelete(t, s, deleted); st != http.StatusOK {
		t.Fatal("DELETE failed")
	}
	without := func(k string) func(url.Values) { return func(q url.Values) { q.Del(k) } }
	set := func(k, v string) func(url.Values) { return func(q url.Values) { q.Set(k, v) } }
	tests := []struct {
		name       string
		path       string
		auth       string // "-" for none
		edit       func(url.Values)
		wantStatus int
		wantCode   string // an aiOla code, or an Engine.IO code as a number
		wantInMsg  string
	}{
		{"wrong path", "/socket.io/", "", nil, 404, "NOT_FOUND", AiolaPath},
		{"polling", "", "", set("transport", "polling"), 400, "0", "only the WebSocket transport"},
		{"no transport", "", "", without("transport"), 400, "0", "Transport unknown"},
		{"EIO=3", "", "", set("EIO", "3"), 400, "5", "EIO=4"},
		{"sid", "", "", set("sid", "abc"), 400, "1", "Session ID unknown"},
		{"no Authorization", "", "-", nil, 401, "UNAUTHORIZED", "Authorization: Bearer"},
		{"unknown jwt", "", "a.b.c", nil, 401, "INVALID_TOKEN", "no live session"},
		{"deleted jwt", "", deleted, set("x-aiola-api-token", deleted), 401, "INVALID_TOKEN", "no live session"},
		{"no x-aiola-api-token", "", "", without("x-aiola-api-token"), 400, "VALIDATION_ERROR", "x-aiola-api-token"},
		{"another x-aiola-api-token", "", "", set("x-aiola-api-token", deleted), 400, "VALIDATION_ERROR", "x-aiola-api-token"},
		{"no execution_id", "", "", without("execution_id"), 400, "VALIDATION_ERROR", "execution_id"},
		{"execution_id with a space", "", "", set("execution_id", "a b"), 400, "VALIDATION_ERROR", "execution_id"},
		{"no flow_id", "", "", without("flow_id"), 400, "VALIDATION_ERROR", "flow_id"},
		{"bad lang_code", "", "", set("lang_code", "english!"), 400, "VALIDATION_ERROR", "lang_code"},
		{"bad time_zone", "", "", set("time_zone", "../etc"), 400, "VALIDATION_ERROR", "time_zone"},
		{"keywords not JSON", "", "", set("keywords", "eye ola"), 400, "VALIDATION_ERROR", "keywords"},
		{"keywords an array", "", "", set("keywords", `["a"]`), 400, "VALIDATION_ERROR", "keywords"},
		{"tasks_config not JSON", "", "", set("tasks_config", "{"), 400, "VALIDATION_ERROR", "tasks_config"},
		{"vad_config an array", "", "", set("vad_config", "[]"), 400, "VALIDATION_ERROR", "vad_config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := aiolaQuery(jwt)
			q.Set("EIO", "4")
			q.Set("transport", "websocket")
			if tt.edit != nil {
				tt.edit(q)
			}
			path := AiolaPath + "/"
			if tt.path != "" {
				path = tt.path
			}
			auth := jwt
			switch tt.auth {
			case "-":
				auth = ""
			case "":
			default:
				auth = tt.auth
			}
			st, b := httpDo(t, http.MethodGet, s.BaseURL+path+"?"+q.Encode(), auth, "")
			var body struct {
				Code    any    `json:"code"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(b, &body); err != nil {
				t.Fatalf("body %s: %v", b, err)
			}
			if st != tt.wantStatus || fmt.Sprint(body.Code) != tt.wantCode || !strings.Contains(body.Message, tt.wantInMsg) {
				t.Errorf("status %d, body %s; want %d, code %s, a message naming %q", st, b, tt.wantStatus, tt.wantCode, tt.wantInMsg)
			}
			if bytes.Contains(b, []byte(jwt)) {
				t.Errorf("body %s contains the jwt", b)
			}
		})
	}
	if n := len(s.Reports()); n != 0 {
		t.Errorf("%d reports of refused upgrades", n)
	}
}

func TestAiolaUpgradeAccepted(t *testing.T) {
	tests := []struct {
		name string
		path string
		edit func(url.Values)
	}{
		{"trailing slash, as socket.io-client", AiolaPath + "/", nil},
		{"no trailing slash", AiolaPath, nil},
		// The JS SDK leaves out lang_code and keywords unless asked; the
		// Python SDK sends a UUID execution_id and tasks_config.
		{"JS SDK minimal", AiolaPath + "/", func(q url.Values) { q.Del("lang_code"); q.Del("keywords") }},
		{"Python SDK", AiolaPath + "/", func(q url.Values) {
			q.Set("execution_id", "0b6f2d3e-4a5b-4c6d-8e7f-901234567890")
			q.Set("tasks_config", `{"TRANSLATION":{"src_lang_code":"en","dst_lang_code":"es"}}`)
			q.Set("vad_config", `{"min_silence_ms":500}`)
			q.Set("lang_code", "en-US")
			q.Set("time_zone", "America/New_York")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startAiola(t, Options{})
			jwt, _ := aiolaGrant(t, s)
			q := aiolaQuery(jwt)
			if tt.edit != nil {
				tt.edit(q)
			}
			q.Set("EIO", "4")
			q.Set("transport", "websocket")
			u := strings.TrimSuffix(s.URL, AiolaPath) + tt.path + "?" + q.Encode()
			c, _, err := websocket.Dial(testCtx(t, 5*time.Second), u, &websocket.DialOptions{HTTPHeader: aiolaHeader(jwt)})
			if err != nil {
				t.Fatal(err)
			}
			c.CloseNow()
			r := waitReport(t, s, 1)
			want := map[string]string{}
			for k := range q {
				want[k] = q.Get(k)
			}
			want["x-aiola-api-token"] = "…"
			if !maps.Equal(r.Params, want) || r.RequestID != q.Get("execution_id") || r.Lang != q.Get("lang_code") {
				t.Errorf("report params %v, id %q, lang %q; want %v", r.Params, r.RequestID, r.Lang, want)
			}
		})
	}
}

func TestAiolaNamespace(t *testing.T) {
	s := startAiola(t, Options{PingInterval: 1500 * time.Millisecond, PingTimeout: 700 * time.Millisecond})
	jwt, _ := aiolaGrant(t, s)
	r := dialRaw(t, s, jwt, aiolaQuery(jwt))
	open := r.next(t, 5*time.Second)
	var hs map[string]any
	if !strings.HasPrefix(open, "0") || json.Unmarshal([]byte(open[1:]), &hs) != nil {
		t.Fatalf("first message %q, want the OPEN packet", open)
	}
	if sid, _ := hs["sid"].(string); len(sid) != 20 || fmt.Sprint(hs["upgrades"]) != "[]" ||
		hs["pingInterval"] != 1500.0 || hs["pingTimeout"] != 700.0 || hs["maxPayload"] != 1e6 || len(hs) != 5 {
		t.Errorf("OPEN %s: want sid, upgrades [], pingInterval 1500, pingTimeout 700, maxPayload 1000000", open[1:])
	}
	// Another namespace is refused as socket.io refuses it.
	r.write(t, "40/other,")
	if got := r.next(t, 5*time.Second); got != `44/other,{"message":"Invalid namespace"}` {
		t.Errorf("answer to 40/other, = %q", got)
	}
	// An event before the namespace is joined is answered with an error.
	r.write(t, `42/events,["set_keywords",{"a":"b"}]`)
	if got := r.next(t, 5*time.Second); !strings.HasPrefix(got, `42/events,["error",{"message":"an event before the namespace was joined`) ||
		!strings.HasSuffix(got, `"code":"INVALID_EVENT"}]`) {
		t.Errorf("answer to an event before joining = %q", got)
	}
	r.write(t, "40/events,")
	got := r.next(t, 5*time.Second)
	var ok struct {
		SID string `json:"sid"`
	}
	if !strings.HasPrefix(got, "40/events,") || json.Unmarshal([]byte(strings.TrimPrefix(got, "40/events,")), &ok) != nil || len(ok.SID) != 20 || ok.SID == hs["sid"] {
		t.Errorf("answer to 40/events, = %q, want its own sid", got)
	}
	r.write(t, "41/events,")
	if err := r.c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	rep := waitReport(t, s, 1)
	if !rep.Disconnected || rep.Err != "" || rep.CloseCode != websocket.StatusNormalClosure || rep.BadMessages != 1 || rep.Pongs != 0 {
		t.Errorf("report = %s, want a normal end by DISCONNECT and 1 bad message", rep)
	}

	// Our client sees the refusal of another namespace as a ConnectError.
	_, err := dialAiolaErr(testCtx(t, 5*time.Second), s, "/other", jwt, aiolaQuery(jwt))
	var ce *socketio.ConnectError
	if !errors.As(err, &ce) || ce.Message != "Invalid namespace" {
		t.Errorf("dial /other: %v, want a ConnectError Invalid namespace", err)
	}
}

func TestAiolaLeaveWithoutClose(t *testing.T) {
	// A client that leaves the namespace but keeps the connection open is
	// closed by the server with 1000 after leaveGrace; the end is normal.
	// leaveGrace is 5 s: this test takes that long.
	if testing.Short() {
		t.Skip("waits 5 s")
	}
	s := startAiola(t, Options{})
	jwt, _ := aiolaGrant(t, s)
	r := dialRaw(t, s, jwt, aiolaQuery(jwt))
	r.join(t)
	r.write(t, "41/events,")
	select {
	case <-r.done:
	case <-time.After(leaveGrace + 5*time.Second):
		t.Fatal("the server did not close")
	}
	if code := websocket.CloseStatus(r.err); code != websocket.StatusNormalClosure {
		t.Errorf("client saw %v, want close 1000", r.err)
	}
	if rep := waitReport(t, s, 1); !rep.Disconnected || rep.Err != "" {
		t.Errorf("report = %s, want a normal end", rep)
	}
}

func TestAiolaPing(t *testing.T) {
	const interval, timeout = 100 * time.Millisecond, 200 * time.Millisecond
	s := startAiola(t, Options{PingInterval: interval, PingTimeout: timeout})
	jwt, _ := aiolaGrant(t, s)

	t.Run("answered", func(t *testing.T) {
		cl := dialAiola(t, s, jwt, aiolaQuery(jwt))
		time.Sleep(8 * interval)
		cl.disconnect(t)
		if !errors.Is(cl.err, io.EOF) {
			t.Errorf("reader ended with %v, want EOF", cl.err)
		}
		r := waitReport(t, s, 1)
		if r.Pongs < 4 || r.Err != "" || !r.Disconnected {
			t.Errorf("report = %s, want at least 4 pongs and a normal end", r)
		}
	})
	t.Run("silent client dropped", func(t *testing.T) {
		start := time.Now()
		r := dialRaw(t, s, jwt, aiolaQuery(jwt))
		r.join(t) // and then never pong
		select {
		case <-r.done:
		case <-time.After(5 * time.Second):
			t.Fatal("the server did not drop a client that never pongs")
		}
		if d := time.Since(start); d < interval+timeout {
			t.Errorf("dropped after %v, want at least pingInterval + pingTimeout", d)
		}
		rep := waitReport(t, s, 2)
		if rep.Pongs != 0 || rep.CloseCode != -1 || !strings.Contains(rep.Err, "ping timeout: no pong within 200ms") {
			t.Errorf("report = %s, want a ping timeout", rep)
		}
	})
}

func TestAiolaTranscripts(t *testing.T) {
	s := startAiola(t, Options{RecordAudio: true})
	jwt, id := aiolaGrant(t, s)
	cl := dialAiola(t, s, jwt, aiolaQuery(jwt))
	// set_keywords as the JS SDK sends it (a binary attachment holding
	// JSON) and as the Python SDK does (a JSON object).
	if err := cl.c.Emit("set_keywords", []byte(`{"eye ola": "aiOla"}`)); err != nil {
		t.Fatal(err)
	}
	if err := cl.c.Emit("set_keywords", map[string]string{"vachana": "Vachana"}); err != nil {
		t.Fatal(err)
	}
	if err := cl.c.Emit("set_schema_values", []byte(`{"a.b":["c"]}`)); err != nil { // counted only
		t.Fatal(err)
	}
	audio := pcm(frame.Rate16k, twoSegments...)
	const chunk = 4096 * 2 // the SDKs' mic helpers: 4096 samples
	n := cl.sendAudio(t, audio[:len(audio)/2], chunk)
	// binary_data with the JS SDK's optional metadata.
	for _, c := range chunks(audio[len(audio)/2:], chunk) {
		if err := cl.c.Emit("binary_data", c, map[string]string{"sub_flow_id": "container-1"}); err != nil {
			t.Fatal(err)
		}
		n++
	}
	texts := cl.transcripts(t, 2)
	cl.sync(t)
	cl.disconnect(t)
	r := waitReport(t, s, 1)

	if len(r.Segments) != 2 || !r.Segments[0].Transcribed || !r.Segments[1].Transcribed {
		t.Fatalf("segments = %+v, want 2 transcribed", r.Segments)
	}
	for k, want := range wantSegments {
		seg := r.Segments[k]
		if texts[k] != seg.Text || !strings.HasPrefix(seg.Text, fmt.Sprintf("[segment %d: ", k)) {
			t.Errorf("transcript %d = %q, the server's segment: %q", k, texts[k], seg.Text)
		}
		if seg.StartMS < want[0]-32 || seg.StartMS > want[0]+32 {
			t.Errorf("segment %d starts at %d ms, want about %d", k, seg.StartMS, want[0])
		}
	}
	if r.Service != ServiceAiola || r.Frames != n || r.Bytes != int64(len(audio)) || !bytes.Equal(r.Audio, audio) || r.SampleRate != frame.Rate16k {
		t.Errorf("report = %s, want %d frames and the audio recorded", r, n)
	}
	wantKW := []string{`{"eye ola":"aiOla"}`, `{"vachana":"Vachana"}`}
	if fmt.Sprint(r.Keywords) != fmt.Sprint(wantKW) || r.Configs != 2 {
		t.Errorf("keywords %q, configs %d; want %q", r.Keywords, r.Configs, wantKW)
	}
	if want := map[string]int{"binary_data": n, "set_keywords": 2, "set_schema_values": 1}; !maps.Equal(r.Events, want) {
		t.Errorf("events %v, want %v", r.Events, want)
	}
	if r.AuthSession != id || r.RequestID != testExecutionID || r.Lang != "en" || r.UserAgent != "refserver-test/1" ||
		r.Params["flow_id"] != testWorkflow || r.Params["keywords"] != `{"eye ola":"aiOla"}` || r.Params["x-aiola-api-token"] != "…" {
		t.Errorf("report = %+v: want auth session %s, the query recorded, the token redacted", r, id)
	}
	if !r.Disconnected || r.Err != "" || r.BadMessages != 0 || r.CloseCode != websocket.StatusNormalClosure {
		t.Errorf("report = %s, want a normal end by DISCONNECT", r)
	}
	if line := r.String(); strings.Contains(line, jwt) || !strings.Contains(line, "aiola session "+testExecutionID) ||
		!strings.Contains(line, "keywords=2") || !strings.Contains(line, "disconnected=true") || !strings.Contains(line, "auth="+id) {
		t.Errorf("String() = %q", line)
	}
	// The auth session outlives the socket until the client deletes it.
	if n := s.LiveSessions(); n != 1 {
		t.Errorf("LiveSessions() = %d after the socket closed, want 1 until DELETE", n)
	}
}

// TestAiolaSpeech streams the bundled speech recording and gets one
// transcript for every segment the server found.
func TestAiolaSpeech(t *testing.T) {
	speech, err := os.ReadFile("../../testdata/speech-16k.s16le")
	if err != nil {
		t.Fatal(err)
	}
	s := startAiola(t, Options{})
	jwt, _ := aiolaGrant(t, s)
	cl := dialAiola(t, s, jwt, aiolaQuery(jwt))
	n := cl.sendAudio(t, speech, 4096*2)
	n += cl.sendAudio(t, pcm(frame.Rate16k, silence(time.Second)), 4096*2) // ends the last segment
	cl.sync(t)
	time.Sleep(3 * DefaultProcessingDelay)
	cl.disconnect(t)
	var texts []string
	for ev := range cl.events {
		if ev.Name != "transcript" {
			t.Errorf("event %s %s, want transcripts only", ev.Name, ev.Args)
			continue
		}
		var tr struct{ Transcript string }
		arg(t, ev, &tr)
		texts = append(texts, tr.Transcript)
	}
	r := waitReport(t, s, 1)
	if len(r.Segments) == 0 || len(texts) != len(r.Segments) {
		t.Fatalf("%d transcripts for %d segments, want one each, some", len(texts), len(r.Segments))
	}
	for k, seg := range r.Segments {
		if !seg.Transcribed || texts[k] != seg.Text {
			t.Errorf("transcript %d %q, segment %+v", k, texts[k], seg)
		}
	}
	if r.Frames != n || r.Bytes != int64(len(speech))+int64(frame.Rate16k.N(time.Second))*2 {
		t.Errorf("report = %s, want %d frames, all the bytes", r, n)
	}
}

func TestAiolaBadPackets(t *testing.T) {
	const bd = `451-/events,["binary_data",{"_placeholder":true,"num":0}]`
	tests := []struct {
		name     string
		msgs     []any // string: text; []byte: binary
		wantCode string
		wantMsg  string // in the error's message
		event    string // counted in Events instead of an error
	}{
		{"empty text", []any{""}, "INVALID_PACKET", "empty text message", ""},
		{"unknown Engine.IO type", []any{"9"}, "INVALID_PACKET", "no Engine.IO packet", ""},
		{"MESSAGE without a packet", []any{"4"}, "INVALID_PACKET", "malformed packet", ""},
		{"unknown Socket.IO type", []any{"48"}, "INVALID_PACKET", "unknown type", ""},
		{"EVENT without data", []any{"42/events,"}, "INVALID_PACKET", "malformed packet", ""},
		{"EVENT not an array", []any{`42/events,{"a":1}`}, "INVALID_PACKET", "malformed packet", ""},
		{"EVENT data not JSON", []any{`42/events,["binary_data",`}, "INVALID_PACKET", "not JSON", ""},
		{"event without a name", []any{`42/events,[1,2]`}, "INVALID_EVENT", "without a name", ""},
		{"reserved name", []any{`42/events,["disconnect"]`}, "INVALID_PACKET", "malformed packet", ""},
		{"binary_data as text", []any{`42/events,["binary_data",{}]`}, "INVALID_EVENT", "binary_data must carry", ""},
		{"binary_data with two attachments", []any{`452-/events,["binary_data",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, []byte{1, 2}, []byte{3, 4}}, "INVALID_EVENT", "binary_data must carry", ""},
		{"binary_data placeholder num 1", []any{`451-/events,["binary_data",{"_placeholder":true,"num":1}]`, []byte{1, 2}}, "INVALID_EVENT", "binary_data must carry", ""},
		{"too many attachments", []any{`4511-/events,["binary_data",{"_placeholder":true,"num":0}]`}, "INVALID_PACKET", "more than 10 attachments", ""},
		{"attachment count not a number", []any{`45x-/events,["binary_data"]`}, "INVALID_PACKET", "attachment count", ""},
		{"binary nobody announced", []any{[]byte{1, 2, 3}}, "INVALID_PACKET", "no packet announced", ""},
		{"text before the attachment", []any{bd, `42/events,["other"]`}, "INVALID_PACKET", "a text packet came after 0 of the 1", ""},
		{"another namespace", []any{`42/other,["binary_data",1]`}, "INVALID_EVENT", "namespace /other", ""},
		{"keywords an array", []any{`42/events,["set_keywords",["a"]]`}, "INVALID_KEYWORDS", "JSON object of strings", ""},
		{"keywords not strings", []any{`42/events,["set_keywords",{"a":1}]`}, "INVALID_KEYWORDS", "JSON object of strings", ""},
		{"keywords missing", []any{`42/events,["set_keywords"]`}, "INVALID_KEYWORDS", "without keywords", ""},
		{"keywords attachment not JSON", []any{`451-/events,["set_keywords",{"_placeholder":true,"num":0}]`, []byte("eye ola")}, "INVALID_KEYWORDS", "JSON object", ""},
		{"CONNECT_ERROR from a client", []any{`44/events,{"message":"x"}`}, "INVALID_PACKET", "servers only", ""},
		{"unknown event", []any{`42/events,["surprise",{"a":1}]`}, "", "", "surprise"},
		{"unknown binary event", []any{`452-/events,["blob",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, []byte{1}, []byte{2}}, "", "", "blob"},
		{"acknowledgement", []any{`43/events,7["ok"]`}, "", "", ""},
		{"binary acknowledgement", []any{`461-/events,7[{"_placeholder":true,"num":0}]`, []byte{9}}, "", "", ""},
		{"noop and client ping", []any{"6", "2"}, "", "", ""},
		{"DISCONNECT of another namespace", []any{"41/other,"}, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startAiola(t, Options{})
			jwt, _ := aiolaGrant(t, s)
			r := dialRaw(t, s, jwt, aiolaQuery(jwt))
			r.join(t)
			for _, m := range tt.msgs {
				if b, ok := m.([]byte); ok {
					r.writeBinary(t, b)
				} else {
					r.write(t, m.(string))
				}
			}
			if tt.wantCode != "" {
				got := r.next(t, 5*time.Second)
				var ev []struct {
					Message string `json:"message"`
					Code    string `json:"code"`
				}
				if !strings.HasPrefix(got, `42/events,["error",`) || json.Unmarshal([]byte(`[`+strings.TrimPrefix(got, `42/events,["error",`)), &ev) != nil ||
					len(ev) != 1 || ev[0].Code != tt.wantCode || !strings.Contains(ev[0].Message, tt.wantMsg) {
					t.Errorf("answer %q, want an error event %s mentioning %q", got, tt.wantCode, tt.wantMsg)
				}
			}
			// The session goes on: one good binary_data is audio.
			r.write(t, bd)
			r.writeBinary(t, make([]byte, frame.Size))
			if err := r.c.Ping(testCtx(t, 5*time.Second)); err != nil {
				t.Fatal(err)
			}
			r.write(t, "41/events,")
			_ = r.c.Close(websocket.StatusNormalClosure, "")
			rep := waitReport(t, s, 1)
			wantBad := 0
			if tt.wantCode != "" {
				wantBad = 1
			}
			if rep.BadMessages != wantBad || rep.Frames != 1 || rep.Err != "" || !rep.Disconnected {
				t.Errorf("report = %s, want %d bad messages, 1 frame, a normal end", rep, wantBad)
			}
			if tt.event != "" && rep.Events[tt.event] != 1 {
				t.Errorf("events %v, want %s counted", rep.Events, tt.event)
			}
			select {
			case m, ok := <-r.msgs:
				if ok && string(m.p) != "2" {
					t.Errorf("unexpected message %q", m.p)
				}
			default:
			}
		})
	}
}

func TestAiolaReadLimit(t *testing.T) {
	s := startAiola(t, Options{})
	jwt, _ := aiolaGrant(t, s)
	r := dialRaw(t, s, jwt, aiolaQuery(jwt))
	r.join(t)
	r.write(t, `451-/events,["binary_data",{"_placeholder":true,"num":0}]`)
	r.writeBinary(t, make([]byte, aiolaMaxPayload)) // at the limit: accepted
	r.write(t, `451-/events,["binary_data",{"_placeholder":true,"num":0}]`)
	_ = r.c.Write(testCtx(t, 5*time.Second), websocket.MessageBinary, make([]byte, aiolaMaxPayload+1))
	<-r.done
	if code := websocket.CloseStatus(r.err); code != websocket.StatusMessageTooBig {
		t.Errorf("client saw %v, want close 1009", r.err)
	}
	rep := waitReport(t, s, 1)
	if rep.Frames != 1 || !strings.Contains(rep.Err, "maxPayload of 1000000 bytes") {
		t.Errorf("report = %s, want 1 frame and a maxPayload error", rep)
	}
}

func TestAiolaHandlerInHTTPTest(t *testing.T) {
	s := New(&Options{Service: ServiceAiola})
	ts := newHTTPTest(t, s)
	// The one base URL serves the tokens and the socket.
	s.BaseURL, s.URL = ts, "ws"+strings.TrimPrefix(ts, "http")+AiolaPath
	jwt, _ := aiolaGrant(t, s)
	cl := dialAiola(t, s, jwt, aiolaQuery(jwt))
	cl.disconnect(t)
	if r := waitReport(t, s, 1); r.Service != ServiceAiola || !r.Disconnected {
		t.Errorf("report = %s", r)
	}
	s.Close()
	st, b := httpDo(t, http.MethodPost, ts+AiolaTokenPath, aiolaKey, "")
	if code, _ := aiolaErrorBody(t, b); st != http.StatusServiceUnavailable || code != "SERVER_CLOSED" {
		t.Errorf("after Close: status %d, body %s; want 503 SERVER_CLOSED", st, b)
	}
}

// TestAiolaOtherEvents: events the server does not act on are counted by
// name, within bounds; set_schema_values is acknowledged as the JS SDK's
// setSchemaValues callback expects.
func TestAiolaOtherEvents(t *testing.T) {
	s := startAiola(t, Options{})
	jwt, _ := aiolaGrant(t, s)
	r := dialRaw(t, s, jwt, aiolaQuery(jwt))
	r.join(t)
	// setSchemaValues(values, callback) as the JS SDK sends it: a Uint8Array
	// of JSON and an acknowledgement id.
	r.write(t, `451-/events,3["set_schema_values",{"_placeholder":true,"num":0}]`)
	r.writeBinary(t, []byte(`{"contact.name":["John Doe"]}`))
	if got := r.next(t, 5*time.Second); got != `43/events,3[{"status":"ok"}]` {
		t.Errorf("answer to set_schema_values = %q, want its acknowledgement", got)
	}
	r.write(t, `42/events,4["set_schema_values",{"a":[1]}]`)
	if got := r.next(t, 5*time.Second); got != `43/events,4[{"status":"ok"}]` {
		t.Errorf("answer to set_schema_values = %q, want its acknowledgement", got)
	}
	r.write(t, `42/events,5["other",1]`) // no acknowledgement for others
	for i := range maxEventNames + 5 {
		r.write(t, fmt.Sprintf(`42/events,["e%d"]`, i))
	}
	r.write(t, `42/events,["`+strings.Repeat("n", 100)+`"]`)
	if err := r.c.Ping(testCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	r.write(t, "41/events,")
	_ = r.c.Close(websocket.StatusNormalClosure, "")
	rep := waitReport(t, s, 1)
	if len(rep.Events) != maxEventNames+1 || rep.Events["set_schema_values"] != 2 || rep.Events["other"] != 1 ||
		rep.Events["(other)"] != 8 || rep.BadMessages != 0 {
		t.Errorf("events %v (%d names), %d bad; want %d names and the rest under (other)", rep.Events, len(rep.Events), rep.BadMessages, maxEventNames+1)
	}
	select {
	case m, ok := <-r.msgs:
		if ok && string(m.p) != "2" {
			t.Errorf("unexpected message %q", m.p)
		}
	default:
	}
}

// TestAiolaChunkSizes: an aiOla chunk may hold any whole number of frames;
// a violation is a chunk that is empty or ends in half a sample, or one
// that ends between two frames and is not the last.
func TestAiolaChunkSizes(t *testing.T) {
	tests := []struct {
		name           string
		sizes          []int
		wantViolations int
	}{
		{"this client's: 4 frames, the last 1", []int{4096, 4096, 1024}, 0},
		{"the SDKs': 4096 samples, the last short", []int{8192, 8192, 4932}, 0},
		{"a replay's first chunk shorter", []int{2048, 4096, 4096}, 0},
		{"frames of 1024 bytes", []int{1024, 1024, 1024}, 0},
		{"between two frames, not last", []int{4096, 3000, 4096}, 1},
		{"boundaries", []int{1022, 1024, 1026, 1024}, 2},
		{"half a sample, last too", []int{1023, 4096, 4095}, 2},
		{"empty", []int{4096, 0, 4096}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startAiola(t, Options{RecordAudio: true})
			jwt, _ := aiolaGrant(t, s)
			cl := dialAiola(t, s, jwt, aiolaQuery(jwt))
			var sent []byte
			for i, n := range tt.sizes {
				c := bytes.Repeat([]byte{byte(i + 1)}, n)
				if err := cl.c.EmitBinary("binary_data", c); err != nil {
					t.Fatal(err)
				}
				sent = append(sent, c...)
			}
			cl.sync(t)
			cl.disconnect(t)
			r := waitReport(t, s, 1)
			if r.SizeViolations != tt.wantViolations || r.Frames != len(tt.sizes) || r.Bytes != int64(len(sent)) || !bytes.Equal(r.Audio, sent) {
				t.Errorf("report = %s; want %d chunks, %d bytes recorded, %d violations", r, len(tt.sizes), len(sent), tt.wantViolations)
			}
		})
	}
}

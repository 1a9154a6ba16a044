package refserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/socketio"
)

// aiolaKey is the API key the aiOla tests send; no report, log line or
// response may contain it.
const aiolaKey = "ak_test_secret_91c2"

// The query values the tests send: a nanoid execution_id as the JS SDK
// makes, and the SDKs' default workflow.
const (
	testExecutionID = "V1StGXR8_Z5jdHi6B-myT"
	testWorkflow    = "2c78fcf1-9265-408f-b8c3-d9d7e7ebc1bc"
)

// startAiola starts an aiOla server with o's other fields, closed at the
// end of the test.
func startAiola(t *testing.T, o Options) *Server {
	t.Helper()
	o.Service = ServiceAiola
	return start(t, &o)
}

// httpDo sends a request with an Authorization: Bearer auth header (none
// if auth is "") and body, and returns the status and body.
func httpDo(t *testing.T, method, u, auth, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(testCtx(t, 5*time.Second), method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// aiolaToken runs POST apiKey2Token with key and returns the token.
func aiolaToken(t *testing.T, s *Server, key string) string {
	t.Helper()
	st, b := httpDo(t, http.MethodPost, s.BaseURL+AiolaTokenPath, key, "")
	var body struct {
		Context struct {
			Token string `json:"token"`
		} `json:"context"`
	}
	if st != http.StatusOK || json.Unmarshal(b, &body) != nil || body.Context.Token == "" {
		t.Fatalf("apiKey2Token: status %d, body %s; want 200 and context.token", st, b)
	}
	return body.Context.Token
}

// aiolaGrant runs the whole token flow, as the SDKs' grantToken, and
// returns the JWT and the session id.
func aiolaGrant(t *testing.T, s *Server) (jwt, sessionID string) {
	t.Helper()
	tok := aiolaToken(t, s, aiolaKey)
	st, b := httpDo(t, http.MethodPost, s.BaseURL+AiolaSessionPath, tok, `{"workflow_id":"`+testWorkflow+`"}`)
	var body struct {
		JWT       string `json:"jwt"`
		SessionID string `json:"sessionId"`
	}
	if st != http.StatusOK || json.Unmarshal(b, &body) != nil || body.JWT == "" || body.SessionID == "" {
		t.Fatalf("session: status %d, body %s; want 200, jwt and sessionId", st, b)
	}
	return body.JWT, body.SessionID
}

// aiolaDelete ends the auth session of jwt and returns the status and body.
func aiolaDelete(t *testing.T, s *Server, jwt string) (int, []byte) {
	t.Helper()
	return httpDo(t, http.MethodDelete, s.BaseURL+AiolaSessionPath, jwt, "")
}

// aiolaErrorBody decodes an aiOla error body, {"message":…,"code":…}.
func aiolaErrorBody(t *testing.T, b []byte) (code, message string) {
	t.Helper()
	var e struct {
		Message *string `json:"message"`
		Code    *string `json:"code"`
	}
	if err := json.Unmarshal(b, &e); err != nil || e.Message == nil || e.Code == nil || *e.Message == "" {
		t.Fatalf("error body %s: want {\"message\":…,\"code\":…}", b)
	}
	return *e.Code, *e.Message
}

// aiolaQuery returns the query the JS SDK sends for stream({langCode:
// "en", keywords}) with jwt.
func aiolaQuery(jwt string) url.Values {
	return url.Values{
		"execution_id":      {testExecutionID},
		"flow_id":           {testWorkflow},
		"time_zone":         {"UTC"},
		"x-aiola-api-token": {jwt},
		"lang_code":         {"en"},
		"keywords":          {`{"eye ola":"aiOla"}`},
	}
}

// aiolaHeader returns the upgrade headers the SDKs send.
func aiolaHeader(jwt string) http.Header {
	return http.Header{"Authorization": {"Bearer " + jwt}, "User-Agent": {"refserver-test/1"}}
}

// aiolaClient is our Socket.IO client on an aiOla session, with a reader
// goroutine that passes every event to events and stores the error that
// ended it in err.
type aiolaClient struct {
	c         *socketio.Conn
	events    chan socketio.Event
	malformed chan error // the MalformedErrors ReadEvent returned
	done      chan struct{}
	err       error // valid after done is closed
}

// dialAiolaErr connects our client with jwt and q; its reader is not
// started.
func dialAiolaErr(ctx context.Context, s *Server, namespace string, jwt string, q url.Values) (*socketio.Conn, error) {
	return socketio.Dial(ctx, socketio.Config{
		URL:       strings.TrimSuffix(s.URL, AiolaPath),
		Path:      AiolaPath,
		Namespace: namespace,
		Query:     q,
		Header:    aiolaHeader(jwt),
	})
}

// dialAiola connects our client with jwt and q, and starts its reader.
func dialAiola(t *testing.T, s *Server, jwt string, q url.Values) *aiolaClient {
	t.Helper()
	c, err := dialAiolaErr(testCtx(t, 5*time.Second), s, AiolaNamespace, jwt, q)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	cl := &aiolaClient{c: c, events: make(chan socketio.Event, 1024), malformed: make(chan error, 64), done: make(chan struct{})}
	go func() {
		defer close(cl.done)
		defer close(cl.events)
		for {
			ev, err := c.ReadEvent()
			var me *transport.MalformedError
			switch {
			case errors.As(err, &me):
				select {
				case cl.malformed <- err:
				default:
				}
				continue
			case err != nil:
				cl.err = err
				return
			}
			cl.events <- ev
		}
	}()
	t.Cleanup(func() {
		_ = c.CloseNow()
		<-cl.done
	})
	return cl
}

// next returns the next event, failing the test after d.
func (cl *aiolaClient) next(t *testing.T, d time.Duration) socketio.Event {
	t.Helper()
	select {
	case ev, ok := <-cl.events:
		if !ok {
			t.Fatalf("the session ended while waiting for an event: %v", cl.err)
		}
		return ev
	case <-time.After(d):
		t.Fatalf("no event within %v", d)
	}
	return socketio.Event{}
}

// arg decodes the first argument of ev into v.
func arg(t *testing.T, ev socketio.Event, v any) {
	t.Helper()
	var args []json.RawMessage
	if err := json.Unmarshal(ev.Args, &args); err != nil || len(args) != 1 {
		t.Fatalf("event %s: args %s, want exactly one", ev.Name, ev.Args)
	}
	dec := json.NewDecoder(strings.NewReader(string(args[0])))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("event %s: %s does not decode strictly: %v", ev.Name, args[0], err)
	}
}

// transcripts collects n transcript events and returns their text; any
// other event fails the test.
func (cl *aiolaClient) transcripts(t *testing.T, n int) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		ev := cl.next(t, 10*time.Second)
		if ev.Name != "transcript" {
			t.Fatalf("event %s %s, want transcript", ev.Name, ev.Args)
		}
		var tr struct {
			Transcript *string `json:"transcript"`
		}
		arg(t, ev, &tr)
		if tr.Transcript == nil {
			t.Fatalf("transcript %s has no transcript field", ev.Args)
		}
		got = append(got, *tr.Transcript)
	}
	return got
}

// aiolaErrorEvent decodes an error event strictly and returns its code
// and message.
func aiolaErrorEventOf(t *testing.T, ev socketio.Event) (code, message string) {
	t.Helper()
	if ev.Name != "error" {
		t.Fatalf("event %s %s, want error", ev.Name, ev.Args)
	}
	var e struct {
		Message *string `json:"message"`
		Code    *string `json:"code"`
	}
	arg(t, ev, &e)
	if e.Message == nil || e.Code == nil || *e.Message == "" || *e.Code == "" {
		t.Fatalf("error %s: want message and code", ev.Args)
	}
	return *e.Code, *e.Message
}

// sendAudio emits pcm as binary_data events of size bytes.
func (cl *aiolaClient) sendAudio(t *testing.T, pcm []byte, size int) int {
	t.Helper()
	n := 0
	for _, c := range chunks(pcm, size) {
		if err := cl.c.EmitBinary("binary_data", c); err != nil {
			t.Fatalf("binary_data %d: %v", n, err)
		}
		n++
	}
	return n
}

// sync returns once the server has read everything sent before.
func (cl *aiolaClient) sync(t *testing.T) {
	t.Helper()
	if err := cl.c.Ping(testCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
}

// disconnect leaves the namespace and closes, as socket.io-client's
// disconnect(), and waits for the reader.
func (cl *aiolaClient) disconnect(t *testing.T) {
	t.Helper()
	if err := cl.c.Disconnect(); err != nil {
		t.Fatalf("disconnect: %v", err)
	}
	<-cl.done
}

// rawAiola is a bare WebSocket on an aiOla session: the tests that write
// packets by hand use it.
type rawAiola struct {
	c    *websocket.Conn
	msgs chan rawMessage
	done chan struct{}
	err  error // valid after done is closed
}

type rawMessage struct {
	typ websocket.MessageType
	p   []byte
}

// aiolaURL returns the WebSocket URL of s with the Engine.IO query and q.
func aiolaURL(s *Server, q url.Values) string {
	v := url.Values{}
	for k, vs := range q {
		v[k] = vs
	}
	v.Set("EIO", "4")
	v.Set("transport", "websocket")
	return s.URL + "/?" + v.Encode()
}

// httpURL turns a ws:// URL into the http:// one, for plain requests.
func httpURL(u string) string { return "http" + strings.TrimPrefix(u, "ws") }

// dialRaw opens a bare WebSocket with jwt and q and starts its reader,
// which answers nothing: not even pings.
func dialRaw(t *testing.T, s *Server, jwt string, q url.Values) *rawAiola {
	t.Helper()
	c, resp, err := websocket.Dial(testCtx(t, 5*time.Second), aiolaURL(s, q), &websocket.DialOptions{HTTPHeader: aiolaHeader(jwt)})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial: status %d: %v", status, err)
	}
	c.SetReadLimit(4 << 20)
	r := &rawAiola{c: c, msgs: make(chan rawMessage, 1024), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		defer close(r.msgs)
		for {
			typ, p, err := c.Read(context.Background())
			if err != nil {
				r.err = err
				return
			}
			r.msgs <- rawMessage{typ, p}
		}
	}()
	t.Cleanup(func() {
		_ = c.CloseNow()
		<-r.done
	})
	return r
}

// next returns the next message that is not a ping, failing after d.
func (r *rawAiola) next(t *testing.T, d time.Duration) string {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m, ok := <-r.msgs:
			if !ok {
				t.Fatalf("the connection ended while waiting for a message: %v", r.err)
			}
			if m.typ == websocket.MessageText && string(m.p) == "2" {
				continue
			}
			return string(m.p)
		case <-deadline:
			t.Fatalf("no message within %v", d)
		}
	}
}

// write sends each text message.
func (r *rawAiola) write(t *testing.T, msgs ...string) {
	t.Helper()
	for _, m := range msgs {
		if err := r.c.Write(testCtx(t, 5*time.Second), websocket.MessageText, []byte(m)); err != nil {
			t.Fatalf("write %q: %v", m, err)
		}
	}
}

// writeBinary sends one binary message.
func (r *rawAiola) writeBinary(t *testing.T, p []byte) {
	t.Helper()
	if err := r.c.Write(testCtx(t, 5*time.Second), websocket.MessageBinary, p); err != nil {
		t.Fatalf("write binary: %v", err)
	}
}

// join reads the OPEN packet and joins the namespace.
func (r *rawAiola) join(t *testing.T) socketio.Handshake {
	t.Helper()
	open := r.next(t, 5*time.Second)
	if !strings.HasPrefix(open, "0") {
		t.Fatalf("first message %q, want the OPEN packet", open)
	}
	hs, err := socketio.ParseHandshake([]byte(open[1:]))
	if err != nil {
		t.Fatal(err)
	}
	r.write(t, "40/events,")
	if got := r.next(t, 5*time.Second); !strings.HasPrefix(got, `40/events,{"sid":"`) {
		t.Fatalf("answer to 40/events, = %q, want 40/events,{\"sid\":…}", got)
	}
	return hs
}

// newHTTPTest serves h with httptest and returns its base URL.
func newHTTPTest(t *testing.T, h http.Handler) string {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}

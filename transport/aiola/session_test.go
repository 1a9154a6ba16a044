package aiola_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/internal/leakcheck"
	"github.com/vachana-pipe/vachana-pipe/internal/testutil"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/aiola"
	"github.com/vachana-pipe/vachana-pipe/transport/socketio"
)

func TestMain(m *testing.M) {
	if testutil.Role() == "sink" {
		serveSink()
	}
	leakcheck.Main(m)
}

// serveSink is the body of the "sink" child: aiOla's token flow and a
// Socket.IO endpoint on loopback that accepts any session, never pings (its
// pingInterval is ten minutes) and reads everything the client sends, until
// its standard input closes.
func serveSink() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case aiola.TokenPath:
			io.WriteString(w, `{"context":{"token":"t"}}`)
			return
		case aiola.SessionPath:
			fmt.Fprintf(w, `{"jwt":%q,"sessionId":"s"}`, jwtExpiring(time.Hour, 1))
			return
		}
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := context.Background()
		if ws.Write(ctx, websocket.MessageText, []byte(`0{"sid":"sink","upgrades":[],"pingInterval":600000,"pingTimeout":600000,"maxPayload":1000000}`)) != nil {
			return
		}
		if _, msg, err := ws.Read(ctx); err != nil || string(msg) != "40/events," {
			fmt.Fprintf(os.Stderr, "sink: got %q, %v instead of a CONNECT\n", msg, err)
			return
		}
		if ws.Write(ctx, websocket.MessageText, []byte(`40/events,{"sid":"s"}`)) != nil {
			return
		}
		ws.SetReadLimit(-1)
		for {
			if _, _, err := ws.Read(ctx); err != nil {
				return
			}
		}
	}))
	testutil.ServeUntilStdinCloses(srv.URL)
	srv.Close()
	os.Exit(0)
}

// childSession opens a session to the sink in a child process (see
// TestMain), closed when the test ends. The HTTP client keeps no idle
// connection (whose goroutines would run beside a count of allocations).
func childSession(tb testing.TB) *aiola.Session {
	tb.Helper()
	url := testutil.Peer(tb, "sink")
	d, err := aiola.NewDialer(aiola.Config{APIURL: url, AuthURL: url, APIKey: "k",
		HTTPClient: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := d.DialSession(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.CloseNow() })
	return s
}

// TestWriteAudioDoesNotAllocate counts WriteAudio's allocations with no
// goroutine but the test's in this process: the server runs in a child,
// and a Session has no goroutine of its own.
func TestWriteAudioDoesNotAllocate(t *testing.T) {
	s := childSession(t)
	chunk := make([]byte, aiola.ChunkFrames*frame.Size)
	if err := s.WriteAudio(chunk); err != nil { // caches the packet
		t.Fatal(err)
	}
	testutil.NoAllocs(t, "WriteAudio", func() {
		if err := s.WriteAudio(chunk); err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkWriteAudio measures one 4096-byte chunk (a binary_data event:
// two WebSocket messages) sent to a server in a child process.
func BenchmarkWriteAudio(b *testing.B) {
	s := childSession(b)
	chunk := make([]byte, aiola.ChunkFrames*frame.Size)
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.WriteAudio(chunk); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSession streams audio of every allowed size and the keywords to the
// fake, and reads every kind of event back, then closes normally.
func TestSession(t *testing.T) {
	f := newFake(t)
	type got struct {
		keywords string
		audio    [][]byte
		closing  string
	}
	done := make(chan got, 1)
	f.Script = func(p *peer) {
		var g got
		defer func() { done <- g }()
		name, kw, ok := p.binaryEvent()
		if !ok || name != aiola.EventKeywords {
			p.t.Errorf("first event %q, want set_keywords", name)
			return
		}
		g.keywords = string(kw)
		for range aiola.ChunkFrames {
			name, a, ok := p.binaryEvent()
			if !ok || name != aiola.EventAudio {
				p.t.Errorf("event %q, want binary_data", name)
				return
			}
			g.audio = append(g.audio, a)
		}
		for _, e := range [][2]string{
			{"transcript", `{"transcript":"hello <world> & co"}`},
			{"translation", `{"translation":"hola"}`},
			{"structured", `{"results":{"name":"Ada"}}`},
			{"error", `{"message":"bad audio","code":"E1"}`},
			{"schema_values_updated", `{"status":"ok"}`},
		} {
			if !p.emit(e[0], e[1]) {
				return
			}
		}
		_, msg, err := p.ws.Read(p.ctx)
		if err != nil {
			p.t.Errorf("server: waiting for the DISCONNECT: %v", err)
			return
		}
		g.closing = string(msg)
		p.drain()
	}
	d := f.dialer(aiola.Config{Keywords: map[string]string{"eye ola": "aiOla", "a&b": "<A&B>"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := d.DialSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.CloseNow()
	var sent [][]byte
	for n := 1; n <= aiola.ChunkFrames; n++ {
		c := bytes.Repeat([]byte{byte(n)}, n*frame.Size)
		sent = append(sent, c)
		if err := s.WriteAudio(c); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []int{0, 1, frame.Size - 1, frame.Size + 2, (aiola.ChunkFrames + 1) * frame.Size} {
		if err := s.WriteAudio(make([]byte, n)); err == nil || !strings.Contains(err.Error(), "1 to 4 frames") {
			t.Errorf("WriteAudio(%d bytes) = %v, want an error saying a chunk is 1 to 4 frames", n, err)
		}
	}
	if err := s.Finish(ctx); err != nil {
		t.Errorf("Finish: %v", err)
	}
	want := []transport.Event{
		{Kind: transport.Transcript, Type: "transcript", Text: "hello <world> & co", Final: true, Raw: []byte(`{"transcript":"hello <world> & co"}`)},
		{Kind: transport.Translation, Type: "translation", Text: "hola", Raw: []byte(`{"translation":"hola"}`)},
		{Kind: transport.Structured, Type: "structured", Raw: []byte(`{"results":{"name":"Ada"}}`)},
		{Kind: transport.Error, Type: "error", Message: "bad audio (code E1)", Raw: []byte(`{"message":"bad audio","code":"E1"}`)},
		{Kind: transport.Other, Type: "schema_values_updated", Raw: []byte(`{"status":"ok"}`)},
	}
	for _, w := range want {
		ev, err := s.ReadEvent()
		if err != nil || fmt.Sprintf("%+v", ev) != fmt.Sprintf("%+v", w) {
			t.Fatalf("ReadEvent = %+v, %v\nwant %+v", ev, err, w)
		}
	}
	errc := make(chan error, 1)
	go func() {
		for {
			if _, err := s.ReadEvent(); err != nil {
				errc <- err
				return
			}
		}
	}()
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := <-errc; err != io.EOF {
		t.Errorf("ReadEvent after Close = %v, want io.EOF", err)
	}
	g := <-done
	if g.keywords != `{"a&b":"<A&B>","eye ola":"aiOla"}` {
		t.Errorf("set_keywords carried %q", g.keywords)
	}
	if fmt.Sprint(g.audio) != fmt.Sprint(sent) {
		t.Errorf("the server got chunks of %d bytes, not what was sent", len(g.audio))
	}
	if g.closing != "41/events," {
		t.Errorf("the client closed with %q, want the DISCONNECT 41/events,", g.closing)
	}
	up := f.Upgrades()
	if len(up) != 1 {
		t.Fatalf("%d upgrades", len(up))
	}
	if kw := up[0].Query.Get("keywords"); kw != `{"a&b":"<A&B>","eye ola":"aiOla"}` {
		t.Errorf("query keywords %q", kw)
	}
	if s.ExecutionID() != up[0].Query.Get("execution_id") {
		t.Errorf("ExecutionID() %q, the server got %q", s.ExecutionID(), up[0].Query.Get("execution_id"))
	}
}

// TestServerDisconnects: the server leaving the namespace ends the session
// with a ClosedError wrapping socketio.ErrServerDisconnect.
func TestServerDisconnects(t *testing.T) {
	f := newFake(t)
	f.Script = func(p *peer) {
		p.emit("transcript", `"bare text"`)
		p.send("41/events,")
		p.drain()
	}
	d := f.dialer(aiola.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := d.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.CloseNow()
	ev, err := s.ReadEvent()
	if err != nil || ev.Kind != transport.Transcript || ev.Text != "bare text" {
		t.Fatalf("ReadEvent = %+v, %v", ev, err)
	}
	_, err = s.ReadEvent()
	var ce *transport.ClosedError
	if !errors.As(err, &ce) || !errors.Is(err, socketio.ErrServerDisconnect) {
		t.Fatalf("ReadEvent = %v, want a ClosedError wrapping ErrServerDisconnect", err)
	}
	if err := s.WriteAudio(make([]byte, frame.Size)); err == nil {
		t.Error("WriteAudio after the end succeeded")
	}
}

// TestKeywordsCopied: keywords are read when the Dialer is made, and an
// empty map sends none (no query parameter, no set_keywords).
func TestKeywordsCopied(t *testing.T) {
	for _, tt := range []struct {
		name     string
		keywords map[string]string
		query    string // "" for none
		first    string // the first message after the namespace's CONNECT
	}{
		{"set", map[string]string{"a": "b"}, `{"a":"b"}`, `451-/events,["set_keywords",{"_placeholder":true,"num":0}]`},
		{"empty", map[string]string{}, "", "41/events,"},
		{"nil", nil, "", "41/events,"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			first := make(chan string, 1)
			f.Script = func(p *peer) {
				_, msg, _ := p.ws.Read(p.ctx)
				first <- string(msg)
				p.drain()
			}
			d := f.dialer(aiola.Config{Keywords: tt.keywords})
			if tt.keywords != nil {
				tt.keywords["changed"] = "after NewDialer"
			}
			s, err := dial(t, d)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			if got := f.Upgrades()[0].Query; got.Get("keywords") != tt.query || got.Has("keywords") != (tt.query != "") {
				t.Errorf("query keywords %q, want %q", got.Get("keywords"), tt.query)
			}
			if got := <-first; got != tt.first {
				t.Errorf("first message %q, want %q", got, tt.first)
			}
		})
	}
}

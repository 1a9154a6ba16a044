package socketio_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/internal/leakcheck"
	"github.com/vachana-pipe/vachana-pipe/internal/testutil"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/socketio"
)

func TestMain(m *testing.M) {
	if testutil.Role() == "sink" {
		serveSink()
		return
	}
	leakcheck.Main(m)
}

func TestDialHandshake(t *testing.T) {
	tests := []struct {
		name      string
		namespace string
		auth      string
		connect   string // the CONNECT packet the client must send
		answer    string
	}{
		{"events", "/events", "", "40/events,", `40/events,{"sid":"n1"}`},
		{"events with auth", "/events", `{"token":"t"}`, `40/events,{"token":"t"}`, `40/events,{"sid":"n1"}`},
		{"default namespace", "", "", "40", `40{"sid":"n1"}`},
		{"default namespace with auth", "/", ` {"a":[1]}`, `40 {"a":[1]}`, `40{"sid":"n1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotURL, gotAuth, gotUA string
			u := fakeServer(t, func(p *peer) {
				gotURL, gotAuth, gotUA = p.r.URL.String(), p.r.Header.Get("Authorization"), p.r.Header.Get("User-Agent")
				if p.open(25000, 20000) && p.expect(tt.connect) && p.send(tt.answer) {
					p.drain()
				}
			})
			c := dial(t, u, func(cfg *socketio.Config) {
				cfg.Namespace = tt.namespace
				cfg.Auth = json.RawMessage(tt.auth)
				cfg.Query = url.Values{"flow_id": {"f1"}, "keywords": {"{}"}, "tasks_config": {"null"}}
				cfg.Header = http.Header{"Authorization": {"Bearer jwt"}}
			})
			if c.SID() != "n1" || c.Handshake().SID != "e1" || c.Handshake().MaxPayload != 1000000 {
				t.Errorf("SID %q, handshake %+v", c.SID(), c.Handshake())
			}
			c.CloseNow()
			const wantURL = "/api/voice-streaming/socket.io/?flow_id=f1&keywords=%7B%7D&tasks_config=null&EIO=4&transport=websocket"
			if gotURL != wantURL {
				t.Errorf("request URL %q, want %q", gotURL, wantURL)
			}
			if gotAuth != "Bearer jwt" || gotUA != "vachana-pipe/"+transport.Version {
				t.Errorf("Authorization %q, User-Agent %q", gotAuth, gotUA)
			}
		})
	}
}

func TestConnectError(t *testing.T) {
	u := fakeServer(t, func(p *peer) {
		if p.open(25000, 20000) && p.expect("40/events,") {
			p.send(`44/events,{"message":"Not authorized","data":{"code":401}}`)
			p.drain()
		}
	})
	_, err := socketio.Dial(context.Background(), socketio.Config{URL: u, Namespace: "/events"})
	var ce *socketio.ConnectError
	if !errors.As(err, &ce) || ce.Namespace != "/events" || ce.Message != "Not authorized" || string(ce.Data) != `{"code":401}` {
		t.Fatalf("Dial: %v, want a ConnectError", err)
	}
	if !strings.Contains(err.Error(), "/events") || !strings.Contains(err.Error(), "Not authorized") {
		t.Errorf("error %q does not name the namespace and the message", err)
	}
}

// TestDialWaits cancels Dial once the server knows the client is waiting
// (no clock involved), and checks that the error names the step awaited.
func TestDialWaits(t *testing.T) {
	tests := []struct {
		name   string
		script func(p *peer, waiting chan<- struct{})
		step   string
	}{
		{"no OPEN", func(p *peer, waiting chan<- struct{}) {
			drained := make(chan struct{})
			go func() {
				p.drain()
				close(drained)
			}()
			// The pong comes once the client reads, awaiting the OPEN.
			if err := p.ws.Ping(p.ctx); err == nil {
				close(waiting)
			}
			<-drained
		}, "waited for the Engine.IO OPEN packet"},
		{"no CONNECT answer", func(p *peer, waiting chan<- struct{}) {
			if p.open(25000, 20000) && p.expect("40/events,") {
				close(waiting)
				p.drain()
			}
		}, "waited for the server to accept namespace /events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			waiting := make(chan struct{})
			u := fakeServer(t, func(p *peer) { tt.script(p, waiting) })
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			gaveUp := errors.New("the test gave up")
			go func() {
				select {
				case <-waiting:
					cancel(gaveUp)
				case <-ctx.Done():
				}
			}()
			_, err := socketio.Dial(ctx, socketio.Config{URL: u, Namespace: "/events", Query: url.Values{"x-aiola-api-token": {"secret"}}})
			if err == nil || !strings.Contains(err.Error(), tt.step) || !errors.Is(err, gaveUp) {
				t.Fatalf("Dial: %v, want one saying it %s", err, tt.step)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q holds the query", err)
			}
		})
	}
}

func TestDialBadFirstMessages(t *testing.T) {
	tests := []struct {
		name string
		msgs []string
	}{
		{"not OPEN", []string{`40/events,{"sid":"x"}`}},
		{"OPEN without timing", []string{`0{"sid":"x"}`}},
		{"OPEN not JSON", []string{`0{`}},
		{"other namespace", []string{`0{"sid":"e","pingInterval":1000,"pingTimeout":1000}`, `40/other,{"sid":"x"}`}},
		{"engine close", []string{`0{"sid":"e","pingInterval":1000,"pingTimeout":1000}`, `1`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := fakeServer(t, func(p *peer) {
				for _, m := range tt.msgs {
					if !p.send(m) {
						return
					}
				}
				p.drain()
			})
			if c, err := socketio.Dial(context.Background(), socketio.Config{URL: u, Namespace: "/events"}); err == nil {
				c.CloseNow()
				t.Fatal("Dial succeeded")
			} else if !strings.HasPrefix(err.Error(), "socketio: ") {
				t.Errorf("error %q", err)
			}
		})
	}
}

func TestDialRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"message":"bad token"}`, http.StatusUnauthorized)
	}))
	defer srv.Close()
	_, err := socketio.Dial(context.Background(), socketio.Config{
		URL: "ws" + strings.TrimPrefix(srv.URL, "http"), Query: url.Values{"x-aiola-api-token": {"secret"}},
		Hint: func(int) string { return "check the key" },
	})
	var he *transport.HandshakeError
	if !errors.As(err, &he) || he.StatusCode != 401 || he.Hint != "check the key" {
		t.Fatalf("Dial: %v, want a HandshakeError 401", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error %q holds the query", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []socketio.Config{
		{URL: "http://127.0.0.1:1"},
		{URL: "ws://127.0.0.1:1/socket.io"},
		{URL: "ws://127.0.0.1:1?a=b"},
		{URL: "ws://127.0.0.1:1", Path: "socket.io"},
		{URL: "ws://127.0.0.1:1", Namespace: "events"},
		{URL: "ws://127.0.0.1:1", Namespace: "/a,b"},
		{URL: "ws://127.0.0.1:1", Query: url.Values{"EIO": {"3"}}},
		{URL: "ws://127.0.0.1:1", Query: url.Values{"transport": {"polling"}}},
		{URL: "ws://127.0.0.1:1", Auth: json.RawMessage(`[1]`)},
		{URL: "ws://127.0.0.1:1", Auth: json.RawMessage(`{`)},
	} {
		if c, err := socketio.Dial(context.Background(), cfg); err == nil {
			c.CloseNow()
			t.Errorf("Dial(%+v) succeeded", cfg)
		} else if !strings.HasPrefix(err.Error(), "socketio: ") {
			t.Errorf("Dial(%+v): %v", cfg, err)
		}
	}
}

func TestPingsAnswered(t *testing.T) {
	u := fakeServer(t, func(p *peer) {
		if !p.open(50, 5000) || !p.expect("40/events,") || !p.send(`40/events,{"sid":"n1"}`) {
			return
		}
		for i := 0; i < 3; i++ {
			if !p.send("2") || !p.expect("3") {
				return
			}
		}
		if p.send(`6`) && p.send(`3`) && p.send(`42/events,["done"]`) {
			p.drain()
		}
	})
	c := dial(t, u, nil)
	ev, err := c.ReadEvent()
	if err != nil || ev.Name != "done" || string(ev.Args) != "[]" {
		t.Fatalf("ReadEvent = %+v, %v", ev, err)
	}
}

// TestServerStopsPinging: the server says it pings every 100 ms and waits
// 100 ms for pongs, then sends nothing; the client gives up after about
// 200 ms of silence, saying why.
func TestServerStopsPinging(t *testing.T) {
	u := fakeServer(t, func(p *peer) {
		if p.open(100, 100) && p.expect("40/events,") && p.send(`40/events,{"sid":"n1"}`) && p.send("2") && p.expect("3") {
			p.drain()
		}
	})
	c := dial(t, u, nil)
	start := time.Now()
	_, err := c.ReadEvent()
	var ce *transport.ClosedError
	if !errors.As(err, &ce) || !errors.Is(err, socketio.ErrServerSilent) || !strings.Contains(err.Error(), "stopped pinging") {
		t.Fatalf("ReadEvent: %v, want a ClosedError wrapping ErrServerSilent", err)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 10*time.Second {
		t.Errorf("gave up after %v, want about 200 ms", d)
	}
	if _, err2 := c.ReadEvent(); err2 != err {
		t.Errorf("second ReadEvent: %v, want the same end", err2)
	}
}

// step is one expected outcome of ReadEvent.
type step struct {
	name        string   // event name
	args        string   // event args
	attachments []string // event attachments
	malformed   bool     // a *transport.MalformedError
}

func TestReadEvent(t *testing.T) {
	b1, b2 := bytes.Repeat([]byte{1}, 4096), []byte{}
	u := fakeServer(t, func(p *peer) {
		if !p.handshake() {
			return
		}
		script := []any{
			`42/events,["transcript",{"transcript":"hi"}]`,
			`451-/events,["bin",{"_placeholder":true,"num":0}]`, b1,
			`452-/events,["two",{"_placeholder":true,"num":0},{"x":{"_placeholder":true,"num":1}}]`, b1, b2,
			`43/events,1["ignored"]`,                           // an ACK: nothing asked for one
			`461-/events,2[{"_placeholder":true,"num":0}]`, b1, // a binary ACK, dropped with its attachment
			`6`,
			`42/events,7["ask",1]`,
			`4not a packet`,
			`42/events,not json`,
			`42/events,[1,2]`, // valid for the parser, but no name
			`42/other,["x"]`,  // another namespace
			`451-/other,["x",{"_placeholder":true,"num":0}]`, b1, // another namespace, attachment consumed
			b1,                          // no packet announced it
			`9`,                         // unknown Engine.IO type
			`40/events,{"sid":"again"}`, // CONNECT after connecting
			`452-/events,["cut",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, b1,
			`42/events,["after",{"n":1}]`, // interrupts the attachments
			`42/events, [ "spaced" , true ] `,
			`41/events,`,
		}
		for _, m := range script {
			var ok bool
			switch m := m.(type) {
			case string:
				ok = p.send(m)
			case []byte:
				ok = p.sendBinary(m)
			}
			if !ok {
				return
			}
		}
		p.drain()
	})
	c := dial(t, u, nil)
	want := []step{
		{name: "transcript", args: `[{"transcript":"hi"}]`},
		{name: "bin", args: `[{"_placeholder":true,"num":0}]`, attachments: []string{string(b1)}},
		{name: "two", args: `[{"_placeholder":true,"num":0},{"x":{"_placeholder":true,"num":1}}]`, attachments: []string{string(b1), ""}},
		{name: "ask", args: `[1]`},
		{malformed: true}, {malformed: true}, {malformed: true}, {malformed: true}, {malformed: true},
		{malformed: true}, {malformed: true}, {malformed: true}, {malformed: true},
		{name: "after", args: `[{"n":1}]`},
		{name: "spaced", args: `[ true ] `},
	}
	for i, w := range want {
		ev, err := c.ReadEvent()
		var me *transport.MalformedError
		switch {
		case w.malformed:
			if !errors.As(err, &me) {
				t.Fatalf("step %d: ReadEvent = %+v, %v; want a MalformedError", i, ev, err)
			}
			continue
		case err != nil:
			t.Fatalf("step %d: ReadEvent: %v, want event %q", i, err, w.name)
		}
		var atts []string
		for _, a := range ev.Attachments {
			atts = append(atts, string(a))
		}
		if ev.Name != w.name || string(ev.Args) != w.args || fmt.Sprint(atts) != fmt.Sprint(w.attachments) {
			t.Errorf("step %d: got %q %s with %d attachments, want %q %s with %d", i, ev.Name, ev.Args, len(atts), w.name, w.args, len(w.attachments))
		}
		if w.name == "ask" && (!ev.WantsAck || ev.AckID != 7) {
			t.Errorf("ask: WantsAck %v, AckID %d", ev.WantsAck, ev.AckID)
		}
		if len(ev.Raw) == 0 || ev.Raw[0] != '4' {
			t.Errorf("step %d: Raw %q", i, ev.Raw)
		}
	}
	_, err := c.ReadEvent()
	var ce *transport.ClosedError
	if !errors.As(err, &ce) || !errors.Is(err, socketio.ErrServerDisconnect) || !strings.Contains(err.Error(), "/events") {
		t.Fatalf("after 41/events,: %v, want a ClosedError wrapping ErrServerDisconnect", err)
	}
	if _, err2 := c.ReadEvent(); err2 != err {
		t.Errorf("second ReadEvent: %v, want the same end", err2)
	}
}

func TestReadEventDefaultNamespace(t *testing.T) {
	u := fakeServer(t, func(p *peer) {
		if p.open(25000, 20000) && p.expect("40") && p.send(`40{"sid":"n1"}`) &&
			p.send(`451-["bin",{"_placeholder":true,"num":0}]`) && p.sendBinary([]byte("abc")) && p.send(`41`) {
			p.drain()
		}
	})
	c := dial(t, u, func(cfg *socketio.Config) { cfg.Namespace = "" })
	ev, err := c.ReadEvent()
	if err != nil || ev.Name != "bin" || len(ev.Attachments) != 1 || string(ev.Attachments[0]) != "abc" {
		t.Fatalf("ReadEvent = %+v, %v", ev, err)
	}
	if _, err := c.ReadEvent(); !errors.Is(err, socketio.ErrServerDisconnect) {
		t.Fatalf("ReadEvent: %v, want ErrServerDisconnect", err)
	}
}

func TestEngineClose(t *testing.T) {
	u := fakeServer(t, func(p *peer) {
		if p.handshake() && p.send("1") {
			p.drain()
		}
	})
	c := dial(t, u, nil)
	_, err := c.ReadEvent()
	var ce *transport.ClosedError
	if !errors.As(err, &ce) || !errors.Is(err, socketio.ErrEngineClosed) {
		t.Fatalf("ReadEvent: %v, want a ClosedError wrapping ErrEngineClosed", err)
	}
}

func TestEmitWireFormat(t *testing.T) {
	data := []byte{0, 1, 2, 0xff}
	type msg struct {
		typ  websocket.MessageType
		data string
	}
	got := make(chan msg, 32)
	u := fakeServer(t, func(p *peer) {
		if !p.handshake() {
			return
		}
		for {
			typ, m, err := p.ws.Read(p.ctx)
			if err != nil {
				close(got)
				return
			}
			got <- msg{typ, string(m)}
		}
	})
	c := dial(t, u, nil)
	for _, err := range []error{
		c.EmitBinary("binary_data", data),
		c.EmitBinary("binary_data", data[:1]),
		c.Emit("set_keywords", map[string]string{"ok": "okay"}),
		c.Emit("mixed", 1, data, map[string]any{"x": nil}),
		c.Emit("none"),
		c.Ack(socketio.Event{Name: "ask", AckID: 7, WantsAck: true}, "yes"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if c.EmitBinary("disconnect", data) == nil || c.Emit("connect") == nil || c.Ack(socketio.Event{Name: "x"}) == nil {
		t.Error("reserved names or an unasked ack were sent")
	}
	if err := c.EmitBinary("big", make([]byte, 1000001)); err == nil {
		t.Error("an attachment beyond maxPayload was sent")
	}
	c.CloseNow()
	T, B := websocket.MessageText, websocket.MessageBinary
	want := []msg{
		{T, `451-/events,["binary_data",{"_placeholder":true,"num":0}]`}, {B, string(data)},
		{T, `451-/events,["binary_data",{"_placeholder":true,"num":0}]`}, {B, string(data[:1])},
		{T, `42/events,["set_keywords",{"ok":"okay"}]`},
		{T, `451-/events,["mixed",1,{"_placeholder":true,"num":0},{"x":null}]`}, {B, string(data)},
		{T, `42/events,["none"]`},
		{T, `43/events,7["yes"]`},
	}
	i := 0
	for m := range got {
		if i >= len(want) {
			t.Errorf("extra message %v %q", m.typ, m.data)
		} else if m != want[i] {
			t.Errorf("message %d: %v %q, want %v %q", i, m.typ, m.data, want[i].typ, want[i].data)
		}
		i++
	}
	if i < len(want) {
		t.Errorf("the server got %d messages, want %d", i, len(want))
	}
}

// TestConcurrentEmits checks that the two messages of binary emits from
// several goroutines are never interleaved.
func TestConcurrentEmits(t *testing.T) {
	const writers, each = 4, 50
	counts := make(chan map[string]int, 1)
	u := fakeServer(t, func(p *peer) {
		if !p.handshake() {
			return
		}
		n := map[string]int{}
		defer func() { counts <- n }()
		for {
			typ, m, err := p.ws.Read(p.ctx)
			if err != nil {
				return
			}
			if typ == websocket.MessageText && string(m) == "41/events," {
				p.drain()
				return
			}
			if typ != websocket.MessageText {
				p.t.Errorf("server: binary message without its packet")
				return
			}
			name := strings.TrimSuffix(strings.TrimPrefix(string(m), `451-/events,["`), `",{"_placeholder":true,"num":0}]`)
			typ, b, err := p.ws.Read(p.ctx)
			if err != nil {
				p.t.Errorf("server: no attachment after %q", m)
				return
			}
			if typ != websocket.MessageBinary || string(b) != strings.Repeat(name, 100) {
				p.t.Errorf("server: %q followed by %v %.20q", m, typ, b)
				return
			}
			n[name]++
		}
	})
	c := dial(t, u, nil)
	var wg sync.WaitGroup
	for w := range writers {
		name := fmt.Sprintf("w%d", w)
		payload := []byte(strings.Repeat(name, 100))
		wg.Go(func() {
			for range each {
				if err := c.EmitBinary(name, payload); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	go c.ReadEvent() // for the close handshake; returns io.EOF
	if err := c.Disconnect(); err != nil {
		t.Fatal(err)
	}
	n := <-counts
	for w := range writers {
		if got := n[fmt.Sprintf("w%d", w)]; got != each {
			t.Errorf("writer %d: the server got %d events, want %d", w, got, each)
		}
	}
}

func TestDisconnect(t *testing.T) {
	closed := make(chan websocket.StatusCode, 1)
	u := fakeServer(t, func(p *peer) {
		// The ping after the DISCONNECT must go unanswered: the client is closing.
		if !p.handshake() || !p.send(`42/events,["hello"]`) || !p.expect("41/events,") || !p.send("2") {
			return
		}
		typ, msg, err := p.ws.Read(p.ctx)
		if err == nil {
			p.t.Errorf("server: got %v %q after the DISCONNECT, want the close frame", typ, msg)
		}
		closed <- websocket.CloseStatus(err)
	})
	c := dial(t, u, nil)
	if ev, err := c.ReadEvent(); err != nil || ev.Name != "hello" {
		t.Fatalf("ReadEvent = %+v, %v", ev, err)
	}
	end := make(chan error, 1)
	go func() {
		_, err := c.ReadEvent()
		end <- err
	}()
	if err := c.Disconnect(); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	if code := <-closed; code != websocket.StatusNormalClosure {
		t.Errorf("the server saw close status %v, want 1000", code)
	}
	if err := <-end; err != io.EOF {
		t.Errorf("ReadEvent after Disconnect: %v, want io.EOF", err)
	}
}

func TestPing(t *testing.T) {
	u := fakeServer(t, func(p *peer) {
		if p.handshake() {
			p.drain()
		}
	})
	c := dial(t, u, nil)
	end := make(chan error, 1)
	go func() {
		_, err := c.ReadEvent()
		end <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	c.CloseNow()
	var ce *transport.ClosedError
	if err := <-end; !errors.As(err, &ce) {
		t.Errorf("ReadEvent after CloseNow: %v, want a ClosedError", err)
	}
}

// placeholders returns n placeholders, 0 to n-1, as JSON array elements.
func placeholders(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `,{"_placeholder":true,"num":%d}`, i)
	}
	return b.String()
}

// TestBinaryEventLimits checks the bounds of a binary event from the
// server: MaxAttachments (10) attachments taken, 11 and 0 refused, the
// attachments of one event bounded to 4 × ReadLimit in all (past that the
// event is dropped and its other attachments read and ignored), and every
// placeholder naming an attachment.
func TestBinaryEventLimits(t *testing.T) {
	small, big := []byte("abc"), bytes.Repeat([]byte{7}, 1000) // ReadLimit 1024: 10 × 1000 bytes > 4096
	u := fakeServer(t, func(p *peer) {
		if !p.handshake() {
			return
		}
		var script []any
		script = append(script, `4510-/events,["ten"`+placeholders(10)+`]`)
		for range 10 {
			script = append(script, small)
		}
		script = append(script, `4511-/events,["eleven"`+placeholders(11)+`]`)
		for range 11 {
			script = append(script, small) // each one a binary message no packet announced
		}
		script = append(script, `450-/events,["zero"]`)
		script = append(script, `4510-/events,["big"`+placeholders(10)+`]`)
		for range 10 {
			script = append(script, big)
		}
		script = append(script,
			`451-/events,["beyond",{"_placeholder":true,"num":1}]`, small,
			`452-/events,["negative",{"_placeholder":true,"num":-1},{"_placeholder":true,"num":0}]`, small, small,
			`451-/events,["nonum",{"x":{"_placeholder":true}}]`, small,
			`42/events,["after"]`, `41/events,`)
		for _, m := range script {
			var ok bool
			switch m := m.(type) {
			case string:
				ok = p.send(m)
			case []byte:
				ok = p.sendBinary(m)
			}
			if !ok {
				return
			}
		}
		p.drain()
	})
	c := dial(t, u, func(cfg *socketio.Config) { cfg.ReadLimit = 1024 })
	ev, err := c.ReadEvent()
	if err != nil || ev.Name != "ten" || len(ev.Attachments) != 10 {
		t.Fatalf("ReadEvent = %q with %d attachments, %v; want ten with 10", ev.Name, len(ev.Attachments), err)
	}
	for i, want := range []string{"eleven", "11 stray attachments", "zero", "big", "beyond", "negative", "nonum"} {
		n := 1
		if want == "11 stray attachments" {
			n = 11
		}
		for range n {
			ev, err := c.ReadEvent()
			var me *transport.MalformedError
			if !errors.As(err, &me) {
				t.Fatalf("step %d: ReadEvent = %q with %d attachments, %v; want a MalformedError for %s", i, ev.Name, len(ev.Attachments), err, want)
			}
		}
	}
	if ev, err := c.ReadEvent(); err != nil || ev.Name != "after" {
		t.Fatalf("ReadEvent = %q, %v; want after: the attachments of the dropped event must all be consumed", ev.Name, err)
	}
	if _, err := c.ReadEvent(); !errors.Is(err, socketio.ErrServerDisconnect) {
		t.Fatalf("ReadEvent: %v, want ErrServerDisconnect", err)
	}
}

// TestConnectWithoutSID: a CONNECT answer without a sid is what a
// Socket.IO v2 server sends; socket.io-client refuses it, and so does Dial.
func TestConnectWithoutSID(t *testing.T) {
	for _, answer := range []string{`40/events,`, `40/events,{}`, `40/events,{"sid":""}`, `40/events,{"sid":1}`} {
		u := fakeServer(t, func(p *peer) {
			if p.open(25000, 20000) && p.expect("40/events,") && p.send(answer) {
				p.drain()
			}
		})
		c, err := socketio.Dial(context.Background(), socketio.Config{URL: u, Namespace: "/events"})
		if err == nil {
			c.CloseNow()
			t.Errorf("answer %q: Dial succeeded", answer)
		} else if !strings.Contains(err.Error(), "Socket.IO v2") {
			t.Errorf("answer %q: %v, want an error naming the v2 mismatch", answer, err)
		}
	}
}

// TestDisconnectBehindBlockedEmit: an emit is blocked (the server stopped
// reading in the middle of its attachment); Disconnect must not wait for it.
func TestDisconnectBehindBlockedEmit(t *testing.T) {
	blocked, release := make(chan struct{}), make(chan struct{})
	u := fakeServer(t, func(p *peer) {
		if !p.send(`0{"sid":"e1","upgrades":[],"pingInterval":25000,"pingTimeout":20000}`) ||
			!p.expect("40/events,") || !p.send(`40/events,{"sid":"n1"}`) {
			return
		}
		if typ, _, err := p.ws.Read(p.ctx); err != nil || typ != websocket.MessageText {
			p.t.Errorf("server: %v %v, want the binary event's packet", typ, err)
			return
		}
		close(blocked) // the emit holds its lock, writing 64 MiB nobody reads
		<-release
	})
	c := dial(t, u, nil)
	emitted := make(chan error, 1)
	go func() { emitted <- c.EmitBinary("binary_data", make([]byte, 64<<20)) }()
	<-blocked
	done := make(chan error, 1)
	go func() { done <- c.Disconnect() }()
	start := time.Now()
	select {
	case <-done:
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("Disconnect took %v, want at most about 5 s", d)
		}
	case <-time.After(30 * time.Second):
		t.Error("Disconnect still waits for the blocked emit after 30 s")
		close(release)
		c.CloseNow()
		<-done
		<-emitted
		return
	}
	close(release)
	<-emitted
}

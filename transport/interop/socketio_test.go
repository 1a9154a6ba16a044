package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/socketio"
)

const (
	socketIOScript  = "node/socketio-server.js"
	socketIOVersion = "4.8.4" // socket.io, as package.json pins it
)

// requireSocketIO returns the Node.js environment with the pinned socket.io
// installed, or skips t (fails it under VACHANA_INTEROP_REQUIRED=1).
func requireSocketIO(t *testing.T) nodeEnv {
	t.Helper()
	env := requireNode(t)
	for _, p := range []string{"socket.io"} { // the test runs the server only
		missing := ""
		b, err := os.ReadFile(filepath.Join(nodeDir, "node_modules", p, "package.json"))
		var pkg struct{ Version string }
		switch {
		case err != nil:
			missing = p + " not installed (run: " + installHint + ")"
		case json.Unmarshal(b, &pkg) != nil || pkg.Version != socketIOVersion:
			missing = fmt.Sprintf("%s %q installed, want %s (run: %s)", p, pkg.Version, socketIOVersion, installHint)
		}
		if missing != "" {
			if os.Getenv(requiredEnv) == "1" {
				t.Fatalf("%s; %s=1 makes this a failure", missing, requiredEnv)
			}
			t.Skip(missing)
		}
	}
	return env
}

// sioServer is node/socketio-server.js running.
type sioServer = nodeServer

// nodeServer is a Node.js script that serves on loopback and reports on
// stdout in JSON lines: {"kind":"listening","port":N,"versions":{…}} first,
// then lines of other kinds.
type nodeServer struct {
	Port  int
	Lines <-chan []byte // the JSON lines it printed after the first; closed at its end
	stdin io.Closer
	name  string // for messages: "the socket.io server"
}

// startSocketIOServer starts the official socket.io server with the given
// ping timing, bounded by nodeRunLimit; it is stopped when the test ends.
func startSocketIOServer(t *testing.T, env nodeEnv, pingInterval, pingTimeout int) *sioServer {
	t.Helper()
	return startNodeServer(t, env, "the socket.io server", socketIOScript,
		"--ping-interval", fmt.Sprint(pingInterval), "--ping-timeout", fmt.Sprint(pingTimeout))
}

// startNodeServer starts script with args, bounded by nodeRunLimit, waits
// for its first line and checks that it runs the pinned socket.io; it is
// stopped (its stdin closed) when the test ends.
func startNodeServer(t *testing.T, env nodeEnv, name, script string, args ...string) *nodeServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), nodeRunLimit)
	cmd := exec.CommandContext(ctx, env.node, append([]string{script}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	lines := make(chan []byte, 256)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			lines <- bytes.Clone(sc.Bytes())
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		go func() { // drain what nobody read, so that the scanner ends
			for range lines {
			}
		}()
		err := cmd.Wait()
		cancel()
		<-scanned
		if err != nil && !t.Failed() {
			t.Errorf("%s: %v\nstderr:\n%s", name, err, stderr.String())
		}
	})
	var first struct {
		Kind     string            `json:"kind"`
		Port     int               `json:"port"`
		Versions map[string]string `json:"versions"`
	}
	select {
	case l, ok := <-lines:
		if !ok || json.Unmarshal(l, &first) != nil || first.Kind != "listening" {
			t.Fatalf("%s did not start: %q\nstderr:\n%s", name, l, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not start within 30 s\nstderr:\n%s", name, stderr.String())
	}
	if first.Versions["socket.io"] != socketIOVersion {
		t.Fatalf("socket.io %q runs, want %s", first.Versions["socket.io"], socketIOVersion)
	}
	t.Logf("%s: socket.io %s (engine.io %s, socket.io-parser %s) on port %d", name,
		first.Versions["socket.io"], first.Versions["engine.io"], first.Versions["socket.io-parser"], first.Port)
	return &nodeServer{Port: first.Port, Lines: lines, stdin: stdin, name: name}
}

// next returns the next line of kind, skipping others, within limit.
func (s *nodeServer) next(t *testing.T, kind string, limit time.Duration) json.RawMessage {
	t.Helper()
	timeout := time.After(limit)
	for {
		select {
		case l, ok := <-s.Lines:
			if !ok {
				t.Fatalf("%s ended before printing %s", s.name, kind)
			}
			var k struct{ Kind string }
			if json.Unmarshal(l, &k) == nil && k.Kind == kind {
				return l
			}
		case <-timeout:
			t.Fatalf("%s printed no %s within %v", s.name, kind, limit)
		}
	}
}

// sioReport is what node/socketio-server.js reports at its end.
type sioReport struct {
	PingInterval int `json:"pingInterval"`
	PingTimeout  int `json:"pingTimeout"`
	Connections  []struct {
		URL           string              `json:"url"`
		Query         map[string]string   `json:"query"`
		Authorization string              `json:"authorization"`
		UserAgent     string              `json:"userAgent"`
		Protocol      int                 `json:"protocol"`
		Transport     string              `json:"transport"`
		Events        []sioEvent          `json:"events"`
		Acks          [][]json.RawMessage `json:"acks"`
		Pings         []int               `json:"pings"`
		Pongs         int                 `json:"pongs"`
		Transcripts   int                 `json:"transcripts"`
		Reason        string              `json:"disconnectReason"`
	} `json:"connections"`
	Refused      []json.RawMessage `json:"refused"`
	EngineErrors []json.RawMessage `json:"engineErrors"`
}

type sioEvent struct {
	Name string            `json:"name"`
	Args []json.RawMessage `json:"args"`
}

type sioBinary struct {
	Binary bool   `json:"binary"`
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
}

// sioPattern is node/socketio-server.js's pattern(n, seed).
func sioPattern(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((i*31 + seed) % 251)
	}
	return b
}

// TestSocketIOAgainstOfficialServer runs our Socket.IO client against the
// official socket.io 4.8 server, laid out as aiOla's streaming service,
// with pings every 500 ms (pingTimeout 5000 ms): it streams 50 binary chunks, sends text events,
// answers an acknowledgement, receives a binary event with two attachments,
// stays through at least 3 pings, and disconnects. The server's report must
// show every chunk intact, our query and Authorization header, a pong for
// every ping it sent (it did not drop us) and a client namespace disconnect.
func TestSocketIOAgainstOfficialServer(t *testing.T) {
	env := requireSocketIO(t)
	srv := startSocketIOServer(t, env, 500, 5000)

	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl"
	query := url.Values{
		"execution_id":      {"vpinterop0001"},
		"flow_id":           {"2c78fcf1-9265-408f-b8c3-d9d7e7ebc1bc"},
		"lang_code":         {"en"},
		"time_zone":         {"UTC"},
		"keywords":          {"{}"},
		"tasks_config":      {"null"},
		"x-aiola-api-token": {jwt},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := socketio.Dial(ctx, socketio.Config{
		URL:       fmt.Sprintf("ws://127.0.0.1:%d", srv.Port),
		Path:      "/api/voice-streaming/socket.io",
		Namespace: "/events",
		Query:     query,
		Header:    http.Header{"Authorization": {"Bearer " + jwt}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if h := c.Handshake(); h.PingInterval != 500 || h.PingTimeout != 5000 || h.MaxPayload != 1000000 || c.SID() == "" {
		t.Errorf("handshake %+v, namespace sid %q; want pingInterval 500, pingTimeout 5000, maxPayload 1000000", h, c.SID())
	}

	events := make(chan socketio.Event, 1024)
	readEnd := make(chan error, 1)
	go func() {
		defer close(events)
		for {
			ev, err := c.ReadEvent()
			var me *transport.MalformedError
			switch {
			case errors.As(err, &me):
				t.Errorf("ReadEvent: %v", err)
				continue
			case err != nil:
				readEnd <- err
				return
			}
			events <- ev
		}
	}()
	defer func() { // the reader has ended when the test does
		c.CloseNow()
		for range events {
		}
	}()
	// await returns the next event named name, skipping heartbeats (and
	// failing on anything else), within 20 s.
	await := func(name string) socketio.Event {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatalf("the session ended while awaiting %s: %v", name, <-readEnd)
				}
				if ev.Name == name {
					return ev
				}
				if ev.Name != "heartbeat" {
					t.Fatalf("got %s %s while awaiting %s", ev.Name, ev.Args, name)
				}
			case <-timeout:
				t.Fatalf("no %s within 20 s", name)
			}
		}
	}

	const chunks, chunkBytes = 50, 4096
	sums := make([]string, chunks)
	for i := range chunks {
		chunk := sioPattern(chunkBytes, i)
		sum := sha256.Sum256(chunk)
		sums[i] = hex.EncodeToString(sum[:])
		if err := c.EmitBinary("binary_data", chunk); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
	}
	if err := c.Emit("set_keywords", map[string]string{"aiola": "aiOla"}); err != nil {
		t.Fatal(err)
	}
	for i := range chunks {
		ev := await("transcript")
		var tr []struct {
			Transcript string `json:"transcript"`
			Chunk      int    `json:"chunk"`
		}
		if err := json.Unmarshal(ev.Args, &tr); err != nil || len(tr) != 1 ||
			tr[0].Transcript != fmt.Sprintf("got %d bytes", chunkBytes) || tr[0].Chunk != i+1 {
			t.Fatalf("transcript %d: %s (%v)", i, ev.Args, err)
		}
	}

	if err := c.Emit("please_binary", map[string]int{"size": 10000}); err != nil {
		t.Fatal(err)
	}
	ev := await("binary_reply")
	const wantArgs = `[{"size":10000},{"_placeholder":true,"num":0},{"nested":{"_placeholder":true,"num":1}}]`
	if string(ev.Args) != wantArgs || len(ev.Attachments) != 2 ||
		!bytes.Equal(ev.Attachments[0], sioPattern(10000, 7)) || !bytes.Equal(ev.Attachments[1], []byte{1, 2, 3}) {
		t.Errorf("binary_reply: %s with %d attachments; want %s with the 10000-byte pattern and 01 02 03\nraw %q", ev.Args, len(ev.Attachments), wantArgs, ev.Raw)
	}

	if err := c.Emit("please_ack"); err != nil {
		t.Fatal(err)
	}
	ev = await("ask")
	if !ev.WantsAck || string(ev.Args) != `["question"]` {
		t.Errorf("ask: %s, WantsAck %v", ev.Args, ev.WantsAck)
	}
	if err := c.Ack(ev, "answer", 42); err != nil {
		t.Fatal(err)
	}

	// Stay until the server has had at least 3 pongs from us (about 1.5 s).
	for {
		ev := await("heartbeat")
		var hb []struct{ Pongs int }
		if json.Unmarshal(ev.Args, &hb) != nil || len(hb) != 1 {
			t.Fatalf("heartbeat %s", ev.Args)
		}
		if hb[0].Pongs >= 3 {
			break
		}
	}
	pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := c.Ping(pctx); err != nil {
		t.Errorf("WebSocket ping: %v", err)
	}
	pcancel()

	if err := c.Disconnect(); err != nil {
		t.Errorf("Disconnect: %v", err)
	}
	for range events { // heartbeats still on their way
	}
	if err := <-readEnd; err != io.EOF {
		t.Errorf("ReadEvent after Disconnect: %v, want io.EOF", err)
	}

	srv.next(t, "disconnect", 20*time.Second)
	srv.stdin.Close()
	var rep sioReport
	if err := json.Unmarshal(srv.next(t, "report", 20*time.Second), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Connections) != 1 || len(rep.EngineErrors) != 0 || len(rep.Refused) != 0 {
		t.Fatalf("the server saw %d connections and engine errors %s, want 1 and none", len(rep.Connections), rep.EngineErrors)
	}
	conn := rep.Connections[0]
	u, err := url.Parse(conn.URL)
	if err != nil || u.Path != "/api/voice-streaming/socket.io/" || !strings.HasSuffix(u.RawQuery, "&EIO=4&transport=websocket") {
		t.Errorf("request URL %q, want path /api/voice-streaming/socket.io/ and a query ending in &EIO=4&transport=websocket", conn.URL)
	}
	for k, v := range query {
		if conn.Query[k] != v[0] {
			t.Errorf("query %s = %q, want %q", k, conn.Query[k], v[0])
		}
	}
	if conn.Authorization != "Bearer "+jwt || conn.UserAgent != "vachana-pipe/"+transport.Version {
		t.Errorf("Authorization %q, User-Agent %q", conn.Authorization, conn.UserAgent)
	}
	if conn.Protocol != 4 || conn.Transport != "websocket" {
		t.Errorf("Engine.IO protocol %d over %s, want 4 over websocket", conn.Protocol, conn.Transport)
	}

	var got []string
	for i, e := range conn.Events {
		switch {
		case e.Name == "binary_data" && i < chunks:
			var b sioBinary
			if len(e.Args) != 1 || json.Unmarshal(e.Args[0], &b) != nil || !b.Binary || b.Size != chunkBytes || b.SHA256 != sums[i] {
				t.Errorf("chunk %d arrived as %s, want %d bytes with SHA-256 %s", i, e.Args, chunkBytes, sums[i])
			}
		default:
			got = append(got, fmt.Sprintf("%s %s", e.Name, bytes.Join(rawArgs(e.Args), []byte(" "))))
		}
	}
	want := []string{`set_keywords {"aiola":"aiOla"}`, `please_binary {"size":10000}`, `please_ack `}
	if len(conn.Events) != chunks+len(want) || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the server got %d events, the others %q; want %d binary_data then %q", len(conn.Events), got, chunks, want)
	}
	if len(conn.Acks) != 1 || len(conn.Acks[0]) != 2 || string(conn.Acks[0][0]) != `"answer"` || string(conn.Acks[0][1]) != `42` {
		t.Errorf("acks %s, want one with \"answer\", 42", conn.Acks)
	}
	if conn.Reason != "client namespace disconnect" {
		t.Errorf("disconnect reason %q, want \"client namespace disconnect\"", conn.Reason)
	}
	if len(conn.Pings) < 3 || conn.Pongs < len(conn.Pings)-1 {
		t.Errorf("the server sent %d pings and got %d pongs; want at least 3, each answered", len(conn.Pings), conn.Pongs)
	}
	t.Logf("server pings at %v ms after the connection; %d pongs", conn.Pings, conn.Pongs)
}

func rawArgs(args []json.RawMessage) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = a
	}
	return out
}

// TestSocketIOOfficialServerRefusesAndDisconnects checks the two ends the
// official server can give: a middleware refusing the CONNECT (with an
// auth payload it reads) and the server disconnecting the namespace.
func TestSocketIOOfficialServerRefusesAndDisconnects(t *testing.T) {
	env := requireSocketIO(t)
	srv := startSocketIOServer(t, env, 300, 1500)
	cfg := socketio.Config{
		URL:       fmt.Sprintf("ws://127.0.0.1:%d", srv.Port),
		Path:      "/api/voice-streaming/socket.io",
		Namespace: "/events",
		Auth:      json.RawMessage(`{"token":"bad"}`),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := socketio.Dial(ctx, cfg)
	var ce *socketio.ConnectError
	if !errors.As(err, &ce) || ce.Namespace != "/events" || ce.Message != "not authorized" || string(ce.Data) != `{"code":401}` {
		t.Fatalf("Dial with a bad token: %v, want a ConnectError \"not authorized\" with data {\"code\":401}", err)
	}

	cfg.Auth = json.RawMessage(`{"token":"good"}`)
	c, err := socketio.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Emit("please_kick"); err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := c.ReadEvent()
		if err == nil {
			if ev.Name != "heartbeat" {
				t.Errorf("unexpected event %s %s", ev.Name, ev.Args)
			}
			continue
		}
		var closed *transport.ClosedError
		if !errors.As(err, &closed) || !errors.Is(err, socketio.ErrServerDisconnect) {
			t.Fatalf("ReadEvent after please_kick: %v, want a ClosedError wrapping ErrServerDisconnect", err)
		}
		break
	}
	if l := srv.next(t, "disconnect", 20*time.Second); !strings.Contains(string(l), `"server namespace disconnect"`) {
		t.Errorf("the server reported %s", l)
	}
	srv.stdin.Close()
	var rep sioReport
	if err := json.Unmarshal(srv.next(t, "report", 20*time.Second), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Refused) != 1 || string(rep.Refused[0]) != `{"auth":{"token":"bad"}}` || len(rep.Connections) != 1 {
		t.Errorf("the server refused %s and accepted %d connections; want the bad token refused and one accepted", rep.Refused, len(rep.Connections))
	}
}

package interop

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/aiola"
)

const (
	aiolaServerScript = "node/aiola-server.js"
	aiolaServerKey    = "interop-key" // the key node/aiola-server.js accepts
)

// aiolaOfficial is node/aiola-server.js running.
type aiolaOfficial struct {
	*nodeServer
	URL string // http://127.0.0.1:PORT, the API and the auth URL
}

// startAiolaOfficial starts node/aiola-server.js with args, bounded by
// nodeRunLimit; it is stopped when the test ends.
func startAiolaOfficial(t *testing.T, env nodeEnv, args ...string) *aiolaOfficial {
	t.Helper()
	s := startNodeServer(t, env, "the aiOla server", aiolaServerScript, args...)
	return &aiolaOfficial{nodeServer: s, URL: fmt.Sprintf("http://127.0.0.1:%d", s.Port)}
}

// report ends the server and returns its report.
func (s *aiolaOfficial) report(t *testing.T) aiolaOfficialReport {
	t.Helper()
	s.stdin.Close()
	var rep aiolaOfficialReport
	if err := json.Unmarshal(s.next(t, "report", 20*time.Second), &rep); err != nil {
		t.Fatal(err)
	}
	for _, a := range rep.Auth {
		if len(a.Problems) > 0 {
			t.Errorf("the server found problems in %s %s: %q", a.Method, a.Path, a.Problems)
		}
	}
	if len(rep.EngineErrors) > 0 {
		t.Errorf("engine errors: %s", rep.EngineErrors)
	}
	return rep
}

// aiolaOfficialReport is what node/aiola-server.js reports at its end.
type aiolaOfficialReport struct {
	Auth []struct {
		Method, Path, ContentType, UserAgent string
		Status                               int
		Problems                             []string
	} `json:"auth"`
	Tokens              int `json:"tokens"`
	SessionsCreated     int `json:"sessionsCreated"`
	SessionsDeleted     int `json:"sessionsDeleted"`
	ConcurrencyRefusals int `json:"concurrencyRefusals"`
	Live                int `json:"live"`
	Connections         []struct {
		Session      string            `json:"session"`
		URL          string            `json:"url"`
		Query        map[string]string `json:"query"`
		TokenInQuery bool              `json:"tokenInQuery"`
		UserAgent    string            `json:"userAgent"`
		Protocol     int               `json:"protocol"`
		Transport    string            `json:"transport"`
		Problems     []string          `json:"problems"`
		Chunks       int               `json:"chunks"`
		Bytes        int               `json:"bytes"`
		Sizes        map[string]int    `json:"sizes"`
		SHA256       string            `json:"sha256"`
		Keywords     []struct {
			Binary bool            `json:"binary"`
			Value  json.RawMessage `json:"value"`
		} `json:"keywords"`
		Others      []string `json:"others"`
		Transcripts int      `json:"transcripts"`
		Pongs       int      `json:"pongs"`
		Reason      string   `json:"disconnectReason"`
	} `json:"connections"`
	Refused      []json.RawMessage `json:"refused"`
	EngineErrors []json.RawMessage `json:"engineErrors"`
}

// aiolaOfficialSpeech returns the bundled speech as whole frames, the last one
// padded with silence, as the pipeline sends it.
func aiolaOfficialSpeech(t *testing.T) []byte {
	t.Helper()
	pcm, err := os.ReadFile(speechInput)
	if err != nil {
		t.Fatal(err)
	}
	if r := len(pcm) % frame.Size; r != 0 {
		pcm = append(pcm, make([]byte, frame.Size-r)...)
	}
	return pcm
}

// aiolaOfficialReadAll reads the session's events into a channel, closed with the
// error that ended the session sent on end.
func aiolaOfficialReadAll(s transport.Session) (<-chan transport.Event, <-chan error) {
	events := make(chan transport.Event, 1024)
	end := make(chan error, 1)
	go func() {
		defer close(events)
		for {
			ev, err := s.ReadEvent()
			if err != nil {
				end <- err
				return
			}
			events <- ev
		}
	}()
	return events, end
}

// TestAiolaDialerAgainstOfficialServer drives transport/aiola's Dialer against
// aiOla's layout served by the official socket.io 4.8 server (pings every
// 500 ms): the token flow, the upgrade with its header and query, the
// keywords, the bundled speech in 4096-byte chunks, every transcript back
// with the translation and the structured events, a clean namespace
// disconnect, a second session reusing the access token, and Dialer.Close
// deleting the auth session, so that the server ends with none live.
func TestAiolaDialerAgainstOfficialServer(t *testing.T) {
	env := requireSocketIO(t)
	const every = 8
	srv := startAiolaOfficial(t, env, "--every", fmt.Sprint(every), "--ping-interval", "500", "--ping-timeout", "5000")
	keywords := map[string]string{"eye ola": "aiOla", "vachana": "Vachana"}
	d, err := aiola.NewDialer(aiola.Config{APIURL: srv.URL, AuthURL: srv.URL, APIKey: aiolaServerKey, Keywords: keywords})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer d.Close(ctx)

	pcm := aiolaOfficialSpeech(t)
	chunkBytes := d.Audio().ChunkBytes()
	chunks := (len(pcm) + chunkBytes - 1) / chunkBytes
	sum := sha256.Sum256(pcm)

	s, err := d.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.CloseNow()
	events, end := aiolaOfficialReadAll(s)
	for off := 0; off < len(pcm); off += chunkBytes {
		if err := s.WriteAudio(pcm[off:min(off+chunkBytes, len(pcm))]); err != nil {
			t.Fatalf("chunk at %d: %v", off, err)
		}
	}
	if err := s.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	// Wait for every transcript (the last one answers chunk chunks/every*every),
	// staying at least 1.5 s so that the server pings a few times.
	var kinds []string
	transcripts, want := 0, chunks/every
	stay := time.After(1500 * time.Millisecond)
	timeout := time.After(20 * time.Second)
	for stayed := false; !stayed || transcripts < want; {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("the session ended early: %v", <-end)
			}
			kinds = append(kinds, ev.Kind.String())
			if ev.Kind == transport.Transcript {
				transcripts++
				if want := fmt.Sprintf("chunk %d", transcripts*every); ev.Text != want || !ev.Final || string(ev.Raw) != fmt.Sprintf(`{"transcript":%q}`, want) {
					t.Errorf("transcript %d: %+v, want the final text %q", transcripts, ev, want)
				}
			}
		case <-stay:
			stayed = true
		case <-timeout:
			t.Fatalf("%d of %d transcripts within 20 s", transcripts, want)
		}
	}
	if len(kinds) < 2 || kinds[0] != "translation" || kinds[1] != "structured" {
		t.Errorf("events %v, want translation and structured first", kinds)
	}
	pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
	if err := s.Ping(pctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	pcancel()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	for range events {
	}
	if err := <-end; err != io.EOF {
		t.Errorf("ReadEvent after Close = %v, want io.EOF", err)
	}
	if l := srv.next(t, "disconnect", 20*time.Second); !strings.Contains(string(l), `"client namespace disconnect"`) {
		t.Errorf("the server reported %s, want a client namespace disconnect", l)
	}

	// A second session reuses the access token.
	s2, err := d.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.CloseNow()
	events2, end2 := aiolaOfficialReadAll(s2)
	if err := s2.WriteAudio(pcm[:frame.Size]); err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	for range events2 {
	}
	if err := <-end2; err != io.EOF {
		t.Errorf("second session: ReadEvent after Close = %v, want io.EOF", err)
	}
	srv.next(t, "disconnect", 20*time.Second)

	if err := d.Close(ctx); err != nil {
		t.Fatalf("Dialer.Close: %v", err)
	}
	if err := d.Close(ctx); err != nil {
		t.Fatalf("second Dialer.Close: %v", err)
	}

	rep := srv.report(t)
	if rep.Tokens != 1 || rep.SessionsCreated != 1 || rep.SessionsDeleted != 1 || rep.Live != 0 {
		t.Errorf("the server gave %d tokens, made %d auth sessions and deleted %d, %d live; want 1, 1, 1 and 0",
			rep.Tokens, rep.SessionsCreated, rep.SessionsDeleted, rep.Live)
	}
	if len(rep.Connections) != 2 || len(rep.Refused) != 0 {
		t.Fatalf("the server accepted %d connections and refused %d, want 2 and 0", len(rep.Connections), len(rep.Refused))
	}
	wantKeywords, _ := json.Marshal(keywords)
	ids := map[string]bool{}
	for i, c := range rep.Connections {
		if len(c.Problems) > 0 {
			t.Errorf("connection %d: the server found %q", i, c.Problems)
		}
		ids[c.Query["execution_id"]] = true
		if c.Query["flow_id"] != aiola.DefaultWorkflow || c.Query["lang_code"] != "en" || c.Query["time_zone"] != "UTC" ||
			c.Query["keywords"] != string(wantKeywords) || !c.TokenInQuery || c.Session != rep.Connections[0].Session {
			t.Errorf("connection %d: query %v, token in query %v, auth session %s", i, c.Query, c.TokenInQuery, c.Session)
		}
		if c.Protocol != 4 || c.Transport != "websocket" || c.UserAgent != "vachana-pipe/"+transport.Version {
			t.Errorf("connection %d: Engine.IO %d over %s, User-Agent %q", i, c.Protocol, c.Transport, c.UserAgent)
		}
		if len(c.Keywords) != 1 || !c.Keywords[0].Binary || string(c.Keywords[0].Value) != string(wantKeywords) {
			t.Errorf("connection %d: set_keywords %+v, want one binary %s", i, c.Keywords, wantKeywords)
		}
		if len(c.Others) > 0 || c.Reason != "client namespace disconnect" {
			t.Errorf("connection %d: other events %q, disconnect %q", i, c.Others, c.Reason)
		}
	}
	if len(ids) != 2 {
		t.Errorf("execution ids %v, want one per session", ids)
	}
	c := rep.Connections[0]
	if c.Chunks != chunks || c.Bytes != len(pcm) || c.SHA256 != hex.EncodeToString(sum[:]) || c.Transcripts != chunks/every {
		t.Errorf("the server got %d chunks, %d bytes, SHA-256 %s and sent %d transcripts; want %d, %d, %s and %d",
			c.Chunks, c.Bytes, c.SHA256, c.Transcripts, chunks, len(pcm), hex.EncodeToString(sum[:]), chunks/every)
	}
	if c.Sizes[fmt.Sprint(chunkBytes)] != len(pcm)/chunkBytes {
		t.Errorf("chunk sizes %v, want %d of %d bytes", c.Sizes, len(pcm)/chunkBytes, chunkBytes)
	}
	if c.Pongs < 2 {
		t.Errorf("%d pongs, want at least 2 (the server pings every 500 ms)", c.Pongs)
	}
	t.Logf("%d chunks (%d bytes), %d transcripts, %d pongs; events %v", c.Chunks, c.Bytes, c.Transcripts, c.Pongs, kinds[:2])
}

// TestAiolaDialerOfficialServerRefusals: a refused key, and the key's
// concurrent-session limit, each a *transport.HandshakeError; the limit
// lifts once the other Dialer closes its auth session.
func TestAiolaDialerOfficialServerRefusals(t *testing.T) {
	env := requireSocketIO(t)
	srv := startAiolaOfficial(t, env, "--max-sessions", "1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	newDialer := func(key string) *aiola.Dialer {
		d, err := aiola.NewDialer(aiola.Config{APIURL: srv.URL, AuthURL: srv.URL, APIKey: key})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close(context.Background()) })
		return d
	}

	_, err := newDialer("wrong-key").Dial(ctx)
	var he *transport.HandshakeError
	if !errors.As(err, &he) || he.StatusCode != 401 || !he.Final() || he.Code != "INVALID_API_KEY" ||
		!strings.Contains(err.Error(), "AIOLA_API_KEY") || strings.Contains(err.Error(), "wrong-key") {
		t.Errorf("Dial with a wrong key = %v, want a final HandshakeError 401 INVALID_API_KEY naming AIOLA_API_KEY, without the key", err)
	}

	a, b := newDialer(aiolaServerKey), newDialer(aiolaServerKey)
	sa, err := a.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sa.CloseNow()
	_, err = b.Dial(ctx)
	if !errors.As(err, &he) || he.StatusCode != 409 || he.Final() || he.Code != "MAX_CONCURRENCY_REACHED" ||
		!strings.Contains(err.Error(), "concurrent-session limit is reached") {
		t.Errorf("Dial beyond the limit = %v, want a HandshakeError 409 MAX_CONCURRENCY_REACHED", err)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	sb, err := b.Dial(ctx)
	if err != nil {
		t.Fatalf("Dial once the other auth session was deleted: %v", err)
	}
	sb.CloseNow()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rep := srv.report(t)
	if rep.SessionsCreated != 2 || rep.SessionsDeleted != 2 || rep.Live != 0 || rep.ConcurrencyRefusals != 1 {
		t.Errorf("the server made %d auth sessions, deleted %d, refused %d for the limit, %d live; want 2, 2, 1 and 0",
			rep.SessionsCreated, rep.SessionsDeleted, rep.ConcurrencyRefusals, rep.Live)
	}
}

package refserver

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// part is a stretch of test audio: silence, or a 440 Hz tone at dBFS peak.
type part struct {
	d    time.Duration
	dBFS float64 // 0 means silence
}

func silence(d time.Duration) part { return part{d: d} }
func tone(d time.Duration) part    { return part{d: d, dBFS: -10} }

// pcm renders parts as s16le mono at rate r.
func pcm(r frame.Rate, parts ...part) []byte {
	var b []byte
	var n int64
	for _, p := range parts {
		amp := 0.0
		if p.dBFS != 0 {
			amp = 32768 * math.Pow(10, p.dBFS/20)
		}
		for range r.N(p.d) {
			v := int16(amp * math.Sin(2*math.Pi*440*float64(n)/float64(r)))
			b = binary.LittleEndian.AppendUint16(b, uint16(v))
			n++
		}
	}
	return b
}

// chunks cuts b into messages of size bytes; the last one may be shorter.
func chunks(b []byte, size int) [][]byte {
	var out [][]byte
	for len(b) > size {
		out = append(out, b[:size])
		b = b[size:]
	}
	if len(b) > 0 {
		out = append(out, b)
	}
	return out
}

// event is one decoded server event.
type event map[string]any

func (e event) str(k string) string { s, _ := e[k].(string); return s }
func (e event) num(k string) float64 {
	f, _ := e[k].(float64)
	return f
}

// client is a test client whose reader goroutine decodes every event into
// events and stores the Read error that ended it in err.
type client struct {
	c      *websocket.Conn
	events chan event
	done   chan struct{}
	err    error // valid after done is closed
}

// header returns a valid handshake header at rate r (0 omits x-sample-rate).
func header(r frame.Rate) http.Header {
	h := http.Header{}
	h.Set("x-api-key-id", "test-key")
	h["lang_code"] = []string{"hi-IN"} // raw, as a client sends it
	h.Set("x-api-request-id", "req_test")
	h.Set("User-Agent", "refserver-test/1")
	if r != 0 {
		h.Set("x-sample-rate", strconv.Itoa(int(r)))
	}
	return h
}

// testCtx returns a context that ends after d or with the test.
func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// dial connects to url with h and starts the client's reader.
func dial(t *testing.T, url string, h http.Header) *client {
	t.Helper()
	return dialOpts(t, url, &websocket.DialOptions{HTTPHeader: h})
}

// dialOpts connects to url with opts and starts the client's reader.
func dialOpts(t *testing.T, url string, opts *websocket.DialOptions) *client {
	t.Helper()
	ctx := testCtx(t, 5*time.Second)
	c, resp, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: status %d: %v", url, status, err)
	}
	cl := &client{c: c, events: make(chan event, 1024), done: make(chan struct{})}
	go func() {
		defer close(cl.done)
		defer close(cl.events)
		for {
			typ, p, err := c.Read(context.Background())
			if err != nil {
				cl.err = err
				return
			}
			if typ != websocket.MessageText {
				continue
			}
			var e event
			if err := json.Unmarshal(p, &e); err != nil {
				t.Errorf("event %q is not JSON: %v", p, err)
				continue
			}
			cl.events <- e
		}
	}()
	t.Cleanup(func() {
		_ = c.CloseNow()
		<-cl.done
	})
	return cl
}

// next returns the next event, failing the test after d.
func (cl *client) next(t *testing.T, d time.Duration) event {
	t.Helper()
	select {
	case e, ok := <-cl.events:
		if !ok {
			t.Fatalf("connection ended while waiting for an event: %v", cl.err)
		}
		return e
	case <-time.After(d):
		t.Fatalf("no event within %v", d)
	}
	return nil
}

// until collects events until one of type typ has been seen n times.
func (cl *client) until(t *testing.T, typ string, n int) []event {
	t.Helper()
	var got []event
	for seen := 0; seen < n; {
		e := cl.next(t, 5*time.Second)
		got = append(got, e)
		if e.str("type") == typ {
			seen++
		}
	}
	return got
}

// send writes each message as a binary message.
func (cl *client) send(t *testing.T, msgs [][]byte) {
	t.Helper()
	ctx := testCtx(t, 5*time.Second)
	for i, m := range msgs {
		if err := cl.c.Write(ctx, websocket.MessageBinary, m); err != nil {
			t.Fatalf("write message %d: %v", i, err)
		}
	}
}

// closeNormally closes with status 1000 and waits for the reader.
func (cl *client) closeNormally(t *testing.T) {
	t.Helper()
	if err := cl.c.Close(websocket.StatusNormalClosure, "done"); err != nil {
		t.Fatalf("close: %v", err)
	}
	<-cl.done
}

// start starts a server closed at the end of the test.
func start(t *testing.T, opts *Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// waitReport waits for the n-th report (1-based).
func waitReport(t *testing.T, s *Server, n int) Report {
	t.Helper()
	reports, err := s.WaitReports(testCtx(t, 5*time.Second), n)
	if err != nil {
		t.Fatal(err)
	}
	return reports[n-1]
}

// leakCheck fails the test if goroutines started after it was called are
// still running at the end, after a short grace period.
func leakCheck(t *testing.T) func() {
	before := runtime.NumGoroutine()
	return func() {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("goroutines: %d before, %d after Close", before, n)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// testService drives one service's protocol in the tests both services
// share.
type testService struct {
	name string
	opts func(Options) *Options // sets Options.Service
	// dial connects a client; greets says a Vachana connected event comes
	// first (unless Faults.NoConnected).
	dial   func(t *testing.T, s *Server) *client
	greets bool
	// audio sends each of msgs as one audio message.
	audio func(t *testing.T, cl *client, msgs [][]byte)
	// errText returns the text of an error message in field (Sarvam's
	// Faults.ErrorField), "" if e is none.
	errText func(e event, field string) string
}

var services = []testService{
	{
		name: "vachana",
		opts: func(o Options) *Options { return &o },
		dial: func(t *testing.T, s *Server) *client {
			t.Helper()
			return dial(t, s.URL, header(0))
		},
		greets: true,
		audio:  func(t *testing.T, cl *client, msgs [][]byte) { t.Helper(); cl.send(t, msgs) },
		errText: func(e event, _ string) string {
			if e.str("type") != "error" || e.str("timestamp") == "" {
				return ""
			}
			return e.str("message")
		},
	},
	{
		name: "sarvam",
		opts: func(o Options) *Options { o.Service = ServiceSarvam; return &o },
		dial: func(t *testing.T, s *Server) *client {
			t.Helper()
			return dialSarvam(t, s, "language-code=hi-IN")
		},
		audio: func(t *testing.T, cl *client, msgs [][]byte) {
			t.Helper()
			for _, m := range msgs {
				cl.sendText(t, audioMsg(m, frame.Rate16k))
			}
		},
		errText: func(e event, field string) string {
			if e.str("type") != "error" || e.obj("data").str("code") == "" {
				return ""
			}
			return e.obj("data").str(cmp.Or(field, "error"))
		},
	},
}

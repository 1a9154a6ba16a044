package sarvam_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/transport/sarvam"
)

// sdkCapture is one session of the official SDK as
// testdata/sdk-capture.json records it (see testdata/README.md).
type sdkCapture struct {
	CalledWith struct {
		SetPrompt string `json:"setPrompt"`
	} `json:"called_with"`
	Path        string            `json:"path"`
	Query       map[string]string `json:"query"`
	Headers     map[string]string `json:"headers"`
	Input       string            `json:"input"`
	InputOffset int               `json:"input_offset"`
	Frames      int               `json:"frames"`
	FrameBytes  int               `json:"frame_bytes"`
	Messages    []string          `json:"messages"`
	CloseCode   int               `json:"close_code"`
}

// TestSDKCapture gives the client what the official SDK was given in the
// capture (the prompt, the same frames, a flush, a close) and requires
// the same path, query, key header and messages, byte for byte. Where the
// capture asked the SDK for vad_signals=false, the client still sends true:
// the pipeline needs the segment ends.
func TestSDKCapture(t *testing.T) {
	b, err := os.ReadFile("testdata/sdk-capture.json")
	if err != nil {
		t.Fatal(err)
	}
	var caps map[string]sdkCapture
	if err := json.Unmarshal(b, &caps); err != nil {
		t.Fatal(err)
	}
	if len(caps) != 2 {
		t.Fatalf("%d captures, want 16000 and 8000", len(caps))
	}
	for rate, c := range caps {
		t.Run(rate, func(t *testing.T) {
			r, _ := strconv.Atoi(rate)
			input, err := os.ReadFile("../../" + c.Input)
			if err != nil {
				t.Fatal(err)
			}
			if c.FrameBytes != frame.Size || len(input) < c.InputOffset+c.Frames*frame.Size {
				t.Fatalf("capture of %d frames of %d bytes from %d: not what this test can replay", c.Frames, c.FrameBytes, c.InputOffset)
			}
			got := replay(t, sarvam.Config{
				APIKey:             "k",
				Lang:               c.Query["language-code"],
				Model:              c.Query["model"],
				Mode:               c.Query["mode"],
				SampleRate:         frame.Rate(r),
				HighVADSensitivity: c.Query["high_vad_sensitivity"] == "true",
				Prompt:             c.CalledWith.SetPrompt,
			}, input[c.InputOffset:c.InputOffset+c.Frames*frame.Size])
			if got.path != c.Path {
				t.Errorf("path %q, the SDK's %q", got.path, c.Path)
			}
			for name, v := range c.Query {
				want := v
				if name == "vad_signals" {
					want = "true"
				}
				if g := got.query.Get(name); g != want {
					t.Errorf("query %s=%q, the SDK sent %q", name, g, v)
				}
			}
			if len(got.query) != len(c.Query) {
				t.Errorf("query %v has parameters the SDK's %v has not", got.query, c.Query)
			}
			for name := range c.Headers {
				if got.header.Get(name) == "" {
					t.Errorf("no %s header; the SDK sends one", name)
				}
			}
			if !slices.Equal(got.msgs, c.Messages) {
				for i := range max(len(got.msgs), len(c.Messages)) {
					var g, w string
					if i < len(got.msgs) {
						g = got.msgs[i]
					}
					if i < len(c.Messages) {
						w = c.Messages[i]
					}
					if g != w {
						t.Errorf("message %d\n got %.120s\nwant %.120s", i, g, w)
					}
				}
			}
			if got.close != c.CloseCode {
				t.Errorf("close status %d, the SDK's %d", got.close, c.CloseCode)
			}
		})
	}
}

type received struct {
	path   string
	query  url.Values
	header http.Header
	msgs   []string
	close  int
}

// replay opens a session with cfg to a recording server, sends the prompt
// (by Dial), the frames of pcm, a flush and a close, and returns what the
// server received.
func replay(t *testing.T, cfg sarvam.Config, pcm []byte) received {
	t.Helper()
	done := make(chan received, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := received{path: r.URL.Path, query: r.URL.Query(), header: r.Header.Clone(), close: -1}
		defer func() { done <- got }()
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			_, msg, err := c.Read(context.Background())
			if err != nil {
				got.close = int(websocket.CloseStatus(err))
				return
			}
			got.msgs = append(got.msgs, string(msg))
		}
	}))
	defer ts.Close()
	cfg.URL = "ws" + strings.TrimPrefix(ts.URL, "http") + "/speech-to-text/ws"
	s, err := sarvam.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.CloseNow()
	for p := pcm; len(p) > 0; p = p[frame.Size:] {
		if err := s.WriteAudio(p[:frame.Size]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	read := make(chan struct{})
	go func() { // the close handshake needs a reader
		defer close(read)
		s.ReadEvent()
	}()
	s.Close()
	s.CloseNow()
	<-read
	return <-done
}

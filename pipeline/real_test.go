package pipeline

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/vachana"
)

// TestRealService streams the first 6 s of the speech sample to the real
// Vachana service and checks that text comes back. It runs only when
// GNANI_API_KEY is set and CI is not (the key never goes to CI), so the day
// a key exists, one command checks the real thing:
//
//	GNANI_API_KEY=… go test -run RealService -v ./pipeline
//
// VACHANA_URL overrides the endpoint.
func TestRealService(t *testing.T) {
	key := os.Getenv("GNANI_API_KEY")
	if key == "" || os.Getenv("CI") != "" {
		t.Skip("needs GNANI_API_KEY, and is never run in CI: GNANI_API_KEY=… go test -run RealService -v ./pipeline")
	}
	in, err := os.Open("../testdata/speech-16k.s16le")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	d, err := vachana.NewDialer(vachana.Config{URL: os.Getenv("VACHANA_URL"), APIKey: key, Lang: "en-IN"})
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stats, err := Stream(ctx, io.LimitReader(in, 6*32000), d, &Options{
		OnEvent: func(ev Event) {
			if ev.Kind == transport.Transcript && ev.Final {
				texts = append(texts, ev.Text)
			}
		},
		OnWarning: func(err error) { t.Logf("warning: %v", err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("transcripts: %q\nstats:\n%s", texts, stats)
	if strings.TrimSpace(strings.Join(texts, "")) == "" {
		t.Fatal("the service sent no text for 6 s of speech")
	}
}

package pipeline_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/vachana-pipe/vachana-pipe/pipeline"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
	"github.com/vachana-pipe/vachana-pipe/transport/vachana"
)

// Example streams the first three seconds of a recording to a session, in
// real time, and prints the transcripts. The reference server stands in for
// the service: its transcripts only state each segment's length. Against the
// real service, leave URL empty and set APIKey.
func Example() {
	srv, err := refserver.Start(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	in, err := os.Open("../testdata/speech-16k.s16le") // s16le, mono, 16 kHz
	if err != nil {
		log.Fatal(err)
	}
	defer in.Close()

	d, err := vachana.NewDialer(vachana.Config{URL: srv.URL, APIKey: "demo", Lang: "en-IN"})
	if err != nil {
		log.Fatal(err)
	}
	_, err = pipeline.Stream(context.Background(), io.LimitReader(in, 3*32000), d, &pipeline.Options{
		OnEvent: func(ev pipeline.Event) {
			if ev.Kind == transport.Transcript {
				fmt.Println(ev.Text)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// [segment 0: 1760 ms of speech]
}

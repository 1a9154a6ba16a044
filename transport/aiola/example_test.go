package aiola_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/aiola"
)

// One session, the way the pipeline drives it: audio in chunks of
// Audio().ChunkBytes(), events read by one goroutine, the auth session
// deleted at the end.
func ExampleDialer() {
	d, err := aiola.NewDialer(aiola.Config{APIKey: os.Getenv("AIOLA_API_KEY")})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	defer d.Close(ctx) // frees the key's concurrency slot

	s, err := d.Dial(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ev, err := s.ReadEvent()
			var me *transport.MalformedError
			switch {
			case errors.As(err, &me):
				continue
			case err == io.EOF:
				return // closed normally
			case err != nil:
				fmt.Println(err)
				return
			}
			if ev.Kind == transport.Transcript {
				fmt.Println(ev.Text)
			}
		}
	}()
	silence := make([]byte, d.Audio().ChunkBytes())
	for range 8 { // ~1 s of silence, the tail the service needs
		if err := s.WriteAudio(silence); err != nil {
			break
		}
	}
	// aiOla has no end-of-stream message: give the last transcript time to
	// come (the pipeline awaits it), then leave.
	time.Sleep(3 * time.Second)
	s.Close()
	<-done
}

func ExampleParseEvent() {
	ev, err := aiola.ParseEvent("transcript", []byte(`[{"transcript":"Hello there."}]`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s, final %v: %q; raw %s\n", ev.Kind, ev.Final, ev.Text, ev.Raw)
	// Output:
	// transcript, final true: "Hello there."; raw {"transcript":"Hello there."}
}

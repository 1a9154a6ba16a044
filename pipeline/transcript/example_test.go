package transcript_test

import (
	"fmt"
	"log"
	"os"
	"time"

	"github.com/vachana-pipe/vachana-pipe/pipeline"
	"github.com/vachana-pipe/vachana-pipe/pipeline/transcript"
	"github.com/vachana-pipe/vachana-pipe/transport"
)

// ExampleAssembler makes captions of a call whose two sides were streamed
// apart, channel 0 the agent and channel 1 the caller. In a program the
// events come to each stream's pipeline.Options.OnEvent, which calls Add
// with the stream's channel; here they are written out by hand, partial
// transcripts and a replayed duplicate included.
func ExampleAssembler() {
	transcriptEvent := func(text string, final bool, start, end time.Duration) pipeline.Event {
		return pipeline.Event{
			Event:   transport.Event{Kind: transport.Transcript, Text: text, Final: final},
			Session: 1,
			Start:   start,
			End:     end,
		}
	}
	s := time.Second
	events := []struct {
		channel int
		ev      pipeline.Event
	}{
		{0, transcriptEvent("Thank you for calling,", false, 0, 0)},
		{0, transcriptEvent("Thank you for calling, how can I help?", true, 500*time.Millisecond, 2500*time.Millisecond)},
		{1, transcriptEvent("Hi! My order arrived broken. I would like a refund, or a replacement if that is quicker.", true, 3*s, 9*s)},
		// The same speech, transcribed again after a reconnection.
		{1, transcriptEvent("Hi! My order arrived broken. I would like a refund, or a replacement if that is quicker.", true, 3*s, 9*s)},
	}

	var a transcript.Assembler
	for _, e := range events {
		if seg, ok := a.Add(e.channel, e.ev); ok {
			fmt.Printf("%s", transcript.AppendText(nil, seg, &transcript.Options{Timestamps: true}))
		}
	}
	fmt.Println()

	o := &transcript.Options{Labels: true, Names: []string{"Agent", "Caller"}}
	if err := transcript.WriteSRT(os.Stdout, a.Segments(), o); err != nil {
		log.Fatal(err)
	}
	// Output:
	// [00:00.5] Thank you for calling, how can I help?
	// [00:03.0] Hi! My order arrived broken. I would like a refund, or a replacement if that is quicker.
	//
	// 1
	// 00:00:00,500 --> 00:00:02,500
	// Agent: Thank you for calling,
	// how can I help?
	//
	// 2
	// 00:00:03,000 --> 00:00:04,955
	// Caller: Hi! My order arrived broken.
	//
	// 3
	// 00:00:04,955 --> 00:00:09,000
	// Caller: I would like a refund, or a
	// replacement if that is quicker.
}

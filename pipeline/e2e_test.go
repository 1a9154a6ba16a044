//go:build cgo

// The end-to-end tests compose the resampler (libsoxr, cgo) in front of
// the pipeline, as the command does.

package pipeline

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/resample"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
)

// TestRunResampledToServer streams the speech sample, first brought to
// 48 kHz, through Run with resampling back to 16 kHz, to the reference
// server: every segment must come back, and the server must get exactly
// the ratio's number of samples, padding and tail.
func TestRunResampledToServer(t *testing.T) { forDialects(t, testRunResampledToServer) }

func testRunResampledToServer(t *testing.T, dl dialect) {
	speech, err := os.ReadFile("../testdata/speech-16k.s16le")
	if err != nil {
		t.Fatal(err)
	}
	up, err := resample.New(bytes.NewReader(speech), 16000, 48000, resample.High)
	if err != nil {
		t.Fatal(err)
	}
	in48, err := io.ReadAll(up)
	up.Close()
	if err != nil {
		t.Fatal(err)
	}
	srv, d := refSession(t, dl, &refserver.Options{RecordAudio: true})
	down, err := resample.New(bytes.NewReader(in48), 48000, 16000, resample.High)
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	var texts []string
	stats, err := Stream(context.Background(), down, d, &Options{
		Unpaced: true,
		OnEvent: func(ev Event) {
			if ev.Kind == transport.Transcript {
				texts = append(texts, ev.Text)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(texts) != 4 || stats.Transcripts != 4 {
		t.Fatalf("transcripts %q", texts)
	}
	samples := (int64(len(in48)/2)*16000 + 24000) / 48000
	if samples != int64(len(speech)/2) {
		t.Fatalf("test is off: %d samples expected back", samples)
	}
	frames := (samples*2+frame.Size-1)/frame.Size + frame.Rate16k.FramesIn(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reps, err := srv.WaitReports(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	// The server counts audio messages: frames, or aiOla's chunks.
	msgs := int64(dl.count(int(frames)))
	if got := int64(reps[0].Frames); got != msgs || reps[0].Bytes != frames*frame.Size || stats.Frames != frames {
		t.Fatalf("server got %d messages of %d bytes, stats say %d frames; want %d frames in %d messages", got, reps[0].Bytes, stats.Frames, frames, msgs)
	}
}

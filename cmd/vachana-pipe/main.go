// Command vachana-pipe streams audio to Gnani's Vachana realtime
// speech-to-text service (v3), or with -service sarvam to Sarvam AI's
// streaming speech-to-text, or with -service aiola to aiOla's, and prints
// the transcripts.
//
//	vachana-pipe -local talk.mp3 (decoded through ffmpeg, if installed)
//	ffmpeg -i in.mp3 -f s16le -ac 1 -ar 16000 - | vachana-pipe
//	vachana-pipe -local testdata/speech-16k.s16le
//	vachana-pipe -service sarvam -local testdata/speech-16k.s16le
//	vachana-pipe -service aiola -local testdata/speech-16k.s16le
//	vachana-pipe -local -timestamps -channels split -channel-names agent,customer call.wav
//	vachana-pipe -local -output srt talk.wav > talk.srt
//	vachana-pipe -local -j 8 -out-dir out/ calls/*.m4a
//	vachana-pipe serve [-service sarvam|aiola]
//
// Run "vachana-pipe -h" for the flags and exit codes.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Exit codes.
const (
	exitOK          = 0
	exitFailure     = 1   // an unexpected internal error
	exitUsage       = 2   // bad flags or bad input
	exitConnect     = 3   // could not connect, or the handshake was rejected
	exitStream      = 4   // the stream failed after connecting
	exitInterrupted = 130 // SIGINT or SIGTERM
)

// exitError carries the exit code for an error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return exitFailure
}

func main() {
	// The first SIGINT or SIGTERM stops the run gracefully; a second one
	// ends the process. One channel receives both, so a second
	// signal cannot slip between two registrations.
	// The second aborts the run, whose cleanup (ending a service's auth
	// session: aiOla's) is bounded by abortCleanup; a third, or the
	// cleanup overrunning, ends the process there and then.
	stop, interrupt := context.WithCancel(context.Background())
	abort, aborted := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 3)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-signals
		interrupt()
		<-signals
		aborted() // run says so, on its console

		select {
		case <-signals:
		case <-time.After(abortCleanup + 2*time.Second): // a token exchange under way gets a second more (transport/aiola)
		}
		if progressShown.Load() {
			fmt.Fprint(os.Stderr, "\r\033[J") // erase the progress display (best effort: a draw may be under way)
		}
		os.Exit(exitInterrupted)
	}()
	err := run(abort, stop, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	code := exitCode(err)
	if err != nil && !errors.Is(err, errHelp) {
		fmt.Fprintf(os.Stderr, "vachana-pipe: %v\n", err)
	}
	os.Exit(code)
}

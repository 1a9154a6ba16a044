package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
)

const serveUsage = `Usage:
  vachana-pipe serve [flags]

Runs the local reference server: it speaks Vachana v3 on loopback, segments
speech with an energy detector and answers each segment with a transcript that
only states its length (it recognises no words). One line per finished session
goes to stderr: frames, size violations, cadence and segments.

Flags:
`

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("vachana-pipe serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8765", "address to listen on")
	key := fs.String("key", "", "the only API key to accept (default: any non-empty key)")
	hangover := fs.Duration("hangover", 500*time.Millisecond, "silence that ends a segment")
	delay := fs.Duration("delay", 40*time.Millisecond, "time between processing and transcript")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), serveUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return withCode(exitOK, errHelp)
		}
		return withCode(exitUsage, printedError{err})
	}
	if fs.NArg() > 0 {
		return withCode(exitUsage, fmt.Errorf("serve takes no arguments, got %d (flags go first)", fs.NArg()))
	}
	opts := &refserver.Options{
		MaxReports:      1, // the log has them all
		Hangover:        *hangover,
		ProcessingDelay: *delay,
		Logf: func(format string, args ...any) {
			fmt.Fprintf(stderr, format+"\n", args...)
		},
	}
	if *key != "" {
		opts.Keys = []string{*key}
	}
	srv := refserver.New(opts)
	defer srv.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return withCode(exitUsage, fmt.Errorf("cannot listen on %s: %w", *addr, err))
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stderr, "reference server listening on ws://%s/stt/v3/stream (Ctrl-C to stop)\n", ln.Addr())
	stop := context.AfterFunc(ctx, func() { hs.Close() })
	defer stop()
	err = hs.Serve(ln)
	if ctx.Err() != nil {
		return nil
	}
	return withCode(exitFailure, err)
}

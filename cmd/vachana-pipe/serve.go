package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
)

const serveUsage = `Usage:
  vachana-pipe serve [flags]

Runs the local reference server: it speaks Vachana v3, or with -service
sarvam Sarvam's streaming STT, or with -service aiola aiOla's (its token
endpoints and Socket.IO), on loopback (another -addr is warned about),
segments speech with an energy detector and answers
each segment with a transcript that only states its length (it recognises no
words). One line per finished session goes to stderr: frames, size
violations, cadence and segments.

Flags:
`

// serve runs the reference server until ctx ends or stop comes.
func serve(ctx, stop context.Context, args []string, stderr io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(stop, cancel)()
	fs := flag.NewFlagSet("vachana-pipe serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8765", "address to listen on; one that is not loopback lets other machines connect")
	svcName := fs.String("service", services[0].name, "the protocol to speak: "+serviceNames)
	key := fs.String("key", "", "the only API key to accept (default: any non-empty key)")
	hangover := fs.Duration("hangover", refserver.DefaultHangover, "silence that ends a segment")
	delay := fs.Duration("delay", refserver.DefaultProcessingDelay, "time between a segment's end (processing, END_SPEECH) and its transcript")
	maxSessions := fs.Int("max-sessions", 0, "aiOla: the auth sessions that may be live at once, as a key's concurrency limit (0: no limit)")
	if err := parseFlags(fs, args, stderr, serveUsage, ""); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return withCode(exitUsage, fmt.Errorf("serve takes no arguments, got %d (flags go first)", fs.NArg()))
	}
	var logMu sync.Mutex
	svc, err := findService(*svcName)
	if err != nil {
		return withCode(exitUsage, err)
	}
	opts := &refserver.Options{
		Service:         svc.refserver,
		MaxReports:      1, // the log has them all
		Hangover:        *hangover,
		MaxSessions:     max(0, *maxSessions),
		ProcessingDelay: *delay,
		Logf: func(format string, args ...any) {
			// Sessions end on their own goroutines: one line at a time.
			logMu.Lock()
			defer logMu.Unlock()
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
	if host, _, _ := net.SplitHostPort(ln.Addr().String()); !isLoopback(host) {
		anyKey := " with any key (-key names the only one to accept)"
		if *key != "" {
			anyKey = ""
		}
		fmt.Fprintf(stderr, "vachana-pipe: warning: serve: %s is not loopback: other machines can connect%s\n", ln.Addr(), anyKey)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	switch svc.refserver {
	case refserver.ServiceSarvam:
		fmt.Fprintf(stderr, "reference server listening on ws://%s%s (speaking %s; Ctrl-C to stop)\n", ln.Addr(), refserver.SarvamPath, svc.title)
	case refserver.ServiceAiola:
		fmt.Fprintf(stderr, "reference server listening on http://%s (speaking %s: -url and -auth-url http://%s; Ctrl-C to stop)\n", ln.Addr(), svc.title, ln.Addr())
	default:
		fmt.Fprintf(stderr, "reference server listening on ws://%s%s (speaking %s; Ctrl-C to stop)\n", ln.Addr(), refserver.Path, svc.title)
	}
	defer context.AfterFunc(ctx, func() { hs.Close() })()
	err = hs.Serve(ln)
	if ctx.Err() != nil {
		return nil
	}
	return withCode(exitFailure, err)
}

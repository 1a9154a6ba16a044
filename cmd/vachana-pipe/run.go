package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/vachana-pipe/vachana-pipe/pipeline"
	"github.com/vachana-pipe/vachana-pipe/sink"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
)

// run is the command. ctx aborts it at once; stop (the first SIGINT or
// SIGTERM) ends it gracefully: the input stops, the tail silence is sent,
// transcripts are drained, the session is closed normally, the stats are
// printed, and the exit code is 130. With several INPUTs (or -out-dir) it
// runs them as a batch (see batch).
func run(ctx, stop context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "serve" {
		return serve(ctx, stop, args[1:], stderr)
	}
	c, err := parseConfig(args, os.Getenv, os.ReadFile, stderr)
	if err != nil {
		return err
	}
	if c.version {
		fmt.Fprintf(stdout, "vachana-pipe %s\n", transport.Version)
		return nil
	}
	con := newConsole(stdout, stderr, c.quiet, !c.paced)
	defer con.close()
	said := make(chan struct{})
	sayAbort := context.AfterFunc(ctx, func() {
		defer close(said)
		con.aborting()
	})
	defer func() {
		if !sayAbort() {
			<-said
		}
	}()
	for _, w := range c.warnings {
		con.warn(w)
	}
	// The destination is opened once the first input has been read, so
	// that bad input is reported before a server starts or a file is made.
	var dst *destination
	openDst := sync.OnceValues(func() (*destination, error) {
		var err error
		dst, err = openDestination(c, stdout)
		return dst, err
	})
	defer func() {
		if dst == nil {
			return
		}
		if err := dst.close(ctx); err != nil {
			con.warn(err)
		}
	}()
	if c.outDir == "" {
		j := &job{input: "", stdout: true}
		if len(c.inputs) == 1 {
			j.input = c.inputs[0]
		}
		return runJob(ctx, stop, c, j, openDst, con, stdin).err
	}
	return runBatch(ctx, stop, c, openDst, con, stdin)
}

// pipelineOptions maps the flags to the pipeline's options; run adds the
// stop, the interrupt and the handlers.
func pipelineOptions(c *config) *pipeline.Options {
	tail := c.tail
	if !c.tailSet {
		tail = 0 // what the service needs (Stream asks the dialer), else the pipeline's default
		if d, err := c.dialer(c.url, c.authURL, "k"); c.out != "" && err == nil {
			tail = d.Audio().TailSilence // -o writes what would go on the wire
		}
	}
	return &pipeline.Options{
		Rate:           c.rate,
		Unpaced:        !c.paced,
		TailSilence:    tail,
		NoTailSilence:  c.tailSet && c.tail == 0,
		DrainTimeout:   c.drain,
		Reconnects:     c.reconnects,
		NoReconnect:    c.reconnects == 0,
		Replay:         c.replay,
		StallTimeout:   c.stall,
		ConnectTimeout: c.connectTimeout,
	}
}

// destination is where the frames go: the -o file, or sessions with the
// service (with -local, the reference server started here).
type destination struct {
	file      pipeline.Sink     // -o, or nil
	closeFile func()            // closes -o's file, if it is one
	dialer    transport.Dialer  // the service, unless -o
	local     *refserver.Server // -local's server, or nil
}

// send streams audio to the destination.
func (d *destination) send(ctx context.Context, audio io.Reader, opts *pipeline.Options) (*pipeline.Stats, error) {
	if d.file != nil {
		return pipeline.Run(ctx, audio, d.file, opts)
	}
	return pipeline.Stream(ctx, audio, d.dialer, opts)
}

// Limits on releasing what the dialer holds beyond its sessions (aiOla's
// auth session, whose delete frees a slot of the key's concurrency limit):
// normally, and when the run was aborted (a second Ctrl-C).
const (
	closeLimit   = 5 * time.Second
	abortCleanup = 2 * time.Second
)

// close releases the destination once send has returned. ctx is the run's:
// when it was aborted, the dialer gets abortCleanup to release what it
// holds, else closeLimit. An error says what the service may still hold.
func (d *destination) close(ctx context.Context) error {
	if d.closeFile != nil {
		d.closeFile()
	}
	var err error
	if d.dialer != nil {
		limit := closeLimit
		if ctx.Err() != nil {
			limit = abortCleanup
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), limit)
		err = d.dialer.Close(cctx)
		cancel()
	}
	if d.local != nil {
		d.local.Close()
	}
	return err
}

// openDestination opens -o, or prepares the sessions with the service: the
// first is opened by send.
func openDestination(c *config, stdout io.Writer) (*destination, error) {
	d := &destination{}
	if c.out != "" {
		w, closeFile, err := createOutput(c.out, stdout)
		if err != nil {
			return nil, withCode(exitUsage, err)
		}
		d.closeFile = closeFile
		if c.paced {
			d.file = sink.NewFile(w) // paced frames go out as they come
		} else {
			d.file = sink.NewBufferedFile(w)
		}
		return d, nil
	}
	url, authURL, key := c.url, c.authURL, c.key
	if c.local {
		srv, err := refserver.Start(&refserver.Options{Service: c.service.refserver})
		if err != nil {
			return nil, withCode(exitFailure, fmt.Errorf("starting the local reference server: %w", err))
		}
		d.local = srv
		url, key = srv.URL, cmp.Or(c.key, "local")
		if c.service.httpURL {
			url, authURL = srv.BaseURL, srv.BaseURL // the API and the token flow, on one server
		}
	}
	var err error
	if d.dialer, err = c.dialer(url, authURL, key); err != nil {
		d.close(context.Background())
		return nil, withCode(exitUsage, err)
	}
	return d, nil
}

// createOutput opens -o: a file, or stdout for "-" unless it is a terminal.
func createOutput(name string, stdout io.Writer) (io.Writer, func(), error) {
	if name == "-" {
		if isTerminal(stdout) {
			return nil, nil, errors.New("-o -: standard output is a terminal, where binary frames would only garble the screen: redirect it (-o - > frames.raw) or give -o a file")
		}
		return stdout, func() {}, nil
	}
	f, err := os.Create(name)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot create output file: %w", err)
	}
	return f, func() { f.Close() }, nil
}

// classify maps an error from pipeline.Run or pipeline.Stream to an exit
// code.
func classify(ctx context.Context, err error) error {
	var ie *pipeline.InputError
	var ce *pipeline.ConnectError
	var he *transport.HandshakeError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil, errors.Is(err, pipeline.ErrStopped):
		return withCode(exitInterrupted, errors.New("interrupted"))
	case errors.As(err, &ie):
		return withCode(exitUsage, err)
	case errors.As(err, &ce), errors.As(err, &he) && he.Final():
		// A key refused on reconnection is refused all the same.
		return withCode(exitConnect, err)
	default:
		return withCode(exitStream, err)
	}
}

package refserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Server is a reference server for one service: Vachana v3, Sarvam or aiOla.
// Its methods are safe for concurrent use.
type Server struct {
	// URL is ws://127.0.0.1:PORT followed by the service's path ([Path],
	// [SarvamPath] or [AiolaPath]) when the server was made by [Start],
	// empty when made by [New].
	URL string
	// BaseURL is http://127.0.0.1:PORT when the server was made by [Start],
	// empty when made by [New]: an aiOla client's API base and auth base
	// both.
	BaseURL string

	opts     Options
	auth     *authStore    // aiOla only
	closedCh chan struct{} // closed by Close
	attempts atomic.Int64  // handshakes seen, for Faults.Sessions

	mu       sync.Mutex
	closed   bool
	done     bool // Close has finished: no more reports will come
	sessions map[*session]struct{}
	reports  []Report
	ended    int           // sessions ended, including reports MaxReports dropped
	changed  chan struct{} // closed and replaced when reports or done change

	handlers  sync.WaitGroup
	httpSrv   *http.Server
	serveDone chan struct{}
	closeOnce sync.Once
}

// New returns a Server that does not listen: use it as an [http.Handler].
// A nil opts means all defaults. New panics if opts is invalid (an unknown
// Service or ErrorField, a RejectStatus outside 400–599 or a non-finite
// Threshold); [Start] returns that error instead.
func New(opts *Options) *Server {
	s, err := newServer(opts)
	if err != nil {
		panic(err)
	}
	return s
}

// Start returns a Server listening on 127.0.0.1 on a free port, with URL
// set. Call [Server.Close] to stop it.
func Start(opts *Options) (*Server, error) {
	s, err := newServer(opts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("refserver: listening on loopback: %w", err)
	}
	s.URL = "ws://" + ln.Addr().String() + s.path()
	s.BaseURL = "http://" + ln.Addr().String()
	s.httpSrv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.serveDone = make(chan struct{})
	go func() {
		defer close(s.serveDone)
		_ = s.httpSrv.Serve(ln) // returns when Close closes the listener
	}()
	return s, nil
}

func newServer(opts *Options) (*Server, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:     o,
		closedCh: make(chan struct{}),
		sessions: make(map[*session]struct{}),
		changed:  make(chan struct{}),
	}
	if o.Service == ServiceAiola {
		s.auth = newAuthStore(&s.opts)
	}
	return s, nil
}

// ServeHTTP checks the handshake, upgrades the connection and serves the
// session until it ends, then publishes its [Report]. An aiOla server also
// answers the token endpoints ([AiolaTokenPath], [AiolaSessionPath]). After
// [Server.Close] it answers 503.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		const msg = "reference server: closed; start a new one"
		switch s.opts.Service {
		case ServiceSarvam:
			writeSarvamError(w, http.StatusServiceUnavailable, "internal_server_error", msg)
		case ServiceAiola:
			writeAiolaError(w, http.StatusServiceUnavailable, "SERVER_CLOSED", msg)
		default:
			writeError(w, http.StatusServiceUnavailable, "SERVER_CLOSED", msg)
		}
		return
	}
	defer s.handlers.Done()
	if s.auth != nil && strings.HasPrefix(r.URL.Path, "/voip-auth/") {
		s.auth.serve(w, r, s.opts.Keys)
		return
	}
	faults := s.opts.Faults
	if n := faults.Sessions; n > 0 && s.attempts.Add(1) > int64(n) {
		faults = Faults{}
	}
	hs, accept, ok := s.checkHandshake(w, r, faults)
	if !ok {
		return
	}
	c, err := websocket.Accept(w, r, accept)
	if err != nil {
		return // Accept has written the HTTP error
	}
	ss := newSession(s, c, hs, faults)
	s.register(ss)
	s.publish(ss, ss.run())
}

// Close stops listening (if started by [Start]), aborts every open session
// without a close handshake, and returns when every handler and timer the
// server started has finished. Sessions aborted this way are reported. Close
// is idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.closedCh)
		open := make([]*session, 0, len(s.sessions))
		for ss := range s.sessions {
			open = append(open, ss)
		}
		s.mu.Unlock()

		if s.httpSrv != nil {
			_ = s.httpSrv.Close()
			<-s.serveDone
		}
		for _, ss := range open {
			ss.abort()
		}
		s.handlers.Wait()

		s.mu.Lock()
		s.done = true
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
	})
}

// Reports returns the reports of the sessions that have ended, in the order
// they ended. The slice is a copy; the Reports' own slices are shared.
func (s *Server) Reports() []Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reports)
}

// WaitReports blocks until at least n sessions have ended and returns all
// reports so far, like [Server.Reports]. If ctx ends first, or the server is
// closed with fewer than n reports, it returns the reports so far and an
// error.
func (s *Server) WaitReports(ctx context.Context, n int) ([]Report, error) {
	for {
		s.mu.Lock()
		got := s.ended
		if got >= n || s.done {
			reports := slices.Clone(s.reports)
			s.mu.Unlock()
			if got < n {
				return reports, fmt.Errorf("refserver: server closed after %d of the %d sessions waited for ended", got, n)
			}
			return reports, nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return s.Reports(), fmt.Errorf("refserver: waiting for %d sessions to end, %d did: %w", n, got, context.Cause(ctx))
		}
	}
}

// LiveSessions returns the number of aiOla auth sessions that are live:
// created, neither deleted nor expired. It is 0 for the other services.
// A client that ends every run with DELETE /voip-auth/session, whatever
// happened, leaves it where it found it.
func (s *Server) LiveSessions() int {
	if s.auth == nil {
		return 0
	}
	return s.auth.live()
}

// path returns the path of the server's service.
func (s *Server) path() string {
	switch s.opts.Service {
	case ServiceSarvam:
		return SarvamPath
	case ServiceAiola:
		return AiolaPath
	}
	return Path
}

// enter admits a handler unless the server is closed.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.handlers.Add(1)
	return true
}

// register makes ss abortable by Close; if Close has already begun, it
// aborts ss at once (the session then ends quickly and is reported).
func (s *Server) register(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		ss.abort()
		return
	}
	s.sessions[ss] = struct{}{}
}

// publish logs and records the report of the ended session ss. It logs
// first, so a line is out before WaitReports sees its report.
func (s *Server) publish(ss *session, r Report) {
	if s.opts.Logf != nil {
		s.opts.Logf("%s", r.String())
	}
	s.mu.Lock()
	delete(s.sessions, ss)
	s.reports = append(s.reports, r)
	s.ended++
	if m := s.opts.MaxReports; m > 0 && len(s.reports) > m {
		s.reports = slices.Delete(s.reports, 0, len(s.reports)-m)
	}
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// Package aiola is the dialect of aiOla's streaming speech-to-text for the
// [transport] contract: the token flow that turns an API key into an
// access token, the Socket.IO v4 session the audio goes on (through
// [socketio]), and the events aiOla sends back, normalised into
// [transport.Event]s.
//
// # The flow
//
// A [Dialer] owns one auth session with the service. The first Dial
// exchanges the API key for a temporary token (POST {auth}/voip-auth/apiKey2Token,
// Authorization: Bearer <key>, answer {"context":{"token":…}}) and the token
// for an access token (POST {auth}/voip-auth/session, Bearer <token>, body
// {"workflow_id":…}, answer {"jwt":…,"sessionId":…}), as both official SDKs
// do. Later Dials reuse the access token while its exp claim is more than
// [ReuseMargin] away (a token whose exp cannot be read is reused until the
// service refuses it); closer to expiry they exchange the key again. When
// the service refuses a reused token as unauthorised (an upgrade answered
// 401 or 403, or the namespace refused with an authorisation message), the
// Dial drops it, exchanges the key once more and retries once. The auth
// session of a token that is replaced (near its expiry, or refused) is
// deleted first, at most 2 s, so that it does not hold a slot of the key's
// concurrency limit until it expires. The sessions of one Dialer share its
// auth session, and replacing it may end those still open on it: open one
// session at a time per Dialer (as the pipeline does), or a Dialer per
// stream. Once the request that opens an auth session is sent it is given
// up only a second after the Dial's ctx ends (and at 5 s in any case), so
// that the session it opens is held, for Close to delete, rather than
// orphaned.
//
// Each Dial then opens a WebSocket to the API URL's host (http→ws,
// https→wss) at [Path] — Socket.IO's Engine.IO 4, WebSocket only, where the
// SDKs poll first and upgrade — with the header Authorization: Bearer <jwt>
// and the query the JS SDK's buildQueryAndHeaders makes for a plain
// transcription: execution_id, flow_id (the workflow), time_zone,
// x-aiola-api-token (the jwt again), lang_code (which the SDKs leave out
// when not given; here it always has its default, "en") and, when
// [Config.Keywords] is set, keywords (their JSON). No tasks_config or
// vad_config: the SDKs send those only when asked. The execution_id is
// fresh for every Dial: 24 random letters and digits, the most aiOla's
// documentation allows (4 to 24 letters and digits); the JS SDK's nanoid
// (21 characters, "-" and "_" among them) and the Python SDK's UUID are
// outside it. The Dial joins the namespace [Namespace] and, with keywords,
// emits set_keywords carrying their JSON as a binary attachment, as the JS
// SDK's setKeywords does (the Python SDK sends the object as JSON). The
// session is ready then; aiOla sends no greeting.
//
// [Dialer.Close] deletes the auth session (DELETE {auth}/voip-auth/session,
// Bearer <jwt>, no body), which frees the key's concurrency slot at once
// instead of when the token expires: a client that never deletes holds a
// slot, and the next exchange may be refused with 409
// MAX_CONCURRENCY_REACHED. Call it once the dialer's sessions are closed. A
// 404 or 401 answer to the delete means the session is gone already and
// is no error.
//
// Errors never hold the API key, the temporary token or the access token:
// not in URLs, and not where the service quotes them back.
//
// # Audio
//
// Audio is s16le mono at 16 kHz only ([Rates]), sent as binary_data
// events, one binary attachment each. The SDKs advise chunks of 100 to
// 1000 ms. Our frames are 32 ms: 3 frames (96 ms) are too few, so a chunk
// is [ChunkFrames] = 4 frames (128 ms, 4096 bytes), the smallest whole
// number of frames within that range and so the least latency the service
// advises (the Python SDK's microphone helper sends 4096 samples, 256 ms).
// The service ends an utterance on its own silence detection, and there is
// no end-of-stream message: [TailSilence] of silence after the last speech
// ends it, and [Session.Finish] sends nothing. aiOla documents no end of a
// session left without audio, and Socket.IO's pings keep the connection
// alive, so no keep-alive audio is asked for.
//
// # Events
//
// aiOla's Socket.IO events map onto the contract's kinds as follows
// (Event.Type is the event's name; Event.Raw is its one argument's JSON,
// see [ParseEvent]):
//
//	transcript  {"transcript":…}             Transcript, Final unless it says isFinal false
//	translation {"translation":…}            Translation, its text in Text
//	structured  {"results":…}                Structured, the payload in Raw
//	error       text, {message}, {error}…    Error, with Message
//	anything else (schema_values_updated…)   Other
//
// aiOla sends one final transcript per utterance and never says where an
// utterance ended (no SegmentEnded), so [Dialer.Audio] sets
// transport.Audio.NoSegmentEnds: the pipeline pairs each transcript with
// the speech it detected itself in what it sent — a transcript confirms
// the speech that ended at least 450 ms of silence before it came, and the
// drain awaits a transcript when speech was sent after the last one.
//
// A [Session] has no goroutines of its own: the caller writes audio with
// [Session.WriteAudio] and must keep one goroutine in [Session.ReadEvent]
// for the whole session, because the server's pings are answered only
// while someone reads. The session ends when the server disconnects the
// namespace or the connection: ReadEvent then returns a
// *[transport.ClosedError]. The Dialer starts no goroutine either; the
// HTTP client it makes by default keeps no connection once a call returns.
package aiola

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/socketio"
)

// Defaults applied to zero [Config] fields, as the official SDKs have them.
const (
	DefaultAPIURL   = "https://apis.aiola.ai"
	DefaultAuthURL  = "https://auth.aiola.ai"
	DefaultWorkflow = "2c78fcf1-9265-408f-b8c3-d9d7e7ebc1bc"
	DefaultLang     = "en"
	DefaultTimeZone = "UTC"
)

// Where the streaming service listens on the API URL's host.
const (
	Path      = "/api/voice-streaming/socket.io"
	Namespace = "/events"
)

// Rate is the one sample rate the service takes.
const Rate = frame.Rate16k

// Rates are the sample rates the service takes.
var Rates = []frame.Rate{Rate}

// CheckRate returns an error naming r and the accepted rate if the
// service does not take r.
func CheckRate(r frame.Rate) error {
	if slices.Contains(Rates, r) {
		return nil
	}
	return fmt.Errorf("aiola: sample rate %d Hz is not accepted by the service; use 16000", int(r))
}

// ChunkFrames is the frames of one binary_data event: 4 × 32 ms = 128 ms,
// the smallest whole number of frames within the 100–1000 ms the SDKs
// advise.
const ChunkFrames = 4

// TailSilence is the silence the service needs after the last speech to
// end its last utterance.
const TailSilence = time.Second

// The events of aiOla's streaming service: what the server emits
// ([transport.Event.Type]) and what the client does.
const (
	EventTranscript  = "transcript"
	EventTranslation = "translation"
	EventStructured  = "structured"
	EventError       = "error"
	EventAudio       = "binary_data"
	EventKeywords    = "set_keywords"
)

// Dialer opens aiOla sessions with one Config and owns the auth session
// they share. It implements [transport.Dialer]; its methods may be called
// from any goroutine.
type Dialer struct {
	cfg      Config
	authURL  string       // without a trailing slash
	wsURL    string       // the socket's base, ws:// or wss://
	client   *http.Client // redirects never followed
	keywords []byte       // the JSON of cfg.Keywords; nil when there are none
	ownIdle  func()       // closes the idle connections of the client the Dialer made; nil for the caller's

	// sem is held by whoever reads or changes cur; a channel, so that a
	// Dial waiting for another's exchange can give up with its context.
	sem chan struct{}
	cur *grant // the auth session; nil before the first exchange and after Close
}

// NewDialer checks cfg and returns a dialer for it. It sends nothing.
func NewDialer(cfg Config) (*Dialer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	api, err := baseURL("APIURL", cfg.APIURL, false)
	if err != nil {
		return nil, err
	}
	auth, err := baseURL("AuthURL", cfg.AuthURL, true)
	if err != nil {
		return nil, err
	}
	ws := *api
	ws.Path, ws.RawPath = "", ""
	switch ws.Scheme {
	case "http":
		ws.Scheme = "ws"
	case "https":
		ws.Scheme = "wss"
	}
	switch auth.Scheme {
	case "ws":
		auth.Scheme = "http"
	case "wss":
		auth.Scheme = "https"
	}
	d := &Dialer{cfg: cfg, authURL: strings.TrimSuffix(auth.String(), "/"), wsURL: ws.String(), sem: make(chan struct{}, 1)}
	if len(cfg.Keywords) > 0 {
		d.keywords = keywordsJSON(cfg.Keywords)
	}
	base := cfg.HTTPClient
	if base == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		base = &http.Client{Transport: tr}
		d.ownIdle = tr.CloseIdleConnections
	}
	c := *base
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	d.client = &c
	return d, nil
}

// Audio returns what the sessions take: 16 kHz in chunks of 4 frames
// (4096 bytes), TailSilence after the last speech, and no segment ends.
// aiOla needs no keep-alive audio (Socket.IO pings keep a session) and has
// no flush.
func (d *Dialer) Audio() transport.Audio {
	return transport.Audio{Rate: Rate, ChunkFrames: ChunkFrames, TailSilence: TailSilence, NoSegmentEnds: true}
}

// query returns the query of a session's upgrade request with jwt as its
// token and id as its execution_id, as the JS SDK's buildQueryAndHeaders
// makes it (EIO and transport are added by [socketio.Dial]).
func (d *Dialer) query(jwt, id string) url.Values {
	q := url.Values{
		"execution_id":      {id},
		"flow_id":           {d.cfg.Workflow},
		"time_zone":         {d.cfg.TimeZone},
		"x-aiola-api-token": {jwt},
		"lang_code":         {d.cfg.Lang},
	}
	if d.keywords != nil {
		q.Set("keywords", string(d.keywords))
	}
	return q
}

// Dial opens a session, as [Dialer.DialSession] does.
func (d *Dialer) Dial(ctx context.Context) (transport.Session, error) {
	s, err := d.DialSession(ctx)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// DialSession opens a session: it runs the token flow if no reusable
// access token is held, connects, joins the namespace and sends the
// keywords, and returns once the session is ready for audio. ctx bounds
// all of it. A refusal with an HTTP status, of the token flow or of the
// upgrade, is a *[transport.HandshakeError] (Final for a refused key); a
// namespace refused is a *[socketio.ConnectError]. Errors never hold the
// key or a token.
func (d *Dialer) DialSession(ctx context.Context) (*Session, error) {
	g, fresh, err := d.grant(ctx, nil)
	if err != nil {
		return nil, err
	}
	s, err := d.open(ctx, g)
	if err != nil && !fresh && unauthorised(err) {
		if g, _, err = d.grant(ctx, g); err != nil {
			return nil, err
		}
		s, err = d.open(ctx, g)
	}
	return s, err
}

// grant returns the access token to open a session with: the one held if
// it is usable and is not refused, else a new one from the token flow
// (fresh).
func (d *Dialer) grant(ctx context.Context, refused *grant) (g *grant, fresh bool, err error) {
	select {
	case d.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, false, fmt.Errorf("aiola: waited for another Dial's token exchange: %w", context.Cause(ctx))
	}
	defer func() { <-d.sem }()
	if d.cur != nil && d.cur != refused && d.cur.usable(time.Now()) {
		return d.cur, false, nil
	}
	if d.cur != nil {
		// Near its expiry, or refused: end it before opening the next,
		// so that it does not hold one of the key's concurrent sessions
		// until it expires (the next could be refused with 409). Best
		// effort: a session already gone answers 404 or 401.
		dctx, cancel := outlive(ctx, afterGrace, replaceDeleteLimit)
		d.deleteSession(dctx, d.cur)
		cancel()
		d.cur = nil
	}
	g, err = d.exchange(ctx)
	if err != nil {
		return nil, false, err
	}
	d.cur = g
	return g, true, nil
}

// open connects with g and sends the keywords.
func (d *Dialer) open(ctx context.Context, g *grant) (*Session, error) {
	id := d.cfg.ExecutionID
	if id == "" {
		id = NewExecutionID()
	}
	h := d.cfg.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Authorization", "Bearer "+g.jwt)
	c, err := socketio.Dial(ctx, socketio.Config{
		URL:        d.wsURL,
		Path:       Path,
		Namespace:  Namespace,
		Query:      d.query(g.jwt, id),
		Header:     h,
		HTTPClient: d.client,
		ReadLimit:  d.cfg.ReadLimit,
		Hint:       upgradeHint,
	})
	secrets := []string{d.cfg.APIKey, g.jwt}
	if err != nil {
		var ce *socketio.ConnectError
		if errors.As(err, &ce) {
			ce.Message = hide(ce.Message, secrets)
			if len(ce.Data) > 0 && hide(string(ce.Data), secrets) != string(ce.Data) {
				ce.Data = json.RawMessage(`"[redacted]"`)
			}
		}
		return nil, redact(err, secrets)
	}
	if d.keywords != nil {
		if err := c.Emit(EventKeywords, d.keywords); err != nil {
			c.CloseNow()
			return nil, redact(fmt.Errorf("aiola: sending the keywords: %w", err), secrets)
		}
	}
	return &Session{c: c, executionID: id}, nil
}

func upgradeHint(status int) string {
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		return "the streaming service refused the access token: check the API key (-key, -key-file or env AIOLA_API_KEY) and the workflow"
	}
	return transport.StatusHint(status)
}

// unauthorised reports whether err, from opening a session, says the
// access token was refused: the upgrade answered 401 or 403, or the
// namespace refused with a message or data about authorisation.
func unauthorised(err error) bool {
	var he *transport.HandshakeError
	if errors.As(err, &he) {
		return he.StatusCode == http.StatusUnauthorized || he.StatusCode == http.StatusForbidden
	}
	var ce *socketio.ConnectError
	if errors.As(err, &ce) {
		text := strings.ToLower(ce.Message + " " + string(ce.Data))
		for _, w := range []string{"unauthori", "not authori", "forbidden", "401", "403", "token", "jwt", "expired", "auth"} {
			if strings.Contains(text, w) {
				return true
			}
		}
	}
	return false
}

// Close deletes the auth session the dialer holds, if any (DELETE
// {auth}/voip-auth/session with its access token), so that it no longer
// counts against the key's concurrent sessions; a later Dial starts a new
// one. A 404 or 401 answer means the session was gone already (deleted, or
// expired) and is no error. Call it once no session of the dialer is open:
// the service may end those the auth session carries. It is safe to call
// more than once, and when no session was made.
func (d *Dialer) Close(ctx context.Context) error {
	select {
	case d.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("aiola: closing the auth session: waited for a Dial's token exchange: %w", context.Cause(ctx))
	}
	g := d.cur
	d.cur = nil
	<-d.sem
	if g == nil {
		return nil
	}
	return d.deleteSession(ctx, g)
}

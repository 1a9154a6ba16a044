package aiola

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vachana-pipe/vachana-pipe/transport"
)

// The paths of the token flow under the auth URL, as both official SDKs
// call them.
const (
	TokenPath   = "/voip-auth/apiKey2Token" // POST, Bearer <api key> → {"context":{"token":…}}
	SessionPath = "/voip-auth/session"      // POST, Bearer <token>, {"workflow_id":…} → {"jwt":…,"sessionId":…}; DELETE, Bearer <jwt>
)

// ReuseMargin is how far from its expiry (the jwt's exp claim) an access
// token is still used for a new session; closer, the Dialer exchanges the
// key again.
const ReuseMargin = 30 * time.Second

// maxAnswer bounds the body of an answer of the token flow that is read.
const maxAnswer = 64 << 10

// grant is one auth session: the access token and what it says of itself.
type grant struct {
	jwt       string
	sessionID string
	exp       time.Time // zero when the jwt says no expiry that could be read
}

// usable reports whether g may open another streaming session at now.
func (g *grant) usable(now time.Time) bool {
	return g != nil && (g.exp.IsZero() || g.exp.Sub(now) > ReuseMargin)
}

// expiry returns the time of the exp claim of jwt, decoded without
// verifying the signature, or the zero time when there is none that can be
// read (not three parts, not base64url JSON, exp not a positive number of
// seconds).
func expiry(jwt string) time.Time {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	if d.Decode(&claims) != nil {
		return time.Time{}
	}
	sec, err := claims.Exp.Float64()
	// Up to the year 9999: beyond, the claim is nonsense and time.Unix of it
	// would not round-trip.
	if err != nil || math.IsNaN(sec) || sec <= 0 || sec > 253402300799 {
		return time.Time{}
	}
	return time.Unix(int64(sec), 0)
}

// Limits of the token flow's requests that outlive the ctx of a Dial: the
// POST that opens an auth session, and the delete of the one it replaces,
// each given up afterGrace after ctx ends (a stop: the caller then has the
// auth session to delete, or knows there is none) and at their limit in
// any case.
const (
	sessionPostLimit   = 5 * time.Second
	replaceDeleteLimit = 2 * time.Second
	afterGrace         = time.Second
)

// outlive returns a context for a request that must not be given up the
// moment ctx ends: it ends limit from now, or grace after ctx ends,
// whichever comes first. The returned cancel must be called.
func outlive(ctx context.Context, grace, limit time.Duration) (context.Context, context.CancelFunc) {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), limit)
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(grace, cancel) })
	return c, func() { stop(); cancel() }
}

// exchange runs the token flow: the API key for a temporary token, the
// token for a session's access token (jwt).
func (d *Dialer) exchange(ctx context.Context) (*grant, error) {
	defer d.closeIdle()
	var tok struct {
		Context struct {
			Token transport.Lenient `json:"token"`
		} `json:"context"`
	}
	if err := d.call(ctx, "exchanging the API key", http.MethodPost, TokenPath, d.cfg.APIKey, nil, &tok); err != nil {
		return nil, err
	}
	token := string(tok.Context.Token)
	if token == "" {
		return nil, fmt.Errorf("aiola: exchanging the API key: the answer of POST %s holds no token (context.token)", d.authURL+TokenPath)
	}
	if !headerSafe(token) {
		return nil, fmt.Errorf("aiola: exchanging the API key: the answer of POST %s holds a token with spaces or control characters", d.authURL+TokenPath)
	}
	body, _ := json.Marshal(struct {
		WorkflowID string `json:"workflow_id"`
	}{d.cfg.Workflow})
	var ses struct {
		JWT       transport.Lenient `json:"jwt"`
		SessionID transport.Lenient `json:"sessionId"`
	}
	// Once sent, the request that opens the auth session is not given up
	// the moment ctx ends (a stop, the connect limit): the session it
	// opens would hold a slot of the key's concurrency limit until it
	// expired, with nothing to delete it. It gets a second more, and the
	// Dialer keeps what it returns, for Close to delete.
	sctx, cancel := outlive(ctx, afterGrace, sessionPostLimit)
	defer cancel()
	if err := d.call(sctx, "opening the auth session", http.MethodPost, SessionPath, token, body, &ses, token); err != nil {
		return nil, err
	}
	if ses.JWT == "" {
		return nil, fmt.Errorf("aiola: opening the auth session: the answer of POST %s holds no access token (jwt)", d.authURL+SessionPath)
	}
	if !headerSafe(string(ses.JWT)) {
		return nil, fmt.Errorf("aiola: opening the auth session: the answer of POST %s holds an access token (jwt) with spaces or control characters", d.authURL+SessionPath)
	}
	return &grant{jwt: string(ses.JWT), sessionID: string(ses.SessionID), exp: expiry(string(ses.JWT))}, nil
}

// headerSafe reports whether a token can go in a header and a query as it
// is: printable ASCII without spaces.
func headerSafe(tok string) bool {
	for _, c := range []byte(tok) {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// deleteSession ends the auth session of g on the service.
func (d *Dialer) deleteSession(ctx context.Context, g *grant) error {
	defer d.closeIdle()
	err := d.call(ctx, "deleting the auth session", http.MethodDelete, SessionPath, g.jwt, nil, nil, g.jwt)
	var he *transport.HandshakeError
	if errors.As(err, &he) && (he.StatusCode == http.StatusNotFound || he.StatusCode == http.StatusUnauthorized) {
		return nil // the session is gone already (deleted, or expired)
	}
	return err
}

// closeIdle closes the idle connections of the HTTP client the Dialer
// made, so that none of its goroutines outlives the call that used it
// (the token flow is rare: at most one exchange per token lifetime).
func (d *Dialer) closeIdle() {
	if d.ownIdle != nil {
		d.ownIdle()
	}
}

// call sends one request of the token flow (the step named step) with the
// bearer credential and a JSON body if any, and decodes the JSON answer
// into out (nil: the answer is not read). A refusal wraps a
// *transport.HandshakeError. Errors never hold the API key, bearer or
// secrets.
func (d *Dialer) call(ctx context.Context, step, method, path, bearer string, body []byte, out any, secrets ...string) (err error) {
	secrets = append(secrets, d.cfg.APIKey, bearer)
	defer func() { err = redact(err, secrets) }()
	endpoint := d.authURL + path
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, endpoint, rd)
	if err != nil {
		return fmt.Errorf("aiola: %s: %s %s: %w", step, method, endpoint, err)
	}
	for k, v := range d.cfg.Header {
		req.Header[k] = v
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "vachana-pipe/"+transport.Version)
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	if method != http.MethodPost || body != nil {
		// As both SDKs: JSON for the session's POST and DELETE (the DELETE
		// has no body), nothing for the key's POST.
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Header.Del("Content-Type")
	}
	resp, err := d.client.Do(req)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			return fmt.Errorf("aiola: %s: %s %s: gave up waiting: %w", step, method, endpoint, cause)
		}
		var ue *url.Error
		for errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("aiola: %s: cannot connect to the auth service: %s %s: %w; check the auth URL (-auth-url, AIOLA_AUTH_URL) and the network", step, method, endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("aiola: %s: %s %s: %w", step, method, endpoint, refusal(resp, method, path, secrets))
	}
	if out == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return fmt.Errorf("aiola: %s: %s %s: reading the answer: %w", step, method, endpoint, err)
	}
	if len(b) > maxAnswer {
		return fmt.Errorf("aiola: %s: %s %s: the answer is larger than %d bytes", step, method, endpoint, maxAnswer)
	}
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' || json.Unmarshal(t, out) != nil {
		// Not quoted: a malformed answer may still hold a token.
		return fmt.Errorf("aiola: %s: %s %s: the answer (HTTP %d, %d bytes of %s) is not the JSON object expected", step, method, endpoint,
			resp.StatusCode, len(b), cmp.Or(resp.Header.Get("Content-Type"), "no content type"))
	}
	return nil
}

// refusal reads the answer of a refused request into a
// *transport.HandshakeError: aiOla's {"code":…,"message":…}, or the same
// under "error" as the SDKs' error parser takes it, or the start of the
// body. secrets are hidden in what it quotes.
func refusal(resp *http.Response, method, path string, secrets []string) *transport.HandshakeError {
	e := &transport.HandshakeError{StatusCode: resp.StatusCode}
	if loc := resp.Header.Get("Location"); loc != "" {
		e.Location = transport.Redact(loc)
		return e
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	b := []byte(hide(string(raw), secrets)) // before any cut, which could leave part of a secret
	var v struct {
		Code    transport.Lenient `json:"code"`
		Message transport.Lenient `json:"message"`
		Error   json.RawMessage   `json:"error"`
	}
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' && json.Unmarshal(t, &v) == nil {
		var inner struct {
			Code    transport.Lenient `json:"code"`
			Message transport.Lenient `json:"message"`
		}
		var text transport.Lenient
		if t := bytes.TrimSpace(v.Error); len(t) > 0 && t[0] == '{' && json.Unmarshal(t, &inner) == nil {
			v.Code, v.Message = cmp.Or(v.Code, inner.Code), cmp.Or(v.Message, inner.Message)
		} else if len(t) > 0 && json.Unmarshal(t, &text) == nil {
			v.Message = cmp.Or(v.Message, text)
		}
		e.Code, e.Message = oneLine(hide(string(v.Code), secrets), 80), oneLine(hide(string(v.Message), secrets), 200)
	}
	if e.Code == "" && e.Message == "" {
		e.Message = oneLine(string(b), 200)
	}
	what := "the API key was refused"
	if path == SessionPath && method == http.MethodPost {
		what = "the session was refused"
	}
	switch {
	case resp.StatusCode == http.StatusConflict || e.Code == "MAX_CONCURRENCY_REACHED":
		e.Hint = "the key's concurrent-session limit is reached: end other sessions (or wait for them to expire) and retry"
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		e.Hint = what + ": check the API key (-key, -key-file or env AIOLA_API_KEY)"
	case resp.StatusCode == http.StatusNotFound:
		e.Hint = "check the auth URL: " + path + " is not there"
	case resp.StatusCode == http.StatusBadRequest && path == SessionPath:
		e.Hint = "check the workflow id"
	}
	return e
}

// oneLine returns at most n bytes of s as one line of valid UTF-8.
func oneLine(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.Join(strings.Fields(strings.ToValidUTF8(s, "?")), " ")
}

// redact returns err with every secret in its text replaced. The typed
// errors callers look into (*transport.HandshakeError,
// *socketio.ConnectError) are redacted field by field by their makers;
// this is the last guard, for any other error whose text holds a secret.
func redact(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	var he *transport.HandshakeError
	if errors.As(err, &he) {
		he.Code, he.Message, he.Location = hide(he.Code, secrets), hide(he.Message, secrets), hide(he.Location, secrets)
	}
	msg := err.Error()
	if hidden := hide(msg, secrets); hidden != msg {
		return &redactedError{msg: hidden, err: err}
	}
	return err
}

// hide replaces every non-empty secret in s with "[redacted]". A secret
// shorter than 8 bytes (no real key or token, but a test's) is replaced
// only where it stands alone, not inside a word ("k" in "key").
func hide(s string, secrets []string) string {
	for _, sec := range secrets {
		switch {
		case sec == "":
		case len(sec) >= 8:
			s = strings.ReplaceAll(s, sec, "[redacted]")
		default:
			s = hideWord(s, sec)
		}
	}
	return s
}

// hideWord replaces sec in s where neither side of it is a letter or a
// digit.
func hideWord(s, sec string) string {
	word := func(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }
	var b strings.Builder
	from := 0 // s[:from] is written
	for at := 0; ; {
		i := strings.Index(s[at:], sec)
		if i < 0 {
			b.WriteString(s[from:])
			return b.String()
		}
		i += at
		j := i + len(sec)
		if (i == 0 || !word(s[i-1])) && (j == len(s) || !word(s[j])) {
			b.WriteString(s[from:i])
			b.WriteString("[redacted]")
			from, at = j, j
			continue
		}
		at = i + 1
	}
}

// redactedError is an error whose text held a secret: its text without it,
// and the original for errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

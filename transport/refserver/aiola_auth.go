package refserver

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The aiOla token endpoints, served beside [AiolaPath] on the same HTTP
// server, so that a client given the server's base URL as both its API base
// and its auth base finds everything.
const (
	// AiolaTokenPath exchanges an API key (Authorization: Bearer <key>,
	// POST) for a token: {"context":{"token":…}}.
	AiolaTokenPath = "/voip-auth/apiKey2Token"
	// AiolaSessionPath creates an auth session (POST, Bearer <token>, body
	// {"workflow_id":…}) answered with {"jwt":…,"sessionId":…}, and ends
	// one (DELETE, Bearer <jwt>) answered with {"status":"deleted",
	// "deletedAt":…}.
	AiolaSessionPath = "/voip-auth/session"
)

// authStore holds the aiOla tokens and auth sessions of one [Server]. It
// never holds an API key. Its methods are safe for concurrent use.
type authStore struct {
	ttl  time.Duration
	max  int
	logf func(format string, args ...any) // nil: no log
	key  [32]byte                         // HMAC-SHA256 key of the JWT signatures

	mu       sync.Mutex
	tokens   map[string]time.Time    // apiKey2Token tokens → expiry
	sessions map[string]*authSession // auth sessions by JWT, expired ones for a while too
}

// expiredMemory is how long an expired auth session is remembered, so
// that its JWT is refused as expired (TOKEN_EXPIRED), not unknown.
const expiredMemory = 10 * time.Minute

// authSession is one auth session: what its JWT names.
type authSession struct {
	id, workflowID string
	exp            time.Time
}

// jwtClaims is the payload of the JWTs the server issues. The official SDKs
// read exp (and declare iat); the others only make the token look like the
// real service's.
type jwtClaims struct {
	Sub        string `json:"sub"`
	SessionID  string `json:"sessionId"`
	WorkflowID string `json:"workflow_id"`
	Iat        int64  `json:"iat"`
	Exp        int64  `json:"exp"`
	Jti        string `json:"jti"`
}

func newAuthStore(o *Options) *authStore {
	a := &authStore{
		ttl:      o.TokenTTL,
		max:      o.MaxSessions,
		logf:     o.Logf,
		tokens:   map[string]time.Time{},
		sessions: map[string]*authSession{},
	}
	_, _ = rand.Read(a.key[:])
	return a
}

// prune forgets expired tokens, and sessions expired for [expiredMemory],
// and returns the number of live sessions; a.mu is held.
func (a *authStore) prune(now time.Time) (live int) {
	for k, exp := range a.tokens {
		if !now.Before(exp) {
			delete(a.tokens, k)
		}
	}
	for k, s := range a.sessions {
		switch {
		case now.Before(s.exp):
			live++
		case !now.Before(s.exp.Add(expiredMemory)):
			delete(a.sessions, k)
		}
	}
	return live
}

// live returns the number of live auth sessions.
func (a *authStore) live() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.prune(time.Now())
}

// serve answers a request to one of the token endpoints.
func (a *authStore) serve(w http.ResponseWriter, r *http.Request, keys []string) {
	switch r.URL.Path {
	case AiolaTokenPath:
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeAiolaError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", r.Method+" "+r.URL.Path+" is not served; use POST")
			return
		}
		a.apiKeyToToken(w, r, keys)
	case AiolaSessionPath:
		switch r.Method {
		case http.MethodPost:
			a.createSession(w, r)
		case http.MethodDelete:
			a.deleteSession(w, r)
		default:
			w.Header().Set("Allow", "POST, DELETE")
			writeAiolaError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", r.Method+" "+r.URL.Path+" is not served; use POST to create a session, DELETE to end one")
		}
	default:
		writeAiolaError(w, http.StatusNotFound, "NOT_FOUND", "reference server: no endpoint at "+r.URL.Path+"; the token endpoints are "+AiolaTokenPath+" and "+AiolaSessionPath)
	}
}

// apiKeyToToken answers POST /voip-auth/apiKey2Token.
func (a *authStore) apiKeyToToken(w http.ResponseWriter, r *http.Request, keys []string) {
	key := bearer(r)
	switch {
	case key == "":
		writeAiolaError(w, http.StatusUnauthorized, "UNAUTHORIZED", "the API key is missing; send it as Authorization: Bearer <API key>")
		return
	case len(keys) > 0 && !slices.Contains(keys, key):
		writeAiolaError(w, http.StatusUnauthorized, "UNAUTHORIZED", "the API key is not valid; check the key sent in Authorization: Bearer <API key>")
		return
	}
	tok := "tok_" + randomHex(16)
	now := time.Now()
	a.mu.Lock()
	a.prune(now)
	a.tokens[tok] = now.Add(a.ttl)
	a.mu.Unlock()
	var body struct {
		Context struct {
			Token string `json:"token"`
		} `json:"context"`
	}
	body.Context.Token = tok
	writeJSON(w, http.StatusOK, body)
}

// maxSessionBody bounds the body of POST /voip-auth/session.
const maxSessionBody = 64 << 10

// createSession answers POST /voip-auth/session.
func (a *authStore) createSession(w http.ResponseWriter, r *http.Request) {
	tok := bearer(r)
	if tok == "" {
		writeAiolaError(w, http.StatusUnauthorized, "UNAUTHORIZED", "the token is missing; send the token of "+AiolaTokenPath+" as Authorization: Bearer <token>")
		return
	}
	var req struct {
		WorkflowID *string `json:"workflow_id"`
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxSessionBody+1))
	switch {
	case err != nil:
		writeAiolaError(w, http.StatusBadRequest, "VALIDATION_ERROR", "reading the body: "+err.Error())
		return
	case len(b) > maxSessionBody:
		writeAiolaError(w, http.StatusRequestEntityTooLarge, "VALIDATION_ERROR", "the body is larger than "+strconv.Itoa(maxSessionBody)+" bytes")
		return
	case json.Unmarshal(b, &req) != nil || req.WorkflowID == nil || *req.WorkflowID == "":
		writeAiolaError(w, http.StatusBadRequest, "VALIDATION_ERROR", `the body must be a JSON object with a non-empty "workflow_id", e.g. {"workflow_id":"2c78fcf1-9265-408f-b8c3-d9d7e7ebc1bc"}`)
		return
	}
	now := time.Now()
	a.mu.Lock()
	live := a.prune(now)
	if _, ok := a.tokens[tok]; !ok {
		a.mu.Unlock()
		writeAiolaError(w, http.StatusUnauthorized, "INVALID_TOKEN", "the token is not valid or has expired; get a new one from "+AiolaTokenPath)
		return
	}
	if a.max > 0 && live >= a.max {
		a.mu.Unlock()
		a.log("aiola auth session refused: MAX_CONCURRENCY_REACHED; %d live", live)
		writeAiolaError(w, http.StatusConflict, "MAX_CONCURRENCY_REACHED",
			"Max concurrency limit reached for API key ("+strconv.Itoa(a.max)+" sessions). Please wait for existing sessions to expire or close them manually.")
		return
	}
	// The session ends TokenTTL from now; its JWT's exp, in whole seconds
	// as JWTs count, says up to a second later when TokenTTL is not whole
	// seconds (short TTLs are for tests; a client keeps a margin anyway).
	exp := now.Unix() + int64(math.Ceil(a.ttl.Seconds()))
	s := &authSession{id: "sess_" + randomHex(12), workflowID: *req.WorkflowID, exp: now.Add(a.ttl)}
	jwt := a.sign(jwtClaims{
		Sub:        s.id,
		SessionID:  s.id,
		WorkflowID: s.workflowID,
		Iat:        now.Unix(),
		Exp:        exp,
		Jti:        randomHex(8),
	})
	a.sessions[jwt] = s
	a.mu.Unlock()
	a.log("aiola auth session %s created for workflow %s, expires %s; %d live", s.id, s.workflowID, s.exp.UTC().Format(time.RFC3339), live+1)
	writeJSON(w, http.StatusOK, struct {
		JWT       string `json:"jwt"`
		SessionID string `json:"sessionId"`
	}{jwt, s.id})
}

// deleteSession answers DELETE /voip-auth/session.
func (a *authStore) deleteSession(w http.ResponseWriter, r *http.Request) {
	jwt := bearer(r)
	if jwt == "" {
		writeAiolaError(w, http.StatusUnauthorized, "UNAUTHORIZED", "the access token is missing; send the session's JWT as Authorization: Bearer <jwt>")
		return
	}
	now := time.Now()
	a.mu.Lock()
	s, ok := a.sessions[jwt]
	ok = ok && now.Before(s.exp)
	delete(a.sessions, jwt)
	n := a.prune(now)
	a.mu.Unlock()
	if !ok {
		writeAiolaError(w, http.StatusNotFound, "SESSION_NOT_FOUND", "no live session has this access token: it was deleted, has expired, or was never issued")
		return
	}
	a.log("aiola auth session %s deleted; %d live", s.id, n)
	writeJSON(w, http.StatusOK, struct {
		Status    string `json:"status"`
		DeletedAt string `json:"deletedAt"`
	}{"deleted", now.UTC().Format(time.RFC3339Nano)})
}

// Why check refuses a JWT; the message is for the client.
var (
	errTokenExpired = errors.New("the access token has expired; get a new one (POST " + AiolaSessionPath + ")")
	errTokenUnknown = errors.New("the access token names no live session: it was deleted, or was never issued by this server")
)

// check returns the live auth session jwt names, or why there is none.
func (a *authStore) check(jwt string) (authSession, error) {
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if s, ok := a.sessions[jwt]; ok {
		if now.Before(s.exp) {
			return *s, nil
		}
		return authSession{}, errTokenExpired
	}
	if c, ok := a.verify(jwt); ok && now.Unix() >= c.Exp {
		return authSession{}, errTokenExpired // expired long ago, and forgotten
	}
	return authSession{}, errTokenUnknown
}

// sign returns the HS256 JWT of c.
func (a *authStore) sign(c jwtClaims) string {
	payload, _ := json.Marshal(c)
	msg := b64url([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + b64url(payload)
	mac := hmac.New(sha256.New, a.key[:])
	mac.Write([]byte(msg))
	return msg + "." + b64url(mac.Sum(nil))
}

// verify returns the claims of a JWT this server signed.
func (a *authStore) verify(jwt string) (jwtClaims, bool) {
	var c jwtClaims
	i := strings.LastIndexByte(jwt, '.')
	if i < 0 {
		return c, false
	}
	sig, err := base64.RawURLEncoding.DecodeString(jwt[i+1:])
	mac := hmac.New(sha256.New, a.key[:])
	mac.Write([]byte(jwt[:i]))
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return c, false
	}
	_, payload, _ := strings.Cut(jwt[:i], ".")
	b, err := base64.RawURLEncoding.DecodeString(payload)
	return c, err == nil && json.Unmarshal(b, &c) == nil
}

func (a *authStore) log(format string, args ...any) {
	if a.logf != nil {
		a.logf(format, args...)
	}
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// bearer returns the credential of an Authorization: Bearer header, or "".
func bearer(r *http.Request) string {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(cred)
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeAiolaError writes an aiOla error body: {"message":msg,"code":code}.
// Both official SDKs read message and code from an object under "error"
// when there is one and from the top level otherwise, and the JS SDK's
// grantToken looks for code MAX_CONCURRENCY_REACHED at the top level only:
// the flat shape is the one every reader understands.
func writeAiolaError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, struct {
		Message string `json:"message"`
		Code    string `json:"code"`
	}{msg, code})
}

// writeJSON writes v as a JSON body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

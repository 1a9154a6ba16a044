package refserver

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// AiolaPath is where an aiOla server serves Socket.IO (Engine.IO 4, the
// WebSocket transport only), with or without a trailing slash, as the real
// service's streaming endpoint; the namespace is [AiolaNamespace].
const AiolaPath = "/api/voice-streaming/socket.io"

// AiolaNamespace is the only Socket.IO namespace an aiOla server serves.
const AiolaNamespace = "/events"

// aiolaParams is what a valid aiOla upgrade request declares beyond the
// fields every [handshake] has. It holds no token.
type aiolaParams struct {
	all         map[string]string // every query parameter, the token redacted
	authSession string            // the id of the auth session the JWT names
}

// The values the official SDKs send, checked leniently: execution_id is a
// nanoid (JS SDK, 21 of A–Z a–z 0–9 _ -) or a UUID (Python SDK), though
// aiOla's documentation asks for 4–24 letters and digits; lang_code a
// language such as en, or en-US; time_zone an IANA name such as UTC or
// America/New_York.
var (
	executionIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	langCodePattern    = regexp.MustCompile(`^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$`)
	timeZonePattern    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+/-]{0,63}$`)
)

// checkAiola validates an aiOla upgrade request: the path, the Engine.IO
// query (EIO=4, transport=websocket), the JWT, then the aiOla query
// parameters. On failure it writes the HTTP error response and returns false.
func (s *Server) checkAiola(w http.ResponseWriter, r *http.Request, faults Faults) (handshake, bool) {
	if r.URL.Path != AiolaPath && r.URL.Path != AiolaPath+"/" {
		writeAiolaError(w, http.StatusNotFound, "NOT_FOUND",
			"reference server: no endpoint at "+r.URL.Path+"; Socket.IO is served at "+AiolaPath+"/, the tokens at "+AiolaTokenPath+" and "+AiolaSessionPath)
		return handshake{}, false
	}
	if st := faults.RejectStatus; st != 0 {
		if st == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		writeAiolaError(w, st, aiolaRejectCode(st), "reference server: injected rejection with HTTP status "+strconv.Itoa(st))
		return handshake{}, false
	}
	q := r.URL.Query()
	switch {
	case q.Get("EIO") != "4":
		writeEngineError(w, engineUnsupportedProtocol, "Unsupported protocol version: send EIO=4 (Engine.IO 4, as socket.io 3 and 4 clients do)")
		return handshake{}, false
	case q.Get("transport") == "polling":
		writeEngineError(w, engineUnknownTransport, "Transport unknown: the reference server serves only the WebSocket transport, not long polling; "+
			`connect with transport=websocket (socket.io-client: transports: ["websocket"])`)
		return handshake{}, false
	case q.Get("transport") != "websocket":
		writeEngineError(w, engineUnknownTransport, "Transport unknown: "+strconv.Quote(q.Get("transport"))+"; the reference server serves only transport=websocket")
		return handshake{}, false
	case q.Has("sid"):
		writeEngineError(w, engineUnknownSID, "Session ID unknown: the reference server serves no polling session to upgrade; connect without sid")
		return handshake{}, false
	}
	jwt := bearer(r)
	if jwt == "" {
		writeAiolaError(w, http.StatusUnauthorized, "UNAUTHORIZED", "the access token is missing; send it as Authorization: Bearer <jwt>")
		return handshake{}, false
	}
	sess, err := s.auth.check(jwt)
	if err != nil {
		code := "INVALID_TOKEN"
		if err == errTokenExpired {
			code = "TOKEN_EXPIRED"
		}
		writeAiolaError(w, http.StatusUnauthorized, code, err.Error())
		return handshake{}, false
	}
	if problem := checkAiolaQuery(q.Get, q.Has, jwt); problem != "" {
		writeAiolaError(w, http.StatusBadRequest, "VALIDATION_ERROR", problem)
		return handshake{}, false
	}
	p := &aiolaParams{all: make(map[string]string, len(q)), authSession: sess.id}
	for name := range q {
		v := q.Get(name)
		if v == jwt || name == "x-aiola-api-token" {
			v = "…" // never keep a token, wherever a client put it
		}
		p.all[name] = v
	}
	return handshake{
		service:   ServiceAiola,
		requestID: q.Get("execution_id"),
		lang:      q.Get("lang_code"),
		userAgent: r.UserAgent(),
		rate:      frame.Rate16k,
		hangover:  s.opts.Hangover,
		aiola:     p,
	}, true
}

// checkAiolaQuery returns a problem naming the first aiOla query parameter
// that is wrong, or "".
func checkAiolaQuery(get func(string) string, has func(string) bool, jwt string) string {
	for _, name := range []string{"x-aiola-api-token", "execution_id", "flow_id"} {
		if !has(name) {
			return name + " query parameter is missing"
		}
	}
	if get("x-aiola-api-token") != jwt {
		return "x-aiola-api-token query parameter is not the access token sent in Authorization: send the same JWT in both"
	}
	if v := get("execution_id"); !executionIDPattern.MatchString(v) {
		return "execution_id " + strconv.Quote(v) + " is not 1 to 64 letters, digits, _ or -"
	}
	if v := get("flow_id"); v == "" || len(v) > 128 {
		return "flow_id query parameter must name the workflow (1 to 128 characters)"
	}
	if has("lang_code") && !langCodePattern.MatchString(get("lang_code")) {
		return "lang_code " + strconv.Quote(get("lang_code")) + " is not a language code such as en or en-US"
	}
	if has("time_zone") && !timeZonePattern.MatchString(get("time_zone")) {
		return "time_zone " + strconv.Quote(get("time_zone")) + " is not an IANA time zone such as UTC or America/New_York"
	}
	if has("keywords") {
		var kw map[string]string
		if json.Unmarshal([]byte(get("keywords")), &kw) != nil || kw == nil {
			return `keywords query parameter is not a JSON object of strings, e.g. {"eye ola":"aiOla"}`
		}
	}
	for _, name := range []string{"tasks_config", "vad_config"} {
		if !has(name) {
			continue
		}
		var v map[string]any
		if json.Unmarshal([]byte(get(name)), &v) != nil {
			return name + " query parameter is not a JSON object (or null)"
		}
	}
	return ""
}

// aiolaRejectCode names the code of an injected aiOla rejection with status
// st, from the codes the SDKs document.
func aiolaRejectCode(st int) string {
	switch {
	case st == http.StatusUnauthorized:
		return "UNAUTHORIZED"
	case st == http.StatusForbidden:
		return "FORBIDDEN"
	case st == http.StatusConflict:
		return "MAX_CONCURRENCY_REACHED"
	case st == http.StatusTooManyRequests:
		return "RATE_LIMIT_EXCEEDED"
	case st >= 500:
		return "INTERNAL_SERVER_ERROR"
	}
	return "VALIDATION_ERROR"
}

// The Engine.IO server's error codes, as its HTTP 400 bodies carry them.
const (
	engineUnknownTransport    = 0
	engineUnknownSID          = 1
	engineUnsupportedProtocol = 5
)

// writeEngineError writes a 400 with the Engine.IO server's error body:
// {"code":code,"message":msg}.
func writeEngineError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, http.StatusBadRequest, struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, msg})
}

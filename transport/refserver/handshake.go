package refserver

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/transport/vachana"
)

// Path is the only path a Vachana server answers, as on the real service.
const Path = "/stt/v3/stream"

// handshake is what a valid upgrade request declares. It deliberately has no
// field for the API key.
type handshake struct {
	service                    string // ServiceVachana, ServiceSarvam or ServiceAiola
	requestID, lang, userAgent string
	rate                       frame.Rate
	hangover                   time.Duration
	sarvam                     *sarvamParams // Sarvam only
	aiola                      *aiolaParams  // aiOla only
}

// checkHandshake validates r like the real service does before the upgrade.
// On failure it writes the HTTP error response and returns false. The
// AcceptOptions (nil for defaults) may hold the key: use them for the
// upgrade only.
func (s *Server) checkHandshake(w http.ResponseWriter, r *http.Request, faults Faults) (handshake, *websocket.AcceptOptions, bool) {
	switch s.opts.Service {
	case ServiceSarvam:
		return s.checkSarvam(w, r, faults)
	case ServiceAiola:
		hs, ok := s.checkAiola(w, r, faults)
		return hs, nil, ok
	}
	hs, ok := s.checkVachana(w, r, faults)
	return hs, nil, ok
}

// checkVachana validates a Vachana upgrade request.
func (s *Server) checkVachana(w http.ResponseWriter, r *http.Request, faults Faults) (handshake, bool) {
	if r.URL.Path != Path {
		writeError(w, http.StatusNotFound, "NOT_FOUND",
			"reference server: no endpoint at "+r.URL.Path+"; connect to "+Path)
		return handshake{}, false
	}
	if st := faults.RejectStatus; st != 0 {
		if st == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		writeError(w, st, rejectCode(st), "reference server: injected rejection with HTTP status "+strconv.Itoa(st))
		return handshake{}, false
	}
	key := r.Header.Get("x-api-key-id")
	switch {
	case key == "":
		writeError(w, http.StatusUnauthorized, "MISSING_API_KEY",
			"x-api-key-id header is missing; send your API key in it")
		return handshake{}, false
	case len(s.opts.Keys) > 0 && !slices.Contains(s.opts.Keys, key):
		writeError(w, http.StatusUnauthorized, "INVALID_API_KEY",
			"the API key in x-api-key-id is not valid; check the key")
		return handshake{}, false
	}
	h := handshake{
		service:   ServiceVachana,
		hangover:  s.opts.Hangover,
		requestID: r.Header.Get("x-api-request-id"),
		lang:      r.Header.Get("lang_code"),
		userAgent: r.UserAgent(),
		rate:      frame.Rate16k,
	}
	if h.lang == "" {
		writeError(w, http.StatusBadRequest, "MISSING_LANG_CODE",
			"lang_code header is missing; send a language such as en-IN or hi-IN")
		return handshake{}, false
	}
	if v := r.Header.Get("x-sample-rate"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || vachana.CheckRate(frame.Rate(n)) != nil {
			writeError(w, http.StatusBadRequest, "INVALID_SAMPLE_RATE",
				"x-sample-rate "+strconv.Quote(v)+" is not supported; use 8000, 16000, 44100 or 48000")
			return handshake{}, false
		}
		h.rate = frame.Rate(n)
	}
	if h.requestID == "" {
		h.requestID = newRequestID()
	}
	return h, true
}

// rejectCode names the error_code an injected Vachana rejection with status
// st uses.
func rejectCode(st int) string {
	switch st {
	case http.StatusUnauthorized:
		return "INVALID_API_KEY"
	case http.StatusTooManyRequests:
		return "RATE_LIMITED"
	}
	if t := http.StatusText(st); t != "" {
		return strings.ToUpper(strings.NewReplacer(" ", "_", "-", "_", "'", "").Replace(t))
	}
	return "HTTP_" + strconv.Itoa(st)
}

// writeError writes a JSON error body shaped like the real Vachana service's:
// {"detail":{"error_code":code,"message":msg}}.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	var body struct {
		Detail struct {
			ErrorCode string `json:"error_code"`
			Message   string `json:"message"`
		} `json:"detail"`
	}
	body.Detail.ErrorCode = code
	body.Detail.Message = msg
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// newRequestID returns "ref_" and 12 random hex digits.
func newRequestID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "ref_" + hex.EncodeToString(b[:])
}

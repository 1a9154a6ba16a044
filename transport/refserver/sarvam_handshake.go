package refserver

import (
	"cmp"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/coder/websocket"

	"github.com/vachana-pipe/vachana-pipe/frame"
)

// SarvamPath is the only path a Sarvam server answers: the real service's
// streaming speech-to-text endpoint.
const SarvamPath = "/speech-to-text/ws"

// sarvamKeyProtocol prefixes the WebSocket subprotocol in which the sarvamai
// JS SDK offers the key: api-subscription-key.<key>.
const sarvamKeyProtocol = "api-subscription-key."

// The valid values of the query parameters, as in the sarvamai SDK 1.1.10
// (plus the legacy model saarika:v2.5). The first is the default where the
// parameter is optional.
var (
	sarvamLanguages = []string{"unknown", "en-IN", "hi-IN", "bn-IN", "gu-IN", "kn-IN", "ml-IN",
		"mr-IN", "od-IN", "pa-IN", "ta-IN", "te-IN", "as-IN", "ur-IN", "ne-IN", "kok-IN", "ks-IN",
		"sd-IN", "sa-IN", "sat-IN", "mni-IN", "brx-IN", "mai-IN", "doi-IN"}
	sarvamModels = []string{"saaras:v3", "saaras:v4", "saarika:v2.5"}
	sarvamModes  = []string{"transcribe", "translate", "verbatim", "translit", "codemix"}
	sarvamCodecs = []string{"wav", "pcm_s16le", "pcm_l16", "pcm_raw"}
	sarvamRates  = []string{"16000", "8000"}
	sarvamBools  = []string{"false", "true"}
)

// sarvamParams is what a valid Sarvam upgrade request declares beyond the
// fields every [handshake] has. It holds no key.
type sarvamParams struct {
	all         map[string]string // every query parameter, key-like values redacted
	subprotocol string            // the selected subprotocol, its key replaced by "…"
	model, mode string
	codec       string // "" when the client named none
	vadSignals  bool
	flushSignal bool
	highVAD     bool
}

// checkSarvam validates a Sarvam upgrade request like the real service: the
// path, the key (header or subprotocol), then the query parameters. It
// returns AcceptOptions that echo the key subprotocol when one was offered;
// they hold the key, so they must only be used for the upgrade.
func (s *Server) checkSarvam(w http.ResponseWriter, r *http.Request, faults Faults) (handshake, *websocket.AcceptOptions, bool) {
	if r.URL.Path != SarvamPath {
		writeSarvamError(w, http.StatusNotFound, "not_found_error",
			"reference server: no endpoint at "+r.URL.Path+"; connect to "+SarvamPath)
		return handshake{}, nil, false
	}
	if st := faults.RejectStatus; st != 0 {
		if st == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		writeSarvamError(w, st, sarvamRejectCode(st), "reference server: injected rejection with HTTP status "+strconv.Itoa(st))
		return handshake{}, nil, false
	}
	offered := offeredKeyProtocol(r)
	key := r.Header.Get("Api-Subscription-Key")
	if key == "" && offered != "" {
		key = offered[len(sarvamKeyProtocol):]
	}
	switch {
	case key == "":
		writeSarvamError(w, http.StatusForbidden, "authentication_error",
			"the API subscription key is missing; send your key in the Api-Subscription-Key header")
		return handshake{}, nil, false
	case len(s.opts.Keys) > 0 && !slices.Contains(s.opts.Keys, key):
		writeSarvamError(w, http.StatusForbidden, "invalid_api_key_error",
			"the API subscription key is not valid; check the key sent in Api-Subscription-Key")
		return handshake{}, nil, false
	}

	q := r.URL.Query()
	p := &sarvamParams{all: make(map[string]string, len(q))}
	for name := range q {
		v := q.Get(name)
		if v == key || strings.Contains(strings.ToLower(name), "key") {
			v = "…" // never keep a key, wherever a client put it
		}
		p.all[name] = v
	}
	lang, problem := queryParam(q, "language-code", sarvamLanguages, true)
	var rate, vad, flush, high string
	for _, c := range []struct {
		dst   *string
		name  string
		valid []string
	}{
		{&p.model, "model", sarvamModels},
		{&p.mode, "mode", sarvamModes},
		{&p.codec, "input_audio_codec", sarvamCodecs},
		{&rate, "sample_rate", sarvamRates},
		{&vad, "vad_signals", sarvamBools},
		{&flush, "flush_signal", sarvamBools},
		{&high, "high_vad_sensitivity", sarvamBools},
	} {
		if problem != "" {
			break
		}
		*c.dst, problem = queryParam(q, c.name, c.valid, false)
	}
	if problem != "" {
		writeSarvamError(w, http.StatusBadRequest, "invalid_request_error", problem)
		return handshake{}, nil, false
	}
	p.model = cmp.Or(p.model, sarvamModels[0])
	p.mode = cmp.Or(p.mode, sarvamModes[0])
	p.vadSignals, p.flushSignal, p.highVAD = vad == "true", flush == "true", high == "true"
	h := handshake{
		service:   ServiceSarvam,
		requestID: newRequestID(),
		lang:      lang,
		userAgent: r.UserAgent(),
		rate:      frame.Rate16k,
		hangover:  s.opts.Hangover,
		sarvam:    p,
	}
	if rate == "8000" {
		h.rate = frame.Rate8k
	}
	if p.highVAD {
		h.hangover /= 2
	}
	if offered == "" {
		return h, nil, true
	}
	p.subprotocol = offered[:len(sarvamKeyProtocol)] + "…"
	return h, &websocket.AcceptOptions{Subprotocols: []string{offered}}, true
}

// queryParam returns the value of the query parameter name if it is one of
// valid, or a problem naming the parameter and its valid values. An absent
// optional parameter is "" and no problem.
func queryParam(q url.Values, name string, valid []string, required bool) (v, problem string) {
	if !q.Has(name) {
		if required {
			return "", name + " query parameter is missing; send one of " + strings.Join(valid, ", ")
		}
		return "", ""
	}
	v = q.Get(name)
	if !slices.Contains(valid, v) {
		return "", name + " " + strconv.Quote(v) + " is not supported; use one of " + strings.Join(valid, ", ")
	}
	return v, ""
}

// offeredKeyProtocol returns the api-subscription-key.<key> subprotocol the
// client offered, or "" if it offered none with a non-empty key.
func offeredKeyProtocol(r *http.Request) string {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for sp := range strings.SplitSeq(h, ",") {
			sp = strings.TrimSpace(sp)
			if len(sp) > len(sarvamKeyProtocol) && strings.EqualFold(sp[:len(sarvamKeyProtocol)], sarvamKeyProtocol) {
				return sp
			}
		}
	}
	return ""
}

// sarvamRejectCode names the error code an injected Sarvam rejection with
// status st uses: one of the codes of the SDK's ErrorCode.
func sarvamRejectCode(st int) string {
	switch {
	case st == http.StatusUnauthorized:
		return "authentication_error"
	case st == http.StatusPaymentRequired:
		return "insufficient_quota_error"
	case st == http.StatusForbidden:
		return "invalid_api_key_error"
	case st == http.StatusNotFound:
		return "not_found_error"
	case st == http.StatusUnprocessableEntity:
		return "unprocessable_entity_error"
	case st == http.StatusTooManyRequests:
		return "rate_limit_exceeded_error"
	case st >= 500:
		return "internal_server_error"
	}
	return "invalid_request_error"
}

// writeSarvamError writes a JSON error body shaped like the Sarvam REST
// API's: {"error":{"message":msg,"code":code}}.
func writeSarvamError(w http.ResponseWriter, status int, code, msg string) {
	var body struct {
		Error struct {
			Message string `json:"message"`
			Code    string `json:"code"`
		} `json:"error"`
	}
	body.Error.Message = msg
	body.Error.Code = code
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

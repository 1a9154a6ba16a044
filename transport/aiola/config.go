package aiola

import (
	"cmp"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"

	"github.com/vachana-pipe/vachana-pipe/transport"
)

// Config describes the sessions to open. The zero value of every field but
// APIKey has a documented default.
type Config struct {
	// APIURL is the streaming service's base, http(s):// or ws(s):// with
	// a host and no path, query or fragment; default DefaultAPIURL. The
	// WebSocket goes to its host (http→ws, https→wss).
	APIURL string
	// AuthURL is the base of the token flow, http(s):// (or ws(s)://,
	// taken as http(s)://) with a host, maybe a path, and no query or
	// fragment; default DefaultAuthURL.
	AuthURL string
	// APIKey is exchanged for access tokens; never logged or put in
	// errors, nor are the tokens.
	APIKey string
	// Workflow is the workflow id (the SDKs' workflowId, sent as flow_id);
	// default DefaultWorkflow.
	Workflow string
	// Lang is lang_code; default DefaultLang.
	Lang string
	// TimeZone is time_zone, an IANA name; default DefaultTimeZone.
	TimeZone string
	// Keywords, if any, map what is spoken to how it is written; they go
	// in the query and in a set_keywords event at the start of every
	// session. NewDialer copies them.
	Keywords map[string]string
	// ExecutionID is execution_id, 4 to 24 letters and digits, the same
	// for every Dial; default a fresh random one of 24 for every Dial.
	ExecutionID string
	// Header holds further headers for every request, the token flow's and
	// the upgrade. It cannot set Authorization; a User-Agent in it
	// replaces the default "vachana-pipe/" + transport.Version. NewDialer
	// copies it.
	Header http.Header
	// HTTPClient performs the token flow and the upgrade. Default: a
	// client of the Dialer's own over a clone of http.DefaultTransport,
	// which verifies TLS certificates and keeps no connection idle after
	// a call. Redirects are never followed: they would take the key
	// elsewhere.
	HTTPClient *http.Client
	// ReadLimit bounds the size of one server message; default 1 MiB.
	ReadLimit int64
}

// withDefaults returns cfg with its defaults filled in, or an error naming
// the field that is wrong and what to do.
func (cfg Config) withDefaults() (Config, error) {
	cfg.APIURL = cmp.Or(cfg.APIURL, DefaultAPIURL)
	cfg.AuthURL = cmp.Or(cfg.AuthURL, DefaultAuthURL)
	cfg.Workflow = cmp.Or(cfg.Workflow, DefaultWorkflow)
	cfg.Lang = cmp.Or(cfg.Lang, DefaultLang)
	cfg.TimeZone = cmp.Or(cfg.TimeZone, DefaultTimeZone)
	if cfg.APIKey == "" {
		return cfg, errors.New("aiola: Config.APIKey is empty: give the API key (-key, -key-file or env AIOLA_API_KEY)")
	}
	if strings.TrimSpace(cfg.APIKey) != cfg.APIKey || strings.ContainsFunc(cfg.APIKey, isControl) {
		return cfg, errors.New("aiola: Config.APIKey has spaces at its ends or control characters (a newline from a key file?): remove them")
	}
	for _, f := range []struct{ name, v string }{{"Workflow", cfg.Workflow}, {"Lang", cfg.Lang}, {"TimeZone", cfg.TimeZone}} {
		if strings.ContainsFunc(f.v, isControl) {
			return cfg, fmt.Errorf("aiola: Config.%s %q has control characters: remove them", f.name, f.v)
		}
	}
	if cfg.ExecutionID != "" && !validExecutionID(cfg.ExecutionID) {
		return cfg, fmt.Errorf("aiola: Config.ExecutionID %q is not 4 to 24 letters and digits: use such an id, or none for a random one", cfg.ExecutionID)
	}
	if cfg.Header.Get("Authorization") != "" {
		return cfg, errors.New("aiola: Config.Header sets Authorization, which the dialect sets from the key: remove it")
	}
	cfg.Header = cfg.Header.Clone()
	cfg.Keywords = maps.Clone(cfg.Keywords)
	return cfg, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// baseURL checks raw, the URL in field, and returns it parsed: http(s) or
// ws(s), a host, no user information, query or fragment; a path only when
// allowPath.
func baseURL(field, raw string, allowPath bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	shown := transport.Redact(raw)
	switch {
	case err != nil:
		return nil, fmt.Errorf("aiola: Config.%s %q is not a URL: give one like %s", field, shown, defaultOf(field))
	case u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "ws" && u.Scheme != "wss":
		return nil, fmt.Errorf("aiola: Config.%s %q is not an http(s) or ws(s) URL: give one like %s", field, shown, defaultOf(field))
	case u.Host == "":
		return nil, fmt.Errorf("aiola: Config.%s %q has no host: give one like %s", field, shown, defaultOf(field))
	case u.User != nil:
		return nil, fmt.Errorf("aiola: Config.%s %q holds user information, which would go to the server: remove it", field, shown)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("aiola: Config.%s %q has a query or fragment: give the base URL alone", field, shown)
	case !allowPath && u.Path != "" && u.Path != "/":
		return nil, fmt.Errorf("aiola: Config.%s %q has a path: give the base URL alone (the service listens at %s)", field, shown, Path)
	}
	return u, nil
}

func defaultOf(field string) string {
	if field == "APIURL" {
		return DefaultAPIURL
	}
	return DefaultAuthURL
}

// validExecutionID reports whether id is 4 to 24 ASCII letters and digits.
func validExecutionID(id string) bool {
	if len(id) < 4 || len(id) > 24 {
		return false
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// NewExecutionID returns 24 letters and digits drawn uniformly from
// crypto/rand.
func NewExecutionID() string {
	var id [24]byte
	var buf [32]byte
	for n := 0; n < len(id); {
		rand.Read(buf[:]) // never fails (Go 1.24+)
		for _, b := range buf {
			// 248 = 4 × 62: taking only bytes below keeps every letter
			// equally likely.
			if b < 248 && n < len(id) {
				id[n] = idAlphabet[b%62]
				n++
			}
		}
	}
	return string(id[:])
}

// keywordsJSON encodes keywords as JSON.stringify does (no HTML escaping);
// encoding/json sorts the keys.
func keywordsJSON(k map[string]string) []byte {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(k) // a map of strings always encodes
	return []byte(strings.TrimSuffix(b.String(), "\n"))
}

package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/aiola"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
	"github.com/vachana-pipe/vachana-pipe/transport/sarvam"
	"github.com/vachana-pipe/vachana-pipe/transport/vachana"
)

// service is what the command knows of one service: where its settings
// come from and which flags it understands.
type service struct {
	name, title    string // -service value; name in messages
	keyEnv, urlEnv string
	defaultURL     string
	defaultLang    string
	languages      []string
	rates          []frame.Rate
	flags          []string // flags only this service understands
	refserver      string   // refserver.Options.Service
	// httpURL: -url is an http(s):// API base (aiOla, whose token flow
	// is HTTP and whose Socket.IO endpoint is at a fixed path), not a
	// ws(s):// endpoint.
	httpURL bool
}

// services are the values of -service; the first is the default.
var services = []*service{
	{
		name: "vachana", title: "Vachana",
		keyEnv: "GNANI_API_KEY", urlEnv: "VACHANA_URL",
		defaultURL: vachana.DefaultURL, defaultLang: vachana.DefaultLang,
		languages: vachana.Languages, rates: vachana.Rates,
		refserver: refserver.ServiceVachana,
	},
	{
		name: "sarvam", title: "Sarvam",
		keyEnv: "SARVAM_API_KEY", urlEnv: "SARVAM_URL",
		defaultURL: sarvam.DefaultURL, defaultLang: sarvam.DefaultLang,
		languages: sarvam.Languages, rates: sarvam.Rates,
		flags:     []string{"model", "mode", "high-vad-sensitivity"},
		refserver: refserver.ServiceSarvam,
	},
	{
		name: "aiola", title: "aiOla",
		keyEnv: "AIOLA_API_KEY", urlEnv: "AIOLA_API_URL",
		defaultURL: aiola.DefaultAPIURL, defaultLang: aiola.DefaultLang,
		rates:     aiola.Rates,
		flags:     []string{"workflow", "keywords", "auth-url"},
		refserver: refserver.ServiceAiola,
		httpURL:   true,
	},
}

// authURLEnv is where aiOla's auth base comes from when -auth-url is not
// given.
const authURLEnv = "AIOLA_AUTH_URL"

// serviceNames lists the values of -service for messages and -h.
var serviceNames = func() string {
	names := make([]string, len(services))
	for i, s := range services {
		names[i] = s.name
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}()

// findService returns the service named name.
func findService(name string) (*service, error) {
	for _, s := range services {
		if s.name == name {
			return s, nil
		}
	}
	return nil, fmt.Errorf("-service %q: not a service this tool speaks; use %s", name, serviceNames)
}

// rateList names rates as "a, b or c".
func rateList(rates []frame.Rate) string {
	s := make([]string, len(rates))
	for i, r := range rates {
		s[i] = fmt.Sprint(int(r))
	}
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// checkFlags refuses a flag that only another service understands.
func (s *service) checkFlags(set map[string]bool) error {
	for _, other := range services {
		if other == s {
			continue
		}
		for _, f := range other.flags {
			if set[f] && !slices.Contains(s.flags, f) {
				return fmt.Errorf("-%s is a flag of %s, which %s does not understand: drop it, or add -service %s", f, other.title, s.title, other.name)
			}
		}
	}
	return nil
}

// dialer returns the dialer of c's service for url and key (and for
// aiOla the auth base authURL).
func (c *config) dialer(url, authURL, key string) (transport.Dialer, error) {
	switch c.service.name {
	case "aiola":
		return aiola.NewDialer(aiola.Config{
			APIURL: url, AuthURL: authURL, APIKey: key, Lang: c.lang,
			Workflow: c.workflow, Keywords: c.keywords,
		})
	case "sarvam":
		return sarvam.NewDialer(sarvam.Config{
			URL: url, APIKey: key, Lang: c.lang, SampleRate: c.rate,
			Model: c.model, Mode: c.mode, HighVADSensitivity: c.highVAD,
		})
	default:
		return vachana.NewDialer(vachana.Config{URL: url, APIKey: key, Lang: c.lang, SampleRate: c.rate})
	}
}

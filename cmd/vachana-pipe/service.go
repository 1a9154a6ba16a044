package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vachana-pipe/vachana-pipe/frame"
	"github.com/vachana-pipe/vachana-pipe/transport"
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
}

// serviceNames lists the values of -service for messages and -h.
var serviceNames = func() string {
	names := make([]string, len(services))
	for i, s := range services {
		names[i] = s.name
	}
	return strings.Join(names, " or ")
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

// dialer returns the dialer of c's service for url and key.
func (c *config) dialer(url, key string) (transport.Dialer, error) {
	switch c.service.name {
	case "sarvam":
		return sarvam.NewDialer(sarvam.Config{
			URL: url, APIKey: key, Lang: c.lang, SampleRate: c.rate,
			Model: c.model, Mode: c.mode, HighVADSensitivity: c.highVAD,
		})
	default:
		return vachana.NewDialer(vachana.Config{URL: url, APIKey: key, Lang: c.lang, SampleRate: c.rate})
	}
}

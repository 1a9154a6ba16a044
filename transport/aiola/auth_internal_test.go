package aiola

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/transport"
)

func TestExpiry(t *testing.T) {
	jwt := func(payload string) string {
		return "h." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".s"
	}
	for _, tt := range []struct {
		name, jwt string
		want      int64 // Unix seconds; 0: none
	}{
		{"integer", jwt(`{"exp":1767225600}`), 1767225600},
		{"fraction", jwt(`{"exp":1767225600.9}`), 1767225600},
		{"with padding characters", "h." + base64.URLEncoding.EncodeToString([]byte(`{"exp":17}`)) + ".s", 17},
		{"no exp", jwt(`{"iat":1}`), 0},
		{"exp a string of digits, as JavaScript compares it", jwt(`{"exp":"1767225600"}`), 1767225600},
		{"exp a string of letters", jwt(`{"exp":"soon"}`), 0},
		{"exp null", jwt(`{"exp":null}`), 0},
		{"exp negative", jwt(`{"exp":-5}`), 0},
		{"exp huge", jwt(`{"exp":1e300}`), 0},
		{"payload an array", jwt(`[1]`), 0},
		{"payload not JSON", jwt(`exp`), 0},
		{"not base64url", "h.***.s", 0},
		{"standard base64 characters", "h.+/+/.s", 0},
		{"two parts", "h.e30", 0},
		{"four parts", jwt(`{"exp":5}`) + ".x", 0},
		{"empty", "", 0},
	} {
		got := expiry(tt.jwt)
		if tt.want == 0 && !got.IsZero() || tt.want != 0 && got.Unix() != tt.want {
			t.Errorf("%s: expiry(%q) = %v, want %d", tt.name, tt.jwt, got, tt.want)
		}
	}
}

func TestGrantUsable(t *testing.T) {
	now := time.Unix(1767225600, 0)
	for _, tt := range []struct {
		g    *grant
		want bool
	}{
		{nil, false},
		{&grant{}, true}, // no exp: until refused
		{&grant{exp: now.Add(ReuseMargin + time.Second)}, true},
		{&grant{exp: now.Add(ReuseMargin)}, false},
		{&grant{exp: now.Add(-time.Hour)}, false},
	} {
		if got := tt.g.usable(now); got != tt.want {
			t.Errorf("usable(%+v) = %v, want %v", tt.g, got, tt.want)
		}
	}
}

func TestRedact(t *testing.T) {
	base := errors.New("base")
	err := redact(fmt.Errorf("wrapped s3cret and s3cret again: %w", base), []string{"", "s3cret"})
	if err.Error() != "wrapped [redacted] and [redacted] again: base" || !errors.Is(err, base) {
		t.Errorf("redact = %q (Is base: %v)", err, errors.Is(err, base))
	}
	he := &transport.HandshakeError{StatusCode: 401, Code: "s3cret", Message: "bad s3cret", Location: "https://x/s3cret"}
	err = redact(fmt.Errorf("step: %w", he), []string{"s3cret"})
	var got *transport.HandshakeError
	if !errors.As(err, &got) || strings.Contains(err.Error(), "s3cret") || got.Code != "[redacted]" || got.Message != "bad [redacted]" {
		t.Errorf("redact = %q, HandshakeError %+v", err, got)
	}
	if redact(nil, []string{"s3cret"}) != nil || redact(base, []string{"s3cret"}) != base {
		t.Error("redact changed an error without secrets")
	}
}

func TestHideShortSecret(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"key k refused", "key [redacted] refused"},
		{"k", "[redacted]"},
		{"kk k:k", "kk [redacted]:[redacted]"},
		{"a long-secret-value here", "a [redacted] here"},
		{"a-a-a", "[redacted]-a"},
	} {
		if got := hide(c.in, []string{"k", "long-secret-value", "a-a"}); got != c.want {
			t.Errorf("hide(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

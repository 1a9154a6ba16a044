package transport

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/coder/websocket"
)

// HandshakeError reports that the service refused to open a session with
// an HTTP status: 401 for a missing or invalid key, 403, 429 when rate
// limited, 400 for a bad setting, 5xx when the service failed.
type HandshakeError struct {
	StatusCode int
	Code       string // the body's error code, e.g. "MISSING_API_KEY", if any
	Message    string // the body's message, or the start of the body
	Location   string // where a 3xx redirects to, without query; not followed
	Hint       string // what to do about it, from the dialect; default from the status
}

func (e *HandshakeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "transport: server refused the connection: HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Location != "" {
		fmt.Fprintf(&b, "; it redirects to %s, which is not followed so the key goes nowhere else: use that URL (-url) if you trust it", e.Location)
	}
	hint := e.Hint
	if hint == "" {
		hint = StatusHint(e.StatusCode)
	}
	if hint != "" {
		b.WriteString("; ")
		b.WriteString(hint)
	}
	return b.String()
}

// Final reports whether retrying cannot help: the key was refused (401,
// 403).
func (e *HandshakeError) Final() bool {
	return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
}

// StatusHint returns the advice for a refusal with status that holds for
// every service, or "".
func StatusHint(status int) string {
	switch {
	case status == http.StatusForbidden:
		return "the key may not be allowed this endpoint or language, or a proxy refused the request"
	case status == http.StatusTooManyRequests:
		return "rate limited: wait before retrying, or open fewer streams at once"
	case status == http.StatusBadRequest:
		return "check the language code (-lang) and sample rate (-rate)"
	case status == http.StatusNotFound:
		return "check the URL (-url)"
	case status >= 500:
		return "the service failed; retry later"
	}
	return ""
}

// ClosedError reports that a session ended. Code is the WebSocket close
// status the peer sent (1000 for a normal closure, 1011 for a server
// error…), or -1 when the connection broke without a close frame.
type ClosedError struct {
	Code   int
	Reason string
	Err    error
}

func (e *ClosedError) Error() string {
	if e.Code < 0 {
		return fmt.Sprintf("transport: connection lost without a close frame: %v", e.Err)
	}
	s := fmt.Sprintf("transport: connection closed with status %d (%s)", e.Code, websocket.StatusCode(e.Code))
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

func (e *ClosedError) Unwrap() error { return e.Err }

// Normal reports whether the session ended normally; see [NormalClose].
func (e *ClosedError) Normal() bool { return NormalClose(e.Code) }

// NormalClose reports whether a WebSocket close status means a normal end
// of a session: 1000 (normal closure), 1001 (going away: a server shutting
// down after it delivered everything) or 1005 (a close frame without a
// status). It is the one definition every package uses.
func NormalClose(code int) bool {
	switch websocket.StatusCode(code) {
	case websocket.StatusNormalClosure, websocket.StatusGoingAway, websocket.StatusNoStatusRcvd:
		return true
	}
	return false
}

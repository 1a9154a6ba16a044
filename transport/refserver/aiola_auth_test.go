package refserver

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// jwtParts decodes a JWT's header and payload, failing the test when it is
// not base64url header.payload.signature.
func jwtParts(t *testing.T, jwt string) (header, payload map[string]any) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 || parts[2] == "" {
		t.Fatalf("jwt %q is not header.payload.signature", jwt)
	}
	for i, dst := range []*map[string]any{&header, &payload} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("jwt part %d is not unpadded base64url: %v", i, err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatalf("jwt part %d %s is not a JSON object: %v", i, b, err)
		}
	}
	return header, payload
}

func TestAiolaTokenFlow(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	s := startAiola(t, Options{Keys: []string{"other", aiolaKey}, Logf: func(f string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, fmt.Sprintf(f, a...))
	}})
	if n := s.LiveSessions(); n != 0 {
		t.Fatalf("LiveSessions() = %d before any session", n)
	}
	before := time.Now().Unix()
	jwt, id := aiolaGrant(t, s)
	header, payload := jwtParts(t, jwt)
	if header["alg"] != "HS256" || header["typ"] != "JWT" {
		t.Errorf("jwt header %v, want HS256 JWT", header)
	}
	iat, _ := payload["iat"].(float64)
	exp, _ := payload["exp"].(float64)
	if int64(iat) < before || int64(iat) > time.Now().Unix() || exp-iat != 3600 {
		t.Errorf("jwt payload %v: want iat now and exp an hour later", payload)
	}
	if payload["sessionId"] != id {
		t.Errorf("jwt payload %v: want sessionId %s", payload, id)
	}
	if n := s.LiveSessions(); n != 1 {
		t.Errorf("LiveSessions() = %d after a grant, want 1", n)
	}

	st, b := aiolaDelete(t, s, jwt)
	var del struct {
		Status    string `json:"status"`
		DeletedAt string `json:"deletedAt"`
	}
	if st != http.StatusOK || json.Unmarshal(b, &del) != nil || del.Status != "deleted" {
		t.Fatalf("DELETE: status %d, body %s; want 200 and status deleted", st, b)
	}
	if at, err := time.Parse(time.RFC3339Nano, del.DeletedAt); err != nil || time.Since(at).Abs() > time.Minute {
		t.Errorf("deletedAt %q is not about now: %v", del.DeletedAt, err)
	}
	if n := s.LiveSessions(); n != 0 {
		t.Errorf("LiveSessions() = %d after DELETE, want 0", n)
	}
	st, b = aiolaDelete(t, s, jwt)
	if code, _ := aiolaErrorBody(t, b); st != http.StatusNotFound || code != "SESSION_NOT_FOUND" {
		t.Errorf("second DELETE: status %d, body %s; want 404 SESSION_NOT_FOUND", st, b)
	}

	mu.Lock()
	defer mu.Unlock()
	log := strings.Join(lines, "\n")
	if !strings.Contains(log, "aiola auth session "+id+" created") || !strings.Contains(log, "aiola auth session "+id+" deleted; 0 live") {
		t.Errorf("log:\n%s\nwant the session's creation and deletion", log)
	}
	if strings.Contains(log, aiolaKey) || strings.Contains(log, jwt) {
		t.Errorf("log:\n%s\ncontains the key or the jwt", log)
	}
}

func TestAiolaTokenRefused(t *testing.T) {
	s := startAiola(t, Options{Keys: []string{aiolaKey}})
	tok := aiolaToken(t, s, aiolaKey)
	tests := []struct {
		name, method, path, auth, body string
		wantStatus                     int
		wantCode                       string
	}{
		{"no key", "POST", AiolaTokenPath, "", "", 401, "UNAUTHORIZED"},
		{"wrong key", "POST", AiolaTokenPath, "ak_wrong", "", 401, "UNAUTHORIZED"},
		{"GET apiKey2Token", "GET", AiolaTokenPath, aiolaKey, "", 405, "METHOD_NOT_ALLOWED"},
		{"no token", "POST", AiolaSessionPath, "", `{"workflow_id":"w"}`, 401, "UNAUTHORIZED"},
		{"API key as token", "POST", AiolaSessionPath, aiolaKey, `{"workflow_id":"w"}`, 401, "INVALID_TOKEN"},
		{"unknown token", "POST", AiolaSessionPath, "tok_0000", `{"workflow_id":"w"}`, 401, "INVALID_TOKEN"},
		{"no body", "POST", AiolaSessionPath, tok, "", 400, "VALIDATION_ERROR"},
		{"body not JSON", "POST", AiolaSessionPath, tok, `workflow_id=w`, 400, "VALIDATION_ERROR"},
		{"no workflow_id", "POST", AiolaSessionPath, tok, `{"workflowId":"w"}`, 400, "VALIDATION_ERROR"},
		{"workflow_id not a string", "POST", AiolaSessionPath, tok, `{"workflow_id":5}`, 400, "VALIDATION_ERROR"},
		{"body too large", "POST", AiolaSessionPath, tok, `{"workflow_id":"` + strings.Repeat("w", 70<<10) + `"}`, 413, "VALIDATION_ERROR"},
		{"PUT session", "PUT", AiolaSessionPath, tok, "", 405, "METHOD_NOT_ALLOWED"},
		{"DELETE without token", "DELETE", AiolaSessionPath, "", "", 401, "UNAUTHORIZED"},
		{"DELETE unknown", "DELETE", AiolaSessionPath, "a.b.c", "", 404, "SESSION_NOT_FOUND"},
		{"unknown endpoint", "POST", "/voip-auth/refresh", tok, "", 404, "NOT_FOUND"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, b := httpDo(t, tt.method, s.BaseURL+tt.path, tt.auth, tt.body)
			code, _ := aiolaErrorBody(t, b)
			if st != tt.wantStatus || code != tt.wantCode {
				t.Errorf("status %d, body %s; want %d %s", st, b, tt.wantStatus, tt.wantCode)
			}
			if bytes.Contains(b, []byte(aiolaKey)) || bytes.Contains(b, []byte(tok)) {
				t.Errorf("body %s contains the key or the token", b)
			}
		})
	}
	if n := s.LiveSessions(); n != 0 {
		t.Errorf("LiveSessions() = %d after refusals only, want 0", n)
	}
}

func TestAiolaMaxSessions(t *testing.T) {
	s := startAiola(t, Options{MaxSessions: 2})
	first, _ := aiolaGrant(t, s)
	aiolaGrant(t, s)
	tok := aiolaToken(t, s, aiolaKey) // tokens are not limited, sessions are
	st, b := httpDo(t, http.MethodPost, s.BaseURL+AiolaSessionPath, tok, `{"workflow_id":"w"}`)
	code, msg := aiolaErrorBody(t, b)
	if st != http.StatusConflict || code != "MAX_CONCURRENCY_REACHED" || !strings.Contains(msg, "Max concurrency") {
		t.Errorf("third session: status %d, body %s; want 409 MAX_CONCURRENCY_REACHED", st, b)
	}
	if n := s.LiveSessions(); n != 2 {
		t.Errorf("LiveSessions() = %d, want 2", n)
	}
	if st, b := aiolaDelete(t, s, first); st != http.StatusOK {
		t.Fatalf("DELETE: %d %s", st, b)
	}
	aiolaGrant(t, s) // a slot is free again
	if n := s.LiveSessions(); n != 2 {
		t.Errorf("LiveSessions() = %d, want 2", n)
	}
}

func TestAiolaTokenExpiry(t *testing.T) {
	const ttl = 300 * time.Millisecond
	s := startAiola(t, Options{TokenTTL: ttl, MaxSessions: 1})
	jwt, _ := aiolaGrant(t, s)
	_, payload := jwtParts(t, jwt)
	if exp, iat := payload["exp"].(float64), payload["iat"].(float64); exp != iat+1 {
		t.Errorf("exp %v, want iat + 1 (the TTL in whole seconds, rounded up)", payload["exp"])
	}
	tok := aiolaToken(t, s, aiolaKey)
	if n := s.LiveSessions(); n != 1 {
		t.Fatalf("LiveSessions() = %d, want 1", n)
	}
	time.Sleep(ttl + 100*time.Millisecond)
	if n := s.LiveSessions(); n != 0 {
		t.Errorf("LiveSessions() = %d after the TTL, want 0", n)
	}
	// The expired JWT opens no socket, and no DELETE is needed for it.
	st, b := httpDo(t, http.MethodGet, httpURL(aiolaURL(s, aiolaQuery(jwt))), jwt, "")
	if code, _ := aiolaErrorBody(t, b); st != http.StatusUnauthorized || code != "TOKEN_EXPIRED" {
		t.Errorf("upgrade with an expired jwt: status %d, body %s; want 401 TOKEN_EXPIRED", st, b)
	}
	if st, b := aiolaDelete(t, s, jwt); st != http.StatusNotFound {
		t.Errorf("DELETE of an expired session: status %d, body %s; want 404", st, b)
	}
	// The token of apiKey2Token expired too.
	st, b = httpDo(t, http.MethodPost, s.BaseURL+AiolaSessionPath, tok, `{"workflow_id":"w"}`)
	if code, _ := aiolaErrorBody(t, b); st != http.StatusUnauthorized || code != "INVALID_TOKEN" {
		t.Errorf("session with an expired token: status %d, body %s; want 401 INVALID_TOKEN", st, b)
	}
	// The expired session no longer counts against MaxSessions.
	aiolaGrant(t, s)
}

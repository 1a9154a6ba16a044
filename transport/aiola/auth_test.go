package aiola_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/transport"
	"github.com/vachana-pipe/vachana-pipe/transport/aiola"
	"github.com/vachana-pipe/vachana-pipe/transport/socketio"
)

func TestConfigInvalid(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  aiola.Config
		want string
	}{
		{"no key", aiola.Config{}, "Config.APIKey is empty"},
		{"key with a newline", aiola.Config{APIKey: "k-SECRET\n"}, "Config.APIKey has spaces"},
		{"API URL scheme", aiola.Config{APIKey: "k", APIURL: "ftp://apis.aiola.ai"}, "Config.APIURL"},
		{"API URL without host", aiola.Config{APIKey: "k", APIURL: "https://"}, "has no host"},
		{"API URL with path", aiola.Config{APIKey: "k", APIURL: "https://apis.aiola.ai/events"}, "has a path"},
		{"API URL with query", aiola.Config{APIKey: "k", APIURL: "https://apis.aiola.ai/?token=pw-SECRET"}, "query or fragment"},
		{"API URL with user", aiola.Config{APIKey: "k", APIURL: "https://u:pw-SECRET@apis.aiola.ai"}, "user information"},
		{"auth URL fragment", aiola.Config{APIKey: "k", AuthURL: "https://auth.aiola.ai/#x"}, "Config.AuthURL"},
		{"auth URL unparsable", aiola.Config{APIKey: "k", AuthURL: "https://auth.aiola.ai:port/"}, "Config.AuthURL"},
		{"auth URL relative", aiola.Config{APIKey: "k", AuthURL: "auth.aiola.ai"}, "Config.AuthURL"},
		{"execution id short", aiola.Config{APIKey: "k", ExecutionID: "abc"}, "Config.ExecutionID"},
		{"execution id dash", aiola.Config{APIKey: "k", ExecutionID: "abc-def"}, "Config.ExecutionID"},
		{"execution id long", aiola.Config{APIKey: "k", ExecutionID: strings.Repeat("a", 25)}, "Config.ExecutionID"},
		{"lang control", aiola.Config{APIKey: "k", Lang: "en\r\n"}, "Config.Lang"},
		{"authorization header", aiola.Config{APIKey: "k", Header: http.Header{"Authorization": {"x"}}}, "Config.Header"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := aiola.NewDialer(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "SECRET") {
				t.Errorf("NewDialer = %v, want an error saying %q without secrets", err, tt.want)
			}
		})
	}
	for _, cfg := range []aiola.Config{
		{APIKey: "k"},
		{APIKey: "k", APIURL: "wss://apis.aiola.ai/", AuthURL: "ws://auth.example/base/"},
		{APIKey: "k", ExecutionID: "abcd", Keywords: map[string]string{}},
		{APIKey: "k", ExecutionID: strings.Repeat("Z9", 12)},
	} {
		if _, err := aiola.NewDialer(cfg); err != nil {
			t.Errorf("NewDialer(%+v): %v", cfg, err)
		}
	}
}

func TestDialerAudio(t *testing.T) {
	d, err := aiola.NewDialer(aiola.Config{APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	want := transport.Audio{Rate: 16000, ChunkFrames: 4, TailSilence: time.Second, NoSegmentEnds: true}
	if got := d.Audio(); got != want {
		t.Errorf("Audio() = %+v, want %+v", got, want)
	}
	if got := d.Audio().ChunkBytes(); got != 4096 {
		t.Errorf("ChunkBytes() = %d, want 4096", got)
	}
	if aiola.CheckRate(16000) != nil || aiola.CheckRate(8000) == nil {
		t.Error("CheckRate takes 16000 only")
	}
}

func TestNewExecutionID(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9]{24}$`)
	seen := map[string]bool{}
	counts := map[rune]int{}
	for range 2000 {
		id := aiola.NewExecutionID()
		if !re.MatchString(id) {
			t.Fatalf("NewExecutionID() = %q, want 24 letters and digits", id)
		}
		if seen[id] {
			t.Fatalf("NewExecutionID() repeated %q", id)
		}
		seen[id] = true
		for _, c := range id {
			counts[c]++
		}
	}
	// 48000 characters over 62: about 774 each; a skewed draw would show.
	if len(counts) != 62 {
		t.Errorf("%d distinct characters, want 62", len(counts))
	}
	for c, n := range counts {
		if n < 550 || n > 1000 {
			t.Errorf("%q drawn %d times of 48000, want about 774", c, n)
		}
	}
}

// dial opens a session with d within 10 s; the session is dropped when the
// test ends.
func dial(t *testing.T, d *aiola.Dialer) (*aiola.Session, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := d.DialSession(ctx)
	if err == nil {
		t.Cleanup(func() { s.CloseNow() })
	}
	return s, err
}

// TestTokenFlow checks the requests of the token flow, the upgrade's
// header and query, the reuse of the access token across Dials, and the
// deletion of the auth session by Close, once.
func TestTokenFlow(t *testing.T) {
	f := newFake(t)
	d := f.dialer(aiola.Config{})
	for range 3 {
		if _, err := dial(t, d); err != nil {
			t.Fatal(err)
		}
	}
	jwts := f.JWTs()
	if len(jwts) != 1 {
		t.Fatalf("%d access tokens made for 3 Dials, want 1 reused", len(jwts))
	}
	ua := "vachana-pipe/" + transport.Version
	want := []request{
		{"POST", aiola.TokenPath, "Bearer " + f.Key, "", ua, ""},
		{"POST", aiola.SessionPath, "Bearer tmp-SECRET-1", "application/json", ua, `{"workflow_id":"2c78fcf1-9265-408f-b8c3-d9d7e7ebc1bc"}`},
	}
	if got := f.Requests(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("requests\n got %+v\nwant %+v", got, want)
	}
	ids := map[string]bool{}
	for _, u := range f.Upgrades() {
		q := u.Query
		ids[q.Get("execution_id")] = true
		if u.Path != aiola.Path+"/" || u.Header.Get("Authorization") != "Bearer "+jwts[0] || u.Header.Get("User-Agent") != ua {
			t.Errorf("upgrade to %s with Authorization %q, User-Agent %q", u.Path, u.Header.Get("Authorization"), u.Header.Get("User-Agent"))
		}
		q.Del("execution_id")
		const wantQuery = "EIO=4&flow_id=2c78fcf1-9265-408f-b8c3-d9d7e7ebc1bc&lang_code=en&time_zone=UTC&transport=websocket&x-aiola-api-token="
		if got := q.Encode(); got != wantQuery+jwts[0] {
			t.Errorf("query\n got %s\nwant %s<jwt>", got, wantQuery)
		}
	}
	if len(ids) != 3 {
		t.Errorf("execution ids %v, want a fresh one per Dial", ids)
	}

	ctx := context.Background()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got := f.Requests()[2:]
	wantDel := []request{{"DELETE", aiola.SessionPath, "Bearer " + jwts[0], "application/json", ua, ""}}
	if fmt.Sprint(got) != fmt.Sprint(wantDel) {
		t.Errorf("Close sent\n %+v\nwant %+v", got, wantDel)
	}

	// A Dial after Close starts a new auth session.
	if _, err := dial(t, d); err != nil {
		t.Fatal(err)
	}
	if n := len(f.JWTs()); n != 2 {
		t.Errorf("%d access tokens after a Dial that followed Close, want 2", n)
	}
}

// TestTokenReuse: the access token is reused while its exp is more than
// ReuseMargin away, or when it says no exp; otherwise exchanged again.
func TestTokenReuse(t *testing.T) {
	for _, tt := range []struct {
		name   string
		jwt    func(n int) string
		tokens int // access tokens made for 3 Dials
	}{
		{"an hour left", func(n int) string { return jwtExpiring(time.Hour, n) }, 1},
		{"a minute left", func(n int) string { return jwtExpiring(time.Minute, n) }, 1},
		{"20 s left", func(n int) string { return jwtExpiring(20*time.Second, n) }, 3},
		{"expired", func(n int) string { return jwtExpiring(-time.Hour, n) }, 3},
		{"exp as a string", func(n int) string { return makeJWT(fmt.Sprintf(`{"exp":"%d","n":%d}`, time.Now().Unix()+10, n)) }, 3},
		{"no exp", func(n int) string { return makeJWT(fmt.Sprintf(`{"n":%d}`, n)) }, 1},
		{"not a JWT", func(n int) string { return fmt.Sprintf("opaque-%d", n) }, 1},
		{"payload not JSON", func(n int) string { return fmt.Sprintf("a.%d.c", n) }, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.NextJWT = tt.jwt
			d := f.dialer(aiola.Config{})
			for range 3 {
				if _, err := dial(t, d); err != nil {
					t.Fatal(err)
				}
			}
			if n := len(f.JWTs()); n != tt.tokens {
				t.Errorf("%d access tokens for 3 Dials, want %d", n, tt.tokens)
			}
			for i, u := range f.Upgrades() {
				if jwts := f.JWTs(); u.Header.Get("Authorization") != "Bearer "+jwts[min(i, len(jwts)-1)] {
					t.Errorf("upgrade %d did not use the newest token", i)
				}
			}
		})
	}
}

// TestConcurrentDials: Dials from several goroutines share one exchange.
func TestConcurrentDials(t *testing.T) {
	f := newFake(t)
	d := f.dialer(aiola.Config{})
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := d.Dial(ctx)
			if err == nil {
				s.CloseNow()
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := len(f.JWTs()); n != 1 {
		t.Errorf("%d access tokens for 8 concurrent Dials, want 1", n)
	}
}

// TestReexchangeWhenRefused: a reused access token the service refuses
// (with a 401 upgrade or a namespace refusal) is dropped, and the Dial
// exchanges again and retries once; a fresh one refused is not retried.
func TestReexchangeWhenRefused(t *testing.T) {
	for _, how := range []string{"upgrade", "namespace"} {
		t.Run(how, func(t *testing.T) {
			f := newFake(t)
			var refused atomic.Value // the token refused, or "all"
			refused.Store("")
			refuse := func(jwt string) bool { r := refused.Load(); return jwt == r || r == "all" }
			if how == "upgrade" {
				f.Refuse = func(jwt string) int {
					if refuse(jwt) {
						return 401
					}
					return 0
				}
			} else {
				f.RefuseNamespace = func(jwt string) string {
					if refuse(jwt) {
						return `{"message":"Unauthorized","data":{"token":"` + jwt + `"}}`
					}
					return ""
				}
			}
			d := f.dialer(aiola.Config{})
			if _, err := dial(t, d); err != nil {
				t.Fatal(err)
			}
			refused.Store(f.JWTs()[0])
			if _, err := dial(t, d); err != nil {
				t.Fatalf("Dial with the token refused: %v", err)
			}
			jwts := f.JWTs()
			if len(jwts) != 2 || len(f.Upgrades()) != 3 {
				t.Fatalf("%d tokens and %d upgrades, want 2 and 3 (the refused one retried once)", len(jwts), len(f.Upgrades()))
			}
			if got := f.Upgrades()[2].Header.Get("Authorization"); got != "Bearer "+jwts[1] {
				t.Errorf("the retry used another token than the new one")
			}

			// A fresh token refused: one exchange, one upgrade, the error.
			refused.Store("all")
			if err := d.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			_, err := dial(t, d)
			var he *transport.HandshakeError
			var ce *socketio.ConnectError
			switch {
			case how == "upgrade" && (!errors.As(err, &he) || he.StatusCode != 401 || !he.Final() || !strings.Contains(err.Error(), "AIOLA_API_KEY")):
				t.Errorf("Dial = %v, want a final HandshakeError 401 naming AIOLA_API_KEY", err)
			case how == "namespace" && (!errors.As(err, &ce) || ce.Message != "Unauthorized"):
				t.Errorf("Dial = %v, want a ConnectError", err)
			}
			if len(f.JWTs()) != 3 || len(f.Upgrades()) != 4 {
				t.Errorf("%d tokens and %d upgrades, want 3 and 4: a fresh token refused is not retried", len(f.JWTs()), len(f.Upgrades()))
			}
			for _, j := range f.JWTs() {
				if err != nil && strings.Contains(err.Error(), j) {
					t.Errorf("the error holds the access token: %v", err)
				}
			}
		})
	}
}

// TestTokenFlowRefusals checks the errors of the token flow: refusals are
// HandshakeErrors with the body's code and message and a hint; malformed
// answers say what was missing; none holds a secret, even when the service
// quotes them back.
func TestTokenFlowRefusals(t *testing.T) {
	const key = "key-SECRET-1"
	tests := []struct {
		name           string
		token, session func(n int) (int, string)
		status         int
		final          bool
		want           []string
	}{
		{name: "key refused", token: func(int) (int, string) {
			return 401, `{"message":"Invalid API key key-SECRET-1","code":"UNAUTHORIZED"}`
		},
			status: 401, final: true, want: []string{"HTTP 401", "UNAUTHORIZED", "Invalid API key [redacted]", "-key, -key-file or env AIOLA_API_KEY"}},
		{name: "key forbidden, no body", token: func(int) (int, string) { return 403, `` },
			status: 403, final: true, want: []string{"HTTP 403", "AIOLA_API_KEY"}},
		{name: "key refused, error object", token: func(int) (int, string) {
			return 401, `{"error":{"message":"bad key: Bearer key-SECRET-1 is not known to us at all, it seems","code":"INVALID"}}`
		},
			status: 401, final: true, want: []string{"(INVALID)", "bad key: Bearer [redacted]"}},
		{name: "concurrency at the key", token: func(int) (int, string) {
			return 409, `{"message":"Max concurrency reached","code":"MAX_CONCURRENCY_REACHED"}`
		},
			status: 409, want: []string{"HTTP 409", "MAX_CONCURRENCY_REACHED", "concurrent-session limit is reached: end other sessions (or wait for them to expire) and retry"}},
		{name: "concurrency at the session", session: func(int) (int, string) { return 409, `{"code":"MAX_CONCURRENCY_REACHED"}` },
			status: 409, want: []string{"concurrent-session limit"}},
		{name: "concurrency code with another status", session: func(int) (int, string) {
			return 429, `{"code":"MAX_CONCURRENCY_REACHED","message":"token tmp-SECRET-1 has too many"}`
		},
			status: 429, want: []string{"concurrent-session limit", "token [redacted] has"}},
		{name: "session refused", session: func(int) (int, string) { return 401, `{"message":"bad token tmp-SECRET-1"}` },
			status: 401, final: true, want: []string{"the session was refused", "AIOLA_API_KEY", "bad token [redacted]"}},
		{name: "workflow unknown", session: func(int) (int, string) { return 400, `{"message":"workflow not found"}` },
			status: 400, want: []string{"workflow not found", "check the workflow id"}},
		{name: "server failed, text body", token: func(int) (int, string) { return 502, "<html>Bad gateway</html>" },
			status: 502, want: []string{"HTTP 502", "<html>Bad gateway</html>", "retry later"}},
		{name: "redirect", token: func(int) (int, string) { return 307, `` }, status: 307},
		{name: "token answer not JSON", token: func(int) (int, string) { return 200, `token=tmp-SECRET-9` },
			want: []string{"POST", aiola.TokenPath, "is not the JSON object expected"}},
		{name: "token missing", token: func(int) (int, string) { return 200, `{"context":{}}` },
			want: []string{aiola.TokenPath, "no token (context.token)"}},
		{name: "context not an object", token: func(int) (int, string) { return 200, `{"context":"tmp-SECRET-9"}` },
			want: []string{aiola.TokenPath, "is not the JSON object expected"}},
		{name: "jwt missing", session: func(int) (int, string) { return 200, `{"sessionId":"s"}` },
			want: []string{aiola.SessionPath, "no access token (jwt)"}},
		{name: "session answer empty", session: func(int) (int, string) { return 200, `` },
			want: []string{aiola.SessionPath, "is not the JSON object expected"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.Token, f.Session = tt.token, tt.session
			d := f.dialer(aiola.Config{APIKey: key})
			_, err := dial(t, d)
			if err == nil {
				t.Fatal("Dial succeeded")
			}
			var he *transport.HandshakeError
			if tt.status != 0 && (!errors.As(err, &he) || he.StatusCode != tt.status || he.Final() != tt.final) {
				t.Fatalf("Dial = %v, want a HandshakeError with status %d, final %v", err, tt.status, tt.final)
			}
			if tt.status == 0 && errors.As(err, &he) {
				t.Fatalf("Dial = %v, want no HandshakeError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("the error holds a secret: %v", err)
			}
			if len(f.Upgrades()) != 0 {
				t.Error("an upgrade was tried after the token flow failed")
			}
		})
	}
}

// TestClose: Close deletes the auth session once; a session already gone
// (404, 401) is no error; a failure is reported without the token.
func TestClose(t *testing.T) {
	for _, tt := range []struct {
		status int
		body   string
		want   string // "" for no error
	}{
		{200, `{"status":"deleted","deletedAt":"now"}`, ""},
		{204, ``, ""},
		{404, `{"message":"no session"}`, ""},
		{401, `{"message":"expired"}`, ""},
		{500, `{"message":"jwt eyJ broke"}`, "deleting the auth session"},
	} {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			f := newFake(t)
			f.Delete = func() (int, string) { return tt.status, tt.body }
			d := f.dialer(aiola.Config{})
			ctx := context.Background()
			if err := d.Close(ctx); err != nil {
				t.Errorf("Close before any Dial: %v", err)
			}
			if len(f.Requests()) != 0 {
				t.Errorf("Close before any Dial sent %+v", f.Requests())
			}
			if _, err := dial(t, d); err != nil {
				t.Fatal(err)
			}
			err := d.Close(ctx)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Close = %v, want %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), f.JWTs()[0]) {
				t.Errorf("the error holds the access token: %v", err)
			}
			if err := d.Close(ctx); err != nil {
				t.Errorf("second Close: %v", err)
			}
			deletes := 0
			for _, r := range f.Requests() {
				if r.Method == "DELETE" {
					deletes++
				}
			}
			if deletes != 1 {
				t.Errorf("%d DELETEs, want 1", deletes)
			}
		})
	}
}

// TestSecretsInUpgradeErrors: the upgrade's refusal quoting the token, and
// a connection that fails, give errors without the key or the token.
func TestSecretsInUpgradeErrors(t *testing.T) {
	f := newFake(t)
	f.NextJWT = func(n int) string { return makeJWT(fmt.Sprintf(`{"SECRET":%d}`, n)) }
	f.Refuse = func(string) int { return 403 }
	d := f.dialer(aiola.Config{})
	_, err := dial(t, d)
	var he *transport.HandshakeError
	if !errors.As(err, &he) || he.StatusCode != 403 || strings.Contains(err.Error(), f.JWTs()[0]) || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("Dial = %v, want a 403 HandshakeError with the token redacted", err)
	}

	f.Refuse = nil
	f.RefuseNamespace = func(jwt string) string {
		b, _ := json.Marshal(map[string]any{"message": "no " + jwt, "data": map[string]string{"jwt": jwt}})
		return string(b)
	}
	_, err = dial(t, d)
	var ce *socketio.ConnectError
	if !errors.As(err, &ce) || strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), f.JWTs()[0]) {
		t.Errorf("Dial = %v, want a ConnectError without the token", err)
	}
}

// TestTokenFlowGivesUp: a Dial whose context ends during the token flow,
// or while it waits for another Dial's exchange, says what it waited for.
func TestTokenFlowGivesUp(t *testing.T) {
	f := newFake(t)
	f.Token = func(n int) (int, string) {
		time.Sleep(600 * time.Millisecond)
		return 200, fmt.Sprintf(`{"context":{"token":"tmp-SECRET-%d"}}`, n)
	}
	d := f.dialer(aiola.Config{})
	first := make(chan error, 1)
	go func() {
		_, err := dial(t, d)
		first <- err
	}()
	time.Sleep(100 * time.Millisecond) // the first Dial is exchanging
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := d.Dial(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waited for another Dial's token exchange") {
		t.Errorf("Dial while another exchanges = %v, want it to say it waited for the other's exchange", err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	_, err = d.Dial(ctx2)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "exchanging the API key: POST") || !strings.Contains(err.Error(), "gave up waiting") {
		t.Errorf("Dial with a slow token endpoint = %v, want it to name the step it gave up in", err)
	}
}

package aiola_test

import (
	"context"
	"testing"
	"time"

	"github.com/vachana-pipe/vachana-pipe/transport/aiola"
	"github.com/vachana-pipe/vachana-pipe/transport/refserver"
)

// TestReplacedAuthSessionDeleted: a token replaced near its expiry has its
// auth session deleted first, so a key allowed one concurrent session can
// open the next (against the reference server's aiOla mode, whose tokens
// here live 32 s: within ReuseMargin after 2 s).
func TestReplacedAuthSessionDeleted(t *testing.T) {
	srv, err := refserver.Start(&refserver.Options{Service: refserver.ServiceAiola, MaxSessions: 1, TokenTTL: aiola.ReuseMargin + 2*time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	d, err := aiola.NewDialer(aiola.Config{APIURL: srv.BaseURL, AuthURL: srv.BaseURL, APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	dial := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := d.Dial(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	dial()
	time.Sleep(3 * time.Second) // the token is now within ReuseMargin of its expiry
	dial()                      // 409 if the first auth session were still live
	if n := srv.LiveSessions(); n != 1 {
		t.Fatalf("%d live auth sessions, want 1", n)
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := srv.LiveSessions(); n != 0 {
		t.Fatalf("%d live auth sessions after Close, want 0", n)
	}
}

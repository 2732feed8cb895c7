package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestNewGateways builds the gateways from a file's pushgateways entry and
// --pushgateway.url, as serve and dryRun do: each named as configured (the
// URL's host for the flag), each scraped with its own credentials.
func TestNewGateways(t *testing.T) {
	auths := make(chan string, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		auths <- fmt.Sprintf("%s %s %v", user, pass, ok)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	}))
	defer srv.Close()
	cfg := filepath.Join(t.TempDir(), "bridge.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "pushgateways:\n- name: pgw-auth\n  url: %s\n  basic_auth: {username: bridge, password: s3cret}\n", srv.URL), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := parseFlags([]string{"--config.file=" + cfg, "--pushgateway.url=" + srv.URL + "/other", "--remote-write.url=http://receiver.invalid/"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := validate(f)
	if err != nil {
		t.Fatal(err)
	}
	gateways, err := newGateways(s, "test", slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range gateways {
		names = append(names, g.Name)
	}
	host := srv.Listener.Addr().String()
	if want := []string{"pgw-auth", host}; !slices.Equal(names, want) {
		t.Fatalf("names %q, want %q", names, want)
	}
	for i, want := range []string{"bridge s3cret true", "  false"} {
		if _, err := gateways[i].Source.Scrape(context.Background()); err != nil {
			t.Fatalf("scrape %s: %v", names[i], err)
		}
		if got := <-auths; got != want {
			t.Errorf("%s: basic auth %q, want %q", names[i], got, want)
		}
	}
}

package pushgateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

func TestGroupPath(t *testing.T) {
	for _, tc := range []struct {
		key  labels.Labels
		want string
	}{
		{labels.FromStrings("job", "backup"), "/metrics/job/backup"},
		{labels.FromStrings("job", "backup", "instance", "db-7"), "/metrics/job/backup/instance/db-7"},
		{labels.FromStrings("job", "nightly", "path", "/var/tmp"), "/metrics/job/nightly/path@base64/L3Zhci90bXA"},
		{labels.FromStrings("job", "dir/job"), "/metrics/job@base64/ZGlyL2pvYg"},
		{labels.FromStrings("job", "x", "a", "b c"), "/metrics/job/x/a/b%20c"},
	} {
		if got := groupPath(tc.key); got != tc.want {
			t.Errorf("groupPath(%s) = %s, want %s", tc.key, got, tc.want)
		}
	}
}

// TestDeleteGroupRechecksPushTime: a group is deleted only if its push time
// is still the one the expiry was decided on.
func TestDeleteGroupRechecksPushTime(t *testing.T) {
	const api = `{"status":"success","data":[{"labels":{"job":"nightly","path":"/var/tmp"},"last_push_successful":true,
"push_time_seconds":{"time_stamp":"2026-11-25T10:02:38Z","type":"GAUGE","metrics":[{"labels":{"instance":"","job":"nightly","path":"/var/tmp"},"value":"1.795600958403562e+09"}]}}]}`
	for _, tc := range []struct {
		name     string
		pushTime float64
		key      labels.Labels
		deleted  bool
	}{
		{"unchanged", 1.795600958403562e+09, labels.FromStrings("job", "nightly", "path", "/var/tmp"), true},
		{"pushed again", 1.795600900e+09, labels.FromStrings("job", "nightly", "path", "/var/tmp"), false},
		{"gone already", 1.795600958403562e+09, labels.FromStrings("job", "other"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				mu      sync.Mutex
				deletes []string
			)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.Method == http.MethodGet && r.URL.Path == "/api/v1/metrics":
					w.Header().Set("Content-Type", "application/json")
					_, _ = w.Write([]byte(api))
				case r.Method == http.MethodDelete:
					mu.Lock()
					deletes = append(deletes, r.URL.EscapedPath())
					mu.Unlock()
					w.WriteHeader(http.StatusAccepted)
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			u, _ := url.Parse(srv.URL)
			deleted, err := NewClient(u, srv.Client(), "", Options{}).DeleteGroup(context.Background(), tc.key, tc.pushTime)
			if err != nil {
				t.Fatal(err)
			}
			if deleted != tc.deleted {
				t.Errorf("deleted = %v, want %v", deleted, tc.deleted)
			}
			want := 0
			if tc.deleted {
				want = 1
			}
			if len(deletes) != want {
				t.Fatalf("DELETE requests: %v, want %d", deletes, want)
			}
			if tc.deleted && deletes[0] != "/metrics/job/nightly/path@base64/L3Zhci90bXA" {
				t.Errorf("DELETE %s", deletes[0])
			}
		})
	}
}

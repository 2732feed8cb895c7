package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pushgateway-bridge/pushgateway-bridge/remotewrite"
)

type loopReady bool

func (r loopReady) Ready() bool { return bool(r) }

// diskOf is an endpoint's queue whose disk is failing while err is set.
type diskOf struct {
	name string
	err  error
}

func (d *diskOf) Status() remotewrite.QueueStatus { return remotewrite.QueueStatus{Name: d.name} }
func (d *diskOf) DiskHealthy() error              { return d.err }

// TestReady: /-/ready answers 503 before the first complete cycle, 200
// after it, and 503 naming the endpoint and the error while an endpoint's
// on-disk queue is failing, 200 again once it recovers.
func TestReady(t *testing.T) {
	full := errors.New("write queue segment 00000003.seg: no space left on device")
	a, b := &diskOf{name: "a"}, &diskOf{name: "b"}
	for _, tc := range []struct {
		name     string
		loop     loopReady
		aErr     error
		wantCode int
		wantBody []string
	}{
		{"no cycle yet", false, nil, http.StatusServiceUnavailable, []string{"no complete cycle yet"}},
		{"ready", true, nil, http.StatusOK, []string{"Ready."}},
		{"disk failing", true, full, http.StatusServiceUnavailable, []string{"remote write a: disk queue failing", "no space left on device"}},
		{"disk recovered", true, nil, http.StatusOK, []string{"Ready."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a.err = tc.aErr
			h := readyHandler(readiness(tc.loop, []*diskOf{a, b}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/-/ready", nil))
			if rec.Code != tc.wantCode {
				t.Errorf("status %d, want %d", rec.Code, tc.wantCode)
			}
			for _, w := range tc.wantBody {
				if !strings.Contains(rec.Body.String(), w) {
					t.Errorf("body %q does not say %q", rec.Body.String(), w)
				}
			}
			if strings.Contains(rec.Body.String(), "remote write b") {
				t.Errorf("body %q names the healthy endpoint b", rec.Body.String())
			}
		})
	}
}

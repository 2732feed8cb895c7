package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pushgateway-bridge/pushgateway-bridge/bridge"
	"github.com/pushgateway-bridge/pushgateway-bridge/remotewrite"
	"github.com/pushgateway-bridge/pushgateway-bridge/ui"
)

// handler serves every endpoint of the command: /metrics, profiles,
// /-/healthy, /-/ready, the status page and its API (package ui), and with
// lifecycle (--web.enable-lifecycle) POST /-/reload.
func handler(reg *prometheus.Registry, br *bridge.Bridge, endpoints []ui.EndpointSource, ready func() error, rl *reloader, lifecycle bool, logger *slog.Logger) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	// Profiles, as Prometheus serves them.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Healthy.")
	})
	mux.Handle("GET /-/ready", readyHandler(ready))
	ui.New(ui.Options{Status: br, Endpoints: endpoints, Logger: logger.With("component", "ui")}).Register(mux)
	if lifecycle {
		mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, _ *http.Request) {
			if err := rl.reload(); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		})
	}
	return mux
}

// readyHandler answers /-/ready: 200 while ready returns nil, else 503 with
// its reason.
func readyHandler(ready func() error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, "Not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready.")
	})
}

// diskQueue is an endpoint's queue as readiness sees it.
type diskQueue interface {
	Status() remotewrite.QueueStatus
	DiskHealthy() error
}

// readiness returns the check of /-/ready: nil once the loop wrote a
// complete cycle to the queues, as long as no endpoint's on-disk queue is
// failing (it drops what it cannot write, or cannot read what it should
// send); otherwise why not, naming the endpoints.
func readiness[Q diskQueue](loop interface{ Ready() bool }, queues []Q) func() error {
	return func() error {
		if !loop.Ready() {
			return errors.New("no complete cycle yet")
		}
		var errs []error
		for _, q := range queues {
			if err := q.DiskHealthy(); err != nil {
				errs = append(errs, fmt.Errorf("remote write %s: disk queue failing: %w", q.Status().Name, err))
			}
		}
		return errors.Join(errs...)
	}
}

// Command pushgateway-bridge scrapes a Prometheus Pushgateway every interval
// and forwards what its batch jobs pushed to remote-write endpoints, with a
// pseudo-up and the age of the last push per group, and staleness markers for
// series and groups that vanish.
//
// Flags:
//
//	--pushgateway.url                    Pushgateway to scrape, repeatable, besides pushgateways in --config.file
//	                                     (default http://localhost:9091 when the file lists none)
//	--pushgateway.outage-hold            how long an unreachable gateway's groups are still forwarded (default 1h)
//	--backfill.max-window                how far back a restart fills missed ticks (default 1h)
//	--pushgateway.forward-own-metrics    also forward the gateway's go_*, process_*, pushgateway_*
//	--remote-write.url                   endpoint to send to (or remote_write in --config.file)
//	--remote-write.max-samples-per-send  batch size bound of that endpoint (default 10000)
//	--remote-write.flush-deadline        how long shutdown waits to send what is pending, all endpoints at once (default 1m)
//	--storage.path                       on-disk queues and state (default data/)
//	--storage.queue-max-bytes            bound of each endpoint's (each tenant's) on-disk queue (default 1GiB)
//	--scrape.interval, --scrape.timeout  cycle interval (15s) and scrape timeout (10s)
//	--synth.up-metric-name               name of the per-group pseudo-up (default up)
//	--synth.series                       per-group series kinds besides up and age: status, max_age, pushes (repeatable)
//	--config.file                        YAML configuration
//	--runtime.gogc                       garbage collector target, GOGC (default 30; the GOGC variable wins)
//	--web.listen-address, --web.config.file  HTTP server, TLS and auth (exporter-toolkit)
//	--web.enable-lifecycle               serve POST /-/reload
//	--dry-run                            scrape the gateways once, print what one cycle would send, exit
//	--log.level, --log.format, --version
//
// Endpoints: / (status page), /api/v1/groups (the groups as JSON), /metrics
// (self-metrics), /-/healthy, /-/ready (200 after the first complete
// cycle, 503 while an endpoint's on-disk queue is failing), /-/reload (POST, with --web.enable-lifecycle), /debug/pprof/.
//
// Metrics on /metrics: pushgateway_bridge_cycle*, _scrape_*, _groups_*,
// _state_* and _backfill_* of the loop (package bridge);
// pushgateway_bridge_remote_write_* per endpoint, labelled remote_name
// (package remotewrite); pushgateway_bridge_config_last_reload_successful
// and _success_timestamp_seconds (reload.go); pushgateway_bridge_build_info
// and the Go and process collectors.
//
// main.go wires the components and runs them; flags.go parses and validates
// the flags and the file into settings, gateways.go and endpoints.go turn
// those into the scraped gateways and the remote-write queues, reload.go
// reloads the file, web.go serves the endpoints, storage.go locks
// --storage.path, dryrun.go is --dry-run.
//
// Bad flags or configuration print one line naming the problem and exit 2
// before anything starts.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/pushgateway-bridge/pushgateway-bridge/bridge"
	"github.com/pushgateway-bridge/pushgateway-bridge/ui"
)

const name = "pushgateway-bridge"

func main() { os.Exit(realMain()) }

func realMain() int {
	f, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: error: %v\n", name, err)
		return 2
	}
	s, err := validate(f)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: error: %v\n", name, err)
		return 2
	}
	logger := promslog.New(&f.log)
	setGCPercent(f.gogc, !f.dryRun, logger)
	if f.dryRun {
		return dryRun(s, os.Stdout, logger)
	}
	if err := serve(s, logger); err != nil {
		logger.Error("stopped", "err", err)
		return 1
	}
	return 0
}

// serve wires the components and runs them until a signal or a failure.
// Shutdown goes in order: stop the cycles, flush every remote-write
// endpoint at once under one deadline, stop serving HTTP.
func serve(s *settings, logger *slog.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		versioncollector.NewCollector("pushgateway_bridge"),
	)
	userAgent := name + "/" + version.Version

	var (
		queues    []endpoint
		senders   []bridge.Sender
		endpoints []ui.EndpointSource
	)
	unlock, err := lockStorage(s.storagePath)
	if err != nil {
		return err
	}
	defer unlock()
	for _, ep := range s.cfg.RemoteWrite {
		q, err := newQueue(ep, s, userAgent, logger, reg)
		if err != nil {
			return fmt.Errorf("remote write %s: %w", ep.Name, err)
		}
		queues = append(queues, q)
		senders = append(senders, q)
		endpoints = append(endpoints, q)
	}
	gateways, err := newGateways(s, userAgent, logger, reg)
	if err != nil {
		return err
	}
	br, err := bridge.New(bridge.Options{
		Gateways:              gateways,
		OutageHold:            s.outageHold,
		BackfillMaxWindow:     s.backfillWindow,
		Interval:              s.interval,
		Timeout:               s.timeout,
		ForwardGatewayMetrics: s.forwardOwn,
		Synth:                 synthOptions(s.cfg, s.upMetric, s.synthKinds),
		Senders:               senders,
		StatePath:             filepath.Join(s.storagePath, "state"),
		Logger:                logger.With("component", "bridge"),
		Registerer:            reg,
		OnReady:               func() { setGCPercent(s.gogc, false, logger) },
	})
	if err != nil {
		return err
	}

	rl := &reloader{file: s.configFile, running: s.fileCfg, br: br, upMetric: s.upMetric, synthKinds: s.synthKinds, logger: logger, m: newReloadMetrics(reg)}
	var g run.Group
	{
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		cancel := make(chan struct{})
		g.Add(func() error {
			for {
				select {
				case <-hup:
					_ = rl.reload()
				case <-cancel:
					return nil
				}
			}
		}, func(error) { close(cancel) })
	}
	{
		term := make(chan os.Signal, 1)
		signal.Notify(term, os.Interrupt, syscall.SIGTERM)
		cancel := make(chan struct{})
		g.Add(func() error {
			select {
			case sig := <-term:
				logger.Info("received signal, shutting down", "signal", sig)
			case <-cancel:
			}
			return nil
		}, func(error) { close(cancel) })
	}
	loopStopped := make(chan struct{})
	{
		ctx, cancel := context.WithCancel(context.Background())
		g.Add(func() error {
			defer close(loopStopped)
			return br.Run(ctx)
		}, func(error) {
			cancel()
			<-loopStopped // no cycle may append after the queues flush
		})
	}
	addEndpoints(&g, queues, loopStopped, s.flushDeadline, logger)
	{
		h := handler(reg, br, endpoints, readiness(br, queues), rl, s.enableLifecycle, logger)
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		g.Add(func() error {
			if err := web.ListenAndServe(srv, s.web, logger); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("web server: %w", err)
			}
			return nil
		}, func(error) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
		})
	}
	logger.Info("starting", "version", version.Info(), "pushgateways", len(gateways), "interval", s.interval)
	return g.Run()
}

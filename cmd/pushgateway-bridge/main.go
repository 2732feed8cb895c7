// Command pushgateway-bridge scrapes a Prometheus Pushgateway every interval
// and forwards what its batch jobs pushed to remote-write endpoints, with a
// pseudo-up and the age of the last push per group, and staleness markers for
// series and groups that vanish.
//
// Flags:
//
//	--pushgateway.url                    Pushgateway to scrape, repeatable (default http://localhost:9091)
//	--pushgateway.outage-hold            how long an unreachable gateway's groups are still forwarded (default 1h)
//	--backfill.max-window                how far back a restart fills missed ticks (default 1h)
//	--pushgateway.forward-own-metrics    also forward the gateway's go_*, process_*, pushgateway_*
//	--remote-write.url                   endpoint to send to (or remote_write in --config.file)
//	--remote-write.max-samples-per-send  batch size bound of that endpoint (default 10000)
//	--remote-write.flush-deadline        how long shutdown waits to send what is pending (default 1m)
//	--storage.path                       on-disk queues and state (default data/)
//	--storage.queue-max-bytes            bound of each endpoint's (each tenant's) on-disk queue (default 1GiB)
//	--scrape.interval, --scrape.timeout  cycle interval (15s) and scrape timeout (10s)
//	--synth.up-metric-name               name of the per-group pseudo-up (default up)
//	--config.file                        YAML configuration
//	--runtime.gogc                       garbage collector target, GOGC (default 30; the GOGC variable wins)
//	--web.listen-address, --web.config.file  HTTP server, TLS and auth (exporter-toolkit)
//	--log.level, --log.format, --version
//
// Endpoints: / (status page), /api/v1/groups (the groups as JSON), /metrics
// (self-metrics), /-/healthy, /-/ready (200 after the first complete
// cycle), /-/reload (POST, with --web.enable-lifecycle), /debug/pprof/.
//
// --dry-run scrapes once, prints what one cycle would send and exits.
//
// Bad flags or configuration print one line naming the problem and exit 2
// before anything starts.
package main

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/alecthomas/units"
	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	webflag "github.com/prometheus/exporter-toolkit/web/kingpinflag"
	"go.yaml.in/yaml/v2"

	"github.com/pushgateway-bridge/pushgateway-bridge/bridge"
	"github.com/pushgateway-bridge/pushgateway-bridge/config"
	"github.com/pushgateway-bridge/pushgateway-bridge/pushgateway"
	"github.com/pushgateway-bridge/pushgateway-bridge/remotewrite"
	"github.com/pushgateway-bridge/pushgateway-bridge/synth"
	"github.com/pushgateway-bridge/pushgateway-bridge/ui"
)

const name = "pushgateway-bridge"

// defaultVersion is reported when the build did not set one with
// -ldflags "-X github.com/prometheus/common/version.Version=...".
const defaultVersion = "0.1.0-dev"

func main() { os.Exit(realMain()) }

// flags holds the parsed command line.
type flags struct {
	pushgatewayURLs   []*url.URL
	pushgatewaySet    bool
	outageHold        time.Duration
	backfillWindow    time.Duration
	forwardOwn        bool
	remoteWriteURL    *url.URL
	maxSamplesPerSend int
	flushDeadline     time.Duration
	storagePath       string
	queueMaxBytes     units.Base2Bytes
	interval, timeout time.Duration
	timeoutSet        bool
	upMetric          string
	configFile        string
	enableLifecycle   bool
	dryRun            bool
	gogc              int
	web               *web.FlagConfig
	log               promslog.Config
}

func parseFlags(args []string) (*flags, error) {
	if version.Version == "" {
		version.Version = defaultVersion
	}
	f := &flags{}
	app := kingpin.New(name, "Forwards a Prometheus Pushgateway to remote-write endpoints, with a pseudo-up and freshness per group and staleness markers.")
	app.Version(version.Print(name))
	app.HelpFlag.Short('h')
	app.Flag("pushgateway.url", "URL of a Pushgateway to scrape; repeat it for several, whose groups are merged (the newest push of a group wins).").Default("http://localhost:9091").IsSetByUser(&f.pushgatewaySet).URLListVar(&f.pushgatewayURLs)
	app.Flag("pushgateway.outage-hold", "How long a Pushgateway that cannot be scraped keeps contributing the groups it last held (0: forward nothing while one is down).").Default("1h").DurationVar(&f.outageHold)
	app.Flag("pushgateway.forward-own-metrics", "Also forward the Pushgateway's own metrics (go_*, process_*, pushgateway_*), which belong to no group.").BoolVar(&f.forwardOwn)
	app.Flag("backfill.max-window", "After a restart, fill the ticks missed since the last cycle sent, at most this far back (0: off).").Default("1h").DurationVar(&f.backfillWindow)
	app.Flag("remote-write.url", "Remote-write endpoint to send to. Required unless --config.file lists remote_write endpoints.").URLVar(&f.remoteWriteURL)
	app.Flag("remote-write.max-samples-per-send", "Most samples in one request to --remote-write.url.").Default("10000").IntVar(&f.maxSamplesPerSend)
	app.Flag("remote-write.flush-deadline", "How long shutdown waits for pending samples to be sent; the rest stays on disk.").Default("1m").DurationVar(&f.flushDeadline)
	app.Flag("storage.path", "Directory of the on-disk remote-write queues and the bridge's state.").Default("data/").StringVar(&f.storagePath)
	app.Flag("storage.queue-max-bytes", "Bound of each endpoint's on-disk queue; beyond it the oldest samples are dropped and counted.").Default("1GiB").BytesVar(&f.queueMaxBytes)
	app.Flag("scrape.interval", "How often to scrape the Pushgateway and send.").Default("15s").DurationVar(&f.interval)
	app.Flag("scrape.timeout", "Timeout of one scrape; at most the interval.").Default("10s").IsSetByUser(&f.timeoutSet).DurationVar(&f.timeout)
	app.Flag("synth.up-metric-name", "Name of the synthesized per-group up series.").Default(synth.DefaultUpMetric).StringVar(&f.upMetric)
	app.Flag("config.file", "Path of the YAML configuration file. Reloaded on SIGHUP (and POST /-/reload with --web.enable-lifecycle): group_rules and expected_groups take effect at the next cycle; other changes need a restart.").StringVar(&f.configFile)
	app.Flag("dry-run", "Scrape once, print what one cycle would send to each endpoint (after relabeling and external labels) as exposition text, and exit; nothing is sent.").BoolVar(&f.dryRun)
	app.Flag("runtime.gogc", "Go garbage collector target percentage (GOGC); the GOGC environment variable, if set, wins. Lower keeps less memory for more CPU.").Default(strconv.Itoa(defaultGOGC)).IntVar(&f.gogc)
	app.Flag("web.enable-lifecycle", "Enable reloading the configuration via HTTP POST /-/reload.").BoolVar(&f.enableLifecycle)
	f.web = webflag.AddFlags(app, ":9098")
	promslogflag.AddFlags(app, &f.log)

	if _, err := app.Parse(args); err != nil {
		return nil, err
	}
	return f, nil
}

// settings is everything the flags and the file say, validated.
type settings struct {
	*flags
	// fileCfg is --config.file as loaded; cfg adds --remote-write.url.
	fileCfg, cfg *config.Config
}

func validate(f *flags) (*settings, error) {
	if f.backfillWindow < 0 {
		return nil, errors.New("--backfill.max-window must not be negative")
	}
	if f.outageHold < 0 {
		return nil, errors.New("--pushgateway.outage-hold must not be negative")
	}
	if f.interval <= 0 {
		return nil, errors.New("--scrape.interval must be positive")
	}
	if f.timeout <= 0 || f.timeout > f.interval {
		if f.timeout > f.interval && !f.timeoutSet {
			// The default fits any interval: cap it, as Prometheus does.
			f.timeout = f.interval
		} else {
			return nil, fmt.Errorf("--scrape.timeout %s must be positive and at most --scrape.interval %s", f.timeout, f.interval)
		}
	}
	if !model.LegacyValidation.IsValidMetricName(f.upMetric) {
		return nil, fmt.Errorf("--synth.up-metric-name %q is not a valid metric name", f.upMetric)
	}
	if f.gogc <= 0 {
		return nil, fmt.Errorf("--runtime.gogc %d must be positive", f.gogc)
	}
	if f.queueMaxBytes < 1<<20 {
		return nil, fmt.Errorf("--storage.queue-max-bytes %s is below 1MiB", f.queueMaxBytes)
	}
	s := &settings{flags: f, fileCfg: &config.Config{}}
	if f.configFile != "" {
		c, err := config.Load(f.configFile)
		if err != nil {
			return nil, err
		}
		s.fileCfg = c
	}
	cfg := *s.fileCfg
	cfg.RemoteWrite = slices.Clone(cfg.RemoteWrite)
	cfg.Pushgateways = slices.Clone(cfg.Pushgateways)
	s.cfg = &cfg
	// --pushgateway.url adds gateways; its default applies only when the
	// file lists none.
	if f.pushgatewaySet || len(cfg.Pushgateways) == 0 {
		for _, u := range f.pushgatewayURLs {
			gw := config.PushgatewayConfig{URL: &commoncfg.URL{URL: u}, HTTPClientConfig: commoncfg.DefaultHTTPClientConfig}
			if err := gw.Validate(); err != nil {
				return nil, fmt.Errorf("--pushgateway.url: %w", err)
			}
			cfg.Pushgateways = append(cfg.Pushgateways, gw)
		}
	}
	names := map[string]bool{}
	for _, gw := range cfg.Pushgateways {
		if names[gw.Name] {
			return nil, fmt.Errorf("--pushgateway.url: %s already scraped (flag given twice, or also in --config.file)", gw.Name)
		}
		names[gw.Name] = true
	}
	if f.remoteWriteURL != nil {
		rw := config.DefaultRemoteWriteConfig()
		rw.URL = &commoncfg.URL{URL: f.remoteWriteURL}
		rw.QueueConfig.MaxSamplesPerSend = f.maxSamplesPerSend
		rw.QueueConfig.Capacity = max(rw.QueueConfig.Capacity, f.maxSamplesPerSend)
		if err := rw.Validate(); err != nil {
			return nil, fmt.Errorf("--remote-write.url: %w", err)
		}
		for i, other := range s.cfg.RemoteWrite {
			if other.Name == rw.Name {
				return nil, fmt.Errorf("--remote-write.url: name %q already used by remote_write[%d] in --config.file", rw.Name, i)
			}
		}
		s.cfg.RemoteWrite = append(s.cfg.RemoteWrite, rw)
	}
	if len(s.cfg.RemoteWrite) == 0 {
		return nil, errors.New("--remote-write.url is required unless --config.file lists remote_write endpoints")
	}
	return s, nil
}

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
	setGCPercent(f.gogc, logger)
	if f.dryRun {
		return dryRun(s, os.Stdout, logger)
	}
	if err := serve(s, logger); err != nil {
		logger.Error("stopped", "err", err)
		return 1
	}
	return 0
}

// defaultGOGC is the bridge's garbage collector target. The bridge's live
// heap is mostly the series it keeps from cycle to cycle, and a cycle makes
// little garbage: Go's default of 100 would let the heap grow to twice the
// live data between collections for CPU that measured no different at 30
// (bench/results.md). Prometheus 3 defaults to 75; VictoriaMetrics'
// components lower it too.
const defaultGOGC = 30

// setGCPercent applies --runtime.gogc unless the GOGC environment variable
// is set, which the Go runtime has applied already.
func setGCPercent(gogc int, logger *slog.Logger) {
	if env := os.Getenv("GOGC"); env != "" {
		logger.Debug("GOGC set in the environment, --runtime.gogc ignored", "GOGC", env)
		return
	}
	debug.SetGCPercent(gogc)
}

// serve wires the components and runs them until a signal or a failure.
// Shutdown goes in order: stop the cycles, flush remote write under the
// deadline, stop serving HTTP.
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
	var gateways []bridge.Gateway
	for _, gw := range s.cfg.Pushgateways {
		client, err := commoncfg.NewClientFromConfig(gw.HTTPClientConfig, "pushgateway_"+gw.Name)
		if err != nil {
			return fmt.Errorf("pushgateway %s: HTTP client: %w", gw.Name, err)
		}
		// The name is the configured one or the host and port: never the
		// URL, which may hold credentials.
		gateways = append(gateways, bridge.Gateway{Name: gw.Name, Source: pushgateway.NewClient(gw.URL.URL, client, userAgent, pushgateway.Options{Name: gw.Name, Limits: gw.Limits(), Logger: logger.With("component", "pushgateway"), Registerer: reg})})
	}
	br, err := bridge.New(bridge.Options{
		Gateways:              gateways,
		OutageHold:            s.outageHold,
		BackfillMaxWindow:     s.backfillWindow,
		Interval:              s.interval,
		Timeout:               s.timeout,
		ForwardGatewayMetrics: s.forwardOwn,
		Synth:                 synthOptions(s.cfg, s.upMetric),
		Senders:               senders,
		StatePath:             filepath.Join(s.storagePath, "state"),
		Logger:                logger.With("component", "bridge"),
		Registerer:            reg,
	})
	if err != nil {
		return err
	}

	rl := &reloader{file: s.configFile, running: s.fileCfg, br: br, upMetric: s.upMetric, logger: logger, m: newReloadMetrics(reg)}
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
	{
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		g.Add(func() error {
			defer close(done)
			return br.Run(ctx)
		}, func(error) {
			cancel()
			<-done // no cycle may append after the queues flush
		})
	}
	for _, q := range queues {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		g.Add(func() error {
			err := q.Run(ctx)
			fctx, fcancel := context.WithTimeout(context.Background(), s.flushDeadline)
			defer fcancel()
			if ferr := q.Flush(fctx); ferr != nil {
				logger.Warn("samples left unsent at shutdown", "component", "remotewrite", "err", ferr)
			}
			close(done)
			return err
		}, func(error) {
			cancel()
			<-done
		})
	}
	{
		h := handler(reg, br)
		ui.New(ui.Options{Status: br, Endpoints: endpoints, Logger: logger.With("component", "ui")}).Register(h)
		if s.enableLifecycle {
			h.HandleFunc("POST /-/reload", func(w http.ResponseWriter, _ *http.Request) {
				if err := rl.reload(); err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
				}
			})
		}
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

func synthOptions(c *config.Config, upMetric string) synth.Options {
	return synth.Options{UpMetric: upMetric, Rules: c.SynthRules(), Expected: c.ExpectedGroups}
}

// reloader reloads --config.file: rules and expected groups are swapped in
// for the next cycle; a bad file keeps the running configuration.
type reloader struct {
	mu       sync.Mutex
	file     string
	running  *config.Config
	br       *bridge.Bridge
	upMetric string
	logger   *slog.Logger
	m        reloadMetrics
}

type reloadMetrics struct {
	success   prometheus.Gauge
	timestamp prometheus.Gauge
}

func newReloadMetrics(reg prometheus.Registerer) reloadMetrics {
	f := promauto.With(reg)
	m := reloadMetrics{
		success: f.NewGauge(prometheus.GaugeOpts{
			Name: "pushgateway_bridge_config_last_reload_successful",
			Help: "Whether the last configuration reload attempt succeeded.",
		}),
		timestamp: f.NewGauge(prometheus.GaugeOpts{
			Name: "pushgateway_bridge_config_last_reload_success_timestamp_seconds",
			Help: "Time of the last successful configuration reload (or of the start).",
		}),
	}
	m.success.Set(1)
	m.timestamp.SetToCurrentTime()
	return m
}

func (r *reloader) reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.file == "" {
		r.logger.Info("reload requested without --config.file: nothing to reload")
		return nil
	}
	c, err := config.Load(r.file)
	if err != nil {
		r.m.success.Set(0)
		r.logger.Error("reload failed, keeping the running configuration", "err", err)
		return err
	}
	if !sameDelivery(r.running, c) {
		r.logger.Warn("remote_write or global changed in the configuration file: restart to apply them; group_rules and expected_groups are applied")
	}
	r.br.SetSynthOptions(synthOptions(c, r.upMetric))
	r.running.GroupRules, r.running.ExpectedGroups = c.GroupRules, c.ExpectedGroups
	r.m.success.Set(1)
	r.m.timestamp.SetToCurrentTime()
	r.logger.Info("configuration reloaded", "group_rules", len(c.GroupRules), "expected_groups", len(c.ExpectedGroups))
	return nil
}

// sameDelivery tells whether two configurations agree on what only a
// restart applies.
func sameDelivery(a, b *config.Config) bool {
	ya, erra := yaml.Marshal(struct {
		G  config.GlobalConfig        `yaml:"global"`
		RW []config.RemoteWriteConfig `yaml:"remote_write"`
	}{a.Global, a.RemoteWrite})
	yb, errb := yaml.Marshal(struct {
		G  config.GlobalConfig        `yaml:"global"`
		RW []config.RemoteWriteConfig `yaml:"remote_write"`
	}{b.Global, b.RemoteWrite})
	return erra == nil && errb == nil && string(ya) == string(yb)
}

// endpoint is the delivery to one remote_write endpoint: a
// *remotewrite.Queue, or a *remotewrite.Tenants when it sets tenant_label.
type endpoint interface {
	bridge.Sender
	Run(ctx context.Context) error
	Flush(ctx context.Context) error
	Status() remotewrite.QueueStatus
}

var (
	_ endpoint            = (*remotewrite.Queue)(nil)
	_ endpoint            = (*remotewrite.Tenants)(nil)
	_ bridge.Source       = (*pushgateway.Client)(nil)
	_ bridge.GroupDeleter = (*pushgateway.Client)(nil)
)

// newQueue builds the queue of one endpoint from its configuration, one
// queue per tenant if it sets tenant_label.
func newQueue(ep config.RemoteWriteConfig, s *settings, userAgent string, logger *slog.Logger, reg prometheus.Registerer) (endpoint, error) {
	client, err := commoncfg.NewClientFromConfig(ep.HTTPClientConfig, "remote_write_"+ep.Name)
	if err != nil {
		return nil, fmt.Errorf("HTTP client: %w", err)
	}
	qc := ep.QueueConfig
	o := remotewrite.Options{
		URL:               ep.URL.URL,
		Name:              ep.Name,
		Dir:               filepath.Join(s.storagePath, "queue", dirName(ep.Name)),
		MaxDiskBytes:      int64(s.queueMaxBytes),
		Client:            client,
		Headers:           ep.Headers,
		Message:           remotewrite.Message(ep.ProtobufMessage),
		ExternalLabels:    s.cfg.Global.ExternalLabels,
		RelabelConfigs:    ep.WriteRelabelConfigs,
		Timeout:           time.Duration(ep.RemoteTimeout),
		MaxSamplesPerSend: qc.MaxSamplesPerSend,
		Capacity:          qc.Capacity,
		MinShards:         qc.MinShards,
		MaxShards:         qc.MaxShards,
		MinBackoff:        time.Duration(qc.MinBackoff),
		MaxBackoff:        time.Duration(qc.MaxBackoff),
		RetryOnHTTP429:    qc.RetryOnHTTP429,
		Metadata: remotewrite.MetadataOptions{
			Send:       ep.MetadataConfig.Send,
			Interval:   time.Duration(ep.MetadataConfig.SendInterval),
			MaxPerSend: ep.MetadataConfig.MaxSamplesPerSend,
		},
		UserAgent:  userAgent,
		Logger:     logger.With("component", "remotewrite", "remote_name", ep.Name),
		Registerer: reg,
	}
	if ep.TenantLabel == "" {
		q, err := remotewrite.NewQueue(o)
		if err != nil {
			return nil, err
		}
		return q, nil
	}
	t, err := remotewrite.NewTenants(o, remotewrite.TenantOptions{
		Label:      ep.TenantLabel,
		Header:     ep.TenantHeader,
		Default:    ep.DefaultTenant,
		MaxTenants: ep.MaxTenants,
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// dirName turns an endpoint name into a directory name: safe characters
// kept, others replaced, and a hash of the name so that two names never
// share a directory.
func dirName(name string) string {
	safe := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') {
			return r
		}
		return '_'
	}, name)
	return fmt.Sprintf("%s-%08x", safe, crc32.ChecksumIEEE([]byte(name)))
}

// lockStorage takes an exclusive lock on the storage directory, so that two
// bridges never share queues and state.
func lockStorage(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create --storage.path: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open --storage.path lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("--storage.path %s is in use by another process: %w", dir, err)
	}
	return func() { f.Close() }, nil
}

func handler(reg *prometheus.Registry, br *bridge.Bridge) *http.ServeMux {
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
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !br.Ready() {
			http.Error(w, "Not ready: no complete cycle yet.", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready.")
	})
	return mux
}

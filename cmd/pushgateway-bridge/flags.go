package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/alecthomas/units"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	webflag "github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/pushgateway-bridge/pushgateway-bridge/config"
	"github.com/pushgateway-bridge/pushgateway-bridge/remotewrite"
	"github.com/pushgateway-bridge/pushgateway-bridge/synth"
)

// defaultVersion is reported when the build did not set one with
// -ldflags "-X github.com/prometheus/common/version.Version=...".
const defaultVersion = "0.1.0-dev"

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
	synthSeries       []string
	// synthKinds is synthSeries parsed.
	synthKinds      synth.Kinds
	configFile      string
	enableLifecycle bool
	dryRun          bool
	gogc            int
	web             *web.FlagConfig
	log             promslog.Config
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
	app.Flag("storage.queue-max-bytes", "Bound of each endpoint's on-disk queue; beyond it the oldest samples are dropped and counted.").Default(units.Base2Bytes(remotewrite.DefaultMaxDiskBytes).String()).BytesVar(&f.queueMaxBytes)
	app.Flag("scrape.interval", "How often to scrape the Pushgateway and send.").Default("15s").DurationVar(&f.interval)
	app.Flag("scrape.timeout", "Timeout of one scrape; at most the interval.").Default("10s").IsSetByUser(&f.timeoutSet).DurationVar(&f.timeout)
	app.Flag("synth.up-metric-name", "Name of the synthesized per-group up series.").Default(synth.DefaultUpMetric).StringVar(&f.upMetric)
	app.Flag("synth.series", "Kind of per-group synthesized series to add for every group, besides up and age: status, max_age or pushes; repeatable, or a comma-separated list. group_rules' synthesize adds kinds per rule.").PlaceHolder("KIND").StringsVar(&f.synthSeries)
	app.Flag("config.file", "Path of the YAML configuration file. Reloaded on SIGHUP (and POST /-/reload with --web.enable-lifecycle): group_rules and expected_groups take effect at the next cycle; other changes need a restart.").StringVar(&f.configFile)
	app.Flag("dry-run", "Scrape once, print what one cycle would send to each endpoint (after relabeling and external labels) as exposition text, and exit; nothing is sent.").BoolVar(&f.dryRun)
	app.Flag("runtime.gogc", "Go garbage collector target percentage (GOGC), after the first complete cycle (10 until then); the GOGC environment variable, if set, wins. Lower keeps less memory for more CPU.").Default(strconv.Itoa(defaultGOGC)).IntVar(&f.gogc)
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
	for _, list := range f.synthSeries {
		for name := range strings.SplitSeq(list, ",") {
			k, err := synth.ParseKind(strings.TrimSpace(name))
			if err != nil {
				return nil, fmt.Errorf("--synth.series: %w", err)
			}
			f.synthKinds |= synth.KindsOf(k)
		}
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

// defaultGOGC is the bridge's garbage collector target. The bridge's live
// heap is mostly the series it keeps from cycle to cycle, and a cycle makes
// little garbage: Go's default of 100 would let the heap grow to twice the
// live data between collections for CPU that measured no different at 30
// (bench/results.md). Prometheus 3 defaults to 75; VictoriaMetrics'
// components lower it too.
const defaultGOGC = 30

// firstCycleGOGC is the collector's target until the first complete cycle:
// the first scrape parses every series into the scrape cache and copies it
// into its group, and the first cycle's garbage would otherwise set the
// process's peak memory for good (the pages it touched stay resident).
const firstCycleGOGC = 10

// setGCPercent applies --runtime.gogc, or firstCycleGOGC if lower while
// first is set, unless the GOGC environment variable is set, which the Go
// runtime has applied already.
func setGCPercent(gogc int, first bool, logger *slog.Logger) {
	if env := os.Getenv("GOGC"); env != "" {
		logger.Debug("GOGC set in the environment, --runtime.gogc ignored", "GOGC", env)
		return
	}
	if first {
		gogc = min(gogc, firstCycleGOGC)
	}
	debug.SetGCPercent(gogc)
}

func synthOptions(c *config.Config, upMetric string, kinds synth.Kinds) synth.Options {
	return synth.Options{UpMetric: upMetric, Rules: c.SynthRules(), Expected: c.ExpectedGroups, Series: kinds}
}

package bridge

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the bridge's self-metrics about cycles and scrapes. The
// gateway label is the gateway's configured name, never its URL.
type metrics struct {
	cycles            prometheus.Counter
	cycleDuration     prometheus.Histogram
	lastComplete      prometheus.Gauge
	groups            prometheus.Gauge
	groupsOverLimit   prometheus.Gauge
	series            prometheus.Gauge
	staleMarkers      prometheus.Counter
	scrapes           *prometheus.CounterVec
	scrapeFailures    *prometheus.CounterVec
	scrapeDuration    *prometheus.HistogramVec
	groupsLost        *prometheus.CounterVec
	groupsDeleted     prometheus.Counter
	stateLoadFailures prometheus.Counter
	stateSaveDuration prometheus.Histogram
	runsSaveFailures  prometheus.Counter
	accumulatedSeries prometheus.Gauge
	pushesUnobserved  prometheus.Counter
	backfillSamples   prometheus.Counter
	heldCycles        prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		cycles: f.NewCounter(prometheus.CounterOpts{
			Name: "pushgateway_bridge_cycles_total",
			Help: "Cycles run, complete or not.",
		}),
		cycleDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "pushgateway_bridge_cycle_duration_seconds",
			Help:    "Time a cycle took from its start until its samples were queued.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}),
		lastComplete: f.NewGauge(prometheus.GaugeOpts{
			Name: "pushgateway_bridge_cycle_last_complete_timestamp_seconds",
			Help: "Time of the last cycle in which every Pushgateway could be scraped.",
		}),
		groups: f.NewGauge(prometheus.GaugeOpts{
			Name: "pushgateway_bridge_cycle_groups",
			Help: "Groups found in the last complete cycle.",
		}),
		groupsOverLimit: f.NewGauge(prometheus.GaugeOpts{
			Name: "pushgateway_bridge_cycle_groups_over_limit",
			Help: "Groups over their rule's series_limit in the last complete cycle: status over_limit, none of their series forwarded.",
		}),
		series: f.NewGauge(prometheus.GaugeOpts{
			Name: "pushgateway_bridge_cycle_series",
			Help: "Series sent in the last complete cycle, synthesized ones included.",
		}),
		staleMarkers: f.NewCounter(prometheus.CounterOpts{
			Name: "pushgateway_bridge_cycle_stale_markers_total",
			Help: "Staleness markers written for series that vanished.",
		}),
		scrapes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "pushgateway_bridge_scrape_requests_total",
			Help: "Scrapes of a Pushgateway.",
		}, []string{"gateway"}),
		scrapeFailures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "pushgateway_bridge_scrape_failures_total",
			Help: "Scrapes of a Pushgateway that failed, by reason: body_size_limit or sample_limit for a scrape over the gateway's limit, error for any other (refused, timed out, non-2xx or unparsable).",
		}, []string{"gateway", "reason"}),
		scrapeDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pushgateway_bridge_scrape_duration_seconds",
			Help:    "Time a scrape of a Pushgateway took, parsing included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}, []string{"gateway"}),
		groupsLost: f.NewCounterVec(prometheus.CounterOpts{
			Name: "pushgateway_bridge_groups_lost_total",
			Help: "Groups a Pushgateway lost in a restart: its start time changed and they vanished.",
		}, []string{"gateway"}),
		stateLoadFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "pushgateway_bridge_state_load_failures_total",
			Help: "State files found unreadable at start; the bridge started without them.",
		}),
		stateSaveDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "pushgateway_bridge_state_save_duration_seconds",
			Help:    "Time writing the series state to --storage.path took.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}),
		heldCycles: f.NewGauge(prometheus.GaugeOpts{
			Name: "pushgateway_bridge_held_cycles",
			Help: "Complete cycles a remote-write queue refused (its disk full or failing), held to be written again before later ones.",
		}),
		backfillSamples: f.NewCounter(prometheus.CounterOpts{
			Name: "pushgateway_bridge_backfill_samples_total",
			Help: "Samples of ticks missed while the bridge was down, written by every sender (remote write: on its disk queue).",
		}),
		runsSaveFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "pushgateway_bridge_runs_save_failures_total",
			Help: "Cycles whose run state (pushes observed, sums across runs) could not be written; they sent the sums last written.",
		}),
		accumulatedSeries: f.NewGauge(prometheus.GaugeOpts{
			Name: "pushgateway_bridge_runs_accumulated_series",
			Help: "Series summed across runs under group_rules accumulate.",
		}),
		pushesUnobserved: f.NewCounter(prometheus.CounterOpts{
			Name: "pushgateway_bridge_runs_pushes_unobserved_total",
			Help: "Pushes the Pushgateway counted (pushgateway_http_requests_total{handler=\"push\"}) that no cycle observed: overwritten by a later push to their group before a scrape, or to a group deleted meanwhile. Only with one gateway, while pushes or runs are counted.",
		}),
		groupsDeleted: f.NewCounter(prometheus.CounterOpts{
			Name: "pushgateway_bridge_groups_deleted_total",
			Help: "Expired groups deleted from the Pushgateway under a rule with delete_expired.",
		}),
	}
}

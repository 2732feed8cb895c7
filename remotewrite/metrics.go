package remotewrite

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

const (
	namespace = "pushgateway_bridge"
	subsystem = "remote_write"
)

// Drop reasons used as values of the reason label of samples_dropped_total.
// Unrecoverable HTTP statuses use "http_<code>" (bounded: codes are 100-599).
const (
	reasonQueueFull    = "queue_full"
	reasonEncode       = "encode_error"
	reasonBuildRequest = "invalid_request"
)

// metrics are the self-metrics of one Queue. Every series carries the const
// label remote_name, so queues with different names share a registry. The URL
// is never a label value: it can hold credentials.
type metrics struct {
	samplesSent     prometheus.Counter
	histogramsSent  prometheus.Counter
	samplesFailed   prometheus.Counter
	samplesRetried  prometheus.Counter
	samplesDropped  *prometheus.CounterVec
	requests        *prometheus.CounterVec
	requestDuration prometheus.Histogram
	pendingSamples  prometheus.Gauge
	highestSent     prometheus.Gauge
	sentBytes       prometheus.Counter
}

// newMetrics builds the metrics and registers them on reg (if not nil). It
// returns an error rather than panicking as promauto.With(reg) would when,
// say, two queues share a name, and then leaves nothing registered.
func newMetrics(reg prometheus.Registerer, remoteName string) (*metrics, error) {
	f := promauto.With(nil) // built unregistered; registered below with errors checked
	cl := prometheus.Labels{"remote_name": remoteName}
	counter := func(name, help string) prometheus.Counter {
		return f.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: subsystem, Name: name, Help: help, ConstLabels: cl,
		})
	}
	m := &metrics{
		samplesSent: counter("samples_sent_total",
			"Samples (floats, staleness markers and native histograms) acknowledged by the remote endpoint."),
		histogramsSent: counter("histograms_sent_total",
			"Native histogram samples acknowledged by the remote endpoint; a subset of samples_sent_total."),
		samplesFailed: counter("samples_failed_total",
			"Samples in send attempts that failed; each is then retried or dropped."),
		samplesRetried: counter("samples_retried_total",
			"Samples sent again after a recoverable failure (network error, timeout, 5xx, 429)."),
		samplesDropped: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "samples_dropped_total", ConstLabels: cl,
			Help: "Samples dropped without being acknowledged, by reason (queue_full, http_<status> for unrecoverable responses, encode_error, invalid_request).",
		}, []string{"reason"}),
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "requests_total", ConstLabels: cl,
			Help: "Send attempts by HTTP status code, or \"error\" when no response arrived (network error or timeout).",
		}, []string{"code"}),
		requestDuration: f.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "request_duration_seconds", ConstLabels: cl,
			Help:    "Duration of one send attempt, including reading the response.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		pendingSamples: f.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "pending_samples", ConstLabels: cl,
			Help: "Samples held in memory and not yet acknowledged, including the batch being sent.",
		}),
		highestSent: f.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "highest_sent_timestamp_seconds", ConstLabels: cl,
			Help: "Highest sample timestamp acknowledged by the remote endpoint, in seconds since the epoch.",
		}),
		sentBytes: counter("sent_bytes_total",
			"Compressed request body bytes put on the wire, counted for every attempt including retries."),
	}
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{
		m.samplesSent, m.histogramsSent, m.samplesFailed, m.samplesRetried, m.samplesDropped,
		m.requests, m.requestDuration, m.pendingSamples, m.highestSent, m.sentBytes,
	}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, r := range cs[:i] {
				reg.Unregister(r)
			}
			return nil, fmt.Errorf("register metrics for remote_name %q: %w", remoteName, err)
		}
	}
	return m, nil
}

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
	reasonDiskWrite    = "disk_write_error"
	// reasonDiskFull: a request could not be written to the on-disk queue
	// because the disk (or the quota) was full.
	reasonDiskFull = "disk_full"
	// reasonCorrupt: samples in records of the on-disk queue found corrupt.
	reasonCorrupt    = "corrupt"
	reasonOutOfOrder = "out_of_order"
	reasonTooOld     = "too_old"
	// reasonPartialWrite: a 2.0 receiver wrote fewer samples than sent.
	reasonPartialWrite = "partial_write"
	// Samples of an endpoint with tenants that reach no tenant's queue:
	// beyond TenantOptions.MaxTenants, a tenant name no header can carry,
	// or a tenant queue that could not be opened (or was closed).
	reasonTenantLimit   = "tenant_limit"
	reasonInvalidTenant = "invalid_tenant"
	reasonTenantOpen    = "tenant_open_error"
)

// metrics are the self-metrics of one Queue. Every series carries the const
// labels remote_name and tenant, so queues with different names, or tenants
// of one endpoint, share a registry. tenant is "" (no label, to PromQL) for
// an endpoint without tenants: one label set for every endpoint, which a
// registry requires of one metric name. The URL is never a label value: it
// can hold credentials.
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
	shards          prometheus.Gauge
	diskBytes       prometheus.Gauge
	diskFailing     prometheus.Gauge
	diskCorruptions prometheus.Counter
	fallbacks       prometheus.Counter
	metadataSent    prometheus.Counter
	metadataDropped prometheus.Counter
	// exemplarsUnwritten counts exemplars of acknowledged 2.0 requests
	// that the receiver's Exemplars-Written header did not count.
	exemplarsUnwritten prometheus.Counter
}

// samplesDroppedHelp is the help of samples_dropped_total, which Tenants
// registers too, for samples that reach no tenant's queue.
const samplesDroppedHelp = "Samples dropped without being acknowledged, by reason (queue_full, disk_full, disk_write_error, corrupt, http_<status> for unrecoverable responses, out_of_order, too_old, partial_write, encode_error, invalid_request, tenant_limit, invalid_tenant, tenant_open_error)."

// constLabels are the const labels of the metrics of a queue, or of a
// Tenants for tenant "".
func constLabels(remoteName, tenant string) prometheus.Labels {
	return prometheus.Labels{"remote_name": remoteName, "tenant": tenant}
}

// newMetrics builds the metrics and registers them on reg (if not nil). It
// returns an error rather than panicking as promauto.With(reg) would when,
// say, two queues share a name, and then leaves nothing registered.
func newMetrics(reg prometheus.Registerer, remoteName, tenant string) (*metrics, error) {
	f := promauto.With(nil) // built unregistered; registered below with errors checked
	cl := constLabels(remoteName, tenant)
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
		exemplarsUnwritten: counter("exemplars_unwritten_total",
			"Exemplars of acknowledged remote write 2.0 requests that the receiver did not write, by its X-Prometheus-Remote-Write-Exemplars-Written header; their samples were written. Counted only with send_exemplars."),
		samplesDropped: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "samples_dropped_total", ConstLabels: cl,
			Help: samplesDroppedHelp,
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
			Help: "Samples not yet acknowledged: waiting in memory or in the on-disk queue, or in flight.",
		}),
		highestSent: f.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "highest_sent_timestamp_seconds", ConstLabels: cl,
			Help: "Highest sample timestamp acknowledged by the remote endpoint, in seconds since the epoch.",
		}),
		sentBytes: counter("sent_bytes_total",
			"Compressed request body bytes put on the wire, counted for every attempt including retries."),
		shards: f.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "shards", ConstLabels: cl,
			Help: "Requests that may be in flight at once; adapts between min_shards and max_shards.",
		}),
		diskBytes: f.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "queue_disk_bytes", ConstLabels: cl,
			Help: "Bytes the on-disk queue holds: requests waiting to be sent or not yet removed.",
		}),
		diskFailing: f.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "queue_disk_failing", ConstLabels: cl,
			Help: "1 while the last write to the on-disk queue or the last read from it failed (full disk, I/O error), else 0. It recovers by itself.",
		}),
		diskCorruptions: counter("queue_disk_corrupt_segments_total",
			"Segments of the on-disk queue found holding corrupt or torn records, each logged once with its offset; the records are skipped, their samples counted in samples_dropped_total{reason=\"corrupt\"} where known."),
		fallbacks: counter("protocol_fallbacks_total",
			"Times the endpoint turned out not to accept remote write 2.0 and the queue fell back to 1.0."),
		metadataSent: counter("metadata_sent_total",
			"Metric metadata entries acknowledged in remote write 1.0 metadata requests."),
		metadataDropped: counter("metadata_dropped_total",
			"Metric metadata entries given up; the next round sends them again."),
	}
	if reg == nil {
		return m, nil
	}
	if err := register(reg, m.collectors()); err != nil {
		if tenant != "" {
			return nil, fmt.Errorf("register metrics for remote_name %q, tenant %q: %w", remoteName, tenant, err)
		}
		return nil, fmt.Errorf("register metrics for remote_name %q: %w", remoteName, err)
	}
	return m, nil
}

// register registers cs on reg, all or none.
func register(reg prometheus.Registerer, cs []prometheus.Collector) error {
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, r := range cs[:i] {
				reg.Unregister(r)
			}
			return err
		}
	}
	return nil
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		m.samplesSent, m.histogramsSent, m.samplesFailed, m.samplesRetried, m.samplesDropped, m.exemplarsUnwritten,
		m.requests, m.requestDuration, m.pendingSamples, m.highestSent, m.sentBytes,
		m.shards, m.diskBytes, m.diskFailing, m.diskCorruptions, m.fallbacks, m.metadataSent, m.metadataDropped,
	}
}

// unregister removes the metrics from reg again.
func (m *metrics) unregister(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	for _, c := range m.collectors() {
		reg.Unregister(c)
	}
}

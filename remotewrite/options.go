package remotewrite

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
)

// Message names a remote-write protobuf message.
type Message string

// The remote-write messages a Queue can send.
const (
	MessageV1 Message = "prometheus.WriteRequest"
	MessageV2 Message = "io.prometheus.write.v2.Request"
)

// Options configure a Queue. Zero durations and sizes take the documented
// defaults; negative ones are errors.
type Options struct {
	// URL is the remote write endpoint. It is logged only redacted and
	// never used as a metric label: it may hold credentials.
	URL *url.URL
	// Name is the remote_name label value of the queue's metrics and log
	// lines. Required; queues sharing a Registerer need distinct names.
	Name string
	// Dir holds the on-disk queue. Required; one directory per queue.
	Dir string
	// MaxDiskBytes bounds the on-disk queue. Default 1 GiB.
	MaxDiskBytes int64
	// Client sends the requests. Required; the caller builds it (TLS,
	// auth, proxy). Per-attempt timeouts come from Timeout, not the client.
	Client *http.Client
	// Headers are added to every request (e.g. X-Scope-OrgID).
	Headers map[string]string
	// Message is the protobuf message to send; MessageV1 if empty.
	Message Message
	// ExternalLabels are added to every series that lacks them, after
	// RelabelConfigs are applied.
	ExternalLabels labels.Labels
	// RelabelConfigs are applied to every series before it is queued, as
	// Prometheus' write_relabel_configs.
	RelabelConfigs []*relabel.Config
	// Timeout bounds one attempt, response included. Default 30s.
	Timeout time.Duration
	// MaxSamplesPerSend bounds the samples in one request. Default 10000.
	MaxSamplesPerSend int
	// Capacity bounds, per shard, the samples appended but not yet written
	// to disk; beyond Capacity*MaxShards, Append drops the cycle and counts
	// it under reason "append_backlog". Default 10000.
	Capacity int
	// MinShards and MaxShards bound the number of requests in flight; the
	// queue adapts between them to keep up. Defaults 1 and 50.
	MinShards, MaxShards int
	// MinBackoff is the first wait after a recoverable failure; it doubles
	// on each further failure of the same request up to MaxBackoff.
	// Defaults 30ms and 5s.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// RetryOnHTTP429 retries requests rejected with 429 Too Many Requests
	// instead of dropping them.
	RetryOnHTTP429 bool
	// Metadata configures sending metric metadata with remote write 1.0;
	// 2.0 carries it in every request.
	Metadata MetadataOptions
	// UserAgent is sent with every request, e.g. "pushgateway-bridge/0.1.0".
	UserAgent string
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Registerer receives the queue's metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Now is the clock that HTTP-date Retry-After values are measured
	// against, and that paces throttled logs. Default time.Now.
	Now func() time.Time

	// tenant is the tenant label value of the queue's metrics: set by
	// Tenants for the queues it makes, "" otherwise.
	tenant string
}

// MetadataOptions configure metadata requests of remote write 1.0.
type MetadataOptions struct {
	// Send enables them.
	Send bool
	// Interval between two rounds. Default 1m.
	Interval time.Duration
	// MaxPerSend bounds the metadata entries in one request. Default 2000.
	MaxPerSend int
}

// Defaults for zero Options fields, as documented there.
const (
	defaultTimeout           = 30 * time.Second
	defaultMaxSamplesPerSend = 10000
	defaultCapacity          = 10000
	defaultMinShards         = 1
	defaultMaxShards         = 50
	defaultMaxDiskBytes      = 1 << 30
	defaultMinBackoff        = 30 * time.Millisecond
	defaultMaxBackoff        = 5 * time.Second
	defaultMetadataInterval  = time.Minute
	defaultMetadataPerSend   = 2000
)

func (o *Options) setDefaults() error {
	if o.URL == nil {
		return errors.New("remote write options: URL is required")
	}
	if o.URL.Scheme != "http" && o.URL.Scheme != "https" {
		return fmt.Errorf("remote write options: URL %s: scheme must be http or https", o.URL.Redacted())
	}
	if o.URL.Host == "" {
		return fmt.Errorf("remote write options: URL %s: host is missing", o.URL.Redacted())
	}
	if o.Name == "" {
		return errors.New("remote write options: Name is required")
	}
	if o.Client == nil {
		return fmt.Errorf("remote write options for %q: Client is required", o.Name)
	}
	if o.Dir == "" {
		return fmt.Errorf("remote write options for %q: Dir is required", o.Name)
	}
	switch o.Message {
	case "":
		o.Message = MessageV1
	case MessageV1, MessageV2:
	default:
		return fmt.Errorf("remote write options for %q: unknown Message %q", o.Name, o.Message)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"Timeout", &o.Timeout, defaultTimeout},
		{"MinBackoff", &o.MinBackoff, defaultMinBackoff},
		{"MaxBackoff", &o.MaxBackoff, defaultMaxBackoff},
		{"Metadata.Interval", &o.Metadata.Interval, defaultMetadataInterval},
	} {
		if *d.v < 0 {
			return fmt.Errorf("remote write options for %q: %s must not be negative, got %s", o.Name, d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	for _, n := range []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxSamplesPerSend", &o.MaxSamplesPerSend, defaultMaxSamplesPerSend},
		{"Capacity", &o.Capacity, defaultCapacity},
		{"MinShards", &o.MinShards, defaultMinShards},
		{"MaxShards", &o.MaxShards, defaultMaxShards},
		{"Metadata.MaxPerSend", &o.Metadata.MaxPerSend, defaultMetadataPerSend},
	} {
		if *n.v < 0 {
			return fmt.Errorf("remote write options for %q: %s must not be negative, got %d", o.Name, n.name, *n.v)
		}
		if *n.v == 0 {
			*n.v = n.def
		}
	}
	if o.MaxDiskBytes < 0 {
		return fmt.Errorf("remote write options for %q: MaxDiskBytes must not be negative, got %d", o.Name, o.MaxDiskBytes)
	}
	if o.MaxDiskBytes == 0 {
		o.MaxDiskBytes = defaultMaxDiskBytes
	}
	if o.MinBackoff > o.MaxBackoff {
		return fmt.Errorf("remote write options for %q: MinBackoff %s exceeds MaxBackoff %s", o.Name, o.MinBackoff, o.MaxBackoff)
	}
	if o.MinShards > o.MaxShards || o.MaxShards > math.MaxUint16 {
		return fmt.Errorf("remote write options for %q: MinShards %d and MaxShards %d must satisfy MinShards <= MaxShards <= %d", o.Name, o.MinShards, o.MaxShards, math.MaxUint16)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

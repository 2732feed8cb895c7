package remotewrite

import (
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
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
	// MaxDiskBytes bounds the on-disk queue: beyond it the oldest requests
	// are dropped (reason "queue_full"), all but their staleness markers,
	// which are queued again. Default 1 GiB.
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
	// Capacity is accepted for compatibility with Prometheus'
	// queue_config and no longer used: Append writes each cycle to disk
	// before it returns, so nothing waits in memory to be bounded.
	// Default 10000.
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
	// SendExemplars sends the samples' exemplars, as Prometheus'
	// remote_write send_exemplars does: in 1.0 and 2.0 requests, and
	// checked in 2.0 against X-Prometheus-Remote-Write-Exemplars-Written.
	// Off by default, as in Prometheus: a receiver without exemplar
	// storage may reject or count them as failures.
	SendExemplars bool
	// NameEscaping escapes metric and label names (exemplars' included)
	// in what is sent, for receivers that need legacy names:
	// model.UnderscoreEscaping, DotsEscaping or ValueEncodingEscaping.
	// The zero value, model.NoEscaping, sends UTF-8 names as they are,
	// as Prometheus 3 stores them. Relabeling and tenants see the names
	// unescaped.
	NameEscaping model.EscapingScheme
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

// Defaults for zero Options fields, as documented there. Package config
// starts its remote_write defaults from them, so that a file that leaves a
// key out gets what a zero field gets here.
const (
	// DefaultTimeout bounds one attempt, response included.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxSamplesPerSend bounds the samples in one request.
	DefaultMaxSamplesPerSend = 10000
	// DefaultCapacity is the default of the unused Options.Capacity.
	DefaultCapacity = 10000
	// DefaultMinShards is the least number of requests in flight.
	DefaultMinShards = 1
	// DefaultMaxShards is the most requests in flight.
	DefaultMaxShards = 50
	// DefaultMaxDiskBytes bounds the on-disk queue.
	DefaultMaxDiskBytes = 1 << 30
	// DefaultMinBackoff is the first wait after a recoverable failure.
	DefaultMinBackoff = 30 * time.Millisecond
	// DefaultMaxBackoff is the longest wait between two attempts.
	DefaultMaxBackoff = 5 * time.Second
	// DefaultMetadataInterval is the time between two metadata rounds.
	DefaultMetadataInterval = time.Minute
	// DefaultMetadataPerSend bounds the metadata entries in one request.
	DefaultMetadataPerSend = 2000
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
		{"Timeout", &o.Timeout, DefaultTimeout},
		{"MinBackoff", &o.MinBackoff, DefaultMinBackoff},
		{"MaxBackoff", &o.MaxBackoff, DefaultMaxBackoff},
		{"Metadata.Interval", &o.Metadata.Interval, DefaultMetadataInterval},
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
		{"MaxSamplesPerSend", &o.MaxSamplesPerSend, DefaultMaxSamplesPerSend},
		{"Capacity", &o.Capacity, DefaultCapacity},
		{"MinShards", &o.MinShards, DefaultMinShards},
		{"MaxShards", &o.MaxShards, DefaultMaxShards},
		{"Metadata.MaxPerSend", &o.Metadata.MaxPerSend, DefaultMetadataPerSend},
	} {
		if *n.v < 0 {
			return fmt.Errorf("remote write options for %q: %s must not be negative, got %d", o.Name, n.name, *n.v)
		}
		if *n.v == 0 {
			*n.v = n.def
		}
	}
	switch o.NameEscaping {
	case model.NoEscaping, model.UnderscoreEscaping, model.DotsEscaping, model.ValueEncodingEscaping:
	default:
		return fmt.Errorf("remote write options for %q: unknown NameEscaping %d", o.Name, o.NameEscaping)
	}
	if o.MaxDiskBytes < 0 {
		return fmt.Errorf("remote write options for %q: MaxDiskBytes must not be negative, got %d", o.Name, o.MaxDiskBytes)
	}
	if o.MaxDiskBytes == 0 {
		o.MaxDiskBytes = DefaultMaxDiskBytes
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

// encodeOptions are what the encoders need of Options.
type encodeOptions struct {
	exemplars bool
	escaping  model.EscapingScheme
}

func (o *Options) encodeOptions() encodeOptions {
	return encodeOptions{exemplars: o.SendExemplars, escaping: o.NameEscaping}
}

// DirName turns a queue's name into the name of its directory: characters
// safe in file names kept, others replaced, and a hash of the name added so
// that two names never share a directory. It is stable across versions:
// a restarted bridge finds its queues again.
func DirName(name string) string {
	return safeDirName(name, len(name))
}

// safeDirName is DirName with the readable part cut to at most maxSafe
// bytes.
func safeDirName(name string, maxSafe int) string {
	safe := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') {
			return r
		}
		return '_'
	}, name)
	// ASCII only now, so bytes are characters.
	if len(safe) > maxSafe {
		safe = safe[:maxSafe]
	}
	return fmt.Sprintf("%s-%08x", safe, crc32.ChecksumIEEE([]byte(name)))
}

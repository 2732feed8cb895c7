// Package config loads and validates pushgateway-bridge's configuration
// file. Decoding is strict: an unknown key or an invalid value is an error
// that names the key. The result is handed down as values; nothing else
// reads the file.
//
// The remote_write list and global.external_labels are written as in a
// Prometheus configuration file, and decoded with the types Prometheus uses
// for them (prometheus/common's HTTPClientConfig, model/relabel.Config).
// Defaults are applied while decoding, so consumers read final values.
//
// group_rules and expected_groups say how the bridge judges the Pushgateway's
// groups (see package synth for the series that come of it); SynthRules
// hands them to synth, which does not import this package.
//
// Errors have the form "<path>: <problem>", the path being the keys from the
// top of the file joined by ": ", with "[i]" after a list's key
// ("remote_write[1]: queue_config: min_shards 5 greater than max_shards 2").
// yaml's own errors (unknown keys, wrong types) keep yaml's form, which gives
// the line and the key instead. No error repeats a secret: values yaml
// quotes are left out, and URLs are never printed.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/alecthomas/units"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/pushgateway-bridge/pushgateway-bridge/pushgateway"
	"github.com/pushgateway-bridge/pushgateway-bridge/remotewrite"
	"go.yaml.in/yaml/v2"
)

// The protobuf messages a remote-write endpoint can be sent, named as in
// Prometheus' protobuf_message setting.
const (
	// MessageV1 is remote write 1.0's prometheus.WriteRequest.
	MessageV1 = string(remotewrite.MessageV1)
	// MessageV2 is remote write 2.0's io.prometheus.write.v2.Request.
	MessageV2 = string(remotewrite.MessageV2)
)

// Config is the content of --config.file.
type Config struct {
	// Global holds what applies to every endpoint.
	Global GlobalConfig `yaml:"global,omitempty"`
	// Pushgateways lists the gateways to scrape, with their HTTP client
	// settings; --pushgateway.url adds more.
	Pushgateways []PushgatewayConfig `yaml:"pushgateways,omitempty"`
	// RemoteWrite lists the endpoints samples are sent to, as Prometheus'
	// remote_write block does.
	RemoteWrite []RemoteWriteConfig `yaml:"remote_write,omitempty"`
	// GroupRules judge the groups, first match wins: a group takes the
	// max_age and expire_after of the first rule that matches its grouping
	// key, and none if no rule does.
	GroupRules []GroupRule `yaml:"group_rules,omitempty"`
	// ExpectedGroups are grouping keys that must exist: one that is absent
	// from the Pushgateway is reported as missing. Each is a full grouping
	// key, with a job label, no empty value, and listed once.
	ExpectedGroups []labels.Labels `yaml:"expected_groups,omitempty"`
}

// GroupRule is one item of group_rules.
type GroupRule struct {
	// Match maps grouping label names to RE2 regular expressions, anchored
	// at both ends as in relabeling; every one must match the group's
	// value of the label, "" for a label the group does not have. A rule
	// without match matches every group.
	Match map[string]relabel.Regexp `yaml:"match,omitempty"`
	// MaxAge, if set, is how old the last successful push may be before
	// the group counts as too old (up 0).
	MaxAge model.Duration `yaml:"max_age,omitempty"`
	// ExpireAfter, if set, is how long after its last push, successful or
	// failed, a group stops being forwarded. It must be greater than
	// MaxAge: a group that expires first could never be reported too old.
	ExpireAfter model.Duration `yaml:"expire_after,omitempty"`
	// DeleteExpired also deletes an expired group from the Pushgateway. It
	// needs ExpireAfter.
	DeleteExpired bool `yaml:"delete_expired,omitempty"`
	// SeriesLimit, if set, is the most series a group may hold (its
	// push_time_seconds and push_failure_time_seconds included) and still
	// be forwarded: a group with more is over_limit, none of its series is
	// forwarded and its up is 0.
	SeriesLimit int `yaml:"series_limit,omitempty"`
	// Synthesize names kinds of synthesized series (status, max_age,
	// pushes; see synth.Kind) the groups the rule judges get on top of
	// those every group gets.
	Synthesize []string `yaml:"synthesize,omitempty"`
	// Accumulate, if set, sums counter and histogram families of
	// the matching groups across their runs.
	Accumulate *AccumulateConfig `yaml:"accumulate,omitempty"`

	// maxAgeSet, expireAfterSet and seriesLimitSet tell a key written with
	// 0 from a key left out, which both decode to 0: the first is an error.
	maxAgeSet, expireAfterSet, seriesLimitSet bool
}

// AccumulateConfig is the accumulate block of a group rule.
type AccumulateConfig struct {
	// Metrics are counter family names as pushed, or histogram base
	// names (classic or native); not empty.
	Metrics []string `yaml:"metrics"`
	// KeepLabels are the labels of the sums; not empty. Every other label
	// (le of a histogram bucket aside) is summed away.
	KeepLabels []string `yaml:"keep_labels"`
	// Runs is per_push (the default: each push is a whole run) or
	// on_reset (a run may push several times; a lower value starts a new
	// run).
	Runs string `yaml:"runs,omitempty"`
}

// Accumulate runs values.
const (
	RunsPerPush = "per_push"
	RunsOnReset = "on_reset"
)

// groupRule names GroupRule where a local type of that same name is
// declared from it.
type groupRule = GroupRule

// UnmarshalYAML implements yaml.Unmarshaler: it notes which durations the
// item sets, for validate.
func (r *GroupRule) UnmarshalYAML(unmarshal func(any) error) error {
	// The same fields without this method, and the same name for yaml's
	// messages, as in RemoteWriteConfig.UnmarshalYAML.
	type GroupRule groupRule
	if err := unmarshal((*GroupRule)(r)); err != nil {
		return err
	}
	var keys map[string]any
	if err := unmarshal(&keys); err != nil {
		return err
	}
	_, r.maxAgeSet = keys["max_age"]
	_, r.expireAfterSet = keys["expire_after"]
	_, r.seriesLimitSet = keys["series_limit"]
	return nil
}

// GlobalConfig is the global block of the file.
type GlobalConfig struct {
	// ExternalLabels are added to every series sent, as Prometheus'
	// global.external_labels are: sorted by name, names checked with
	// Prometheus 3's default (UTF-8) scheme, no empty values.
	ExternalLabels labels.Labels `yaml:"external_labels,omitempty"`
}

// RemoteWriteConfig is one remote-write endpoint, with the keys and
// defaults of Prometheus' remote_write items. Keys Prometheus has and the
// bridge does not implement (sigv4, azuread, google_iam,
// send_native_histograms, round_robin_dns, ...) are unknown keys here.
type RemoteWriteConfig struct {
	// URL is where requests go, http or https. Its userinfo, if any, is
	// used and never printed: errors leave the URL out, marshalling
	// redacts the password.
	URL *commoncfg.URL `yaml:"url"`
	// Name identifies the endpoint in self-metrics and logs; the URL's host
	// if empty. Names are unique in a file.
	Name string `yaml:"name,omitempty"`
	// RemoteTimeout bounds one request.
	RemoteTimeout model.Duration `yaml:"remote_timeout,omitempty"`
	// Headers are added to every request; they may not replace the ones the
	// client sets itself, nor carry credentials (use the auth keys).
	Headers map[string]string `yaml:"headers,omitempty"`
	// WriteRelabelConfigs are applied to each series before it is queued.
	// They are validated with the UTF-8 name scheme.
	WriteRelabelConfigs []*relabel.Config `yaml:"write_relabel_configs,omitempty"`
	// ProtobufMessage is MessageV1 or MessageV2.
	ProtobufMessage string `yaml:"protobuf_message,omitempty"`
	// SendExemplars sends the exemplars pushed with the series (protobuf
	// pushes of counters and histograms), in 1.0 and 2.0. False by
	// default, as in Prometheus: a receiver without exemplar storage may
	// reject them.
	SendExemplars bool `yaml:"send_exemplars,omitempty"`
	// MetricNameEscapingScheme escapes UTF-8 metric and label names on
	// the wire for receivers that need legacy names, with the values
	// Prometheus' scrape option of this name takes: allow-utf-8 (names as
	// pushed, the default when empty), underscores, dots or values.
	MetricNameEscapingScheme string `yaml:"metric_name_escaping_scheme,omitempty"`

	// TenantLabel, TenantHeader, DefaultTenant and MaxTenants are the
	// bridge's own keys, not Prometheus'. With TenantLabel set, each series
	// goes to the tenant named by its value of that label (read before
	// write_relabel_configs and external_labels; the label stays on the
	// series), in requests of that tenant's only, with the tenant in
	// TenantHeader; each tenant has a queue of its own. Series without the
	// label go to DefaultTenant. MaxTenants bounds the tenants with a queue;
	// the samples of further ones are dropped and counted. Validate fills
	// in the defaults (X-Scope-OrgID, anonymous, 100) when TenantLabel is
	// set; the other three are errors without it.
	TenantLabel   string `yaml:"tenant_label,omitempty"`
	TenantHeader  string `yaml:"tenant_header,omitempty"`
	DefaultTenant string `yaml:"default_tenant,omitempty"`
	MaxTenants    int    `yaml:"max_tenants,omitempty"`

	// HTTPClientConfig is inline, not embedded, as in Prometheus: embedded,
	// yaml would let its keys spill over into the structs below.
	// Relative file names in it are resolved by SetDirectory.
	HTTPClientConfig commoncfg.HTTPClientConfig `yaml:",inline"`
	QueueConfig      QueueConfig                `yaml:"queue_config,omitempty"`
	MetadataConfig   MetadataConfig             `yaml:"metadata_config,omitempty"`
}

// QueueConfig sizes and paces an endpoint's queue, as Prometheus'
// queue_config does.
type QueueConfig struct {
	// Capacity is accepted for compatibility with Prometheus and unused:
	// a cycle is written to disk before the next stage (see
	// remotewrite.Options).
	Capacity int `yaml:"capacity,omitempty"`
	// MaxShards and MinShards bound the number of concurrent senders.
	MaxShards int `yaml:"max_shards,omitempty"`
	MinShards int `yaml:"min_shards,omitempty"`
	// MaxSamplesPerSend caps one request.
	MaxSamplesPerSend int `yaml:"max_samples_per_send,omitempty"`
	// BatchSendDeadline is how long a sample waits for its batch to fill.
	BatchSendDeadline model.Duration `yaml:"batch_send_deadline,omitempty"`
	// MinBackoff and MaxBackoff bound the doubling wait between retries of
	// a recoverable failure.
	MinBackoff model.Duration `yaml:"min_backoff,omitempty"`
	MaxBackoff model.Duration `yaml:"max_backoff,omitempty"`
	// RetryOnHTTP429 retries requests answered 429 Too Many Requests. True
	// unless the file says false, where Prometheus defaults to false.
	RetryOnHTTP429 bool `yaml:"retry_on_http_429"`
}

// MetadataConfig says whether and how metric metadata is sent, as
// Prometheus' metadata_config does. Remote write 2.0 carries metadata with
// the series and ignores it.
type MetadataConfig struct {
	// Send turns metadata sending on; SendInterval paces it and
	// MaxSamplesPerSend caps one request.
	Send              bool           `yaml:"send"`
	SendInterval      model.Duration `yaml:"send_interval"`
	MaxSamplesPerSend int            `yaml:"max_samples_per_send,omitempty"`
}

// DefaultQueueConfig returns Prometheus' queue_config defaults, except that
// RetryOnHTTP429 is true and MaxSamplesPerSend is 10000: Prometheus streams
// samples as it scrapes, the bridge hands over a whole cycle at once, and
// fewer, larger requests cost both sides less (vmagent sends blocks of up to
// 10000 samples too; bench/results.md has the figures).
func DefaultQueueConfig() QueueConfig {
	return QueueConfig{
		Capacity:          remotewrite.DefaultCapacity,
		MaxShards:         remotewrite.DefaultMaxShards,
		MinShards:         remotewrite.DefaultMinShards,
		MaxSamplesPerSend: remotewrite.DefaultMaxSamplesPerSend,
		BatchSendDeadline: model.Duration(5 * time.Second),
		MinBackoff:        model.Duration(remotewrite.DefaultMinBackoff),
		MaxBackoff:        model.Duration(remotewrite.DefaultMaxBackoff),
		RetryOnHTTP429:    true,
	}
}

// DefaultMetadataConfig returns Prometheus' metadata_config defaults.
func DefaultMetadataConfig() MetadataConfig {
	return MetadataConfig{
		Send:              true,
		SendInterval:      model.Duration(remotewrite.DefaultMetadataInterval),
		MaxSamplesPerSend: remotewrite.DefaultMetadataPerSend,
	}
}

// DefaultRemoteWriteConfig returns an endpoint with every default a
// remote_write item gets and no URL: what --remote-write.url starts from.
// Each call returns a value of its own. Validate fills in the name.
func DefaultRemoteWriteConfig() RemoteWriteConfig {
	return RemoteWriteConfig{
		RemoteTimeout:   model.Duration(remotewrite.DefaultTimeout),
		ProtobufMessage: MessageV1,
		// Prometheus' DefaultRemoteWriteHTTPClientConfig.
		HTTPClientConfig: commoncfg.HTTPClientConfig{FollowRedirects: true, EnableHTTP2: false},
		QueueConfig:      DefaultQueueConfig(),
		MetadataConfig:   DefaultMetadataConfig(),
	}
}

// remoteWriteConfig names RemoteWriteConfig where a local type of that
// same name is declared from it.
type remoteWriteConfig = RemoteWriteConfig

// UnmarshalYAML implements yaml.Unmarshaler: keys the item leaves out keep
// their defaults.
func (rw *RemoteWriteConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*rw = DefaultRemoteWriteConfig()
	// The same fields without this method, so yaml decodes them one by one;
	// and the same name, so yaml's messages still say
	// "type config.RemoteWriteConfig".
	type RemoteWriteConfig remoteWriteConfig
	if err := unmarshal((*RemoteWriteConfig)(rw)); err != nil {
		return err
	}
	// A key with no value ("queue_config:") sets the zero value, without
	// calling any UnmarshalYAML; take it to mean "the defaults".
	if rw.QueueConfig == (QueueConfig{}) {
		rw.QueueConfig = DefaultQueueConfig()
	}
	if rw.MetadataConfig == (MetadataConfig{}) {
		rw.MetadataConfig = DefaultMetadataConfig()
	}
	return nil
}

// PushgatewayConfig is one Pushgateway to scrape, with the HTTP client
// settings of prometheus/common (basic auth, bearer token, TLS...) that a
// gateway behind its own --web.config.file needs.
type PushgatewayConfig struct {
	// Name identifies the gateway in the pushgateway_up series, metrics and
	// logs; the URL's host by default. Never the URL.
	Name             string                     `yaml:"name,omitempty"`
	URL              *commoncfg.URL             `yaml:"url"`
	HTTPClientConfig commoncfg.HTTPClientConfig `yaml:",inline"`
	// LabelLimit, LabelNameLengthLimit and LabelValueLengthLimit bound the
	// series taken from the gateway, as in a Prometheus scrape config; a
	// series over one is dropped and counted. 0 (or unset) is the default
	// (see pushgateway.Limits): unlike Prometheus, there is no "no limit",
	// since the libraries cannot hold a label of 16 MiB.
	LabelLimit            int `yaml:"label_limit,omitempty"`
	LabelNameLengthLimit  int `yaml:"label_name_length_limit,omitempty"`
	LabelValueLengthLimit int `yaml:"label_value_length_limit,omitempty"`
	// BodySizeLimit and SampleLimit bound a scrape of the gateway, as in a
	// Prometheus scrape config ("10MB"; a count of series); 0 (or unset)
	// is no limit. A scrape over one fails: the gateway is treated as
	// unreachable (its last state held), not as empty.
	BodySizeLimit units.Base2Bytes `yaml:"body_size_limit,omitempty"`
	SampleLimit   int              `yaml:"sample_limit,omitempty"`
}

// Limits returns the gateway's label limits.
func (p *PushgatewayConfig) Limits() pushgateway.Limits {
	return pushgateway.Limits{
		LabelLimit:            p.LabelLimit,
		LabelNameLengthLimit:  p.LabelNameLengthLimit,
		LabelValueLengthLimit: p.LabelValueLengthLimit,
	}

}

type pushgatewayConfig = PushgatewayConfig

// UnmarshalYAML implements yaml.Unmarshaler, applying the defaults.
func (p *PushgatewayConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*p = PushgatewayConfig{HTTPClientConfig: commoncfg.DefaultHTTPClientConfig}
	p.setDefaultLimits()
	type PushgatewayConfig pushgatewayConfig
	return unmarshal((*PushgatewayConfig)(p))
}

// Load reads and validates the file at path. Relative file names in it are
// taken relative to the file's folder, as Prometheus does.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config file: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	c.SetDirectory(filepath.Dir(path))
	return c, nil
}

// Parse decodes and validates a configuration. Relative file names are left
// as they are; see SetDirectory.
func Parse(b []byte) (*Config, error) {
	c := &Config{}
	if err := yaml.UnmarshalStrict(b, c); err != nil {
		return nil, decodeError(b, err)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// SetDirectory joins relative file names in c with dir.
func (c *Config) SetDirectory(dir string) {
	for i := range c.Pushgateways {
		c.Pushgateways[i].HTTPClientConfig.SetDirectory(dir)
	}
	for i := range c.RemoteWrite {
		c.RemoteWrite[i].SetDirectory(dir)
	}
}

// SetDirectory joins relative file names in rw with dir.
func (rw *RemoteWriteConfig) SetDirectory(dir string) {
	rw.HTTPClientConfig.SetDirectory(dir)
}

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
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"go.yaml.in/yaml/v2"
	"golang.org/x/net/http/httpguts"

	"github.com/pushgateway-bridge/pushgateway-bridge/synth"
)

// The protobuf messages a remote-write endpoint can be sent, named as in
// Prometheus' protobuf_message setting.
const (
	// MessageV1 is remote write 1.0's prometheus.WriteRequest.
	MessageV1 = "prometheus.WriteRequest"
	// MessageV2 is remote write 2.0's io.prometheus.write.v2.Request.
	MessageV2 = "io.prometheus.write.v2.Request"
)

// nameValidation is the scheme label names are checked with, in
// external_labels and write_relabel_configs: Prometheus 3's default.
const nameValidation = model.UTF8Validation

// reservedHeaders are the request headers the remote-write client sets
// itself; headers may not change them. Prometheus' list (config.go
// reservedHeaders, SigV4's included so a Prometheus config fails the same way
// here), plus remote write 2.0's response headers, which make no sense in a
// request. Authorization has its own message.
var reservedHeaders = map[string]bool{
	"host":                              true,
	"content-encoding":                  true,
	"content-length":                    true,
	"content-type":                      true,
	"user-agent":                        true,
	"connection":                        true,
	"keep-alive":                        true,
	"proxy-authenticate":                true,
	"proxy-authorization":               true,
	"www-authenticate":                  true,
	"accept-encoding":                   true,
	"x-prometheus-remote-write-version": true,
	"x-prometheus-remote-read-version":  true,
	"x-amz-date":                        true,
	"x-amz-security-token":              true,
	"x-amz-content-sha256":              true,
	"x-prometheus-remote-write-samples-written":    true,
	"x-prometheus-remote-write-histograms-written": true,
	"x-prometheus-remote-write-exemplars-written":  true,
}

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

	// maxAgeSet and expireAfterSet tell a key written with 0 from a key
	// left out, which both decode to 0: the first is an error.
	maxAgeSet, expireAfterSet bool
}

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
// bridge does not implement (sigv4, azuread, google_iam, send_exemplars,
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
	// Capacity is how many samples per shard may wait to be written to
	// disk before a cycle is dropped (see remotewrite.Options).
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
		Capacity:          10000,
		MaxShards:         50,
		MinShards:         1,
		MaxSamplesPerSend: 10000,
		BatchSendDeadline: model.Duration(5 * time.Second),
		MinBackoff:        model.Duration(30 * time.Millisecond),
		MaxBackoff:        model.Duration(5 * time.Second),
		RetryOnHTTP429:    true,
	}
}

// DefaultMetadataConfig returns Prometheus' metadata_config defaults.
func DefaultMetadataConfig() MetadataConfig {
	return MetadataConfig{
		Send:              true,
		SendInterval:      model.Duration(time.Minute),
		MaxSamplesPerSend: 2000,
	}
}

// DefaultRemoteWriteConfig returns an endpoint with every default a
// remote_write item gets and no URL: what --remote-write.url starts from.
// Each call returns a value of its own. Validate fills in the name.
func DefaultRemoteWriteConfig() RemoteWriteConfig {
	return RemoteWriteConfig{
		RemoteTimeout:   model.Duration(30 * time.Second),
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

func (c *Config) validate() error {
	if err := c.Global.validate(); err != nil {
		return fmt.Errorf("global: %w", err)
	}
	if err := validatePushgateways(c.Pushgateways); err != nil {
		return err
	}
	names := map[string]int{}
	for i := range c.RemoteWrite {
		rw := &c.RemoteWrite[i]
		named := rw.Name != ""
		if err := rw.Validate(); err != nil {
			return fmt.Errorf("remote_write[%d]: %w", i, err)
		}
		if j, ok := names[rw.Name]; ok {
			if !named {
				return fmt.Errorf("remote_write[%d]: name %q, the URL's host, already used by remote_write[%d]: set name", i, rw.Name, j)
			}
			return fmt.Errorf("remote_write[%d]: name %q already used by remote_write[%d]", i, rw.Name, j)
		}
		names[rw.Name] = i
	}
	for i := range c.GroupRules {
		if err := c.GroupRules[i].validate(); err != nil {
			return fmt.Errorf("group_rules[%d]: %w", i, err)
		}
	}
	seen := map[string]int{}
	for i, key := range c.ExpectedGroups {
		if err := validateGroupingKey(key); err != nil {
			return fmt.Errorf("expected_groups[%d]: %w", i, err)
		}
		if j, ok := seen[key.String()]; ok {
			return fmt.Errorf("expected_groups[%d]: duplicate of expected_groups[%d]", i, j)
		}
		seen[key.String()] = i
	}
	return nil
}

func (r *GroupRule) validate() error {
	for _, name := range slices.Sorted(maps.Keys(r.Match)) {
		if !nameValidation.IsValidLabelName(name) || name == model.MetricNameLabel {
			return fmt.Errorf("match: label name %q is not valid", name)
		}
		// "job:" with no value: yaml leaves the zero Regexp without calling
		// its UnmarshalYAML.
		if r.Match[name].Regexp == nil {
			return fmt.Errorf("match: %s: regex missing", name)
		}
	}
	if (r.maxAgeSet || r.MaxAge != 0) && r.MaxAge <= 0 {
		return errors.New("max_age must be positive")
	}
	if (r.expireAfterSet || r.ExpireAfter != 0) && r.ExpireAfter <= 0 {
		return errors.New("expire_after must be positive")
	}
	if r.ExpireAfter > 0 && r.MaxAge > 0 && r.ExpireAfter <= r.MaxAge {
		return fmt.Errorf("expire_after %s must be greater than max_age %s", r.ExpireAfter, r.MaxAge)
	}
	if r.DeleteExpired && r.ExpireAfter <= 0 {
		return errors.New("delete_expired needs expire_after")
	}
	return nil
}

// validateGroupingKey checks an item of expected_groups as a grouping key
// the bridge can find: the Pushgateway requires job, and the bridge drops
// labels with an empty value from grouping keys, so a key with one would
// never be found.
func validateGroupingKey(key labels.Labels) error {
	if key.Get(model.JobLabel) == "" {
		return fmt.Errorf("label %q missing", model.JobLabel)
	}
	return key.Validate(func(l labels.Label) error {
		if !nameValidation.IsValidLabelName(l.Name) || l.Name == model.MetricNameLabel {
			return fmt.Errorf("label name %q is not valid", l.Name)
		}
		if l.Value == "" {
			return fmt.Errorf("label %q has an empty value", l.Name)
		}
		if !model.LabelValue(l.Value).IsValid() {
			return fmt.Errorf("label %q has a value that is not UTF-8", l.Name)
		}
		return nil
	})
}

// SynthRules returns group_rules as synth takes them, in order, each named
// by its place in the file ("group_rules[0]"), its matchers sorted by label
// name. With ExpectedGroups they make the rest of synth.Options:
//
//	synth.Options{UpMetric: up, Rules: c.SynthRules(), Expected: c.ExpectedGroups}
func (c *Config) SynthRules() []synth.Rule {
	if len(c.GroupRules) == 0 {
		return nil
	}
	rules := make([]synth.Rule, len(c.GroupRules))
	for i, r := range c.GroupRules {
		rules[i] = synth.Rule{
			Name:          fmt.Sprintf("group_rules[%d]", i),
			MaxAge:        time.Duration(r.MaxAge),
			ExpireAfter:   time.Duration(r.ExpireAfter),
			DeleteExpired: r.DeleteExpired,
		}
		for _, name := range slices.Sorted(maps.Keys(r.Match)) {
			rules[i].Matchers = append(rules[i].Matchers, synth.Matcher{Name: name, Regexp: r.Match[name]})
		}
	}
	return rules
}

func (g *GlobalConfig) validate() error {
	return g.ExternalLabels.Validate(func(l labels.Label) error {
		if !nameValidation.IsValidLabelName(l.Name) {
			return fmt.Errorf("external_labels: label name %q is not valid", l.Name)
		}
		// Prometheus allows empty values, for environment variables that
		// expand to nothing; the bridge expands none, so "" is a mistake,
		// and a label remote write receivers would drop or refuse.
		if l.Value == "" {
			return fmt.Errorf("external_labels: label %q has an empty value", l.Name)
		}
		if !model.LabelValue(l.Value).IsValid() {
			return fmt.Errorf("external_labels: label %q has a value that is not UTF-8", l.Name)
		}
		return nil
	})
}

// Validate checks rw as Prometheus checks a remote_write item, and fills in
// Name from the URL's host if it is empty. Its errors never include the URL
// or a credential.
func (rw *RemoteWriteConfig) Validate() error {
	if rw.URL == nil || rw.URL.URL == nil {
		return errors.New("url: missing")
	}
	if err := CheckEndpointURL(rw.URL.URL); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if rw.RemoteTimeout <= 0 {
		return fmt.Errorf("remote_timeout %s is not positive", rw.RemoteTimeout)
	}
	for _, h := range slices.Sorted(maps.Keys(rw.Headers)) {
		if err := checkHeader(h); err != nil {
			return fmt.Errorf("headers: %w", err)
		}
	}
	if err := rw.validateTenants(); err != nil {
		return err
	}
	if rw.ProtobufMessage != MessageV1 && rw.ProtobufMessage != MessageV2 {
		return fmt.Errorf("protobuf_message %q is not %s or %s", rw.ProtobufMessage, MessageV1, MessageV2)
	}
	// yaml does not call UnmarshalYAML, and so Validate, on an inline
	// struct; Prometheus calls it here too.
	if err := rw.HTTPClientConfig.Validate(); err != nil {
		return err
	}
	for i, rc := range rw.WriteRelabelConfigs {
		if rc == nil {
			return fmt.Errorf("write_relabel_configs[%d]: empty", i)
		}
		if err := rc.Validate(nameValidation); err != nil {
			return fmt.Errorf("write_relabel_configs[%d]: %w", i, err)
		}
	}
	if err := rw.QueueConfig.validate(); err != nil {
		return fmt.Errorf("queue_config: %w", err)
	}
	if err := rw.MetadataConfig.validate(); err != nil {
		return fmt.Errorf("metadata_config: %w", err)
	}
	if rw.Name == "" {
		rw.Name = rw.URL.Host
	}
	return nil
}

// checkHeader tells whether headers or tenant_header may set header h.
func checkHeader(h string) error {
	if strings.EqualFold(h, "authorization") {
		return fmt.Errorf("%q must be set through basic_auth, authorization or oauth2", h)
	}
	if reservedHeaders[strings.ToLower(h)] {
		return fmt.Errorf("%q is set by the bridge and must not be changed", h)
	}
	return nil
}

// Defaults of the tenant keys, once tenant_label is set.
const (
	defaultTenantHeader = "X-Scope-OrgID"
	defaultTenant       = "anonymous"
	defaultMaxTenants   = 100
)

// validateTenants checks the tenant keys and fills in their defaults.
func (rw *RemoteWriteConfig) validateTenants() error {
	if rw.TenantLabel == "" {
		for _, k := range []struct {
			key string
			set bool
		}{
			{"tenant_header", rw.TenantHeader != ""},
			{"default_tenant", rw.DefaultTenant != ""},
			{"max_tenants", rw.MaxTenants != 0},
		} {
			if k.set {
				return fmt.Errorf("%s needs tenant_label", k.key)
			}
		}
		return nil
	}
	if !nameValidation.IsValidLabelName(rw.TenantLabel) || rw.TenantLabel == model.MetricNameLabel {
		return fmt.Errorf("tenant_label: label name %q is not valid", rw.TenantLabel)
	}
	if rw.TenantHeader == "" {
		rw.TenantHeader = defaultTenantHeader
	}
	if !httpguts.ValidHeaderFieldName(rw.TenantHeader) {
		return fmt.Errorf("tenant_header: %q is not a valid header name", rw.TenantHeader)
	}
	if err := checkHeader(rw.TenantHeader); err != nil {
		return fmt.Errorf("tenant_header: %w", err)
	}
	// Either would send one tenant's name with every tenant's requests.
	for _, h := range slices.Sorted(maps.Keys(rw.Headers)) {
		if strings.EqualFold(h, rw.TenantHeader) {
			return fmt.Errorf("headers: %q conflicts with tenant_header", h)
		}
	}
	if hh := rw.HTTPClientConfig.HTTPHeaders; hh != nil {
		for _, h := range slices.Sorted(maps.Keys(hh.Headers)) {
			if strings.EqualFold(h, rw.TenantHeader) {
				return fmt.Errorf("http_headers: %q conflicts with tenant_header", h)
			}
		}
	}
	if rw.DefaultTenant == "" {
		rw.DefaultTenant = defaultTenant
	}
	if !validTenant(rw.DefaultTenant) {
		return fmt.Errorf("default_tenant %q is not valid: control characters, or spaces at either end", rw.DefaultTenant)
	}
	if rw.MaxTenants < 0 {
		return fmt.Errorf("max_tenants %d is not positive", rw.MaxTenants)
	}
	if rw.MaxTenants == 0 {
		rw.MaxTenants = defaultMaxTenants
	}
	return nil
}

// validTenant tells whether s can be sent as a tenant header value as it
// is, as package remotewrite checks every tenant: not empty, no control
// characters, no spaces at either end (the HTTP client trims them).
func validTenant(s string) bool {
	if s == "" || s[0] == ' ' || s[0] == '\t' || s[len(s)-1] == ' ' || s[len(s)-1] == '\t' {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func (q *QueueConfig) validate() error {
	for _, f := range []struct {
		key string
		v   int
	}{
		{"capacity", q.Capacity},
		{"max_shards", q.MaxShards},
		{"min_shards", q.MinShards},
		{"max_samples_per_send", q.MaxSamplesPerSend},
	} {
		if f.v <= 0 {
			return fmt.Errorf("%s %d is not positive", f.key, f.v)
		}
	}
	for _, f := range []struct {
		key string
		v   model.Duration
	}{
		{"batch_send_deadline", q.BatchSendDeadline},
		{"min_backoff", q.MinBackoff},
		{"max_backoff", q.MaxBackoff},
	} {
		if f.v <= 0 {
			return fmt.Errorf("%s %s is not positive", f.key, f.v)
		}
	}
	if q.MinShards > q.MaxShards {
		return fmt.Errorf("min_shards %d greater than max_shards %d", q.MinShards, q.MaxShards)
	}
	if q.MinBackoff > q.MaxBackoff {
		return fmt.Errorf("min_backoff %s greater than max_backoff %s", q.MinBackoff, q.MaxBackoff)
	}
	return nil
}

func (m *MetadataConfig) validate() error {
	if m.SendInterval <= 0 {
		return fmt.Errorf("send_interval %s is not positive", m.SendInterval)
	}
	if m.MaxSamplesPerSend <= 0 {
		return fmt.Errorf("max_samples_per_send %d is not positive", m.MaxSamplesPerSend)
	}
	return nil
}

// CheckEndpointURL tells whether u can be sent to: absolute http or https.
// Its error never repeats the URL, which may hold credentials.
func CheckEndpointURL(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("host is missing")
	}
	return nil
}

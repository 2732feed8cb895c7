package config

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/pushgateway-bridge/pushgateway-bridge/synth"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/pushgateway-bridge/pushgateway-bridge/remotewrite"
	"golang.org/x/net/http/httpguts"
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
	for _, name := range r.Synthesize {
		if _, err := synth.ParseKind(name); err != nil {
			return fmt.Errorf("synthesize: %w", err)
		}
	}
	if (r.seriesLimitSet || r.SeriesLimit != 0) && r.SeriesLimit <= 0 {
		return errors.New("series_limit must be positive")
	}
	if r.DeleteExpired && r.ExpireAfter <= 0 {
		return errors.New("delete_expired needs expire_after")
	}
	if r.Accumulate != nil {
		if err := r.Accumulate.validate(); err != nil {
			return fmt.Errorf("accumulate: %w", err)
		}
	}
	return nil
}

func (a *AccumulateConfig) validate() error {
	if len(a.Metrics) == 0 {
		return errors.New("metrics missing")
	}
	for i, m := range a.Metrics {
		if !nameValidation.IsValidMetricName(m) {
			return fmt.Errorf("metrics[%d]: metric name %q is not valid", i, m)
		}
		if slices.Contains(a.Metrics[:i], m) {
			return fmt.Errorf("metrics[%d]: %q listed twice", i, m)
		}
	}
	if len(a.KeepLabels) == 0 {
		return errors.New("keep_labels missing: the sums need a label, such as job")
	}
	for i, l := range a.KeepLabels {
		if !nameValidation.IsValidLabelName(l) || l == model.MetricNameLabel {
			return fmt.Errorf("keep_labels[%d]: label name %q is not valid", i, l)
		}
		if slices.Contains(a.KeepLabels[:i], l) {
			return fmt.Errorf("keep_labels[%d]: %q listed twice", i, l)
		}
	}
	switch a.Runs {
	case "", RunsPerPush, RunsOnReset:
	default:
		return fmt.Errorf("runs %q: must be %s or %s", a.Runs, RunsPerPush, RunsOnReset)
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
	if _, err := rw.NameEscaping(); err != nil {
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
		rw.TenantHeader = remotewrite.DefaultTenantHeader
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
		rw.DefaultTenant = remotewrite.DefaultTenant
	}
	if !remotewrite.ValidTenant(rw.DefaultTenant) {
		return fmt.Errorf("default_tenant %q is not valid: control characters, or spaces at either end", rw.DefaultTenant)
	}
	if rw.MaxTenants < 0 {
		return fmt.Errorf("max_tenants %d is not positive", rw.MaxTenants)
	}
	if rw.MaxTenants == 0 {
		rw.MaxTenants = remotewrite.DefaultMaxTenants
	}
	return nil
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

// setDefaultLimits sets each limit that is 0 to its default.
func (p *PushgatewayConfig) setDefaultLimits() {
	l := p.Limits().WithDefaults()
	p.LabelLimit, p.LabelNameLengthLimit, p.LabelValueLengthLimit = l.LabelLimit, l.LabelNameLengthLimit, l.LabelValueLengthLimit
}

// Validate checks the gateway, sets Name to the URL's host when empty and
// a label limit that is 0 to its default.
func (p *PushgatewayConfig) Validate() error {
	if p.URL == nil || p.URL.URL == nil {
		return errors.New("url: missing")
	}
	if err := CheckEndpointURL(p.URL.URL); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if err := p.HTTPClientConfig.Validate(); err != nil {
		return err
	}
	p.setDefaultLimits()
	if err := p.Limits().Validate(); err != nil {
		return err
	}
	if p.BodySizeLimit < 0 {
		return fmt.Errorf("body_size_limit: %s is negative", p.BodySizeLimit)
	}
	if p.SampleLimit < 0 {
		return fmt.Errorf("sample_limit: %d is negative", p.SampleLimit)
	}
	if p.Name == "" {
		p.Name = p.URL.Host
	}
	return nil
}

// validatePushgateways checks every gateway and that names are unique.
func validatePushgateways(gws []PushgatewayConfig) error {
	names := map[string]int{}
	for i := range gws {
		named := gws[i].Name != ""
		if err := gws[i].Validate(); err != nil {
			return fmt.Errorf("pushgateways[%d]: %w", i, err)
		}
		if j, ok := names[gws[i].Name]; ok {
			if !named {
				return fmt.Errorf("pushgateways[%d]: name %q, the URL's host, already used by pushgateways[%d]: set name", i, gws[i].Name, j)
			}
			return fmt.Errorf("pushgateways[%d]: name %q already used by pushgateways[%d]", i, gws[i].Name, j)
		}
		names[gws[i].Name] = i
	}
	return nil
}

// NameEscaping returns the scheme MetricNameEscapingScheme names:
// model.NoEscaping when it is empty or allow-utf-8.
func (rw *RemoteWriteConfig) NameEscaping() (model.EscapingScheme, error) {
	if rw.MetricNameEscapingScheme == "" {
		return model.NoEscaping, nil
	}
	s, err := model.ToEscapingScheme(rw.MetricNameEscapingScheme)
	if err != nil {
		return model.NoEscaping, fmt.Errorf("metric_name_escaping_scheme %q is not one of %s, %s, %s, %s",
			rw.MetricNameEscapingScheme, model.AllowUTF8, model.EscapeUnderscores, model.EscapeDots, model.EscapeValues)
	}
	return s, nil
}

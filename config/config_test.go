package config

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushgateway-bridge/pushgateway-bridge/synth"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/pushgateway-bridge/pushgateway-bridge/internal/golden"
	"go.yaml.in/yaml/v2"
)

func TestLoadGood(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "good.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.RemoteWrite) != 3 {
		t.Fatalf("got %d endpoints, want 3", len(c.RemoteWrite))
	}
	full, deflt, tenants := c.RemoteWrite[0], c.RemoteWrite[1], c.RemoteWrite[2]
	if len(c.GroupRules) != 3 {
		t.Fatalf("got %d group rules, want 3", len(c.GroupRules))
	}
	nightly, hourly, catchAll := c.GroupRules[0], c.GroupRules[1], c.GroupRules[2]
	password, _ := full.URL.User.Password()
	dropRule, labelDropRule, replaceRule := full.WriteRelabelConfigs[0], full.WriteRelabelConfigs[1], full.WriteRelabelConfigs[2]
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"external_labels", c.Global.ExternalLabels.String(), labels.FromStrings("cluster", "eu-1", "__replica__", "replica-a").String()},

		{"[0] name", full.Name, "mimir"},
		{"[0] url host", full.URL.Host, "mimir.example:8080"},
		{"[0] url password, kept for the client", password, "secret"},
		{"[0] remote_timeout", full.RemoteTimeout, model.Duration(10 * time.Second)},
		{"[0] headers", full.Headers, map[string]string{"X-Scope-OrgID": "team-a"}},
		{"[0] protobuf_message", full.ProtobufMessage, MessageV2},
		{"[0] basic_auth username", full.HTTPClientConfig.BasicAuth.Username, "bridge"},
		{"[0] basic_auth password_file, joined with the file's folder", full.HTTPClientConfig.BasicAuth.PasswordFile, filepath.Join("testdata", "secrets", "password")},
		{"[0] tls_config ca_file, joined", full.HTTPClientConfig.TLSConfig.CAFile, filepath.Join("testdata", "ca.pem")},
		{"[0] tls_config cert_file, absolute", full.HTTPClientConfig.TLSConfig.CertFile, "/etc/bridge/client.pem"},
		{"[0] tls_config server_name", full.HTTPClientConfig.TLSConfig.ServerName, "mimir.example"},
		{"[0] proxy_url", full.HTTPClientConfig.ProxyURL.String(), "http://proxy.example:3128"},
		{"[0] no_proxy", full.HTTPClientConfig.NoProxy, "localhost,127.0.0.1"},
		{"[0] proxy_connect_header", len(full.HTTPClientConfig.ProxyConnectHeader["Proxy-Token"]), 1},
		{"[0] follow_redirects", full.HTTPClientConfig.FollowRedirects, false},
		{"[0] enable_http2", full.HTTPClientConfig.EnableHTTP2, true},
		{"[0] http_headers", full.HTTPClientConfig.HTTPHeaders.Headers["X-Extra"].Values, []string{"a"}},
		{"[0] write_relabel_configs", len(full.WriteRelabelConfigs), 3},
		{"[0] write_relabel_configs[0] action", dropRule.Action, relabel.Drop},
		{"[0] write_relabel_configs[0] source_labels", dropRule.SourceLabels, model.LabelNames{"__name__"}},
		{"[0] write_relabel_configs[0] regex matches go_gc", dropRule.Regex.MatchString("go_gc"), true},
		{"[0] write_relabel_configs[0] regex is anchored", dropRule.Regex.MatchString("xgo_gc"), false},
		{"[0] write_relabel_configs[0] scheme", dropRule.NameValidationScheme, model.UTF8Validation},
		{"[0] write_relabel_configs[1] action", labelDropRule.Action, relabel.LabelDrop},
		{"[0] write_relabel_configs[2] action, the default", replaceRule.Action, relabel.Replace},
		{"[0] write_relabel_configs[2] target_label", replaceRule.TargetLabel, "origin"},
		{"[0] write_relabel_configs[2] separator, the default", replaceRule.Separator, ";"},
		{"[0] queue_config", full.QueueConfig, QueueConfig{
			Capacity:          5000,
			MaxShards:         10,
			MinShards:         2,
			MaxSamplesPerSend: 1000,
			BatchSendDeadline: model.Duration(2 * time.Second),
			MinBackoff:        model.Duration(100 * time.Millisecond),
			MaxBackoff:        model.Duration(10 * time.Second),
			RetryOnHTTP429:    false,
		}},
		{"[0] tenant_label", full.TenantLabel, "team"},
		{"[0] tenant_header", full.TenantHeader, "THANOS-TENANT"},
		{"[0] default_tenant", full.DefaultTenant, "shared"},
		{"[0] max_tenants", full.MaxTenants, 20},
		{"[0] metadata_config", full.MetadataConfig, MetadataConfig{Send: false, SendInterval: model.Duration(2 * time.Minute), MaxSamplesPerSend: 100}},

		{"[1] name, the URL's host", deflt.Name, "127.0.0.1:9090"},
		{"[1] remote_timeout", deflt.RemoteTimeout, model.Duration(30 * time.Second)},
		{"[1] protobuf_message", deflt.ProtobufMessage, MessageV1},
		{"[1] authorization type", deflt.HTTPClientConfig.Authorization.Type, "Bearer"},
		{"[1] follow_redirects", deflt.HTTPClientConfig.FollowRedirects, true},
		{"[1] enable_http2", deflt.HTTPClientConfig.EnableHTTP2, false},
		{"[1] queue_config", deflt.QueueConfig, QueueConfig{
			Capacity:          10000,
			MaxShards:         50,
			MinShards:         1,
			MaxSamplesPerSend: 10000,
			BatchSendDeadline: model.Duration(5 * time.Second),
			MinBackoff:        model.Duration(30 * time.Millisecond),
			MaxBackoff:        model.Duration(5 * time.Second),
			RetryOnHTTP429:    true,
		}},
		{"[1] metadata_config", deflt.MetadataConfig, MetadataConfig{Send: true, SendInterval: model.Duration(time.Minute), MaxSamplesPerSend: 2000}},
		{"[1] no tenant_label", deflt.TenantLabel, ""},
		{"[1] no tenant_header without tenant_label", deflt.TenantHeader, ""},
		{"[1] no default_tenant without tenant_label", deflt.DefaultTenant, ""},
		{"[1] no max_tenants without tenant_label", deflt.MaxTenants, 0},

		{"[2] tenant_label", tenants.TenantLabel, "team"},
		{"[2] tenant_header, the default", tenants.TenantHeader, "X-Scope-OrgID"},
		{"[2] default_tenant, the default", tenants.DefaultTenant, "anonymous"},
		{"[2] max_tenants, the default", tenants.MaxTenants, 100},

		{"group_rules[0] match", len(nightly.Match), 2},
		{"group_rules[0] job regex matches", nightly.Match["job"].MatchString("nightly_backup"), true},
		{"group_rules[0] job regex is anchored", nightly.Match["job"].MatchString("x_nightly_backup"), false},
		{"group_rules[0] max_age", nightly.MaxAge, model.Duration(26 * time.Hour)},
		{"group_rules[0] expire_after", nightly.ExpireAfter, model.Duration(7 * 24 * time.Hour)},
		{"group_rules[0] delete_expired", nightly.DeleteExpired, true},
		{"group_rules[1] max_age", hourly.MaxAge, model.Duration(90 * time.Minute)},
		{"group_rules[1] expire_after, none", hourly.ExpireAfter, model.Duration(0)},
		{"group_rules[1] delete_expired, the default", hourly.DeleteExpired, false},
		{"group_rules[1] series_limit", hourly.SeriesLimit, 5000},
		{"group_rules[0] series_limit, none", nightly.SeriesLimit, 0},
		{"group_rules[1] accumulate keep_labels", hourly.Accumulate.KeepLabels, []string{"job"}},
		{"group_rules[1] accumulate runs", hourly.Accumulate.Runs, RunsOnReset},
		{"group_rules[2] match, none", len(catchAll.Match), 0},
		{"group_rules[2] max_age, none", catchAll.MaxAge, model.Duration(0)},
		{"expected_groups", len(c.ExpectedGroups), 2},
		{"expected_groups[0]", c.ExpectedGroups[0].String(), labels.FromStrings("job", "nightly_backup", "instance", "db-7").String()},
		{"expected_groups[1]", c.ExpectedGroups[1].String(), labels.FromStrings("job", "nightly_report").String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !equal(tc.got, tc.want) {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

// equal compares the few kinds of values TestLoadGood checks.
func equal(a, b any) bool {
	switch a := a.(type) {
	case map[string]string:
		return maps.Equal(a, b.(map[string]string))
	case []string:
		return strings.Join(a, "\x00") == strings.Join(b.([]string), "\x00")
	case model.LabelNames:
		return a.String() == b.(model.LabelNames).String()
	}
	return a == b
}

// TestMarshalGood checks the whole of what good.yml decodes to, as YAML:
// secrets come out as <secret>, the URL's password as xxxxx.
func TestMarshalGood(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "good.yml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "good.yml.golden"), got)
	for _, secret := range []string{"user:secret@", "t0ken", "- pt\n"} {
		if bytes.Contains(got, []byte(secret)) {
			t.Errorf("marshalled config holds %q", secret)
		}
	}
}

func TestLoadBad(t *testing.T) {
	for file, want := range map[string]string{
		"syntax.bad.yml": "yaml: line 1: did not find expected node content",

		// Unknown keys and wrong types: yaml's messages, with the line.
		"unknown_top_key.bad.yml":      "line 1: field remote_writes not found in type config.Config",
		"unknown_global_key.bad.yml":   "line 2: field external_label not found in type config.GlobalConfig",
		"unknown_key.bad.yml":          "line 3: field nmae not found in type config.RemoteWriteConfig",
		"unsupported_key.bad.yml":      "line 3: field sigv4 not found in type config.RemoteWriteConfig",
		"unknown_queue_key.bad.yml":    "line 5: field max_shard not found in type config.QueueConfig",
		"unknown_metadata_key.bad.yml": "line 4: field interval not found in type config.MetadataConfig",
		"wrong_type.bad.yml":           "line 4: cannot unmarshal !!str into int",

		// Values some UnmarshalYAML refuses: located by key.
		"bad_duration.bad.yml":    `remote_write[0]: queue_config: min_backoff: unknown unit "x" in duration "5x"`,
		"unparsable_url.bad.yml":  `remote_write[1]: url: invalid URL: invalid port ":x" after host`,
		"relabel_regex.bad.yml":   "remote_write[0]: write_relabel_configs[1]: regex: error parsing regexp: missing closing ): `^(?s:(up)$`",
		"relabel_action.bad.yml":  `remote_write[0]: write_relabel_configs[0]: action: unknown relabel action "explode"`,
		"tls_version.bad.yml":     "remote_write[0]: tls_config: min_version: unknown TLS version: TLS14",
		"tls_key_missing.bad.yml": "remote_write[0]: tls_config: exactly one of key or key_file must be configured when a client certificate is configured",

		// Validation.
		"external_label_name.bad.yml":  `global: external_labels: label name "" is not valid`,
		"external_label_value.bad.yml": `global: external_labels: label "cluster" has an empty value`,
		"missing_url.bad.yml":          "remote_write[0]: url: missing",
		"bad_scheme.bad.yml":           `remote_write[0]: url: scheme "ftp" is not http or https`,
		"missing_host.bad.yml":         "remote_write[0]: url: host is missing",
		"bad_remote_timeout.bad.yml":   "remote_write[1]: remote_timeout 0s is not positive",
		"reserved_header.bad.yml":      `remote_write[0]: headers: "content-type" is set by the bridge and must not be changed`,
		"authorization_header.bad.yml": `remote_write[0]: headers: "Authorization" must be set through basic_auth, authorization or oauth2`,
		"bad_escaping_scheme.bad.yml":  `remote_write[0]: metric_name_escaping_scheme "dashes" is not one of allow-utf-8, underscores, dots, values`,
		"bad_protobuf_message.bad.yml": `remote_write[0]: protobuf_message "prometheus.WriteRequestV2" is not prometheus.WriteRequest or io.prometheus.write.v2.Request`,
		"auth_conflict.bad.yml":        "remote_write[0]: at most one of basic_auth, oauth2 & authorization must be configured",
		"proxy.bad.yml":                "remote_write[0]: if no_proxy is configured, proxy_url must also be configured",
		"relabel_validate.bad.yml":     "remote_write[0]: write_relabel_configs[0]: relabel configuration for hashmod requires non-zero modulus",
		"relabel_null.bad.yml":         "remote_write[0]: write_relabel_configs[0]: empty",
		"shards.bad.yml":               "remote_write[1]: queue_config: min_shards 5 greater than max_shards 2",
		"negative_capacity.bad.yml":    "remote_write[0]: queue_config: capacity -1 is not positive",
		"backoff.bad.yml":              "remote_write[0]: queue_config: min_backoff 10s greater than max_backoff 5s",
		"metadata_interval.bad.yml":    "remote_write[0]: metadata_config: send_interval 0s is not positive",
		"duplicate_name.bad.yml":       `remote_write[1]: name "x" already used by remote_write[0]`,
		"duplicate_host.bad.yml":       `remote_write[1]: name "a", the URL's host, already used by remote_write[0]: set name`,

		// The tenant keys.
		"tenant_header_without_label.bad.yml":  "remote_write[0]: tenant_header needs tenant_label",
		"default_tenant_without_label.bad.yml": "remote_write[0]: default_tenant needs tenant_label",
		"max_tenants_without_label.bad.yml":    "remote_write[0]: max_tenants needs tenant_label",
		"tenant_label_name.bad.yml":            `remote_write[0]: tenant_label: label name "__name__" is not valid`,
		"tenant_header_name.bad.yml":           `remote_write[0]: tenant_header: "X Scope OrgID" is not a valid header name`,
		"tenant_header_reserved.bad.yml":       `remote_write[0]: tenant_header: "Content-Type" is set by the bridge and must not be changed`,
		"tenant_header_authorization.bad.yml":  `remote_write[0]: tenant_header: "authorization" must be set through basic_auth, authorization or oauth2`,
		"tenant_header_conflict.bad.yml":       `remote_write[0]: headers: "x-scope-orgid" conflicts with tenant_header`,
		"tenant_http_headers_conflict.bad.yml": `remote_write[0]: http_headers: "THANOS-TENANT" conflicts with tenant_header`,
		"default_tenant_value.bad.yml":         `remote_write[0]: default_tenant " shared" is not valid: control characters, or spaces at either end`,
		"max_tenants.bad.yml":                  "remote_write[0]: max_tenants -1 is not positive",

		// group_rules and expected_groups.
		"group_rule_unknown_key.bad.yml":           "line 4: field expired_after not found in type config.GroupRule",
		"group_rule_regex.bad.yml":                 "group_rules[2]: match: job: error parsing regexp: missing closing ): `^(?s:(nightly)$`",
		"group_rule_bad_duration.bad.yml":          `group_rules[0]: max_age: unknown unit "hours" in duration "26hours"`,
		"group_rule_regex_missing.bad.yml":         "group_rules[0]: match: job: regex missing",
		"group_rule_label_name.bad.yml":            `group_rules[0]: match: label name "__name__" is not valid`,
		"group_rule_max_age.bad.yml":               "group_rules[0]: max_age must be positive",
		"group_rule_series_limit.bad.yml":          "group_rules[1]: series_limit must be positive",
		"group_rule_synthesize.bad.yml":            `group_rules[0]: synthesize: unknown series kind "stauts" (one of up, age, status, max_age, pushes)`,
		"group_rule_accumulate_runs.bad.yml":       `group_rules[0]: accumulate: runs "per_run": must be per_push or on_reset`,
		"group_rule_accumulate_keep.bad.yml":       "group_rules[0]: accumulate: keep_labels missing: the sums need a label, such as job",
		"group_rule_accumulate_metrics.bad.yml":    "group_rules[0]: accumulate: metrics missing",
		"group_rule_expire_after.bad.yml":          "group_rules[1]: expire_after must be positive",
		"group_rule_expire_before_max_age.bad.yml": "group_rules[0]: expire_after 1d must be greater than max_age 1d2h",
		"group_rule_delete_without_expiry.bad.yml": "group_rules[0]: delete_expired needs expire_after",
		"expected_wrong_type.bad.yml":              "line 2: cannot unmarshal !!str into map[string]string",
		"expected_no_job.bad.yml":                  `expected_groups[0]: label "job" missing`,
		"expected_empty_value.bad.yml":             `expected_groups[0]: label "instance" has an empty value`,
		"expected_label_name.bad.yml":              `expected_groups[1]: label name "__name__" is not valid`,
		"expected_duplicate.bad.yml":               "expected_groups[2]: duplicate of expected_groups[0]",
	} {
		t.Run(file, func(t *testing.T) {
			path := filepath.Join("testdata", file)
			_, err := Load(path)
			if err == nil {
				t.Fatal("loaded without error")
			}
			if got := err.Error(); got != "config file "+path+": "+want {
				t.Errorf("error\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestSynthRules(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "good.yml"))
	if err != nil {
		t.Fatal(err)
	}
	rules := c.SynthRules()
	if len(rules) != 3 {
		t.Fatalf("got %d rules, want 3", len(rules))
	}
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"[0] name", rules[0].Name, "group_rules[0]"},
		{"[0] matchers sorted by name", len(rules[0].Matchers), 2},
		{"[0] matcher 0", rules[0].Matchers[0].Name + "=~" + rules[0].Matchers[0].Regexp.String(), "instance=~db-[0-9]+"},
		{"[0] matcher 1", rules[0].Matchers[1].Name + "=~" + rules[0].Matchers[1].Regexp.String(), "job=~nightly_.*"},
		{"[0] max_age", rules[0].MaxAge, 26 * time.Hour},
		{"[0] expire_after", rules[0].ExpireAfter, 7 * 24 * time.Hour},
		{"[0] delete_expired", rules[0].DeleteExpired, true},
		{"[1] name", rules[1].Name, "group_rules[1]"},
		{"[1] expire_after, none", rules[1].ExpireAfter, time.Duration(0)},
		{"[1] series_limit", rules[1].SeriesLimit, 5000},
		{"[1] synthesize", rules[1].Synthesize, synth.KindsOf(synth.KindStatus, synth.KindMaxAge)},
		{"[0] synthesize, none", rules[0].Synthesize, synth.Kinds(0)},
		{"[2] no matchers", len(rules[2].Matchers), 0},
		{"[2] expire_after", rules[2].ExpireAfter, 30 * 24 * time.Hour},
		{"[0] matches", rules[0].Matches(labels.FromStrings("job", "nightly_backup", "instance", "db-7")), true},
		{"[0] needs every label", rules[0].Matches(labels.FromStrings("job", "nightly_backup")), false},
		{"[0] anchored", rules[0].Matches(labels.FromStrings("job", "nightly_backup", "instance", "db-7x")), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !equal(tc.got, tc.want) {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
	if got := (&Config{}).SynthRules(); got != nil {
		t.Errorf("no group_rules gives %v, want nil", got)
	}
}

// TestGroupRuleDurations checks that a duration left out means "none" and
// one written as 0 is an error, in every combination the rules allow.
func TestGroupRuleDurations(t *testing.T) {
	for _, tc := range []struct {
		name, item, err string
	}{
		{"none", "{}", ""},
		{"max_age only", "{max_age: 1h}", ""},
		{"expire_after only", "{expire_after: 1h}", ""},
		{"expire_after greater", "{max_age: 1h, expire_after: 61m}", ""},
		{"expire_after equal", "{max_age: 1h, expire_after: 1h}", "group_rules[0]: expire_after 1h must be greater than max_age 1h"},
		{"max_age with no value", "{max_age: }", "group_rules[0]: max_age must be positive"},
		{"delete_expired false without expire_after", "{delete_expired: false}", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte("group_rules:\n- " + tc.item + "\n"))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.err {
				t.Errorf("error %q, want %q", got, tc.err)
			}
		})
	}
}

func TestRetryOnHTTP429(t *testing.T) {
	for _, tc := range []struct {
		name, item string
		want       bool
	}{
		{"no queue_config", "", true},
		{"queue_config without it", "\n  queue_config: {capacity: 3000}", true},
		{"queue_config with no value", "\n  queue_config:", true},
		{"true", "\n  queue_config: {retry_on_http_429: true}", true},
		{"false", "\n  queue_config: {retry_on_http_429: false}", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte("remote_write:\n- url: http://a/write" + tc.item + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.RemoteWrite[0].QueueConfig.RetryOnHTTP429; got != tc.want {
				t.Errorf("retry_on_http_429 = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDefaultRemoteWriteConfig(t *testing.T) {
	c, err := Parse([]byte("remote_write:\n- url: http://a/write\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := c.RemoteWrite[0]
	want := DefaultRemoteWriteConfig()
	want.URL = got.URL
	if err := want.Validate(); err != nil {
		t.Fatal(err)
	}
	gotYAML, _ := yaml.Marshal(got)
	wantYAML, _ := yaml.Marshal(want)
	if !bytes.Equal(gotYAML, wantYAML) {
		t.Errorf("a remote_write item with only url decodes to\n%s\nDefaultRemoteWriteConfig gives\n%s", gotYAML, wantYAML)
	}
	if want.Name != "a" {
		t.Errorf("Validate set name %q, want the URL's host", want.Name)
	}

	a := DefaultRemoteWriteConfig()
	a.QueueConfig.Capacity = 1
	a.HTTPClientConfig.FollowRedirects = false
	if b := DefaultRemoteWriteConfig(); b.QueueConfig.Capacity == 1 || !b.HTTPClientConfig.FollowRedirects {
		t.Error("changing one default config changed the next")
	}
}

func TestParseKeepsRelativePaths(t *testing.T) {
	c, err := Parse([]byte("remote_write:\n- url: http://a/write\n  tls_config: {ca_file: ca.pem}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.RemoteWrite[0].HTTPClientConfig.TLSConfig.CAFile; got != "ca.pem" {
		t.Errorf("ca_file = %q, want ca.pem as written", got)
	}
	c.SetDirectory("/etc/bridge")
	if got := c.RemoteWrite[0].HTTPClientConfig.TLSConfig.CAFile; got != filepath.Join("/etc/bridge", "ca.pem") {
		t.Errorf("after SetDirectory ca_file = %q", got)
	}
}

func TestErrorsHideCredentials(t *testing.T) {
	const (
		url  = "https://bridge:s3cretpw@mimir.example/api/v1/push"
		auth = "\n  basic_auth: {username: bridge, password: hunter22}"
	)
	for _, tc := range []struct{ name, doc string }{
		{"scheme", "remote_write:\n- url: ftp://bridge:s3cretpw@host/x" + auth},
		{"bad port", "remote_write:\n- url: http://bridge:s3cretpw@host:x/y" + auth},
		{"bad escape in password", "remote_write:\n- url: 'http://bridge:s3cret%zzpw@host/y'" + auth},
		{"bad escape in user", "remote_write:\n- url: 'http://s3cret%zzpw@host/y'" + auth},
		{"bad proxy_url", "remote_write:\n- url: " + url + auth + "\n  proxy_url: http://proxy:s3cretpw@proxy:x"},
		{"url where a list belongs", "remote_write: " + url},
		{"url where a map belongs", "remote_write:\n- " + url},
		{"password where a map belongs", "remote_write:\n- url: " + url + "\n  basic_auth: hunter22"},
		{"short password where a map belongs", "remote_write:\n- url: " + url + "\n  basic_auth: s3cret"},
		{"password and password_file", "remote_write:\n- url: " + url + "\n  basic_auth: {password: hunter22, password_file: f}"},
		{"basic_auth and authorization", "remote_write:\n- url: " + url + auth + "\n  authorization: {credentials: hunter22}"},
		{"basic_auth and bearer_token", "remote_write:\n- url: " + url + auth + "\n  bearer_token: hunter22"},
		{"secret header", "remote_write:\n- url: " + url + auth + "\n  headers: {Authorization: Basic hunter22}"},
		{"reserved header", "remote_write:\n- url: " + url + auth + "\n  headers: {Host: hunter22}"},
		{"unknown key", "remote_write:\n- url: " + url + auth + "\n  passwd: hunter22"},
		{"bad queue", "remote_write:\n- url: " + url + auth + "\n  queue_config: {min_shards: 9, max_shards: 1}"},
		{"duplicate name", "remote_write:\n- url: " + url + auth + "\n- url: " + url},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc + "\n"))
			if err == nil {
				t.Fatal("parsed without error")
			}
			for _, secret := range []string{"s3cret", "hunter2"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error holds a secret: %v", err)
				}
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.yml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err != nil {
			return
		}
		// What Parse accepts is valid as it stands.
		_ = c.SynthRules()
		for i := range c.RemoteWrite {
			if err := c.RemoteWrite[i].Validate(); err != nil {
				t.Errorf("remote_write[%d] parsed but does not validate: %v", i, err)
			}
		}
	})
}

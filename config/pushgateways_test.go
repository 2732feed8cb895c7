package config

import (
	"path/filepath"
	"testing"

	"github.com/pushgateway-bridge/pushgateway-bridge/pushgateway"
)

func TestLoadBadPushgateways(t *testing.T) {
	for file, want := range map[string]string{
		"pushgateway_duplicate.bad.yml":        `pushgateways[1]: name "a:9091", the URL's host, already used by pushgateways[0]: set name`,
		"pushgateway_missing_url.bad.yml":      "pushgateways[0]: url: missing",
		"pushgateway_two_auths.bad.yml":        "pushgateways[0]: at most one of basic_auth, oauth2 & authorization must be configured",
		"pushgateway_unknown_key.bad.yml":      "line 3: field bogus not found in type config.PushgatewayConfig",
		"pushgateway_label_limit.bad.yml":      "pushgateways[0]: label_limit: -1 is not positive",
		"pushgateway_sample_limit.bad.yml":     "pushgateways[0]: sample_limit: -1 is negative",
		"pushgateway_body_size_limit.bad.yml":  "pushgateways[0]: body_size_limit: units: unknown unit  apples in 10 apples",
		"pushgateway_limits_too_large.bad.yml": "pushgateways[1]: label_limit × (label_name_length_limit + label_value_length_limit) allows series of 66568000 bytes, more than 8388608",
	} {
		t.Run(file, func(t *testing.T) {
			path := filepath.Join("testdata", file)
			_, err := Load(path)
			if err == nil || err.Error() != "config file "+path+": "+want {
				t.Errorf("error\n%v\nwant\nconfig file %s: %s", err, path, want)
			}
		})
	}
}

func TestPushgatewaysDefaultsAndFiles(t *testing.T) {
	c, err := Parse([]byte("pushgateways:\n- url: https://pgw-a:9091\n  basic_auth: {username: bridge, password_file: pass}\n- name: b\n  url: http://pgw-b:9091\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Pushgateways[0].Name; got != "pgw-a:9091" {
		t.Errorf("default name = %q, want the URL's host", got)
	}
	if !c.Pushgateways[1].HTTPClientConfig.FollowRedirects {
		t.Error("HTTP client defaults not applied")
	}
	if got, want := c.Pushgateways[0].Limits(), pushgateway.DefaultLimits(); got != want {
		t.Errorf("limits = %+v, want the defaults %+v", got, want)
	}
	c.SetDirectory("/etc/bridge")
	if got := c.Pushgateways[0].HTTPClientConfig.BasicAuth.PasswordFile; got != "/etc/bridge/pass" {
		t.Errorf("password_file = %q, want it resolved against the config's folder", got)
	}
}

func TestPushgatewayLimits(t *testing.T) {
	c, err := Parse([]byte("pushgateways:\n- url: http://a:9091\n  label_limit: 64\n  label_value_length_limit: 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := pushgateway.Limits{LabelLimit: 64, LabelNameLengthLimit: pushgateway.DefaultLabelNameLengthLimit, LabelValueLengthLimit: pushgateway.DefaultLabelValueLengthLimit}
	if got := c.Pushgateways[0].Limits(); got != want {
		t.Errorf("limits = %+v, want %+v: those set, 0 the default", got, want)
	}
	// A gateway made in code, as --pushgateway.url makes them, gets the
	// defaults from Validate.
	gw := PushgatewayConfig{URL: c.Pushgateways[0].URL}
	if err := gw.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := gw.Limits(); got != pushgateway.DefaultLimits() {
		t.Errorf("limits = %+v, want the defaults", got)
	}
}

func TestPushgatewayScrapeLimits(t *testing.T) {
	c, err := Parse([]byte("pushgateways:\n- url: http://a:9091\n  body_size_limit: 10MB\n  sample_limit: 5000\n- url: http://b:9091\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Pushgateways[0]; got.BodySizeLimit != 10<<20 || got.SampleLimit != 5000 {
		t.Errorf("body_size_limit %d, sample_limit %d, want 10 MiB and 5000", got.BodySizeLimit, got.SampleLimit)
	}
	if got := c.Pushgateways[1]; got.BodySizeLimit != 0 || got.SampleLimit != 0 {
		t.Errorf("unset limits = %d, %d, want 0 (none)", got.BodySizeLimit, got.SampleLimit)
	}
}

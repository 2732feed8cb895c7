package config

import (
	"path/filepath"
	"testing"
)

func TestLoadBadPushgateways(t *testing.T) {
	for file, want := range map[string]string{
		"pushgateway_duplicate.bad.yml":   `pushgateways[1]: name "a:9091", the URL's host, already used by pushgateways[0]: set name`,
		"pushgateway_missing_url.bad.yml": "pushgateways[0]: url: missing",
		"pushgateway_two_auths.bad.yml":   "pushgateways[0]: at most one of basic_auth, oauth2 & authorization must be configured",
		"pushgateway_unknown_key.bad.yml": "line 3: field bogus not found in type config.PushgatewayConfig",
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
	c.SetDirectory("/etc/bridge")
	if got := c.Pushgateways[0].HTTPClientConfig.BasicAuth.PasswordFile; got != "/etc/bridge/pass" {
		t.Errorf("password_file = %q, want it resolved against the config's folder", got)
	}
}

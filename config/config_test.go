package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadGood(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "good.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.RemoteWrite) != 2 {
		t.Fatalf("got %d endpoints, want 2", len(c.RemoteWrite))
	}
	for i, want := range []string{"127.0.0.1:9090", "mimir"} {
		if got := c.RemoteWrite[i].Name; got != want {
			t.Errorf("remote_write[%d].name = %q, want %q", i, got, want)
		}
	}
}

func TestLoadBad(t *testing.T) {
	for file, want := range map[string]string{
		"unknown_key.bad.yml":     "line 3: field nmae not found in type config.RemoteWriteConfig",
		"unknown_top_key.bad.yml": "line 1: field remote_writes not found in type config.Config",
		"missing_url.bad.yml":     "remote_write[0]: url: missing",
		"bad_scheme.bad.yml":      `remote_write[0]: url: scheme "ftp" is not http or https`,
		"duplicate_name.bad.yml":  `remote_write[1]: name "x" already used by remote_write[0]`,
		"syntax.bad.yml":          "yaml: line 1: did not find expected node content",
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

func TestErrorsHideCredentials(t *testing.T) {
	_, err := Parse([]byte("remote_write:\n- url: ftp://user:s3cret@host/x\n"))
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("want an error without the password, got %v", err)
	}
}

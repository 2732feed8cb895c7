// Package config loads and validates pushgateway-bridge's configuration
// file. Decoding is strict: an unknown key or an invalid value is an error
// that names the key. The result is handed down as values; nothing else
// reads the file.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v2"
)

// Config is the content of --config.file.
type Config struct {
	// RemoteWrite lists the endpoints samples are sent to, as Prometheus'
	// remote_write block does.
	RemoteWrite []RemoteWriteConfig `yaml:"remote_write,omitempty"`
}

// RemoteWriteConfig is one remote-write endpoint.
type RemoteWriteConfig struct {
	URL *commoncfg.URL `yaml:"url"`
	// Name identifies the endpoint in self-metrics and logs; the URL's host
	// if empty.
	Name string `yaml:"name,omitempty"`
}

// Load reads and validates the file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config file: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and validates a configuration.
func Parse(b []byte) (*Config, error) {
	c := &Config{}
	if err := yaml.UnmarshalStrict(b, c); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			// One line per problem is yaml's way; one line in all is ours.
			return nil, errors.New(strings.Join(te.Errors, "; "))
		}
		return nil, err
	}
	names := map[string]int{}
	for i := range c.RemoteWrite {
		rw := &c.RemoteWrite[i]
		if err := rw.validate(); err != nil {
			return nil, fmt.Errorf("remote_write[%d]: %w", i, err)
		}
		if j, ok := names[rw.Name]; ok {
			return nil, fmt.Errorf("remote_write[%d]: name %q already used by remote_write[%d]", i, rw.Name, j)
		}
		names[rw.Name] = i
	}
	return c, nil
}

func (rw *RemoteWriteConfig) validate() error {
	if rw.URL == nil || rw.URL.URL == nil {
		return errors.New("url: missing")
	}
	if err := CheckEndpointURL(rw.URL.URL); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if rw.Name == "" {
		rw.Name = rw.URL.Host
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

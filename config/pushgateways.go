package config

import (
	"errors"
	"fmt"

	commoncfg "github.com/prometheus/common/config"
)

// PushgatewayConfig is one Pushgateway to scrape, with the HTTP client
// settings of prometheus/common (basic auth, bearer token, TLS...) that a
// gateway behind its own --web.config.file needs.
type PushgatewayConfig struct {
	// Name identifies the gateway in the pushgateway_up series, metrics and
	// logs; the URL's host by default. Never the URL.
	Name             string                     `yaml:"name,omitempty"`
	URL              *commoncfg.URL             `yaml:"url"`
	HTTPClientConfig commoncfg.HTTPClientConfig `yaml:",inline"`
}

type pushgatewayConfig = PushgatewayConfig

// UnmarshalYAML implements yaml.Unmarshaler, applying the defaults.
func (p *PushgatewayConfig) UnmarshalYAML(unmarshal func(any) error) error {
	*p = PushgatewayConfig{HTTPClientConfig: commoncfg.DefaultHTTPClientConfig}
	type PushgatewayConfig pushgatewayConfig
	return unmarshal((*PushgatewayConfig)(p))
}

// Validate checks the gateway and sets Name to the URL's host when empty.
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

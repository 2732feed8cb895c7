package config

import (
	"errors"
	"fmt"

	commoncfg "github.com/prometheus/common/config"

	"github.com/pushgateway-bridge/pushgateway-bridge/pushgateway"
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
	// LabelLimit, LabelNameLengthLimit and LabelValueLengthLimit bound the
	// series taken from the gateway, as in a Prometheus scrape config; a
	// series over one is dropped and counted. 0 (or unset) is the default
	// (see pushgateway.Limits): unlike Prometheus, there is no "no limit",
	// since the libraries cannot hold a label of 16 MiB.
	LabelLimit            int `yaml:"label_limit,omitempty"`
	LabelNameLengthLimit  int `yaml:"label_name_length_limit,omitempty"`
	LabelValueLengthLimit int `yaml:"label_value_length_limit,omitempty"`
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

package main

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"

	"github.com/pushgateway-bridge/pushgateway-bridge/bridge"
	"github.com/pushgateway-bridge/pushgateway-bridge/pushgateway"
)

// newGateways builds the gateways to scrape from the validated settings:
// pushgateways in --config.file and --pushgateway.url, each with the HTTP
// client its configuration asks for (basic auth, TLS...). The daemon and
// --dry-run both scrape what this returns. Their self-metrics (series
// dropped by the label limits) go to reg.
func newGateways(s *settings, userAgent string, logger *slog.Logger, reg prometheus.Registerer) ([]bridge.Gateway, error) {
	gateways := make([]bridge.Gateway, 0, len(s.cfg.Pushgateways))
	for _, gw := range s.cfg.Pushgateways {
		client, err := commoncfg.NewClientFromConfig(gw.HTTPClientConfig, "pushgateway_"+gw.Name)
		if err != nil {
			return nil, fmt.Errorf("pushgateway %s: HTTP client: %w", gw.Name, err)
		}
		// The name is the configured one or the host and port: never the
		// URL, which may hold credentials.
		gateways = append(gateways, bridge.Gateway{Name: gw.Name, Source: pushgateway.NewClient(gw.URL.URL, client, userAgent, pushgateway.Options{
			Name: gw.Name, Limits: gw.Limits(), BodySizeLimit: int64(gw.BodySizeLimit), SampleLimit: gw.SampleLimit, Logger: logger.With("component", "pushgateway"), Registerer: reg,
		})})
	}
	return gateways, nil
}

package main

import (
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"go.yaml.in/yaml/v2"

	"github.com/pushgateway-bridge/pushgateway-bridge/bridge"
	"github.com/pushgateway-bridge/pushgateway-bridge/config"
)

// reloader reloads --config.file: rules and expected groups are swapped in
// for the next cycle; a bad file keeps the running configuration.
type reloader struct {
	mu       sync.Mutex
	file     string
	running  *config.Config
	br       *bridge.Bridge
	upMetric string
	pushes   bool
	logger   *slog.Logger
	m        reloadMetrics
}

type reloadMetrics struct {
	success   prometheus.Gauge
	timestamp prometheus.Gauge
}

func newReloadMetrics(reg prometheus.Registerer) reloadMetrics {
	f := promauto.With(reg)
	m := reloadMetrics{
		success: f.NewGauge(prometheus.GaugeOpts{
			Name: "pushgateway_bridge_config_last_reload_successful",
			Help: "Whether the last configuration reload attempt succeeded.",
		}),
		timestamp: f.NewGauge(prometheus.GaugeOpts{
			Name: "pushgateway_bridge_config_last_reload_success_timestamp_seconds",
			Help: "Time of the last successful configuration reload (or of the start).",
		}),
	}
	m.success.Set(1)
	m.timestamp.SetToCurrentTime()
	return m
}

func (r *reloader) reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.file == "" {
		r.logger.Info("reload requested without --config.file: nothing to reload")
		return nil
	}
	c, err := config.Load(r.file)
	if err != nil {
		r.m.success.Set(0)
		r.logger.Error("reload failed, keeping the running configuration", "err", err)
		return err
	}
	if !sameDelivery(r.running, c) {
		r.logger.Warn("remote_write or global changed in the configuration file: restart to apply them; group_rules and expected_groups are applied")
	}
	r.br.SetSynthOptions(synthOptions(c, r.upMetric, r.pushes))
	r.running.GroupRules, r.running.ExpectedGroups = c.GroupRules, c.ExpectedGroups
	r.m.success.Set(1)
	r.m.timestamp.SetToCurrentTime()
	r.logger.Info("configuration reloaded", "group_rules", len(c.GroupRules), "expected_groups", len(c.ExpectedGroups))
	return nil
}

// sameDelivery tells whether two configurations agree on what only a
// restart applies.
func sameDelivery(a, b *config.Config) bool {
	ya, erra := yaml.Marshal(struct {
		G  config.GlobalConfig        `yaml:"global"`
		RW []config.RemoteWriteConfig `yaml:"remote_write"`
	}{a.Global, a.RemoteWrite})
	yb, errb := yaml.Marshal(struct {
		G  config.GlobalConfig        `yaml:"global"`
		RW []config.RemoteWriteConfig `yaml:"remote_write"`
	}{b.Global, b.RemoteWrite})
	return erra == nil && errb == nil && string(ya) == string(yb)
}

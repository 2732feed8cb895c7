package pushgateway

import (
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// dropLog reports what a client's scrapes dropped by the limits: a counter
// per reason that every scrape adds its drops to, as long as the series sit
// on the gateway, and a warning when what the gateway drops, or what one
// group drops, changes: once, not at every scrape.
type dropLog struct {
	gateway  string
	logger   *slog.Logger
	counters [numReasons]prometheus.Counter
	// What was last logged: series dropped by reason, and by group (its
	// grouping key's String).
	last       [numReasons]int
	lastGroups map[string]int
}

// seriesDroppedName is the counter's name, shared by every client.
const seriesDroppedName = "pushgateway_bridge_scrape_series_dropped_total"

func newDropLog(gateway string, logger *slog.Logger, reg prometheus.Registerer) *dropLog {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: seriesDroppedName,
		Help: "Series scraped from a gateway and dropped because they break its label limits, by the limit (label_limit, label_name_length_limit, label_value_length_limit); every scrape counts those it drops.",
	}, []string{"gateway", "reason"})
	if reg != nil {
		if err := reg.Register(vec); err != nil {
			// Another gateway's client registered it first: share it.
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
					vec = existing
				}
			}
		}
	}
	d := &dropLog{gateway: gateway, logger: logger}
	for r := range numReasons {
		d.counters[r] = vec.WithLabelValues(gateway, r.String())
	}
	return d
}

// observe counts what a scrape dropped and logs what changed since the last
// line.
func (d *dropLog) observe(t *dropTally, groups []pipeline.Group) {
	for r := range numReasons {
		n := t.series[r]
		if n > 0 {
			d.counters[r].Add(float64(n))
		}
		if n != d.last[r] && n > 0 {
			d.logger.Warn("series over a label limit dropped", "gateway", d.gateway, "reason", r.String(), "series", n, "example", t.example[r])
		}
		d.last[r] = n
	}
	var now map[string]int
	for i := range groups {
		g := &groups[i]
		if g.DroppedSeries == 0 {
			continue
		}
		if now == nil {
			now = map[string]int{}
		}
		key := g.Labels.String()
		now[key] = g.DroppedSeries
		if d.lastGroups[key] != g.DroppedSeries {
			d.logger.Warn("group incomplete: series over the label limits dropped", "gateway", d.gateway, "group", key, "dropped", g.DroppedSeries)
		}
	}
	d.lastGroups = now
}

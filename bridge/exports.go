package bridge

import (
	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
	"github.com/pushgateway-bridge/pushgateway-bridge/synth"
)

// exports remembers what synth.Export made of each group's series, so that
// the names of a group that was not pushed again are checked once, not
// every cycle: a group's slice of series is shared by consecutive snapshots
// until the group changes. Entries of groups gone from a cycle go with the
// next swap, as Prometheus' scrape cache does with its series.
type exports struct {
	prev, cur map[exportKey][]pipeline.Series
}

// exportKey identifies a group's slice of series.
type exportKey struct {
	first *pipeline.Series
	n     int
}

// of returns series as forwarded: itself, or a copy with the pushed series
// named like synthesized ones renamed.
func (e *exports) of(series []pipeline.Series, so synth.Options) []pipeline.Series {
	if len(series) == 0 {
		return series
	}
	if e.cur == nil {
		e.prev, e.cur = map[exportKey][]pipeline.Series{}, map[exportKey][]pipeline.Series{}
	}
	k := exportKey{&series[0], len(series)}
	out, ok := e.cur[k]
	if !ok {
		if out, ok = e.prev[k]; !ok {
			out = so.Export(series)
		}
		e.cur[k] = out
	}
	return out
}

// swap ends a cycle: what the next one does not ask for is forgotten then.
func (e *exports) swap() {
	e.prev, e.cur = e.cur, e.prev
	clear(e.cur)
}

package config

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/pushgateway-bridge/pushgateway-bridge/runs"
	"github.com/pushgateway-bridge/pushgateway-bridge/synth"
)

// SynthRules returns group_rules as synth takes them, in order, each named
// by its place in the file ("group_rules[0]"), its matchers sorted by label
// name. With ExpectedGroups they make the rest of synth.Options:
//
//	synth.Options{UpMetric: up, Rules: c.SynthRules(), Expected: c.ExpectedGroups, Series: kinds}
func (c *Config) SynthRules() []synth.Rule {
	if len(c.GroupRules) == 0 {
		return nil
	}
	rules := make([]synth.Rule, len(c.GroupRules))
	for i, r := range c.GroupRules {
		rules[i] = synth.Rule{
			Name:          fmt.Sprintf("group_rules[%d]", i),
			MaxAge:        time.Duration(r.MaxAge),
			ExpireAfter:   time.Duration(r.ExpireAfter),
			DeleteExpired: r.DeleteExpired,
			SeriesLimit:   r.SeriesLimit,
		}
		for _, name := range r.Synthesize {
			// Validated: an unknown name is never here.
			if k, err := synth.ParseKind(name); err == nil {
				rules[i].Synthesize |= synth.KindsOf(k)
			}
		}
		if a := r.Accumulate; a != nil {
			rules[i].Accumulate = &runs.Accumulate{Metrics: slices.Clone(a.Metrics), KeepLabels: slices.Clone(a.KeepLabels)}
			if a.Runs == RunsOnReset {
				rules[i].Accumulate.Runs = runs.OnReset
			}
		}
		for _, name := range slices.Sorted(maps.Keys(r.Match)) {
			rules[i].Matchers = append(rules[i].Matchers, synth.Matcher{Name: name, Regexp: r.Match[name]})
		}
	}
	return rules
}

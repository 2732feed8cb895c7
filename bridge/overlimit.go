package bridge

import (
	"github.com/pushgateway-bridge/pushgateway-bridge/synth"
)

// noteOverLimit counts the groups of a complete cycle that are over their
// rule's series_limit and logs each group once when it goes over and once
// when it comes back under. Not forwarding such a group is the verdict's
// doing (synth.Verdict.ForwardPushed); its series forwarded before get
// their staleness markers from the diff, and come back with the first
// cycle it is under the limit again.
func (b *Bridge) noteOverLimit(c *cycle) {
	if !c.complete {
		return
	}
	prev := b.carried.overLimit
	cur := make(map[uint64]struct{}, len(prev))
	for i := range c.verdicts {
		v := &c.verdicts[i]
		if v.Status != synth.StatusOverLimit {
			continue
		}
		h := v.Labels.Hash()
		cur[h] = struct{}{}
		if _, ok := prev[h]; !ok {
			b.o.Logger.Warn("group over its series limit: none of its series is forwarded, those sent before are marked stale",
				"group", v.Labels.String(), "series", v.Series, "series_limit", v.Rule.SeriesLimit, "rule", v.Rule.Name)
		}
		delete(prev, h)
	}
	if len(prev) > 0 {
		// Back under the limit, or gone, or judged by another rule now.
		b.o.Logger.Info("groups no longer over their series limit: forwarded again if present", "groups", len(prev))
	}
	b.carried.overLimit = cur
	b.m.groupsOverLimit.Set(float64(len(cur)))
}

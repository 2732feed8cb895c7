package bridge

import (
	"context"
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
	"github.com/pushgateway-bridge/pushgateway-bridge/synth"
)

// deletion is an expired group to delete from one gateway after delivery:
// only if its push time there is still the one the cycle saw.
type deletion struct {
	gateway  int
	key      labels.Labels
	pushTime float64
	rule     string
}

// appendDeletions appends a deletion of v's group for every gateway that
// was scraped in cycle c and holds the group: in an HA pair each gateway
// keeps its own copy, and a copy left behind would come back through the
// merge. A held gateway (unreachable) is not asked.
func appendDeletions(dst []deletion, c *cycle, v *synth.Verdict) []deletion {
	for i, r := range c.results {
		if r.err != nil {
			continue
		}
		groups := r.snap.Groups
		j, ok := slices.BinarySearchFunc(groups, v.Group.Labels, func(g pipeline.Group, key labels.Labels) int {
			return labels.Compare(g.Labels, key)
		})
		if !ok || !groups[j].PushedOK() {
			continue
		}
		d := deletion{gateway: i, key: groups[j].Labels, pushTime: groups[j].PushTime}
		if v.Rule != nil {
			d.rule = v.Rule.Name
		}
		dst = append(dst, d)
	}
	return dst
}

// deleteExpired deletes expired groups from the gateways that hold them,
// each only if it was not pushed there again meanwhile.
func (b *Bridge) deleteExpired(ctx context.Context, ds []deletion) {
	for _, d := range ds {
		gw := b.o.Gateways[d.gateway]
		del, ok := gw.Source.(GroupDeleter)
		if !ok {
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, b.o.Timeout)
		deleted, err := del.DeleteGroup(dctx, d.key, d.pushTime)
		cancel()
		switch {
		case err != nil:
			b.o.Logger.Error("delete expired group", "gateway", gw.Name, "group", d.key.String(), "err", err)
		case deleted:
			b.m.groupsDeleted.Inc()
			b.o.Logger.Info("deleted expired group from the pushgateway", "gateway", gw.Name, "group", d.key.String(), "rule", d.rule)
		default:
			b.o.Logger.Info("expired group was pushed again, not deleted", "gateway", gw.Name, "group", d.key.String())
		}
	}
}

// saveState writes the series state, unless saving it took so long last
// time that doing it again now would spend more than a tenth of the time
// on it (large states save every few cycles; force saves anyway).
func (b *Bridge) saveState(now time.Time, force bool) {
	if b.o.StatePath == "" || (!force && now.Before(b.carried.nextSave)) {
		return
	}
	start := time.Now()
	// The markers of held cycles are not written yet: saved with the
	// state, a restart still writes them.
	gone := make([][]pipeline.Series, 0, len(b.carried.held))
	for _, h := range b.carried.held {
		gone = append(gone, h.stale)
	}
	if err := saveState(b.o.StatePath, b.carried.series, now, gone...); err != nil {
		b.o.Logger.Error("save state", "err", err)
		return
	}
	took := time.Since(start)
	b.carried.unsaved = false
	b.carried.nextSave = now.Add(10 * took)
	b.m.stateSaveDuration.Observe(took.Seconds())
}

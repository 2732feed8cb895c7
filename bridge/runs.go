package bridge

import (
	"github.com/prometheus/common/model"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
	"github.com/pushgateway-bridge/pushgateway-bridge/runs"
	"github.com/pushgateway-bridge/pushgateway-bridge/synth"
)

// Runs are what the Pushgateway forgets and the bridge counts (package
// runs): the pushes it observed per group, and the counters of group rules
// with accumulate summed across runs. The accumulate stage advances the
// run state with a complete cycle and adds its series to the cycle as one
// part.
//
// What is summed and what is sent are committed together: the new run
// state is written to disk (synced) before the cycle that carries its sums
// is delivered. If that write fails, the cycle sends the sums of the state
// before it, and the next cycle counts the same pushes again from what the
// gateway still shows. After a kill -9 the bridge starts from the state
// last written, which recognises every run it summed by its push time or
// created timestamp: a sum sent is never counted again, and a run pushed
// while the bridge was down is summed in its first cycle, if the gateway
// still shows it.

// runsPartKey is the key of the part of the run series.
const runsPartKey uint64 = 0x72756e73 // "runs"

// runsPath is where the run state is kept: next to the series state, in a
// file of its own, because it is written before a cycle is delivered and
// the series state after.
func (b *Bridge) runsPath() string { return b.o.StatePath + ".runs" }

// accumulate advances the run state with a complete cycle, commits it to
// disk, and adds the series of pushes observed (to the groups that have
// synth.KindPushes) and the
// accumulated sums to the cycle. Nothing is tracked while neither is
// asked for.
func (b *Bridge) accumulate(c *cycle) {
	rules := c.so.Accumulations()
	if !c.complete || (!c.so.AnyEnabled(synth.KindPushes) && len(rules) == 0) {
		return
	}
	obs := make([]runs.Observation, 0, len(c.in.Groups))
	for i := range c.verdicts {
		v := &c.verdicts[i]
		if v.Group == nil {
			continue
		}
		o := runs.Observation{Group: v.Group}
		if v.Rule != nil {
			o.Accumulate = v.Rule.Accumulate
		}
		obs = append(obs, o)
	}
	next, changed, seen := b.carried.runs.Advance(obs, rules)
	if changed && b.o.StatePath != "" {
		if err := saveRuns(b.runsPath(), next); err != nil {
			// Sending sums the disk does not have would count a run twice
			// after a restart: keep the old state, count again next cycle.
			b.m.runsSaveFailures.Inc()
			b.o.Logger.Error("save run state, sending the sums of the last one saved", "err", err)
			// The pushes it saw are seen again next cycle.
			b.emitRuns(c, b.carried.runs)
			return
		}
	}
	b.carried.runs = next
	b.countUnobserved(c, seen)
	b.emitRuns(c, next)
}

// emitRuns adds the series of pushes observed (to the groups that have
// synth.KindPushes) and the
// sums of state to the cycle, as one part.
func (b *Bridge) emitRuns(c *cycle, next *runs.State) {
	var series []pipeline.Series
	for i := range c.verdicts {
		if v := &c.verdicts[i]; v.Group != nil && v.ForwardSynthesized() && c.so.Enabled(v, synth.KindPushes) {
			series = next.AppendPushes(series, v.Labels)
		}
	}
	series = next.AppendSums(series)
	b.m.accumulatedSeries.Set(float64(len(next.Sums())))
	c.parts, c.keys = append(c.parts, series), append(c.keys, runsPartKey)
}

// countUnobserved compares the pushes the gateway says it received (its
// pushgateway_http_requests_total{handler="push"}, any code) since the
// last cycle that read it with the pushes the cycle's run state observed
// (seen): the pushes that overwrote another before any cycle saw it are
// the difference. Only with one gateway: behind several, a push may reach
// more than one, and the merge shows one copy of a group.
func (b *Bridge) countUnobserved(c *cycle, seen uint64) {
	pr := &b.carried.pushRequests
	if len(c.results) != 1 || c.results[0].err != nil {
		// Held or not scraped: the next scrape's count covers this cycle.
		pr.pending += seen
		return
	}
	snap := c.results[0].snap
	total, ok := pushRequests(snap.Own)
	switch {
	case !ok:
		pr.known = false
	case pr.known && total >= pr.total && snap.StartTime == pr.start:
		if missed := total - pr.total - float64(pr.pending+seen); missed > 0 {
			b.m.pushesUnobserved.Add(missed)
		}
		fallthrough
	default:
		// The first count, or the gateway restarted: from now on.
		pr.total, pr.known, pr.start = total, true, snap.StartTime
	}
	pr.pending = 0
}

// pushRequests sums the gateway's pushgateway_http_requests_total of the
// push handler, successful or rejected pushes alike.
func pushRequests(own []pipeline.Series) (float64, bool) {
	var total float64
	ok := false
	for i := range own {
		ls := own[i].Labels
		if ls.Get(model.MetricNameLabel) == "pushgateway_http_requests_total" && ls.Get("handler") == "push" {
			total += own[i].Value
			ok = true
		}
	}
	return total, ok
}

// pushRequestCount is what countUnobserved keeps between cycles.
type pushRequestCount struct {
	total float64
	known bool
	start float64 // the gateway's start time with total
	// pending are the pushes observed in cycles that did not read the
	// gateway's count (it was held).
	pending uint64
}

package bridge

import (
	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
	"github.com/pushgateway-bridge/pushgateway-bridge/runs"
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
// disk, and adds the series of pushes observed (if Options.Pushes) and the
// accumulated sums to the cycle. Nothing is tracked while neither is
// asked for.
func (b *Bridge) accumulate(c *cycle) {
	rules := c.so.Accumulations()
	if !c.complete || (!c.so.Pushes && len(rules) == 0) {
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
	next, changed := b.carried.runs.Advance(obs, rules)
	if changed && b.o.StatePath != "" {
		if err := saveRuns(b.runsPath(), next); err != nil {
			// Sending sums the disk does not have would count a run twice
			// after a restart: keep the old state, count again next cycle.
			b.m.runsSaveFailures.Inc()
			b.o.Logger.Error("save run state, sending the sums of the last one saved", "err", err)
			next = b.carried.runs
		}
	}
	b.carried.runs = next
	var series []pipeline.Series
	if c.so.Pushes {
		for i := range c.verdicts {
			if v := &c.verdicts[i]; v.Group != nil && v.ForwardSynthesized() {
				series = next.AppendPushes(series, v.Labels)
			}
		}
	}
	series = next.AppendSums(series)
	b.m.accumulatedSeries.Set(float64(len(next.Sums())))
	c.parts, c.keys = append(c.parts, series), append(c.keys, runsPartKey)
}

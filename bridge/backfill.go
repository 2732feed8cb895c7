package bridge

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/pushgateway-bridge/pushgateway-bridge/internal/atomicfile"
	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
	"github.com/pushgateway-bridge/pushgateway-bridge/synth"
)

// Backfill fills the gaps a bridge restart leaves, and those a late cycle
// leaves (a cycle that took longer than the interval, such as the first one
// after a restart that filled a long gap, or a slow scrape: the ticker does
// not catch up). A group's series are
// constant between pushes, so at every interval tick the bridge missed, the
// gateway would have served exactly what it serves now for every group
// whose last push is older than the tick: those are the samples a running
// bridge would have sent. A group pushed while the bridge was down is
// filled from its new push time on; what it held before is unknown and left
// empty. Groups deleted meanwhile are not filled (when they went is
// unknown); they get their staleness markers in the live cycle. The
// synthesized series are computed per tick; whether the gateway was
// reachable at a tick is unknown, so pushgateway_up is not filled.
//
// The time of the last cycle sent is kept next to the state file, written
// every cycle (rename, no fsync: it must survive the process, not the
// machine).

// lastCyclePath is where the time of the last cycle sent is kept.
func (b *Bridge) lastCyclePath() string { return b.o.StatePath + ".last-cycle" }

func saveLastCycle(path string, t time.Time) error {
	if err := atomicfile.WriteBytes(path, false, binary.LittleEndian.AppendUint64(nil, uint64(t.UnixMilli()))); err != nil {
		return fmt.Errorf("save last cycle time: %w", err)
	}
	return nil
}

func loadLastCycle(path string) (time.Time, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("load last cycle time: %w", err)
	}
	if len(b) != 8 {
		return time.Time{}, errors.New("load last cycle time: malformed")
	}
	return time.UnixMilli(int64(binary.LittleEndian.Uint64(b))), nil
}

// backfillTicks returns the ticks missed between the last cycle sent and
// now: last+interval, last+2*interval, ... before now, no older than
// now-maxWindow.
func backfillTicks(last, now time.Time, interval, maxWindow time.Duration) []time.Time {
	if last.IsZero() || maxWindow <= 0 || interval <= 0 {
		return nil
	}
	var ticks []time.Time
	earliest := now.Add(-maxWindow)
	t := last.Add(interval)
	if t.Before(earliest) {
		// Skip to the first tick inside the window, on the same grid.
		t = t.Add(earliest.Sub(t).Truncate(interval))
		if t.Before(earliest) {
			t = t.Add(interval)
		}
	}
	for ; t.Before(now.Add(-interval / 2)); t = t.Add(interval) {
		ticks = append(ticks, t)
	}
	return ticks
}

// backfill sends what the ticks missed since the last complete cycle would
// have sent, given the groups of this complete cycle. It reports whether
// every tick was kept; it stops at the first a sender could not keep (its
// disk full or failing): the ticks after it would go out before it, and the
// next cycle tries again from the same last cycle.
func (b *Bridge) backfill(now time.Time, groups []pipeline.Group, so synth.Options) bool {
	ticks := backfillTicks(b.carried.lastCycle, now, b.o.Interval, b.o.BackfillMaxWindow)
	if len(ticks) == 0 {
		return true
	}
	var (
		samples     int
		filledTicks int
		filled      = map[uint64]bool{}
		verdicts    []synth.Verdict
		tickIn      []pipeline.Group
		// later holds the groups pushed after the tick: what they held at
		// the tick is unknown, so they get nothing then, not even the
		// verdict "missing" of an expected group.
		later = map[uint64]bool{}
	)
	for _, t := range ticks {
		// The groups as they were at t: pushed by then, a failure not yet
		// seen if it came later.
		tickIn = tickIn[:0]
		clear(later)
		sec := float64(t.UnixNano()) / 1e9
		for _, g := range groups {
			if !g.PushedOK() || g.PushTime > sec {
				later[g.Labels.Hash()] = true
				continue
			}
			if g.PushFailureTime > sec {
				g.PushFailureTime = 0
			}
			tickIn = append(tickIn, g)
		}
		in := synth.Input{Groups: tickIn}
		verdicts = synth.Judge(verdicts[:0], in, t, so)
		verdicts = slices.DeleteFunc(verdicts, func(v synth.Verdict) bool { return v.Group == nil && later[v.Labels.Hash()] })
		var series []pipeline.Series
		for i := range verdicts {
			if v := &verdicts[i]; v.ForwardPushed() {
				series = append(series, b.carried.exports.of(v.Group.Series, so)...)
				filled[v.Group.Labels.Hash()] = true
			}
		}
		series = synth.AppendSeries(series, nil, verdicts, so)
		// Each tick is on disk when send returns: the disk paces the
		// backfill, and only what every sender kept counts as filled.
		if err := b.send(t, [][]pipeline.Series{series}, nil); err != nil {
			// The sender counted and logged (throttled) what it
			// dropped; the next cycle starts again from this tick.
			b.o.Logger.Debug("a missed tick was not kept, filling again next cycle", "tick", t, "err", err)
			break
		}
		filledTicks++
		b.carried.lastCycle = t
		samples += len(series)
		b.m.backfillSamples.Add(float64(len(series)))
	}
	if filledTicks > 0 {
		b.o.Logger.Info("filled the ticks missed since the last cycle",
			"from", ticks[0], "to", ticks[filledTicks-1], "ticks", filledTicks, "groups", len(filled), "samples", samples)
	}
	return filledTicks == len(ticks)
}

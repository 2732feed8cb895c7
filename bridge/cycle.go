package bridge

import (
	"context"
	"slices"
	"time"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
	"github.com/pushgateway-bridge/pushgateway-bridge/synth"
)

// A cycle walks its stages once, front to back, each a function of the
// previous one's output:
//
//	collect  scrape every gateway, decide what each contributes, merge
//	judge    synth: verdicts and the series to send, in parts
//	accumulate  the pushes observed and the sums across runs, committed
//	         to disk before they are sent (runs.go)
//	diff     the series state: staleness markers for what vanished
//	deliver  hand the missed ticks (after a restart) and the cycle to the senders
//	follow   what the verdicts ask for, after delivery: delete expired
//	         groups, save the last cycle's time and the series state
//
// The result, a *Status, is built once from the cycle and never changed;
// the status page, the groups API and --dry-run read it.
//
// Cycle runs one cycle now and returns its result, or nil if ctx was done
// before the cycle could be sent (shutting down: nothing is sent then).
func (b *Bridge) Cycle(ctx context.Context) *Status {
	c := &cycle{now: b.o.Now(), so: *b.synth.Load()}
	b.collect(ctx, c)
	if ctx.Err() != nil {
		// Shutting down: a scrape cut short is no reason to send anything.
		return nil
	}
	b.judge(c)
	b.noteOverLimit(c)
	b.accumulate(c)
	b.diff(c)
	b.deliver(c)
	b.follow(ctx, c)

	st := b.result(c)
	b.status.Store(st)
	b.bufs.parts, b.bufs.synth, b.bufs.keys = len(c.parts), len(c.synth), c.keys[:0]
	b.m.cycles.Inc()
	b.m.cycleDuration.Observe(b.o.Now().Sub(c.now).Seconds())
	b.m.staleMarkers.Add(float64(len(c.stale)))
	if c.complete {
		b.m.groups.Set(float64(len(c.in.Groups)))
		b.m.series.Set(float64(count(c.parts)))
		b.m.lastComplete.Set(float64(c.now.UnixNano()) / 1e9)
		if !b.ready.Swap(true) && b.o.OnReady != nil {
			b.o.OnReady()
		}
	}
	return st
}

// cycle is one cycle's working data, filled stage by stage.
type cycle struct {
	now time.Time
	so  synth.Options

	// collect: per gateway its scrape and its snapshot in the merged view
	// (nil if it contributes nothing); the merged groups; whether every
	// gateway's groups are known.
	results  []scrapeResult
	snaps    []*pipeline.Snapshot
	merged   []merged
	complete bool

	// judge: synth's input and verdicts, the cycle's series in parts with
	// their state keys (the synthesized part among them), and the groups
	// to delete once the cycle is delivered.
	in        synth.Input
	verdicts  []synth.Verdict
	parts     [][]pipeline.Series
	keys      []uint64
	synth     []pipeline.Series
	deletions []deletion

	// diff: the series that vanished since the last complete cycle, with
	// their metadata.
	stale []pipeline.Series
}

// collect scrapes every gateway and merges what they contribute. Only when
// every gateway's groups are known (fresh, or held through an outage) is
// the cycle complete.
func (b *Bridge) collect(ctx context.Context, c *cycle) {
	c.results = b.scrape(ctx)
	if ctx.Err() != nil {
		return
	}
	c.in.Gateways = make([]synth.Gateway, len(b.o.Gateways))
	c.snaps = make([]*pipeline.Snapshot, len(b.o.Gateways))
	c.complete = true
	for i, r := range c.results {
		c.in.Gateways[i] = synth.Gateway{Name: b.o.Gateways[i].Name, Up: r.err == nil}
		switch b.viewOf(i, c.now, r) {
		case viewFresh:
			c.snaps[i] = r.snap
		case viewHeld:
			c.snaps[i] = b.carried.gateways[i].held.last
		case viewUnknown:
			c.complete = false
		}
	}
	if !c.complete {
		// An incomplete cycle forwards which gateway is down and nothing
		// else: what the unknown gateway holds is unknown.
		c.in.Partial = true
		return
	}
	c.merged = mergeGroups(c.snaps)
	c.in.Groups = slices.Grow(b.bufs.groups[:0], len(c.merged))[:len(c.merged)]
	b.bufs.groups = c.in.Groups
	for i, m := range c.merged {
		c.in.Groups[i] = *m.group
	}
	for i, r := range c.results {
		if r.err == nil {
			b.detectLost(i, r.snap)
		}
	}
}

// judge runs synth over the merged groups and lays out the cycle's series
// in parts: the gateways' own metrics (if forwarded), each forwarded group's
// series (a pushed series named like a synthesized one renamed
// exported_<name>: never two series under one identity), the synthesized
// series. The parts are the slices the snapshots and synth made, or
// Export's copies, not copies made per cycle: the senders read them while
// they write the cycle (deliver), the series state keeps them, and nobody
// changes them once made.
func (b *Bridge) judge(c *cycle) {
	c.parts = make([][]pipeline.Series, 0, b.bufs.parts)
	c.keys = b.bufs.keys[:0]
	if c.complete && b.o.ForwardGatewayMetrics {
		for i, r := range c.results {
			if r.err == nil {
				c.parts, c.keys = append(c.parts, r.snap.Own), append(c.keys, ownPartKey(i))
			}
		}
	}
	b.bufs.verdicts = synth.Judge(b.bufs.verdicts[:0], c.in, c.now, c.so)
	c.verdicts = b.bufs.verdicts
	for i := range c.verdicts {
		v := &c.verdicts[i]
		if v.ForwardPushed() {
			c.parts, c.keys = append(c.parts, b.carried.exports.of(v.Group.Series, c.so)), append(c.keys, v.Group.Labels.Hash())
		}
		if c.complete && v.DeleteGroup() {
			c.deletions = appendDeletions(c.deletions, c, v)
		}
	}
	b.carried.exports.swap()
	c.synth = synth.AppendSeries(make([]pipeline.Series, 0, b.bufs.synth), c.in.Gateways, c.verdicts, c.so)
	c.parts, c.keys = append(c.parts, c.synth), append(c.keys, synthPartKey)
}

// diff advances the series state with a complete cycle and takes from it
// the series that vanished. An incomplete cycle leaves the state as it was.
func (b *Bridge) diff(c *cycle) {
	if c.complete {
		c.stale = b.carried.series.advanceParts(c.keys, c.parts, nil)
	}
}

// deliver hands the cycle to every sender: first the ticks missed since
// the last cycle kept, if any (after a restart, or after a cycle that took
// longer than the interval, such as the first one after a restart that
// filled a long gap; they are older, so they must go first: a series'
// samples leave in timestamp order), then the cycle's series and staleness
// markers, stamped with its time.
//
// A complete cycle that a sender could not keep whole (its disk full or
// failing; the sender counted and logged what it dropped) is held, with its
// staleness markers, and sent again, oldest first, before every later
// cycle, until the disk takes it. At most maxHeld cycles are held: beyond,
// the oldest goes, its markers are judged again with the next cycle, and
// its tick is filled like downtime once the disk takes samples again.
func (b *Bridge) deliver(c *cycle) {
	switch {
	case c.complete:
		b.carried.held = append(b.carried.held, heldCycle{t: c.now, parts: c.parts, stale: c.stale})
		b.sendHeld(c.in.Groups, c.so)
	case b.ready.Load():
		// An outage without hold forwards nothing, and is not filled
		// afterwards. (Before the first complete cycle, the time of the
		// one before the restart is kept.)
		b.carried.lastCycle = time.Time{}
		_ = b.send(c.now, c.parts, c.stale)
	default:
		_ = b.send(c.now, c.parts, c.stale)
	}
}

// maxHeld bounds the cycles held while the disk refuses them: about five
// minutes at the default interval. A held cycle keeps its parts alive (the
// synthesized series, and groups pushed again since).
const maxHeld = 20

// heldCycle is a complete cycle not yet kept by every sender.
type heldCycle struct {
	t     time.Time
	parts [][]pipeline.Series
	stale []pipeline.Series
}

// sendHeld sends the held cycles oldest first, each after the ticks missed
// before it, and stops at the first that is refused.
func (b *Bridge) sendHeld(groups []pipeline.Group, so synth.Options) {
	held := b.carried.held
	kept := 0
	for _, h := range held {
		if !b.carried.lastCycle.IsZero() && !b.backfill(h.t, groups, so) {
			break
		}
		if err := b.send(h.t, h.parts, h.stale); err != nil {
			break
		}
		b.carried.lastCycle = h.t
		kept++
	}
	if over := len(held) - kept - maxHeld; over > 0 {
		for _, h := range held[kept : kept+over] {
			b.carried.series.reconsider(h.stale)
		}
		b.o.Logger.Warn("remote write refused cycles for too long: the oldest held are dropped, their ticks will be filled when it takes samples again",
			"dropped_cycles", over, "held", maxHeld)
		kept += over
	}
	clear(held[:kept])
	b.carried.held = append(held[:0], held[kept:]...)
	b.m.heldCycles.Set(float64(len(b.carried.held)))
}

// follow carries out, after delivery, what the cycle's result asks for:
// deleting expired groups from the gateways that hold them, then saving the
// cycle's time and the series state.
func (b *Bridge) follow(ctx context.Context, c *cycle) {
	if !c.complete {
		return
	}
	b.deleteExpired(ctx, c.deletions)
	if b.o.StatePath != "" && !b.carried.lastCycle.IsZero() {
		if err := saveLastCycle(b.lastCyclePath(), b.carried.lastCycle); err != nil {
			b.o.Logger.Error("save last cycle time", "err", err)
		}
	}
	if b.carried.series.changed {
		b.carried.unsaved = true
	}
	if b.carried.unsaved {
		b.saveState(c.now, false)
	}
}

// count returns how many series the slices hold.
func count(series [][]pipeline.Series) int {
	n := 0
	for _, s := range series {
		n += len(s)
	}
	return n
}

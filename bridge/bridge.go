// Package bridge runs the cycle that turns Pushgateways into remote-write
// samples: every interval it scrapes the gateways concurrently, merges their
// groups (the newest push of a group wins), judges them with the rules,
// adds the synthesized series, stamps everything with the cycle's time,
// writes staleness markers for series that vanished, and hands the samples
// to the senders.
//
// It owns the series state: which series the last complete cycle sent,
// persisted so that a restart still marks what vanished meanwhile, and the
// time of the last cycle, from which a restart fills the ticks it missed.
//
// A gateway that cannot be scraped contributes the groups of its last
// successful scrape for the outage hold, so an unreachable gateway causes
// one alert instead of one per batch job going stale; after the hold its
// groups count as gone. Without a hold, or for a gateway never scraped, the
// cycle is incomplete: it sends the gateways' reachability and nothing
// else, writes no staleness markers and leaves the state as it was.
// Graceful shutdown writes no staleness markers either.
package bridge

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
	"github.com/pushgateway-bridge/pushgateway-bridge/pushgateway"
	"github.com/pushgateway-bridge/pushgateway-bridge/remotewrite"
	"github.com/pushgateway-bridge/pushgateway-bridge/synth"
)

// Source reads one Pushgateway. Scrape is called by one goroutine at a time.
// The snapshot it returns may be kept but not modified: an unchanged
// gateway's groups are shared by its consecutive snapshots.
type Source interface {
	Scrape(ctx context.Context) (*pipeline.Snapshot, error)
}

var _ Source = (*pushgateway.Client)(nil)

// GroupDeleter is a Source that can delete a group: only if its push time
// is still pushTime, reporting whether it did. Rules with delete_expired use
// it.
type GroupDeleter interface {
	DeleteGroup(ctx context.Context, key labels.Labels, pushTime float64) (bool, error)
}

var _ GroupDeleter = (*pushgateway.Client)(nil)

// Sender takes a cycle's samples for delivery to one endpoint. Append must
// not block on the network and may read the samples after it returned; they
// do not change. Samples of one series arrive in timestamp order and must
// leave in that order.
type Sender interface {
	Append(samples pipeline.Samples)
}

var _ Sender = (*remotewrite.Queue)(nil)

// Gateway is a Pushgateway to scrape.
type Gateway struct {
	// Name identifies the gateway in series, metrics and logs; never a URL.
	Name   string
	Source Source
}

// Options configure a Bridge.
type Options struct {
	// Gateways to scrape. Their groups are merged by grouping key; the copy
	// with the newest push time wins.
	Gateways []Gateway
	// Interval between cycles, and Timeout for each scrape.
	Interval, Timeout time.Duration
	// ForwardGatewayMetrics also forwards the Pushgateway's own metrics
	// (go_*, process_*, pushgateway_*), which belong to no group.
	ForwardGatewayMetrics bool
	Synth                 synth.Options
	Senders               []Sender
	Logger                *slog.Logger
	Registerer            prometheus.Registerer
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// StatePath is the file the series state is kept in across restarts;
	// none if empty.
	StatePath string
	// OutageHold is how long a gateway that cannot be scraped keeps
	// contributing the groups of its last successful scrape; 0 forwards
	// nothing while any gateway is down.
	OutageHold time.Duration
	// BackfillMaxWindow bounds how far back the first cycle after a start
	// fills the ticks missed since the last cycle sent (see backfill.go);
	// 0 fills nothing. Needs StatePath.
	BackfillMaxWindow time.Duration
}

// Bridge runs cycles. Create it with New.
type Bridge struct {
	o       Options
	m       *metrics
	state   *seriesState
	failing []bool // per gateway: in a failure streak, for logging once
	ready   atomic.Bool
	// verdicts of the last cycle, reused.
	verdicts []synth.Verdict
	// seen is, per gateway, its start time and groups at the last
	// successful scrape, to tell groups lost in a restart.
	seen []gatewaySeen
	// nextSave is when the state may be saved again.
	nextSave time.Time
	// synth holds the rules in force; a reload swaps them between cycles.
	synth atomic.Pointer[synth.Options]
	// status is what the last cycle found.
	status atomic.Pointer[Status]
	// lostGroups counts, per gateway, groups lost in its restarts.
	lostGroups []int
	// gw holds, per gateway, its last successful scrape for the outage hold.
	gw []heldGateway
	// merged is the last complete cycle's groups with their gateways,
	// parallel to the verdicts' groups.
	merged []merged
	// synthBuf is the last cycle's synthesized series, and lastParts the
	// number of its parts of series, to size the next cycle's.
	synthBuf  []pipeline.Series
	lastParts int
	// keysBuf and groupsBuf are the last cycle's state keys of its parts
	// of series, and its groups, kept for their memory.
	keysBuf   []uint64
	groupsBuf []pipeline.Group
	// lastCycle is the time of the last cycle sent before this process
	// started, until the first complete cycle filled the gap since.
	lastCycle time.Time
}

// New validates the options and returns a Bridge.
func New(o Options) (*Bridge, error) {
	if len(o.Gateways) == 0 {
		return nil, errors.New("bridge: no Pushgateway to scrape")
	}
	if o.Interval <= 0 {
		return nil, errors.New("bridge: interval must be positive")
	}
	if o.Timeout <= 0 || o.Timeout > o.Interval {
		o.Timeout = o.Interval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	b := &Bridge{
		o:       o,
		m:       newMetrics(o.Registerer),
		state:   newSeriesState(),
		failing: make([]bool, len(o.Gateways)),
		seen:    make([]gatewaySeen, len(o.Gateways)),

		lostGroups: make([]int, len(o.Gateways)),
		gw:         make([]heldGateway, len(o.Gateways)),
	}
	b.synth.Store(&o.Synth)
	if o.StatePath != "" {
		st, last, err := loadState(o.StatePath)
		switch {
		case err != nil:
			// A damaged state costs staleness markers for what vanished
			// meanwhile, never the bridge.
			b.m.stateLoadFailures.Inc()
			o.Logger.Error("state unreadable, starting without it", "path", o.StatePath, "err", err)
		case st.len() > 0:
			b.state = st
			o.Logger.Info("state loaded", "series", st.len(), "last_cycle", last)
		}
		if b.lastCycle, err = loadLastCycle(b.lastCyclePath()); err != nil {
			o.Logger.Error("last cycle time unreadable, not filling the gap", "err", err)
		}
	}
	return b, nil
}

// SetSynthOptions replaces the rules and expected groups from the next
// cycle on. Safe to call while Run runs.
func (b *Bridge) SetSynthOptions(o synth.Options) { b.synth.Store(&o) }

// Ready tells whether a complete cycle has been handed to the senders.
func (b *Bridge) Ready() bool { return b.ready.Load() }

// Run runs a cycle at once and then every interval until ctx is done. It
// returns nil then; nothing is sent on the way out.
func (b *Bridge) Run(ctx context.Context) error {
	t := time.NewTicker(b.o.Interval)
	defer t.Stop()
	defer b.saveState(b.o.Now(), true)
	for {
		b.Cycle(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// saveState writes the series state, unless saving it took so long last
// time that doing it again now would spend more than a tenth of the time
// on it (large states save every few cycles; force saves anyway).
func (b *Bridge) saveState(now time.Time, force bool) {
	if b.o.StatePath == "" || (!force && now.Before(b.nextSave)) {
		return
	}
	start := time.Now()
	if err := saveState(b.o.StatePath, b.state, now); err != nil {
		b.o.Logger.Error("save state", "err", err)
		return
	}
	took := time.Since(start)
	b.nextSave = now.Add(10 * took)
	b.m.stateSaveDuration.Observe(took.Seconds())
}

// heldGateway is a gateway's last successful scrape.
type heldGateway struct {
	last   *pipeline.Snapshot
	lastOK time.Time
	gone   bool // the hold ran out (logged)
}

// scrapeResult is one gateway's outcome in a cycle.
type scrapeResult struct {
	snap *pipeline.Snapshot
	err  error
	took time.Duration
}

// Cycle runs one cycle now and reports whether it was complete.
func (b *Bridge) Cycle(ctx context.Context) bool {
	now := b.o.Now()
	results := b.scrape(ctx)
	if ctx.Err() != nil {
		// Shutting down: a scrape cut short is no reason to send anything.
		return false
	}

	in := synth.Input{Gateways: make([]synth.Gateway, len(b.o.Gateways))}
	snaps := make([]*pipeline.Snapshot, len(b.o.Gateways))
	complete := true
	for i, r := range results {
		in.Gateways[i] = synth.Gateway{Name: b.o.Gateways[i].Name, Up: r.err == nil}
		switch b.viewOf(i, now, r) {
		case viewFresh:
			snaps[i] = r.snap
		case viewHeld:
			snaps[i] = b.gw[i].last
		case viewUnknown:
			complete = false
		}
	}
	// The series of a cycle are the slices of the gateways' own series,
	// of the groups' and of the synthesized ones, not copied into one. The
	// senders read them after the cycle: each cycle makes its own slices,
	// and groups' series never change.
	series := make([][]pipeline.Series, 0, b.lastParts)
	keys := b.keysBuf[:0]
	defer func() { b.lastParts, b.keysBuf = len(series), keys[:0] }()
	if complete {
		// Only a complete cycle knows the groups; an incomplete one
		// forwards which gateway is down and nothing else.
		b.merged = mergeGroups(snaps)
		in.Groups = slices.Grow(b.groupsBuf[:0], len(b.merged))[:len(b.merged)]
		b.groupsBuf = in.Groups
		for i, m := range b.merged {
			in.Groups[i] = *m.group
		}
		if b.o.ForwardGatewayMetrics {
			for i, r := range results {
				if r.err == nil {
					series, keys = append(series, r.snap.Own), append(keys, ownPartKey(i))
				}
			}
		}
	} else {
		in.Partial = true
		b.merged = b.merged[:0]
	}
	so := *b.synth.Load()
	b.verdicts = synth.Judge(b.verdicts[:0], in, now, so)
	for i := range b.verdicts {
		if v := &b.verdicts[i]; v.ForwardPushed() {
			series, keys = append(series, v.Group.Series), append(keys, v.Group.Labels.Hash())
		}
	}
	b.synthBuf = synth.AppendSeries(make([]pipeline.Series, 0, len(b.synthBuf)), in.Gateways, b.verdicts, so)
	series, keys = append(series, b.synthBuf), append(keys, synthPartKey)
	if complete {
		for i, r := range results {
			if r.err == nil {
				b.detectLost(i, r.snap)
			}
		}
		b.deleteExpired(ctx)
	}
	b.recordStatus(now, complete, results)

	var stale []labels.Labels
	if complete {
		stale = b.state.advanceParts(keys, series, nil)
		if !b.lastCycle.IsZero() {
			b.backfill(now, in.Groups, so)
			b.lastCycle = time.Time{}
		}
	}
	b.send(now, series, stale)
	if complete && b.o.StatePath != "" {
		if err := saveLastCycle(b.lastCyclePath(), now); err != nil {
			b.o.Logger.Error("save last cycle time", "err", err)
		}
	}
	if complete && b.state.changed {
		b.saveState(now, false)
	}

	b.m.cycles.Inc()
	b.m.cycleDuration.Observe(b.o.Now().Sub(now).Seconds())
	b.m.staleMarkers.Add(float64(len(stale)))
	if complete {
		b.m.groups.Set(float64(len(in.Groups)))
		b.m.series.Set(float64(count(series)))
		b.m.lastComplete.Set(float64(now.UnixNano()) / 1e9)
		b.ready.Store(true)
	}
	return complete
}

// scrape scrapes every gateway concurrently, each under the timeout.
func (b *Bridge) scrape(ctx context.Context) []scrapeResult {
	results := make([]scrapeResult, len(b.o.Gateways))
	var wg sync.WaitGroup
	for i, gw := range b.o.Gateways {
		wg.Go(func() {
			sctx, cancel := context.WithTimeout(ctx, b.o.Timeout)
			defer cancel()
			start := b.o.Now()
			snap, err := gw.Source.Scrape(sctx)
			took := b.o.Now().Sub(start)
			b.m.scrapeDuration.WithLabelValues(gw.Name).Observe(took.Seconds())
			results[i] = scrapeResult{snap: snap, err: err, took: took}
		})
	}
	wg.Wait()
	for i, r := range results {
		b.report(i, r.err)
	}
	return results
}

// viewOf decides what gateway i contributes to a cycle, remembers a fresh
// snapshot and logs when a hold runs out.
func (b *Bridge) viewOf(i int, now time.Time, r scrapeResult) view {
	g := &b.gw[i]
	switch {
	case r.err == nil:
		g.last, g.lastOK, g.gone = r.snap, now, false
		return viewFresh
	case b.o.OutageHold <= 0 || g.last == nil:
		return viewUnknown
	case now.Sub(g.lastOK) <= b.o.OutageHold:
		return viewHeld
	}
	if !g.gone {
		g.gone = true
		b.o.Logger.Warn("pushgateway unreachable for longer than the outage hold: its groups count as gone",
			"gateway", b.o.Gateways[i].Name, "hold", b.o.OutageHold, "groups", len(g.last.Groups))
	}
	return viewGone
}

// gatewaySeen is what the last successful scrape of a gateway found.
type gatewaySeen struct {
	start  float64
	groups map[uint64]labels.Labels
}

// maxLostLogged bounds the grouping keys one log line lists.
const maxLostLogged = 20

// detectLost counts the groups a gateway lost in a restart: its start time
// changed and groups it held are gone without a DELETE the bridge could see.
func (b *Bridge) detectLost(i int, snap *pipeline.Snapshot) {
	prev := b.seen[i]
	cur := gatewaySeen{start: snap.StartTime, groups: make(map[uint64]labels.Labels, len(snap.Groups))}
	for _, g := range snap.Groups {
		cur.groups[g.Labels.Hash()] = g.Labels
	}
	b.seen[i] = cur
	if prev.start == 0 || snap.StartTime == 0 || prev.start == snap.StartTime {
		return
	}
	var lost []string
	for h, key := range prev.groups {
		if _, ok := cur.groups[h]; !ok {
			lost = append(lost, key.String())
		}
	}
	name := b.o.Gateways[i].Name
	b.o.Logger.Warn("pushgateway restarted", "gateway", name, "groups_lost", len(lost))
	if len(lost) == 0 {
		return
	}
	b.m.groupsLost.WithLabelValues(name).Add(float64(len(lost)))
	b.lostGroups[i] += len(lost)
	slices.Sort(lost)
	if len(lost) > maxLostLogged {
		lost = append(lost[:maxLostLogged], "...")
	}
	b.o.Logger.Warn("pushgateway lost groups in a restart", "gateway", name, "groups", strings.Join(lost, " "))
}

// deleteExpired deletes from the Pushgateway the groups whose rule says to
// delete them once expired, if they were not pushed again meanwhile.
func (b *Bridge) deleteExpired(ctx context.Context) {
	for i := range b.verdicts {
		v := &b.verdicts[i]
		if !v.DeleteGroup() {
			continue
		}
		d, ok := b.o.Gateways[0].Source.(GroupDeleter)
		if !ok {
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, b.o.Timeout)
		deleted, err := d.DeleteGroup(dctx, v.Group.Labels, v.Group.PushTime)
		cancel()
		switch {
		case err != nil:
			b.o.Logger.Error("delete expired group", "group", v.Group.Labels.String(), "err", err)
		case deleted:
			b.m.groupsDeleted.Inc()
			b.o.Logger.Info("deleted expired group from the pushgateway", "group", v.Group.Labels.String(), "rule", v.Health.Rule.Name)
		default:
			b.o.Logger.Info("expired group was pushed again, not deleted", "group", v.Group.Labels.String())
		}
	}
}

// report counts a scrape and logs the first failure of a streak and the
// recovery, not every failed cycle.
func (b *Bridge) report(i int, err error) {
	name := b.o.Gateways[i].Name
	b.m.scrapes.WithLabelValues(name).Inc()
	switch {
	case err != nil && !b.failing[i]:
		b.o.Logger.Warn("pushgateway cannot be scraped; forwarding its last state is paused, no staleness markers are written", "gateway", name, "err", err)
	case err != nil:
		b.o.Logger.Debug("pushgateway still cannot be scraped", "gateway", name, "err", err)
	case b.failing[i]:
		b.o.Logger.Info("pushgateway can be scraped again", "gateway", name)
	}
	if err != nil {
		b.m.scrapeFailures.WithLabelValues(name).Inc()
	}
	b.failing[i] = err != nil
}

// send stamps the cycle's series and staleness markers with the cycle's
// time and hands them to every sender, which read them after the cycle.
func (b *Bridge) send(now time.Time, series [][]pipeline.Series, stale []labels.Labels) {
	for _, s := range b.o.Senders {
		s.Append(newCycleSamples(now.UnixMilli(), series, stale))
	}
}

// cycleSamples are a cycle's series, stamped with its time, then its
// staleness markers, as remote-write samples: read in place, not copied.
// One sender reads one: it remembers where the last read stopped.
type cycleSamples struct {
	t     int64
	parts [][]pipeline.Series
	stale []labels.Labels
	n     int // samples in parts
	// The sample the next read starts at if it carries on: its place
	// overall, and its part and place in the part.
	pos, part, off int
}

var _ pipeline.Samples = (*cycleSamples)(nil)

func newCycleSamples(t int64, parts [][]pipeline.Series, stale []labels.Labels) *cycleSamples {
	return &cycleSamples{t: t, parts: parts, stale: stale, n: count(parts)}
}

// Len implements pipeline.Samples.
func (c *cycleSamples) Len() int { return c.n + len(c.stale) }

// AppendTo implements pipeline.Samples.
func (c *cycleSamples) AppendTo(dst []pipeline.Sample, from, to int) []pipeline.Sample {
	if from != c.pos {
		c.seek(from)
	}
	staleNaN := math.Float64frombits(value.StaleNaN)
	for c.pos < to {
		if c.pos >= c.n {
			i := c.pos - c.n
			for _, ls := range c.stale[i : i+to-c.pos] {
				dst = append(dst, pipeline.Sample{Labels: ls, T: c.t, V: staleNaN})
			}
			c.pos = to
			break
		}
		p := c.parts[c.part]
		if c.off == len(p) {
			c.part, c.off = c.part+1, 0
			continue
		}
		k := min(to-c.pos, len(p)-c.off)
		for i := range p[c.off : c.off+k] {
			s := &p[c.off+i]
			dst = append(dst, pipeline.Sample{Labels: s.Labels, T: c.t, V: s.Value, H: s.Histogram, FH: s.FloatHistogram, Meta: s.Metadata, Hash: s.Hash})
		}
		c.off += k
		c.pos += k
	}
	return dst
}

// seek makes sample i the next one read.
func (c *cycleSamples) seek(i int) {
	c.pos, c.part, c.off = i, 0, 0
	for c.part < len(c.parts) && i >= len(c.parts[c.part]) {
		i -= len(c.parts[c.part])
		c.part++
	}
	c.off = i
	if c.part == len(c.parts) {
		c.off = 0
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

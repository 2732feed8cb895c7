// Package bridge runs the cycle that turns Pushgateways into remote-write
// samples: every interval it scrapes the gateways concurrently, merges their
// groups (the newest push of a group wins), judges them with the rules,
// adds the synthesized series, stamps everything with the cycle's time,
// writes staleness markers for series that vanished, and hands the samples
// to the senders. A cycle is explicit stages, front to back (cycle.go):
// collect (gateways.go, merge.go), judge (synth; groups over their
// series_limit noted in overlimit.go), accumulate (runs.go), diff
// (state.go), deliver (samples.go, backfill.go), and what follows from the
// verdicts after delivery (follow.go); its result is an immutable Status.
//
// It owns the series state: which series the last complete cycle sent,
// persisted so that a restart still marks what vanished meanwhile, and the
// time of the last cycle, from which a restart fills the ticks it missed.
// It owns the run state too (runs.go): the pushes observed and the sums
// across runs, persisted before the cycle that sends them.
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
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
	"github.com/pushgateway-bridge/pushgateway-bridge/runs"
	"github.com/pushgateway-bridge/pushgateway-bridge/synth"
)

// Source reads one Pushgateway. Scrape is called by one goroutine at a time.
// The snapshot it returns may be kept but not modified: an unchanged
// gateway's groups are shared by its consecutive snapshots.
type Source interface {
	Scrape(ctx context.Context) (*pipeline.Snapshot, error)
}

// GroupDeleter is a Source that can delete a group: only if its push time
// is still pushTime, reporting whether it did. Rules with delete_expired use
// it.
type GroupDeleter interface {
	DeleteGroup(ctx context.Context, key labels.Labels, pushTime float64) (bool, error)
}

// Sender takes a cycle's samples for delivery to one endpoint. Append
// writes them where they survive the process (the on-disk queue) and
// returns once they are there: it may block on the disk, never on the
// network, and must not read the samples after it returned; they do not
// change while it runs. It returns an error if some samples could not be
// kept (the sender counts them); the bridge then does not count them as
// filled by backfill. The bridge calls the Appends of several senders
// concurrently, each with its own Samples, and one sender's one after the
// other. Samples of one series arrive in timestamp order and must leave in
// that order.
type Sender interface {
	Append(samples pipeline.Samples) error
}

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
	// OnReady, if set, is called once, in the cycle's goroutine, when the
	// first complete cycle was handed to the senders (when Ready turns
	// true).
	OnReady func()
}

// Bridge runs cycles. Create it with New.
type Bridge struct {
	o Options
	m *metrics
	// synth holds the rules in force; a reload swaps them between cycles.
	synth atomic.Pointer[synth.Options]
	// status is the last cycle's result, for readers on other goroutines.
	status atomic.Pointer[Status]
	ready  atomic.Bool

	// carried is everything one cycle leaves for the next: the only state
	// the loop keeps across cycles.
	carried carried
	// bufs are the last cycle's buffers, reused by the next one.
	bufs buffers
}

// carried is what the loop remembers from cycle to cycle.
type carried struct {
	// series is the one owner of what the last complete cycle sent.
	series *seriesState
	// runs is the run state last saved (see runs.go); nil before any.
	runs *runs.State
	// pushRequests is the gateway's count of pushes last read, to tell
	// pushes no cycle observed (see runs.go).
	pushRequests pushRequestCount
	// gateways holds, per gateway, what the loop knows of it.
	gateways []gatewayState
	// lastCycle is the time of the last complete cycle sent, by this
	// process or, at a start, by the one before (from disk): a complete
	// cycle fills the ticks missed since (see backfill.go). Zero after an
	// incomplete cycle: an outage without hold is not filled.
	lastCycle time.Time
	// held are complete cycles a sender refused, oldest first, to be sent
	// again before any later one.
	held []heldCycle
	// exports is what the groups' series are forwarded as: a pushed series
	// named like a synthesized one is renamed.
	exports exports
	// nextSave is when the series state may be saved again, and unsaved
	// tells that it changed since it was last saved: a save the throttle
	// skipped, or one that failed, is made up for in a later cycle.
	nextSave time.Time
	unsaved  bool
	// overLimit holds, by grouping key hash, the groups over their
	// series_limit in the last complete cycle, to log each change once.
	overLimit map[uint64]struct{}
}

// buffers are a cycle's slices, kept for the next cycle's sake: none is
// read after its cycle, except through the parts the series state keeps.
type buffers struct {
	verdicts []synth.Verdict
	groups   []pipeline.Group
	keys     []uint64
	// parts is the number of parts of series of the last cycle, and synth
	// the number of its synthesized series, to size the next cycle's.
	parts, synth int
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
		o: o,
		m: newMetrics(o.Registerer),
		carried: carried{
			series:   newSeriesState(),
			gateways: make([]gatewayState, len(o.Gateways)),
		},
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
			b.carried.series = st
			o.Logger.Info("state loaded", "series", st.len(), "last_cycle", last)
		}
		if b.carried.runs, err = loadRuns(b.runsPath()); err != nil {
			// Sums start again from zero: a counter reset downstream.
			b.m.stateLoadFailures.Inc()
			o.Logger.Error("run state unreadable, starting without it", "path", b.runsPath(), "err", err)
		}
		if b.carried.lastCycle, err = loadLastCycle(b.lastCyclePath()); err != nil {
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

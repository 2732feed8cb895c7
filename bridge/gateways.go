package bridge

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// gatewayState is what the loop knows of one gateway from cycle to cycle.
type gatewayState struct {
	// failing tells whether its scrapes are in a failure streak, to log
	// the streak once.
	failing bool
	// seen is its start time and groups at the last successful scrape, to
	// tell groups lost in a restart.
	seen gatewaySeen
	// lost counts the groups it lost in restarts.
	lost int
	// held is its last successful scrape, for the outage hold.
	held heldGateway
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
	g := &b.carried.gateways[i].held
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
	gs := &b.carried.gateways[i]
	prev := gs.seen
	cur := gatewaySeen{start: snap.StartTime, groups: make(map[uint64]labels.Labels, len(snap.Groups))}
	for _, g := range snap.Groups {
		cur.groups[g.Labels.Hash()] = g.Labels
	}
	gs.seen = cur
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
	gs.lost += len(lost)
	slices.Sort(lost)
	if len(lost) > maxLostLogged {
		lost = append(lost[:maxLostLogged], "...")
	}
	b.o.Logger.Warn("pushgateway lost groups in a restart", "gateway", name, "groups", strings.Join(lost, " "))
}

// report counts a scrape and logs the first failure of a streak and the
// recovery, not every failed cycle.
func (b *Bridge) report(i int, err error) {
	name := b.o.Gateways[i].Name
	b.m.scrapes.WithLabelValues(name).Inc()
	switch {
	case err != nil && !b.carried.gateways[i].failing:
		// What happens to its groups meanwhile depends on the hold
		// (held): say that, not more.
		b.o.Logger.Warn("pushgateway cannot be scraped; no staleness markers are written for its groups", "gateway", name, "hold", b.o.OutageHold, "reason", failureReason(err), "err", err)
	case err != nil:
		b.o.Logger.Debug("pushgateway still cannot be scraped", "gateway", name, "reason", failureReason(err), "err", err)
	case b.carried.gateways[i].failing:
		b.o.Logger.Info("pushgateway can be scraped again", "gateway", name)
	}
	if err != nil {
		b.m.scrapeFailures.WithLabelValues(name, failureReason(err)).Inc()
	}
	b.carried.gateways[i].failing = err != nil
}

// reasoned is an error that names why a scrape failed, such as a source's
// error for a scrape over one of its limits.
type reasoned interface {
	error
	ScrapeFailureReason() string
}

// failureReason is the reason label of a failed scrape: the one its error
// names, "error" if it names none.
func failureReason(err error) string {
	if r, ok := errors.AsType[reasoned](err); ok {
		return r.ScrapeFailureReason()
	}
	return "error"
}

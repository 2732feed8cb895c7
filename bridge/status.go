package bridge

import (
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushgateway-bridge/pushgateway-bridge/synth"
)

// Status is a cycle's result as its readers see it: what the cycle found,
// the facts the status page, the groups API and --dry-run show. It is built
// once per cycle and never changed afterwards; readers share it.
type Status struct {
	// Time is the cycle's time, the timestamp of its samples.
	Time time.Time
	// Complete tells whether every gateway could be scraped.
	Complete bool
	Gateways []GatewayStatus
	// Groups holds every group judged in the last complete cycle, present
	// or expected, sorted by grouping key.
	Groups []GroupStatus
}

// GatewayStatus is one Pushgateway's part of a cycle.
type GatewayStatus struct {
	Name           string
	Up             bool
	Error          string // why the last scrape failed; empty if it did not
	LastScrape     time.Time
	ScrapeDuration time.Duration
	Groups, Series int // of the last successful scrape
	// LostGroups counts the groups lost in restarts since the bridge started.
	LostGroups int
}

// GroupStatus is one group's verdict and facts.
type GroupStatus struct {
	Labels labels.Labels
	// Gateway names the gateway whose copy is forwarded; empty if absent.
	Gateway                   string
	PushTime, PushFailureTime time.Time // zero if never
	Age                       time.Duration
	HasAge                    bool
	MaxAge                    time.Duration // 0 if its rule has none
	Status                    synth.Status
	Up                        bool
	Series                    int // pushed series, forwarded or not
	// SeriesLimit is its rule's series_limit, 0 if none.
	SeriesLimit int
	// DroppedSeries counts the group's series over the gateway's label
	// limits: not forwarded, and not in Series.
	DroppedSeries int
	Rule          string
	Expected      bool
	// Pushes and FailedPushes are the pushes the bridge observed, while
	// it tracks them (Synth.Pushes or an accumulate rule; see runs.go);
	// PushesKnown tells whether it does.
	Pushes, FailedPushes uint64
	PushesKnown          bool
	// Accumulated holds, per family its rule accumulates, what all of the
	// group's runs added to the sums, sorted by family.
	Accumulated []AccumulatedTotal
}

// AccumulatedTotal is what a group's runs added to the sums of one family.
type AccumulatedTotal struct {
	Family string
	Total  float64
}

// Status returns what the last cycle found, nil before the first cycle.
// Safe for concurrent use.
func (b *Bridge) Status() *Status { return b.status.Load() }

// result builds the status of cycle c from its scrapes and verdicts.
func (b *Bridge) result(c *cycle) *Status {
	st := &Status{Time: c.now, Complete: c.complete, Gateways: make([]GatewayStatus, len(b.o.Gateways))}
	prev := b.status.Load()
	for i, gw := range b.o.Gateways {
		r := c.results[i]
		g := GatewayStatus{Name: gw.Name, Up: r.err == nil, LastScrape: c.now, ScrapeDuration: r.took, LostGroups: b.carried.gateways[i].lost}
		if r.err != nil {
			g.Error = r.err.Error()
			if prev != nil {
				g.Groups, g.Series = prev.Gateways[i].Groups, prev.Gateways[i].Series
			}
		} else {
			g.Groups = len(r.snap.Groups)
			for _, grp := range r.snap.Groups {
				g.Series += len(grp.Series)
			}
		}
		st.Gateways[i] = g
	}
	if !c.complete && prev != nil {
		st.Groups = prev.Groups // the groups are what the last complete cycle knew
		return st
	}
	// Which gateway's copy each group is, by grouping key.
	from := make(map[uint64]int, len(c.merged))
	for _, m := range c.merged {
		from[m.group.Labels.Hash()] = m.gateway
	}
	st.Groups = make([]GroupStatus, 0, len(c.verdicts))
	for i := range c.verdicts {
		v := &c.verdicts[i]
		gs := GroupStatus{
			Labels: v.Labels, Age: v.Age, HasAge: v.HasAge, MaxAge: v.MaxAge(),
			Status: v.Status, Up: v.Up(), Expected: v.Expected,
		}
		if v.Rule != nil {
			gs.Rule, gs.SeriesLimit = v.Rule.Name, v.Rule.SeriesLimit
		}
		if g := v.Group; g != nil {
			gs.Gateway = b.o.Gateways[from[g.Labels.Hash()]].Name
			gs.PushTime, gs.PushFailureTime = unixTime(g.PushTime), unixTime(g.PushFailureTime)
			gs.Series, gs.DroppedSeries = len(g.Series), g.DroppedSeries
			if r := b.carried.runs.Group(g.Labels); r != nil {
				gs.Pushes, gs.FailedPushes, gs.PushesKnown = r.Pushes, r.FailedPushes, true
				for _, f := range r.Families {
					gs.Accumulated = append(gs.Accumulated, AccumulatedTotal{Family: f.Name, Total: f.Total})
				}
			}
		}
		st.Groups = append(st.Groups, gs)
	}
	return st
}

func unixTime(s float64) time.Time {
	if s <= 0 {
		return time.Time{}
	}
	sec := int64(s)
	return time.Unix(sec, int64((s-float64(sec))*1e9))
}

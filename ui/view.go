package ui

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushgateway-bridge/pushgateway-bridge/bridge"
	"github.com/pushgateway-bridge/pushgateway-bridge/remotewrite"
	"github.com/pushgateway-bridge/pushgateway-bridge/synth"
)

// page is what the template renders; every value is ready to print.
type page struct {
	Error string
	// Cycle is nil before the first cycle.
	Cycle     *cycleView
	Gateways  []gatewayView
	Endpoints []endpointView
	// Counts is the number of groups per status, of all groups.
	Counts []statusCount
	Groups []groupView
	// Total is the number of groups before filtering.
	Total int
	// The filter in force, as removable chips and as the form's text.
	Filter     []chip
	FilterText string
	ClearHref  string
	Sort       string
	SortLinks  []sortLink
	// APIHref is the link to the same groups as JSON.
	APIHref string
}

type cycleView struct {
	Time     timeView
	Complete bool
}

type timeView struct {
	Set  bool
	ISO  string // for <time datetime>
	Text string // UTC, to the second
	Ago  string // "3m 12s ago"
}

type gatewayView struct {
	Name, Error          string
	Up                   bool
	LastScrape           timeView
	Duration             string
	Groups, Series, Lost int
}

type endpointView struct {
	Name, Protocol string
	LastSuccess    timeView
	Pending        int
	DiskBytes      string
	Shards         int
	Dropped        []reasonCount
	// Stalled: samples are pending and none was acknowledged for
	// stallAfter.
	Stalled bool
	// Tenants are the tenants' queues of an endpoint with tenant_label;
	// their Name is the tenant.
	Tenants []endpointView
}

// stallAfter is how long an endpoint with pending samples may go without
// an acknowledgement before the page marks it: Prometheus' lookback, after
// which a receiver's queries miss the bridge's series.
const stallAfter = 5 * time.Minute

type reasonCount struct {
	Reason string
	Count  int
}

type statusCount struct {
	Status  string
	Count   int
	Problem bool
}

type groupView struct {
	Labels      []chip
	Gateway     string
	LastPush    timeView
	LastFailure timeView
	// Age is empty when the group never pushed successfully; MaxAge when
	// its rule has none.
	Age, MaxAge string
	// AgeRatio is Age over MaxAge, for the meter; 0 without MaxAge.
	AgeRatio float64
	Over     bool
	Status   string
	Problem  bool
	Series   int
	// SeriesLimit is its rule's series_limit, 0 if none; OverLimit tells
	// that Series is over it.
	SeriesLimit int
	OverLimit   bool
	// Dropped counts the series over the label limits.
	Dropped  int
	Rule     string
	Expected bool
	// Pushes is "ok / failed" pushes seen, empty while the bridge does not
	// count them; Accumulated what the group's runs added per family.
	Pushes      string
	Accumulated []bridge.AccumulatedTotal
}

// chip is one label: a link that adds it to the filter, or removes it.
type chip struct {
	Name, Value, Href string
	Active            bool
}

type sortLink struct {
	Key, Text, Href string
	Current         bool
}

// build makes the page for filter f and sort order key; text is what the
// filter form shows.
func (h *Handler) build(f filter, key sortKey, text string) *page {
	now := h.o.Now()
	p := &page{FilterText: text, ClearHref: href(nil, key), Sort: string(key), APIHref: "api/v1/groups"}
	if q := href(f, key); q != "./" {
		p.APIHref += q
	}
	for _, k := range []struct {
		key  sortKey
		text string
	}{{sortStatus, "status"}, {sortAge, "age"}, {sortLabels, "labels"}} {
		p.SortLinks = append(p.SortLinks, sortLink{Key: string(k.key), Text: k.text, Href: href(f, k.key), Current: k.key == key})
	}
	for _, lf := range f {
		for _, v := range lf.Values {
			p.Filter = append(p.Filter, chip{Name: lf.Name, Value: v, Href: href(f.without(lf.Name, v), key), Active: true})
		}
	}
	for _, e := range h.o.Endpoints {
		st := e.Status()
		ev := endpointOf(st, now)
		for _, ts := range st.Tenants {
			tv := endpointOf(ts, now)
			tv.Name = ts.Tenant
			ev.Tenants = append(ev.Tenants, tv)
		}
		p.Endpoints = append(p.Endpoints, ev)
	}
	st := h.o.Status.Status()
	if st == nil {
		return p
	}
	p.Cycle = &cycleView{Time: timeOf(st.Time, now), Complete: st.Complete}
	for _, g := range st.Gateways {
		p.Gateways = append(p.Gateways, gatewayView{
			Name: g.Name, Error: g.Error, Up: g.Up,
			LastScrape: timeOf(g.LastScrape, now),
			Duration:   durationText(g.ScrapeDuration),
			Groups:     g.Groups, Series: g.Series, Lost: g.LostGroups,
		})
	}
	counts := map[synth.Status]int{}
	for _, g := range st.Groups {
		counts[g.Status]++
	}
	for _, s := range slices.SortedFunc(maps.Keys(counts), func(a, b synth.Status) int { return statusRank[a] - statusRank[b] }) {
		p.Counts = append(p.Counts, statusCount{Status: string(s), Count: counts[s], Problem: s != synth.StatusOK})
	}
	p.Total = len(st.Groups)
	for _, g := range selectGroups(st.Groups, f, key) {
		p.Groups = append(p.Groups, groupOf(g, f, key, now))
	}
	return p
}

func endpointOf(st remotewrite.QueueStatus, now time.Time) endpointView {
	ev := endpointView{
		Name:        st.Name,
		Protocol:    protocol(string(st.Message)),
		LastSuccess: timeOf(st.LastSuccess, now),
		Pending:     st.Pending,
		DiskBytes:   bytesText(st.DiskBytes),
		Shards:      st.Shards,
		Stalled:     st.Pending > 0 && (st.LastSuccess.IsZero() || now.Sub(st.LastSuccess) > stallAfter),
	}
	for _, r := range slices.Sorted(maps.Keys(st.Dropped)) {
		ev.Dropped = append(ev.Dropped, reasonCount{Reason: r, Count: st.Dropped[r]})
	}
	return ev
}

func groupOf(g bridge.GroupStatus, f filter, key sortKey, now time.Time) groupView {
	v := groupView{
		Gateway:     g.Gateway,
		LastPush:    timeOf(g.PushTime, now),
		LastFailure: timeOf(g.PushFailureTime, now),
		Status:      string(g.Status),
		Problem:     g.Status != synth.StatusOK,
		Series:      g.Series,
		SeriesLimit: g.SeriesLimit,
		OverLimit:   g.Status == synth.StatusOverLimit,
		Dropped:     g.DroppedSeries,
		Rule:        g.Rule,
		Expected:    g.Expected,
		Accumulated: g.Accumulated,
	}
	if g.PushesKnown {
		v.Pushes = fmt.Sprintf("%d / %d", g.Pushes, g.FailedPushes)
	}
	g.Labels.Range(func(l labels.Label) {
		c := chip{Name: l.Name, Value: l.Value, Active: f.has(l.Name, l.Value)}
		if c.Active {
			c.Href = href(f.without(l.Name, l.Value), key)
		} else {
			c.Href = href(f.with(l.Name, l.Value), key)
		}
		v.Labels = append(v.Labels, c)
	})
	if g.HasAge {
		v.Age = durationText(g.Age)
	}
	if g.MaxAge > 0 {
		v.MaxAge = durationText(g.MaxAge)
		if g.HasAge {
			v.AgeRatio = min(g.Age.Seconds()/g.MaxAge.Seconds(), 1)
			v.Over = g.Age > g.MaxAge
		}
	}
	return v
}

func timeOf(t, now time.Time) timeView {
	if t.IsZero() {
		return timeView{}
	}
	tv := timeView{Set: true, ISO: t.UTC().Format(time.RFC3339), Text: t.UTC().Format("2006-01-02 15:04:05 UTC")}
	if d := now.Sub(t); d >= 0 {
		tv.Ago = durationText(d) + " ago"
	} else {
		tv.Ago = "in " + durationText(-d)
	}
	return tv
}

// durationText writes d in its two largest units: 312ms, 4.2s, 3m 12s,
// 27h 3m, 8d 2h.
func durationText(d time.Duration) string {
	switch {
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < 10*time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return twoUnits(int(d/time.Minute), "m", int(d%time.Minute/time.Second), "s")
	case d < 48*time.Hour:
		return twoUnits(int(d/time.Hour), "h", int(d%time.Hour/time.Minute), "m")
	default:
		return twoUnits(int(d/(24*time.Hour)), "d", int(d%(24*time.Hour)/time.Hour), "h")
	}
}

func twoUnits(a int, ua string, b int, ub string) string {
	if b == 0 {
		return strconv.Itoa(a) + ua
	}
	return fmt.Sprintf("%d%s %d%s", a, ua, b, ub)
}

func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// protocol names a remote-write message the way the README does.
func protocol(message string) string {
	if strings.HasPrefix(message, "io.prometheus.write.v2") {
		return "2.0"
	}
	return "1.0"
}

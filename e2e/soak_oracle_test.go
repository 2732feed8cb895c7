package e2e

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/value"
)

// The soak's oracle (issue 19, "A fault soak with an oracle"): from the
// driver's own log of what it did and when, and the samples the receiver got
// in arrival order, it finds what was lost, invented, duplicated or
// reordered. It is pure, so that it has a table test on synthetic logs
// (TestSoakOracle) apart from the soak that feeds it real runs.

// Kinds of soakOp.
const (
	opPost        = "POST"   // a push merging by metric family
	opPut         = "PUT"    // a push replacing the group
	opDelete      = "DELETE" // the group deleted
	opBridgeStart = "bridge-start"
	opBridgeKill  = "bridge-kill"
	opFault       = "fault"   // a fault began
	opRecover     = "recover" // the fault of the same name ended
)

// soakOp is one entry of the driver's log. Start is when the driver began
// the action and End when it returned: the effect happened in between.
type soakOp struct {
	Kind       string
	Start, End time.Time
	// Group is the grouping key as formatMetric renders labels,
	// `instance="g1",job="soak"`, for pushes and deletes.
	Group string
	// Series are the pushed series (formatMetric keys) and their values.
	Series map[string]float64
	// Fault names the fault of opFault and opRecover.
	Fault string
}

// soakSample is one sample the receiver got, in arrival order.
type soakSample struct {
	Key string // formatMetric of its labels
	T   int64  // milliseconds
	V   float64
}

// soakParams are what the oracle allows on top of the log.
type soakParams struct {
	// Interval is the bridge's --scrape.interval.
	Interval time.Duration
	// Slack is how late after its tick a cycle may scrape.
	Slack time.Duration
	// Jitter is how far apart from whole intervals two ticks of one grid
	// may be stamped. Between the grid of a backfill and the next live
	// cycle's, up to 1.5 intervals; so a gap longer than 1.5 intervals +
	// Jitter lost a tick.
	Jitter time.Duration
	// Until closes the checks: series live then are expected up to it.
	Until time.Time
	// GroupSeries returns the series the bridge adds to a group, with their
	// value (NaN: not checked).
	GroupSeries func(group string) map[string]float64
}

// soakReport holds the oracle's figures and a few examples of each
// violation class.
type soakReport struct {
	Faults           map[string]int // by kind
	Series           int            // distinct series the driver pushed or the bridge adds
	TicksExpected    int            // series × ticks the receiver should have: delivered + lost
	TicksDelivered   int            // samples received in the stretches they were expected
	TicksLost        int            // missing in the gaps
	LostByFault      map[string]int // lost ticks by the fault during or just before them
	Duplicates       int            // samples received again with a timestamp already seen
	OutOfOrder       int            // new samples older than one received before
	Ghosts           int            // samples of a series while it was not pushed
	WrongValues      int            // samples whose value was not pushed at their time
	MarkersExpected  int            // series that went away while the bridge could see it
	MarkersDelivered int            // distinct staleness markers received (some may be optional)
	MarkersMissing   int            // series gone without a marker
	MarkersExtra     int            // further markers for a series gone once
	MarkersFalse     int            // markers for a series still pushed
	Examples         map[string][]string
	shown            map[string]int // examples by class and fault context
}

// Violation classes, as Examples keys.
const (
	vLost      = "lost ticks"
	vOrder     = "samples out of order"
	vGhost     = "samples of a series not pushed"
	vValue     = "wrong values"
	vMissing   = "missing staleness markers"
	vExtra     = "duplicated staleness markers"
	vFalse     = "false staleness markers"
	maxExample = 16
)

// soakViolations lists the classes in the order they are reported.
var soakViolations = []string{vLost, vOrder, vGhost, vValue, vMissing, vExtra, vFalse}

// count returns the figure of a violation class.
func (r *soakReport) count(class string) int {
	return map[string]int{
		vLost: r.TicksLost, vOrder: r.OutOfOrder, vGhost: r.Ghosts, vValue: r.WrongValues,
		vMissing: r.MarkersMissing, vExtra: r.MarkersExtra, vFalse: r.MarkersFalse,
	}[class]
}

// example keeps a few examples of a violation: at most two per fault
// context (the last field of args), so that every context shows.
func (r *soakReport) example(class, format string, args ...any) {
	ctx := fmt.Sprint(args[len(args)-1])
	if r.shown == nil {
		r.shown = map[string]int{}
	}
	if r.shown[class+"|"+ctx] >= 2 || len(r.Examples[class]) >= maxExample {
		return
	}
	r.shown[class+"|"+ctx]++
	r.Examples[class] = append(r.Examples[class], fmt.Sprintf(format, args...))
}

// String renders the figures as a table.
func (r *soakReport) String() string {
	var sb strings.Builder
	kinds := slices.Sorted(maps.Keys(r.Faults))
	var faults []string
	total := 0
	for _, k := range kinds {
		faults = append(faults, fmt.Sprintf("%s %d", k, r.Faults[k]))
		total += r.Faults[k]
	}
	fmt.Fprintf(&sb, "faults             %d: %s\n", total, strings.Join(faults, ", "))
	fmt.Fprintf(&sb, "series             %d\n", r.Series)
	fmt.Fprintf(&sb, "ticks expected     %d\n", r.TicksExpected)
	fmt.Fprintf(&sb, "ticks delivered    %d\n", r.TicksDelivered)
	var lost []string
	for _, k := range slices.Sorted(maps.Keys(r.LostByFault)) {
		lost = append(lost, fmt.Sprintf("%s %d", k, r.LostByFault[k]))
	}
	fmt.Fprintf(&sb, "ticks lost         %d (by fault: %s)\n", r.TicksLost, strings.Join(lost, ", "))
	fmt.Fprintf(&sb, "duplicates         %d\n", r.Duplicates)
	fmt.Fprintf(&sb, "out of order       %d\n", r.OutOfOrder)
	fmt.Fprintf(&sb, "not pushed         %d\n", r.Ghosts)
	fmt.Fprintf(&sb, "wrong values       %d\n", r.WrongValues)
	fmt.Fprintf(&sb, "markers expected   %d\n", r.MarkersExpected)
	fmt.Fprintf(&sb, "markers delivered  %d\n", r.MarkersDelivered)
	fmt.Fprintf(&sb, "markers missing    %d\n", r.MarkersMissing)
	fmt.Fprintf(&sb, "markers duplicated %d\n", r.MarkersExtra)
	fmt.Fprintf(&sb, "markers false      %d\n", r.MarkersFalse)
	return sb.String()
}

// soakSpan is one stretch of a series' life on the gateway: added by one
// op, removed by another (or still there at Until).
type soakSpan struct {
	addStart, addEnd time.Time
	rmStart, rmEnd   time.Time // zero: never removed
	group            string
	versions         []soakVersion
}

// soakVersion is a value set by one op.
type soakVersion struct {
	start, end time.Time
	v          float64
}

// period is a time interval [from, to).
type period struct{ from, to time.Time }

// faultSpan is a fault's kind and when it held.
type faultSpan struct {
	kind string
	period
}

// checkSoak runs the oracle over the driver's log and what the receiver got.
func checkSoak(ops []soakOp, got []soakSample, p soakParams) *soakReport {
	r := &soakReport{Faults: map[string]int{}, LostByFault: map[string]int{}, Examples: map[string][]string{}}
	ops = slices.Clone(ops)
	slices.SortStableFunc(ops, func(a, b soakOp) int { return a.Start.Compare(b.Start) })
	// While the gateway is down the bridge forwards what it scraped last,
	// up to an interval before the stop: a push just before the stop may
	// reach it only after the restart. Such a push counts as done only
	// then.
	var gwDowns []period
	for _, op := range ops {
		switch {
		case op.Kind == opFault && op.Fault == faultGWDown:
			gwDowns = append(gwDowns, period{op.Start, p.Until})
		case op.Kind == opRecover && op.Fault == faultGWDown && len(gwDowns) > 0:
			gwDowns[len(gwDowns)-1].to = op.End
		}
	}
	for i := range ops {
		op := &ops[i]
		for _, d := range gwDowns {
			if (op.Kind == opPost || op.Kind == opPut || op.Kind == opDelete) &&
				!op.Start.Before(d.from.Add(-p.Interval-p.Slack)) && !op.Start.After(d.from) {
				op.End = later(op.End, d.to)
			}
		}
	}

	// Replay the log: the series' spans, the bridge's up periods and
	// downtimes, the pushes per group, the faults.
	spans := map[string][]*soakSpan{}
	state := map[string]map[string]float64{} // group → series → value
	pushes := map[string][]soakOp{}
	var ups, downs []period
	var faults []faultSpan
	open := map[string]int{} // fault kind → index in faults
	for _, op := range ops {
		switch op.Kind {
		case opPost, opPut, opDelete:
			old := state[op.Group]
			var now map[string]float64
			if op.Kind != opDelete {
				now = map[string]float64{}
				if op.Kind == opPost {
					fams := map[string]bool{}
					for k := range op.Series {
						fams[family(k)] = true
					}
					for k, v := range old {
						if !fams[family(k)] {
							now[k] = v
						}
					}
				}
				for k, v := range p.GroupSeries(op.Group) {
					now[k] = v
				}
				for k, v := range op.Series {
					now[k] = v
				}
				pushes[op.Group] = append(pushes[op.Group], op)
			}
			for k := range old {
				if _, ok := now[k]; !ok {
					s := spans[k][len(spans[k])-1]
					s.rmStart, s.rmEnd = op.Start, op.End
				}
			}
			for k, v := range now {
				if _, ok := old[k]; !ok {
					spans[k] = append(spans[k], &soakSpan{addStart: op.Start, addEnd: op.End, group: op.Group})
				}
				s := spans[k][len(spans[k])-1]
				s.versions = append(s.versions, soakVersion{op.Start, op.End, v})
			}
			state[op.Group] = now
		case opBridgeStart:
			ups = append(ups, period{op.End, p.Until})
			if n := len(downs); n > 0 && downs[n-1].to.IsZero() {
				downs[n-1].to = op.End
			}
		case opBridgeKill:
			if n := len(ups); n > 0 {
				ups[n-1].to = op.Start
			}
			downs = append(downs, period{from: op.Start})
		case opFault:
			r.Faults[op.Fault]++
			open[op.Fault] = len(faults)
			faults = append(faults, faultSpan{op.Fault, period{op.Start, p.Until}})
		case opRecover:
			if i, ok := open[op.Fault]; ok {
				faults[i].to = op.End
				delete(open, op.Fault)
			}
		}
	}
	for i := range downs {
		if downs[i].to.IsZero() {
			downs[i].to = p.Until
		}
	}
	upTime := func(from, to time.Time) time.Duration {
		var d time.Duration
		for _, u := range ups {
			if a, b := later(u.from, from), earlier(u.to, to); b.After(a) {
				d += b.Sub(a)
			}
		}
		return d
	}
	// faultAt names the fault a violation at t happened in: "during" one
	// holding at t or starting within 3 intervals after it (a gap starts
	// at the last tick delivered), else "after" the last one that ended
	// before t, else "no fault". A fault whose harm outlasts it shows as
	// "after" the faults that follow it.
	faultAt := func(t time.Time) string {
		ctx := "no fault"
		for _, f := range faults {
			switch {
			case !t.Before(f.from.Add(-3*p.Interval)) && t.Before(f.to):
				return "during " + f.kind
			case !t.Before(f.to):
				ctx = "after " + f.kind
			}
		}
		return ctx
	}

	// What arrived, per series in arrival order.
	bySeries := map[string][]soakSample{}
	for _, s := range got {
		bySeries[s.Key] = append(bySeries[s.Key], s)
	}
	r.Series = len(spans)
	interval := p.Interval
	maxGap := interval*3/2 + p.Jitter
	settle := interval + p.Slack
	for _, key := range slices.Sorted(maps.Keys(spans)) {
		ss := spans[key]
		// Order and duplicates, per arrival; then the distinct samples
		// and markers by timestamp.
		seen := map[int64]bool{}
		var newest int64 = math.MinInt64
		var samples, markers []int64
		vals := map[int64]float64{}
		for _, s := range bySeries[key] {
			if seen[s.T] {
				r.Duplicates++
				continue
			}
			if s.T < newest {
				r.OutOfOrder++
				r.example(vOrder, "%s: %s arrived after %s", key, fmtMs(s.T), fmtMs(newest))
			}
			seen[s.T], newest = true, max(newest, s.T)
			vals[s.T] = s.V
			if value.IsStaleNaN(s.V) {
				markers = append(markers, s.T)
			} else {
				samples = append(samples, s.T)
			}
		}
		slices.Sort(samples)
		slices.Sort(markers)
		r.MarkersDelivered += len(markers)

		// Samples: pushed at their time, with a value pushed then. The
		// Pushgateway applies a DELETE after answering 202: Jitter allows
		// for that.
		for _, ts := range samples {
			t := time.UnixMilli(ts)
			var live []soakVersion // of every span that may hold t (two around a quick delete and re-push)
			for _, s := range ss {
				if !s.addStart.After(t.Add(p.Slack)) && (s.rmEnd.IsZero() || s.rmEnd.Add(p.Jitter).After(t)) {
					live = append(live, possibleVersions(s.versions, t, p.Slack)...)
				}
			}
			if live == nil {
				r.Ghosts++
				r.example(vGhost, "%s at %s (%s)", key, fmtMs(ts), faultAt(t))
				continue
			}
			if !slices.ContainsFunc(live, func(v soakVersion) bool { return math.IsNaN(v.v) || v.v == vals[ts] }) {
				r.WrongValues++
				var pushed []string
				for _, v := range live {
					pushed = append(pushed, fmt.Sprintf("%v at %s", v.v, fmtMs(v.start.UnixMilli())))
				}
				r.example(vValue, "%s at %s = %v, pushed then: %s (%s)", key, fmtMs(ts), vals[ts], strings.Join(pushed, ", "), faultAt(t))
			}
		}

		// Ticks: in every stretch the series was pushed and the bridge ran
		// or filled, no gap longer than maxGap.
		for _, s := range ss {
			for _, w := range expectedWindows(s, pushes[s.group], ups, downs, settle, p.Until) {
				var in []int64
				for _, ts := range samples {
					if t := time.UnixMilli(ts); !t.Before(w.from) && t.Before(w.to) {
						in = append(in, ts)
					}
				}
				r.TicksDelivered += len(in)
				gap := func(from, to time.Time, edge bool) {
					g := to.Sub(from)
					if g <= maxGap {
						return
					}
					n := int(math.Round(float64(g)/float64(interval))) - 1
					if edge {
						n = int(g / interval)
					}
					n = max(n, 1)
					r.TicksLost += n
					f := faultAt(from)
					r.LostByFault[f] += n
					r.example(vLost, "%s: %d ticks in %s–%s (%s)", key, n, fmtMs(from.UnixMilli()), fmtMs(to.UnixMilli()), f)
				}
				if len(in) == 0 {
					gap(w.from, w.to, true)
					continue
				}
				gap(w.from, time.UnixMilli(in[0]), true)
				for j := 1; j < len(in); j++ {
					gap(time.UnixMilli(in[j-1]), time.UnixMilli(in[j]), false)
				}
				gap(time.UnixMilli(in[len(in)-1]), w.to, true)
			}
		}

		// Markers: none while the series is certainly on the gateway,
		// exactly one after each removal the bridge could see.
		attributed := make([]int, len(ss))
		for _, ts := range markers {
			t := time.UnixMilli(ts)
			owner := -1
			for i, s := range ss {
				if !t.Before(s.addEnd) && (s.rmStart.IsZero() || t.Add(p.Slack).Before(s.rmStart)) {
					owner = -2 // certainly live
					break
				}
				if !s.rmStart.IsZero() && !t.Before(s.rmStart.Add(-p.Slack)) {
					owner = i
				}
			}
			if owner < 0 {
				r.MarkersFalse++
				r.example(vFalse, "%s at %s (%s)", key, fmtMs(ts), faultAt(t))
				continue
			}
			attributed[owner]++
		}
		for i, s := range ss {
			if s.rmStart.IsZero() || !s.rmStart.Before(p.Until) {
				continue
			}
			next := p.Until
			if i+1 < len(ss) {
				next = ss[i+1].addStart
			}
			// The bridge may never have sent the series, or never seen
			// it gone: zero or one marker.
			optional := upTime(s.addEnd, s.rmStart) < settle || upTime(s.rmEnd, next) < settle
			switch n := attributed[i]; {
			case n > 1:
				r.MarkersExtra += n - 1
				r.example(vExtra, "%s: %d markers after it went at %s (%s)", key, n, fmtMs(s.rmStart.UnixMilli()), faultAt(s.rmStart))
			case n == 0 && !optional:
				r.MarkersMissing++
				r.example(vMissing, "%s went at %s (%s)", key, fmtMs(s.rmStart.UnixMilli()), faultAt(s.rmStart))
			}
			if !optional {
				r.MarkersExpected++
			}
		}
	}
	r.TicksExpected = r.TicksDelivered + r.TicksLost
	return r
}

// expectedWindows returns the stretches of s in which every tick must have
// arrived: from a tick after it appeared (and after the bridge first ran)
// until it went, except, for each downtime of the bridge, from the kill to
// the group's last push during the downtime (backfill fills a group from
// its last push only) or, for a series gone during the downtime, to its end
// (backfill cannot know it).
func expectedWindows(s *soakSpan, pushes []soakOp, ups, downs []period, settle time.Duration, until time.Time) []period {
	if len(ups) == 0 {
		return nil
	}
	from := later(s.addEnd, ups[0].from).Add(settle)
	to := until
	if !s.rmStart.IsZero() && s.rmStart.Before(until) {
		to = s.rmStart
	}
	if !to.After(from) {
		return nil
	}
	var holes []period
	for _, d := range downs {
		if !d.to.After(from) || !d.from.Before(to) {
			continue
		}
		if to.Before(d.to) {
			holes = append(holes, period{d.from, to})
			continue
		}
		var last time.Time
		for _, op := range pushes {
			if !op.Start.Before(d.from) && op.Start.Before(d.to) {
				last = op.End
			}
		}
		if !last.IsZero() {
			holes = append(holes, period{d.from, last})
		}
	}
	sort.Slice(holes, func(i, j int) bool { return holes[i].from.Before(holes[j].from) })
	var out []period
	cur := from
	for _, h := range holes {
		if h.from.After(cur) {
			out = append(out, period{cur, earlier(h.from, to)})
		}
		cur = later(cur, h.to)
	}
	if to.After(cur) {
		out = append(out, period{cur, to})
	}
	return out
}

// possibleVersions returns the versions the gateway could have served to
// a cycle of tick t, scraping within slack after it: those set no later
// than that and not certainly replaced before t. Empty means the span had
// no version yet.
func possibleVersions(vs []soakVersion, t time.Time, slack time.Duration) []soakVersion {
	var out []soakVersion
	for i, ver := range vs {
		if ver.start.After(t.Add(slack)) {
			break
		}
		if i+1 < len(vs) && vs[i+1].end.Before(t) {
			continue
		}
		out = append(out, ver)
	}
	return out
}

// family returns the metric name of a formatMetric key.
func family(key string) string {
	name, _, _ := strings.Cut(key, "{")
	return name
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// soakSynth builds a synthetic driver log and what a receiver got, for
// TestSoakOracle: ticks every second at t0+k s+100ms.
type soakSynth struct {
	t0  time.Time
	ops []soakOp
	got []soakSample
}

const synthGroup = `instance="g0",job="soak"`

func (s *soakSynth) at(sec float64) time.Time {
	return s.t0.Add(time.Duration(sec * float64(time.Second)))
}

func (s *soakSynth) tick(k int) int64 { return s.at(float64(k) + 0.1).UnixMilli() }

// op logs an op lasting 10ms from sec.
func (s *soakSynth) op(kind string, sec float64, series map[string]float64) {
	s.ops = append(s.ops, soakOp{Kind: kind, Start: s.at(sec), End: s.at(sec + 0.01), Group: synthGroup, Series: series})
}

// send appends the samples of ticks [from, to] of series with value v; the
// group's series go along when group is set.
func (s *soakSynth) send(from, to int, series map[string]float64, group bool) {
	all := map[string]float64{}
	maps.Copy(all, series)
	if group {
		for k, v := range soakGroupSeries(synthGroup) {
			if math.IsNaN(v) {
				v = 1
			}
			all[k] = v
		}
	}
	for k := from; k <= to; k++ {
		for _, key := range slices.Sorted(maps.Keys(all)) {
			s.got = append(s.got, soakSample{Key: key, T: s.tick(k), V: all[key]})
		}
	}
}

// TestSoakOracle feeds the oracle synthetic logs, each with one kind of
// flaw or an allowance, and checks the figures it finds.
func TestSoakOracle(t *testing.T) {
	a0 := `soak_a{` + synthGroup + `,s="0"}`
	a1 := `soak_a{` + synthGroup + `,s="1"}`
	b0 := `soak_b{` + synthGroup + `,s="0"}`
	one := map[string]float64{a0: 1}
	stale := math.Float64frombits(value.StaleNaN)
	groupN := len(soakGroupSeries(synthGroup))
	// base: the bridge from 0s, a PUT at 0.2s, every tick 1..19 delivered.
	base := func(s *soakSynth) {
		s.op(opBridgeStart, -0.1, nil)
		s.op(opPut, 0.2, one)
	}
	for _, c := range []struct {
		name  string
		build func(s *soakSynth)
		want  map[string]int // violation class → count; others 0
		dups  int
	}{
		{"clean", func(s *soakSynth) { base(s); s.send(1, 19, one, true) }, nil, 0},
		{"lost tick", func(s *soakSynth) {
			base(s)
			s.send(1, 9, one, true)
			s.send(10, 10, nil, true)
			s.send(11, 19, one, true)
		}, map[string]int{vLost: 1}, 0},
		{"lost tail", func(s *soakSynth) { base(s); s.send(1, 15, one, true) }, map[string]int{vLost: 4 * (1 + groupN)}, 0},
		{"duplicate is counted, not a violation", func(s *soakSynth) {
			base(s)
			s.send(1, 19, one, true)
			s.send(5, 5, one, false)
		}, nil, 1},
		{"out of order", func(s *soakSynth) {
			base(s)
			s.send(1, 7, one, true)
			s.send(9, 9, one, false)
			s.send(8, 8, one, false)
			s.send(8, 9, nil, true)
			s.send(10, 19, one, true)
		}, map[string]int{vOrder: 1}, 0},
		{"wrong value", func(s *soakSynth) {
			base(s)
			s.send(1, 4, one, true)
			s.send(5, 5, map[string]float64{a0: 2}, true)
			s.send(6, 19, one, true)
		}, map[string]int{vValue: 1}, 0},
		{"new value at the next tick", func(s *soakSynth) {
			base(s)
			s.op(opPost, 8.5, map[string]float64{a0: 2})
			s.send(1, 8, one, true)
			s.send(9, 19, map[string]float64{a0: 2}, true)
		}, nil, 0},
		{"delete with one marker each", func(s *soakSynth) {
			base(s)
			s.op(opDelete, 12.5, nil)
			s.send(1, 12, one, true)
			for k := range soakGroupSeries(synthGroup) {
				s.got = append(s.got, soakSample{Key: k, T: s.tick(13), V: stale})
			}
			s.got = append(s.got, soakSample{Key: a0, T: s.tick(13), V: stale})
		}, nil, 0},
		{"delete without markers", func(s *soakSynth) {
			base(s)
			s.op(opDelete, 12.5, nil)
			s.send(1, 12, one, true)
		}, map[string]int{vMissing: 1 + groupN}, 0},
		{"two markers, a false one, a sample after the delete", func(s *soakSynth) {
			base(s)
			s.op(opDelete, 12.5, nil)
			s.send(1, 12, one, true)
			for k := range soakGroupSeries(synthGroup) {
				s.got = append(s.got, soakSample{Key: k, T: s.tick(13), V: stale})
			}
			s.got = append(s.got,
				soakSample{Key: a0, T: s.tick(6) + 300, V: stale},
				soakSample{Key: a0, T: s.tick(13), V: stale},
				soakSample{Key: a0, T: s.tick(14), V: stale},
				soakSample{Key: a0, T: s.tick(16), V: 1})
		}, map[string]int{vFalse: 1, vExtra: 1, vGhost: 1, vOrder: 1}, 0},
		{"a POST replaces its family only", func(s *soakSynth) {
			s.op(opBridgeStart, -0.1, nil)
			s.op(opPut, 0.2, map[string]float64{a0: 1, b0: 2})
			s.op(opPost, 8.5, map[string]float64{a1: 3})
			s.send(1, 8, map[string]float64{a0: 1, b0: 2}, true)
			s.got = append(s.got, soakSample{Key: a0, T: s.tick(9), V: stale})
			s.send(9, 19, map[string]float64{a1: 3, b0: 2}, true)
		}, nil, 0},
		{"removed and back within a tick needs no marker", func(s *soakSynth) {
			base(s)
			s.op(opPut, 8.3, map[string]float64{b0: 2})
			s.op(opPut, 8.6, one)
			s.send(1, 19, one, true)
		}, nil, 0},
		{"gateway down: a push just before the stop shows after the restart", func(s *soakSynth) {
			base(s)
			s.op(opPut, 8.3, map[string]float64{a0: 2})
			s.ops = append(s.ops,
				soakOp{Kind: opFault, Fault: faultGWDown, Start: s.at(8.7), End: s.at(8.8)},
				soakOp{Kind: opRecover, Fault: faultGWDown, Start: s.at(11.5), End: s.at(12.0)})
			s.send(1, 11, one, true)
			s.send(12, 19, map[string]float64{a0: 2}, true)
		}, nil, 0},
		{"gateway down: deleted just before the stop, pushed again after the restart", func(s *soakSynth) {
			base(s)
			s.op(opDelete, 7.9, nil)
			s.ops = append(s.ops,
				soakOp{Kind: opFault, Fault: faultGWDown, Start: s.at(8.5), End: s.at(8.6)},
				soakOp{Kind: opRecover, Fault: faultGWDown, Start: s.at(10.5), End: s.at(11.0)})
			s.op(opPost, 11.0, map[string]float64{a0: 2})
			s.send(1, 10, one, true)
			s.send(11, 19, map[string]float64{a0: 2}, true)
		}, nil, 0},
		{"kill: filled from the push during the downtime", func(s *soakSynth) {
			base(s)
			s.op(opBridgeKill, 8.5, nil)
			s.op(opPut, 10.3, map[string]float64{a0: 2})
			s.ops = append(s.ops, soakOp{Kind: opBridgeStart, Start: s.at(13.5), End: s.at(14.0)})
			s.send(1, 8, one, true)
			s.send(11, 19, map[string]float64{a0: 2}, true)
		}, nil, 0},
		{"kill: ticks not filled", func(s *soakSynth) {
			base(s)
			s.op(opBridgeKill, 8.5, nil)
			s.ops = append(s.ops, soakOp{Kind: opBridgeStart, Start: s.at(13.5), End: s.at(14.0)})
			s.send(1, 8, one, true)
			s.send(14, 19, one, true)
		}, map[string]int{vLost: 5 * (1 + groupN)}, 0},
		{"kill: a series gone meanwhile gets its marker at the restart", func(s *soakSynth) {
			base(s)
			s.op(opPut, 0.3, map[string]float64{a0: 1, b0: 2})
			s.op(opBridgeKill, 8.5, nil)
			s.op(opPut, 10.3, one)
			s.ops = append(s.ops, soakOp{Kind: opBridgeStart, Start: s.at(13.5), End: s.at(14.0)})
			s.send(1, 8, map[string]float64{a0: 1, b0: 2}, true)
			s.send(11, 13, one, true)
			s.got = append(s.got, soakSample{Key: b0, T: s.tick(14), V: stale})
			s.send(14, 19, one, true)
		}, nil, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &soakSynth{t0: time.UnixMilli(1_700_000_000_000)}
			c.build(s)
			r := checkSoak(s.ops, s.got, soakParams{Interval: time.Second, Slack: 500 * time.Millisecond, Jitter: 250 * time.Millisecond, Until: s.at(19.5), GroupSeries: soakGroupSeries})
			for _, class := range soakViolations {
				if got, want := r.count(class), c.want[class]; got != want {
					t.Errorf("%s: %d, want %d; examples: %q", class, got, want, r.Examples[class])
				}
			}
			if r.Duplicates != c.dups {
				t.Errorf("duplicates: %d, want %d", r.Duplicates, c.dups)
			}
			if r.TicksExpected != r.TicksDelivered+r.TicksLost {
				t.Errorf("ticks expected %d != delivered %d + lost %d", r.TicksExpected, r.TicksDelivered, r.TicksLost)
			}
			if t.Failed() {
				t.Logf("figures:\n%s", r)
			}
		})
	}
}

// Package runs counts what a Pushgateway forgets: how many times each group
// was pushed, and the counters of the runs of batch jobs summed across runs.
//
// A Pushgateway keeps only the last push of each group. Seen every cycle,
// a group's push time tells when a new push came; a counter family's
// created timestamp (protobuf pushes, e.g. from client_golang) tells when a
// new run started. From the sequence of pushes the bridge observes, a
// State keeps per group
//
//   - the pushes and failed pushes seen (a new push time, a new push
//     failure time), and
//   - for the counter, classic and native histogram families an
//     Accumulate rule names, what the group's current run has added to the sums;
//
// and per sum (one per name and kept labels) the total of every run summed
// into it. A run is summed once: when it is first seen its values are
// added, and when the same run is seen again with higher values (pushed
// again, Runs OnReset or the same created timestamp), only the increase.
//
// It is pure: a cycle's groups in, a new State out; no I/O, no clock. A
// State is never changed once made: Advance returns a new one and leaves
// the old one as it was, so a caller that cannot persist the new one keeps
// the old one, and sums what the gateway still shows again next cycle.
// Given the same sequence of observed pushes, two States (two bridge
// replicas) hold the same sums.
package runs

import (
	"math"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// Names of the series of pushes observed, under a group's grouping labels.
const (
	PushesMetric       = "pushgateway_group_pushes_total"
	FailedPushesMetric = "pushgateway_group_failed_pushes_total"
)

// Operation ends the name of every accumulated series:
// <kept labels>:<pushed series' name>:sum_runs, following Prometheus'
// recording rule convention level:metric:operations. A pushed series whose
// name ends so is renamed before it is forwarded (synth.Options.Export).
const Operation = ":sum_runs"

// Mode says what a new run of a group is.
type Mode uint8

const (
	// PerPush makes every push a whole run: a new created timestamp of the
	// family if the push carries one, else a new push time, starts a new
	// run. A lower value under the same created timestamp does too.
	PerPush Mode = iota
	// OnReset lets a run push several times: only a value lower than the
	// one seen before starts a new run, as Prometheus counts a counter
	// reset.
	OnReset
)

// Accumulate is an accumulation rule: the counter, classic and native
// histogram families to sum across runs, and the labels the sums keep.
type Accumulate struct {
	// Metrics are metric family names: a counter's name as pushed (e.g.
	// rows_processed_total), a histogram's base name (a classic one's
	// _bucket, _sum and _count series are summed, a native one as a
	// histogram).
	Metrics []string
	// KeepLabels are the labels of the sums, in the order they make the
	// name's level; every other label, le of a bucket aside, is summed
	// away. Not empty.
	KeepLabels []string
	Runs       Mode
}

// Level is the first part of the accumulated series' names: the kept
// labels joined by '_'.
func (a *Accumulate) Level() string { return strings.Join(a.KeepLabels, "_") }

// Observation is one group present in a cycle.
type Observation struct {
	Group *pipeline.Group
	// Accumulate is the rule of the group's rule, nil if it has none.
	Accumulate *Accumulate
}

// Group is what a State knows of one group. It is never changed once made.
type Group struct {
	// Labels is the grouping key.
	Labels labels.Labels
	// PushTime and FailureTime are the last push and failure times seen,
	// Unix seconds as the gateway gives them.
	PushTime, FailureTime float64
	// Pushes and FailedPushes count the successful and failed pushes seen:
	// each new push time, each new push failure time. Two pushes between
	// two cycles count as one.
	Pushes, FailedPushes uint64
	// Start is when the counts started, in milliseconds since the epoch:
	// just before the first push seen.
	Start int64
	// Families are the group's accumulated families, sorted by name.
	Families []Family

	// acc is the rule the families were found under: while it and the
	// push times stay, the group is as it was.
	acc *Accumulate
	// key is the group's key in State.groups; pushes its series of
	// pushes observed, made once.
	key    string
	pushes [2]pipeline.Series
}

// seal fills in what is derived from g's fields, before g is published.
func (g *Group) seal() *Group {
	g.key = key(g.Labels)
	extra := &pipeline.Extra{StartTimestamp: g.Start}
	b := labels.NewBuilder(g.Labels)
	b.Set(model.MetricNameLabel, PushesMetric)
	g.pushes[0] = pipeline.Series{Labels: b.Labels(), Value: float64(g.Pushes), Metadata: &pushesMetadata, Extra: extra}
	b.Set(model.MetricNameLabel, FailedPushesMetric)
	g.pushes[1] = pipeline.Series{Labels: b.Labels(), Value: float64(g.FailedPushes), Metadata: &failedPushesMetadata, Extra: extra}
	return g
}

// Family is the current run of one accumulated family of a group.
type Family struct {
	Name string
	// Run identifies the run: its created timestamp in milliseconds, or
	// the push time in milliseconds if the push carries none.
	Run int64
	// Total is what every run of the group has added to the sums: of a
	// histogram, its observations (count).
	Total float64
	// Counted holds, per series of the run, the value already summed.
	Counted []Counted
}

// Counted is the value of one series of a run already summed: Value, or H
// for a native histogram.
type Counted struct {
	Labels labels.Labels
	Value  float64
	H      *histogram.FloatHistogram
}

// Sum is one accumulated series. It is never changed once made.
type Sum struct {
	// Labels are the series' labels, its name included.
	Labels labels.Labels
	// Value is the sum, or H for a native histogram (never changed once
	// made: a new sum gets a new one).
	Value float64
	H     *histogram.FloatHistogram
	// Start is when the sum started, in milliseconds since the epoch: just
	// before the push of the first run summed into it.
	Start int64
	// Family and Level are those of the rule that made the sum: a sum no
	// rule makes any more is dropped.
	Family, Level string

	meta  *metadata.Metadata
	extra *pipeline.Extra
}

// State is the run-tracking state of every present group and every sum.
// Its contents are never changed once made; the zero value is empty.
type State struct {
	groups map[string]*Group
	sums   map[string]*Sum
	// sorted lists the sums by labels, the order they are sent in.
	sorted []*Sum
}

// NewState returns a state holding groups and sums, as read back from disk.
func NewState(groups []*Group, sums []*Sum) *State {
	s := &State{groups: make(map[string]*Group, len(groups)), sums: make(map[string]*Sum, len(sums))}
	for _, g := range groups {
		s.groups[g.seal().key] = g
	}
	for _, m := range sums {
		m.meta, m.extra = sumMetadata(m.Labels.Get(model.MetricNameLabel), m.H != nil), &pipeline.Extra{StartTimestamp: m.Start}
		s.sums[key(m.Labels)] = m
	}
	s.sort()
	return s
}

func key(ls labels.Labels) string { return string(ls.Bytes(nil)) }

// Group returns what s knows of the group of grouping key ls, nil if
// nothing.
func (s *State) Group(ls labels.Labels) *Group {
	if s == nil {
		return nil
	}
	var buf [256]byte
	return s.groups[string(ls.Bytes(buf[:0]))]
}

// Groups calls f with every group s knows, in no order.
func (s *State) Groups(f func(*Group)) {
	if s == nil {
		return
	}
	for _, g := range s.groups {
		f(g)
	}
}

// Sums returns the sums sorted by labels; they must not be changed.
func (s *State) Sums() []*Sum {
	if s == nil {
		return nil
	}
	return s.sorted
}

func (s *State) sort() {
	s.sorted = s.sorted[:0]
	for _, m := range s.sums {
		s.sorted = append(s.sorted, m)
	}
	slices.SortFunc(s.sorted, func(a, b *Sum) int { return labels.Compare(a.Labels, b.Labels) })
}

// Advance returns the state after a complete cycle that found the groups
// of obs, sorted by grouping key (groups absent from it are forgotten;
// their sums stay); whether it differs from s in what is persisted (it
// may be a new State that does not, which the caller keeps all the same);
// and how many pushes, successful or failed, it observed that s had not.
// rules are every Accumulate in force: a sum none of them makes is
// dropped. s is not changed.
func (s *State) Advance(obs []Observation, rules []*Accumulate) (next *State, changed bool, seen uint64) {
	var prev State
	if s != nil {
		prev = *s
	}
	next = &State{groups: make(map[string]*Group, len(obs)), sums: make(map[string]*Sum, len(prev.sums))}
	changed = len(obs) != len(prev.groups)
	configured := map[[2]string]bool{}
	for _, r := range rules {
		for _, m := range r.Metrics {
			configured[[2]string{m, r.Level()}] = true
		}
	}
	for k, m := range prev.sums {
		if configured[[2]string{m.Family, m.Level}] {
			next.sums[k] = m
		} else {
			changed = true
		}
	}
	a := adder{sums: next.sums, made: map[string]bool{}}
	refreshed := false
	for _, o := range obs {
		a.buf = o.Group.Labels.Bytes(a.buf[:0])
		pg := prev.groups[string(a.buf)]
		if pg != nil && pg.PushTime == o.Group.PushTime && pg.FailureTime == o.Group.PushFailureTime && (pg.acc == o.Accumulate || sameFamilies(pg, o)) {
			if pg.acc != o.Accumulate {
				// The same families under a rule read again (a reload, a
				// restart): remember it, not to look again next cycle.
				c := *pg
				c.acc = o.Accumulate
				pg = &c
				refreshed = true
			}
			next.groups[pg.key] = pg
			continue
		}
		ng := a.observe(pg, o)
		seen += ng.Pushes + ng.FailedPushes
		if pg != nil {
			seen -= pg.Pushes + pg.FailedPushes
		}
		changed = changed || pg == nil || len(a.made) > 0 || ng.Pushes != pg.Pushes || ng.FailedPushes != pg.FailedPushes ||
			ng.Start != pg.Start || ng.PushTime != pg.PushTime || ng.FailureTime != pg.FailureTime || !slices.EqualFunc(ng.Families, pg.Families, sameFamily)
		next.groups[ng.seal().key] = ng
	}
	if !changed && !refreshed {
		return s, false, seen
	}
	next.sort()
	return next, changed, seen
}

// sameFamilies tells whether g tracks exactly the families o's rule names
// that its push has.
func sameFamilies(g *Group, o Observation) bool {
	n := 0
	if o.Accumulate != nil {
		for _, m := range o.Accumulate.Metrics {
			if slices.ContainsFunc(o.Group.Series, func(s pipeline.Series) bool { return member(m, &s) }) {
				n++
				if _, ok := slices.BinarySearchFunc(g.Families, m, func(f Family, m string) int { return strings.Compare(f.Name, m) }); !ok {
					return false
				}
			}
		}
	}
	return n == len(g.Families)
}

func sameFamily(a, b Family) bool {
	return a.Name == b.Name && a.Run == b.Run && a.Total == b.Total && slices.EqualFunc(a.Counted, b.Counted, func(x, y Counted) bool {
		return x.Value == y.Value && (x.H == y.H || (x.H != nil && y.H != nil && x.H.Equals(y.H))) && labels.Equal(x.Labels, y.Labels)
	})
}

// adder adds to the sums of a new state, copying a sum of the old one
// before its first change.
type adder struct {
	sums map[string]*Sum
	made map[string]bool
	lb   labels.Builder
	buf  []byte
}

// observe returns the group's state after the push o shows, adding what
// new runs and runs pushed again add to the sums.
func (a *adder) observe(pg *Group, o Observation) *Group {
	g := o.Group
	ng := &Group{Labels: g.Labels, PushTime: g.PushTime, FailureTime: g.PushFailureTime, acc: o.Accumulate}
	if pg == nil {
		pg = &Group{}
		ng.Start = startOf(g)
	} else {
		ng.Pushes, ng.FailedPushes, ng.Start = pg.Pushes, pg.FailedPushes, pg.Start
		if ng.Start == 0 {
			ng.Start = startOf(g)
		}
	}
	if g.PushTime > pg.PushTime {
		ng.Pushes++
	}
	if g.PushFailureTime > pg.FailureTime {
		ng.FailedPushes++
	}
	if o.Accumulate == nil || !g.PushedOK() {
		return ng
	}
	names := slices.Clone(o.Accumulate.Metrics)
	slices.Sort(names)
	for _, name := range slices.Compact(names) {
		var members []*pipeline.Series
		for i := range g.Series {
			if s := &g.Series[i]; member(name, s) && !math.IsNaN(s.Value) && !math.IsInf(s.Value, 0) {
				members = append(members, s)
			}
		}
		if len(members) == 0 {
			continue
		}
		var pf *Family
		if i, ok := slices.BinarySearchFunc(pg.Families, name, func(f Family, m string) int { return strings.Compare(f.Name, m) }); ok {
			pf = &pg.Families[i]
		}
		ng.Families = append(ng.Families, a.family(pf, name, members, g, o.Accumulate))
	}
	return ng
}

// family returns the family's state after the push of members, adding to
// the sums.
func (a *adder) family(pf *Family, name string, members []*pipeline.Series, g *pipeline.Group, acc *Accumulate) Family {
	pushMs := int64(math.Round(g.PushTime * 1000))
	f := Family{Name: name, Run: pushMs, Counted: make([]Counted, len(members))}
	if slices.ContainsFunc(members, func(s *pipeline.Series) bool { return s.Extra.StartTimestampOrZero() != 0 }) {
		// The push carries created timestamps: the newest is the run's.
		f.Run = 0
		for _, s := range members {
			f.Run = max(f.Run, s.Extra.StartTimestampOrZero())
		}
	}
	counted := func(ls labels.Labels) (Counted, bool) {
		if pf == nil {
			return Counted{}, false
		}
		for _, c := range pf.Counted {
			if labels.Equal(c.Labels, ls) {
				return c, true
			}
		}
		return Counted{}, false
	}
	values := make([]Counted, len(members))
	for i, s := range members {
		values[i] = Counted{Labels: s.Labels, Value: s.Value}
		switch {
		case s.FloatHistogram() != nil:
			values[i].H = s.FloatHistogram()
		case s.Histogram() != nil:
			values[i].H = s.Histogram().ToFloat(nil)
		}
	}
	newRun := pf == nil || (acc.Runs == PerPush && f.Run != pf.Run)
	if !newRun {
		// The same run, unless a value went down.
		for _, v := range values {
			c, ok := counted(v.Labels)
			if ok && ((v.H == nil && v.Value < c.Value) || (v.H != nil && (c.H == nil || v.H.DetectReset(c.H)))) {
				newRun = true
				break
			}
		}
	}
	if pf != nil {
		f.Total = pf.Total
		if !newRun && acc.Runs == OnReset {
			// A run that pushes again keeps the run it started as.
			f.Run = pf.Run
		}
	}
	for i, v := range values {
		f.Counted[i] = v
		delta := v
		if !newRun {
			c, _ := counted(v.Labels)
			if v.H == nil {
				delta.Value -= c.Value
			} else if c.H != nil {
				d, _, _, err := v.H.Copy().Sub(c.H)
				if err != nil {
					// Incompatible buckets (custom bounds changed): the
					// push is taken for a new run of this series.
					d = v.H
				}
				delta.H = d
			}
		}
		switch {
		case delta.H != nil:
			f.Total += delta.H.Count
		case !strings.HasSuffix(v.Labels.Get(model.MetricNameLabel), "_bucket") && !strings.HasSuffix(v.Labels.Get(model.MetricNameLabel), "_sum"):
			// A counter, or a classic histogram's _count: what the
			// status shows is observations, not buckets added up.
			f.Total += delta.Value
		}
		a.add(members[i], name, acc, delta, pushMs-1)
	}
	return f
}

// add adds delta to the sum of series s under acc, making the sum if it is
// new, with start as its start.
func (a *adder) add(s *pipeline.Series, family string, acc *Accumulate, delta Counted, start int64) {
	name := s.Labels.Get(model.MetricNameLabel)
	a.lb.Reset(labels.EmptyLabels())
	for _, l := range acc.KeepLabels {
		if v := s.Labels.Get(l); v != "" {
			a.lb.Set(l, v)
		}
	}
	if strings.HasSuffix(name, "_bucket") {
		if le := s.Labels.Get(model.BucketLabel); le != "" {
			a.lb.Set(model.BucketLabel, le)
		}
	}
	out := acc.Level() + ":" + name + Operation
	a.lb.Set(model.MetricNameLabel, out)
	ls := a.lb.Labels()
	k := key(ls)
	m := a.sums[k]
	switch {
	case m == nil:
		m = &Sum{Labels: ls, Start: start, Family: family, Level: acc.Level(), meta: sumMetadata(out, delta.H != nil), extra: &pipeline.Extra{StartTimestamp: start}}
		if delta.H != nil {
			m.H = delta.H.Copy()
			m.H.CounterResetHint = histogram.UnknownCounterReset
			a.sums[k], a.made[k] = m, true
			return
		}
		a.sums[k], a.made[k] = m, true
	case !a.made[k]:
		c := *m
		m = &c
		a.sums[k], a.made[k] = m, true
		if m.H != nil {
			m.H = m.H.Copy()
		}
	}
	switch {
	case m.H != nil && delta.H != nil:
		if _, _, _, err := m.H.Add(delta.H); err != nil {
			// Incompatible custom bucket bounds: the sum keeps what it
			// had. (Add leaves m.H as it was on error.)
			return
		}
	case m.H == nil && delta.H == nil:
		m.Value += delta.Value
	}
}

// member tells whether s is a series of the counter or histogram family
// name: named name (a counter, a native histogram), or name_bucket,
// name_sum or name_count of a classic histogram. Gauges, gauge histograms
// and summaries are no members: their values do not add up across runs.
func member(name string, s *pipeline.Series) bool {
	if h, fh := s.Histogram(), s.FloatHistogram(); h != nil || fh != nil {
		return s.Labels.Get(model.MetricNameLabel) == name && (s.Metadata == nil || s.Metadata.Type != model.MetricTypeGaugeHistogram) &&
			(h == nil || h.CounterResetHint != histogram.GaugeType) &&
			(fh == nil || fh.CounterResetHint != histogram.GaugeType)
	}
	var typ model.MetricType
	if s.Metadata != nil {
		typ = s.Metadata.Type
	}
	n := s.Labels.Get(model.MetricNameLabel)
	switch typ {
	case model.MetricTypeGauge, model.MetricTypeSummary, model.MetricTypeGaugeHistogram, model.MetricTypeInfo, model.MetricTypeStateset:
		return false
	case model.MetricTypeHistogram:
		rest, ok := strings.CutPrefix(n, name)
		return ok && (rest == "_bucket" || rest == "_sum" || rest == "_count")
	}
	return n == name
}

// startOf is just before the first push of g, in milliseconds.
func startOf(g *pipeline.Group) int64 {
	t := g.PushTime
	if t <= 0 || (g.PushFailureTime > 0 && g.PushFailureTime < t) {
		t = g.PushFailureTime
	}
	if t <= 0 {
		return 0
	}
	return int64(math.Round(t*1000)) - 1
}

func sumMetadata(name string, native bool) *metadata.Metadata {
	typ := model.MetricTypeCounter
	if native {
		typ = model.MetricTypeHistogram
	}
	return &metadata.Metadata{Type: typ,
		Help: "Sum across runs of " + name + "; accumulated by pushgateway-bridge (group_rules accumulate)."}
}

// Metadata of the series of pushes observed.
var (
	pushesMetadata = metadata.Metadata{Type: model.MetricTypeCounter,
		Help: "Successful pushes to the group that pushgateway-bridge observed (two between two of its cycles count as one)."}
	failedPushesMetadata = metadata.Metadata{Type: model.MetricTypeCounter,
		Help: "Failed pushes to the group that pushgateway-bridge observed (two between two of its cycles count as one)."}
)

// AppendPushes appends the series of pushes observed of the group of
// grouping key ls, if s knows it, under its grouping labels.
func (s *State) AppendPushes(dst []pipeline.Series, ls labels.Labels) []pipeline.Series {
	if g := s.Group(ls); g != nil {
		dst = append(dst, g.pushes[:]...)
	}
	return dst
}

// AppendSums appends the accumulated series, sorted by labels.
func (s *State) AppendSums(dst []pipeline.Series) []pipeline.Series {
	for _, m := range s.Sums() {
		dst = append(dst, pipeline.Series{Labels: m.Labels, Value: m.Value, Metadata: m.meta, Extra: m.extra.WithHistogram(nil, m.H)})
	}
	return dst
}

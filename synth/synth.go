// Package synth derives the series the bridge adds to what a Pushgateway
// holds: per group a pseudo-up and the age of its last successful push, and
// where switched on why it is up or not and the maximum age its rule
// allows; per gateway whether it could be scraped.
//
// It is pure: groups, rules, expected groups and the cycle's time in,
// verdicts and series out, no I/O and no clock. Every series derived from a
// group comes from its one Verdict, so they never disagree.
//
// # Series kinds
//
// Every synthesized series costs the receiver one active series per group,
// so most are switched on, not off: a group gets its pseudo-up and its age
// (DefaultKinds, at most two series), and the status series (one per
// Status) and its rule's maximum age only where Options.Series or the
// rule's Synthesize names their Kind. Options.Enabled answers for a group,
// also for the kinds made outside synth (KindPushes). A kind switched off
// stops its series, which then get staleness markers from the bridge's
// diff like any series that vanished.
//
// # Verdicts
//
// A group takes the first of Options.Rules that matches its grouping key
// (none if no rule does). Its Status is the first of these that applies:
//
//   - missing: the group is in Options.Expected and absent from the gateway;
//   - expired: its rule has ExpireAfter and the last push, successful or
//     failed, is older than that;
//   - over_limit: its rule has SeriesLimit and the group holds more series
//     than that (push_time_seconds and push_failure_time_seconds
//     included: every series it would forward);
//   - failed: the last push failed;
//   - too_old: its rule has MaxAge and the last successful push is older
//     than that (or there was none);
//   - ok.
//
// missing and expired never apply together (one needs the group absent, the
// other present); expired comes before failed because a group nobody
// pushes to any more is abandoned whatever its last push did. Expiry counts
// from the last push of any kind, not the last successful one, so that a
// job that still runs and fails stays visible as failed instead of
// vanishing. over_limit comes before failed and too_old: whatever its
// pushes did, none of the group is forwarded. The pseudo-up is 1 for ok and
// 0 for every other status.
//
// # Expiry: the contract with the bridge
//
// Expiry happens downstream: the group stays in the Pushgateway, and a new
// push brings it back. The bridge judges the groups once per cycle with
// Judge and, for each Verdict:
//
//   - forwards the group's pushed series only if ForwardPushed is true
//     (false for an expired group, expected or not, and for one over its
//     rule's SeriesLimit, whose up 0 and status still go);
//   - hands the verdicts to AppendSeries, which adds the synthesized series
//     of the groups where ForwardSynthesized is true (all but the expired
//     groups that are not expected: those vanish entirely, an expected one
//     keeps up 0 and status expired);
//   - deletes the group from the Pushgateway if DeleteGroup is true
//     (expired under a rule with DeleteExpired). An expected group deleted
//     so is reported missing from then on.
//
// The series that stop being sent get their staleness marker from the
// bridge's usual diff, once. Series does Judge and AppendSeries in one call
// for callers that forward no pushed series.
//
// Absence is only known when Groups holds what every gateway holds: with
// Input.Partial, Judge reports no expected group missing. (A gateway that
// is down but whose last groups the bridge still holds is not partial.)
package synth

import (
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
	"github.com/pushgateway-bridge/pushgateway-bridge/runs"
)

// Names of the synthesized series.
const (
	// DefaultUpMetric is the default name of the per-group pseudo-up.
	DefaultUpMetric = "up"
	// AgeMetric is the seconds since the group's last successful push.
	AgeMetric = "pushgateway_group_age_seconds"
	// StatusMetric is 1 with the group's Status in StatusLabel, and 0 with
	// each other Status: one series per status, so an alert can tell why up
	// is 0 without a label changing value.
	StatusMetric = "pushgateway_group_status"
	// StatusLabel holds the status on StatusMetric. A grouping label of the
	// same name is kept there as "exported_status", as Prometheus renames
	// a scraped label that clashes with a target label.
	StatusLabel = "status"
	// MaxAgeMetric is the MaxAge of the group's rule in seconds; absent if
	// the rule has none, or no rule matches.
	MaxAgeMetric = "pushgateway_group_max_age_seconds"
	// GatewayUpMetric is 1 when the gateway named by its "gateway" label
	// could be scraped in the cycle, 0 when not.
	GatewayUpMetric = "pushgateway_up"
	// GatewayLabel names the gateway on GatewayUpMetric.
	GatewayLabel = "gateway"
)

// Metadata of the synthesized series, as remote write 2.0 and the metadata
// requests of 1.0 send it.
var (
	upMetadata = metadata.Metadata{Type: model.MetricTypeGauge,
		Help: "1 if the group's status is ok, 0 if not (see pushgateway_group_status); synthesized by pushgateway-bridge."}
	statusMetadata = metadata.Metadata{Type: model.MetricTypeGauge,
		Help: "1 for the group's current status (ok, failed, too_old, missing, expired, over_limit), 0 for the others; synthesized by pushgateway-bridge."}
	ageMetadata = metadata.Metadata{Type: model.MetricTypeGauge, Unit: "seconds",
		Help: "Seconds since the group's last successful push; synthesized by pushgateway-bridge."}
	maxAgeMetadata = metadata.Metadata{Type: model.MetricTypeGauge, Unit: "seconds",
		Help: "Seconds the group's last successful push may be old before it is too old; synthesized by pushgateway-bridge."}
	gatewayUpMetadata = metadata.Metadata{Type: model.MetricTypeGauge,
		Help: "1 if pushgateway-bridge could scrape the Pushgateway in its last cycle, 0 if not."}
)

// Options shape the synthesized series.
type Options struct {
	// UpMetric names the per-group pseudo-up; DefaultUpMetric if empty.
	UpMetric string
	// Rules judge the groups; a group takes the first that matches it.
	Rules []Rule
	// Expected are grouping keys that must exist; each should be listed
	// once.
	Expected []labels.Labels
	// Series are the kinds of per-group series synthesized for every
	// group, on top of DefaultKinds (see Kind).
	Series Kinds
}

// Accumulations returns the Accumulate of every rule that has one.
func (o Options) Accumulations() []*runs.Accumulate {
	var acc []*runs.Accumulate
	for i := range o.Rules {
		if a := o.Rules[i].Accumulate; a != nil {
			acc = append(acc, a)
		}
	}
	return acc
}

// Matcher tests one grouping label.
type Matcher struct {
	// Name is the label's name.
	Name string
	// Regexp must match the label's whole value (relabel.NewRegexp anchors
	// it), "" for a label the group does not have.
	Regexp relabel.Regexp
}

// Rule says how a set of groups is judged.
type Rule struct {
	// Name identifies the rule in verdicts, e.g. where a configuration
	// file has it ("group_rules[0]").
	Name string
	// Matchers must all match the grouping key; a rule without matchers
	// matches every group.
	Matchers []Matcher
	// MaxAge, if positive, is how old the last successful push may be
	// before the group is too old.
	MaxAge time.Duration
	// ExpireAfter, if positive, is how long after its last push,
	// successful or failed, the group expires.
	ExpireAfter time.Duration
	// DeleteExpired asks the bridge to delete the group from the
	// Pushgateway once it has expired. synth only passes it on, through
	// Verdict.DeleteGroup.
	DeleteExpired bool
	// SeriesLimit, if positive, is the most series a group may hold and
	// still be forwarded: a group with more is over_limit.
	SeriesLimit int
	// Synthesize are kinds of per-group series synthesized for the groups
	// the rule judges, on top of Options.Series.
	Synthesize Kinds
	// Accumulate, if not nil, sums counter and histogram families
	// of the groups across their runs; the bridge does it (package runs),
	// synth only passes it on.
	Accumulate *runs.Accumulate
}

// Matches tells whether every matcher of r matches the grouping key.
func (r *Rule) Matches(key labels.Labels) bool {
	for _, m := range r.Matchers {
		if m.Regexp.Regexp == nil || !m.Regexp.MatchString(key.Get(m.Name)) {
			return false
		}
	}
	return true
}

// FirstMatch returns the first of rules that matches the grouping key,
// pointing into rules; nil if none does.
func FirstMatch(rules []Rule, key labels.Labels) *Rule {
	for i := range rules {
		if rules[i].Matches(key) {
			return &rules[i]
		}
	}
	return nil
}

// Gateway is one Pushgateway's state in a cycle.
type Gateway struct {
	// Name identifies the gateway; never its URL, which may hold credentials.
	Name string
	// Up tells whether the gateway could be scraped.
	Up bool
}

// Input is what a cycle knows.
type Input struct {
	Gateways []Gateway
	Groups   []pipeline.Group
	// Partial tells that Groups may lack groups the gateways hold (one
	// could not be scraped and nothing is known of it): absence then proves
	// nothing, and no expected group is reported missing.
	Partial bool
}

// Status says why a group is healthy or not.
type Status string

// The statuses a group can have, in the order of StatusMetric's series.
// The package documentation says which applies when several could.
const (
	StatusOK        Status = "ok"
	StatusFailed    Status = "failed"
	StatusTooOld    Status = "too_old"
	StatusMissing   Status = "missing"
	StatusExpired   Status = "expired"
	StatusOverLimit Status = "over_limit"
)

// statuses lists every Status once, in the order StatusMetric's series are
// written.
var statuses = [...]Status{StatusOK, StatusFailed, StatusTooOld, StatusMissing, StatusExpired, StatusOverLimit}

// Statuses returns every Status once, in the order StatusMetric's series
// are written.
func Statuses() []Status { return slices.Clone(statuses[:]) }

// Health is the verdict on one group at one time.
type Health struct {
	Status Status
	// Age is the time since the last successful push; valid only if HasAge.
	Age    time.Duration
	HasAge bool
	// Idle is the time since the last push, successful or failed, what
	// ExpireAfter is compared with; 0 for an absent group.
	Idle time.Duration
	// Series is how many series the group holds, what SeriesLimit is
	// compared with; 0 for an absent group.
	Series int
	// Rule is the rule the group was judged by, nil if none matched. It
	// points into Options.Rules.
	Rule *Rule
}

// Up tells whether the group counts as up.
func (h Health) Up() bool { return h.Status == StatusOK }

// MaxAge is the MaxAge of the group's rule, 0 if it has none.
func (h Health) MaxAge() time.Duration {
	if h.Rule == nil || h.Rule.MaxAge <= 0 {
		return 0
	}
	return h.Rule.MaxAge
}

// Evaluate judges a group at time now under rule (nil: under none). g nil
// means the group is absent from the gateway: missing, since only expected
// groups are judged absent.
func Evaluate(g *pipeline.Group, now time.Time, rule *Rule) Health {
	h := Health{Rule: rule}
	if g == nil {
		h.Status = StatusMissing
		return h
	}
	if g.PushedOK() {
		h.HasAge = true
		h.Age = now.Sub(unixSeconds(g.PushTime))
	}
	last := max(g.PushTime, g.PushFailureTime)
	if last > 0 {
		h.Idle = now.Sub(unixSeconds(last))
	}
	h.Series = len(g.Series)
	switch {
	case rule != nil && rule.ExpireAfter > 0 && h.Idle > rule.ExpireAfter:
		h.Status = StatusExpired
	case rule != nil && rule.SeriesLimit > 0 && h.Series > rule.SeriesLimit:
		h.Status = StatusOverLimit
	case g.LastPushFailed():
		h.Status = StatusFailed
	case rule != nil && rule.MaxAge > 0 && (!h.HasAge || h.Age > rule.MaxAge):
		h.Status = StatusTooOld
	default:
		h.Status = StatusOK
	}
	return h
}

// Verdict is the judgement on one group in one cycle, present or expected.
type Verdict struct {
	// Labels is the grouping key.
	Labels labels.Labels
	// Group is the group as the gateway holds it; nil for an expected group
	// that is absent. It points into Input.Groups.
	Group *pipeline.Group
	// Expected tells whether Options.Expected lists the group.
	Expected bool
	Health
}

// ForwardPushed tells whether the group's pushed series are forwarded:
// the group is present, has not expired and is not over its series limit.
func (v *Verdict) ForwardPushed() bool {
	return v.Group != nil && v.Status != StatusExpired && v.Status != StatusOverLimit
}

// ForwardSynthesized tells whether the group's synthesized series are
// forwarded: all but those of an expired group that is not expected.
func (v *Verdict) ForwardSynthesized() bool { return v.Status != StatusExpired || v.Expected }

// DeleteGroup tells whether the bridge should delete the group from the
// Pushgateway: it has expired under a rule with DeleteExpired.
func (v *Verdict) DeleteGroup() bool {
	return v.Status == StatusExpired && v.Rule != nil && v.Rule.DeleteExpired
}

// Judge appends to dst the verdict on every group of the cycle at time now:
// the groups of in, in their order, then the expected groups absent from
// them, in Options.Expected's order. Absent groups are judged only when
// every gateway of in is up. The verdicts point into in.Groups and
// o.Rules.
func Judge(dst []Verdict, in Input, now time.Time, o Options) []Verdict {
	judge(in, now, o, func(v *Verdict) { dst = append(dst, *v) })
	return dst
}

// judge calls f with the verdict on every group of the cycle, in Judge's
// order; v is only valid during the call.
func judge(in Input, now time.Time, o Options, f func(v *Verdict)) {
	// Expected grouping keys by hash; found marks those present.
	var expected map[uint64][]int
	var found []bool
	if len(o.Expected) > 0 {
		expected = make(map[uint64][]int, len(o.Expected))
		for i, key := range o.Expected {
			h := key.Hash()
			expected[h] = append(expected[h], i)
		}
		found = make([]bool, len(o.Expected))
	}
	var v Verdict
	for i := range in.Groups {
		g := &in.Groups[i]
		v = Verdict{Labels: g.Labels, Group: g}
		if expected != nil {
			for _, j := range expected[g.Labels.Hash()] {
				if labels.Equal(o.Expected[j], g.Labels) {
					v.Expected, found[j] = true, true
				}
			}
		}
		v.Health = Evaluate(g, now, FirstMatch(o.Rules, g.Labels))
		f(&v)
	}
	if in.Partial {
		return
	}
	for j, key := range o.Expected {
		if found[j] {
			continue
		}
		v = Verdict{Labels: key, Expected: true}
		v.Health = Evaluate(nil, now, FirstMatch(o.Rules, key))
		f(&v)
	}
}

// Series appends the synthesized series of a cycle at time now to dst, as
// AppendSeries does with the verdicts of Judge.
func Series(dst []pipeline.Series, in Input, now time.Time, o Options) []pipeline.Series {
	dst = appendGateways(dst, in.Gateways)
	a := newAppender(o)
	judge(in, now, o, func(v *Verdict) { dst = a.appendVerdict(dst, v) })
	return dst
}

// AppendSeries appends to dst the synthesized series of a cycle: for every
// gateway its reachability, then for every verdict where
// ForwardSynthesized is true, in order, under the group's grouping labels:
// its pseudo-up; its StatusMetric, one series per Status, if KindStatus is
// enabled for it (Options.Enabled); its age, once it has pushed
// successfully; and its rule's MaxAge, if the rule has one and KindMaxAge
// is enabled.
func AppendSeries(dst []pipeline.Series, gateways []Gateway, verdicts []Verdict, o Options) []pipeline.Series {
	dst = appendGateways(dst, gateways)
	a := newAppender(o)
	for i := range verdicts {
		dst = a.appendVerdict(dst, &verdicts[i])
	}
	return dst
}

func appendGateways(dst []pipeline.Series, gateways []Gateway) []pipeline.Series {
	for _, gw := range gateways {
		ls := labels.FromStrings(model.MetricNameLabel, GatewayUpMetric, GatewayLabel, gw.Name)
		dst = append(dst, pipeline.Series{Labels: ls, Value: boolValue(gw.Up), Metadata: &gatewayUpMetadata})
	}
	return dst
}

// appender builds the series of verdicts, reusing one labels.Builder.
type appender struct {
	o  Options
	up string
	b  *labels.Builder
}

func newAppender(o Options) *appender {
	up := o.UpMetric
	if up == "" {
		up = DefaultUpMetric
	}
	return &appender{o: o, up: up, b: labels.NewBuilder(labels.EmptyLabels())}
}

func (a *appender) appendVerdict(dst []pipeline.Series, v *Verdict) []pipeline.Series {
	if !v.ForwardSynthesized() {
		return dst
	}
	kinds := a.o.KindsFor(v)
	b := a.b
	b.Reset(v.Labels)
	b.Set(model.MetricNameLabel, a.up)
	dst = append(dst, pipeline.Series{Labels: b.Labels(), Value: boolValue(v.Up()), Metadata: &upMetadata})

	if kinds.Has(KindStatus) {
		b.Set(model.MetricNameLabel, StatusMetric)
		if s := v.Labels.Get(StatusLabel); s != "" {
			exported := "exported_" + StatusLabel
			for b.Get(exported) != "" {
				exported = "exported_" + exported
			}
			b.Set(exported, s)
		}
		for _, s := range statuses {
			b.Set(StatusLabel, string(s))
			dst = append(dst, pipeline.Series{Labels: b.Labels(), Value: boolValue(v.Status == s), Metadata: &statusMetadata})
		}
	}

	b.Reset(v.Labels)
	if v.HasAge {
		b.Set(model.MetricNameLabel, AgeMetric)
		dst = append(dst, pipeline.Series{Labels: b.Labels(), Value: v.Age.Seconds(), Metadata: &ageMetadata})
	}
	if m := v.MaxAge(); m > 0 && kinds.Has(KindMaxAge) {
		b.Set(model.MetricNameLabel, MaxAgeMetric)
		dst = append(dst, pipeline.Series{Labels: b.Labels(), Value: m.Seconds(), Metadata: &maxAgeMetadata})
	}
	return dst
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// unixSeconds converts a Pushgateway timestamp in float seconds.
func unixSeconds(s float64) time.Time {
	sec := int64(s)
	return time.Unix(sec, int64((s-float64(sec))*1e9))
}

// exportedPrefix is put before the name of a pushed series that is named
// like a synthesized one, as Prometheus puts it before a scraped label that
// clashes with a target label.
const exportedPrefix = "exported_"

// Synthesized tells whether name is the name of a series synth or the
// bridge makes: the per-group up (Options.UpMetric), the group status, age
// and max age, the gateway's up, the pushes observed, and
// every name ending in runs.Operation (":sum_runs", the accumulated
// series, whether a rule accumulates or not), unless it starts with
// exported_. A pushed series of such a name would go out under the
// same identity as the synthesized one; Export renames it.
func (o Options) Synthesized(name string) bool {
	up := o.UpMetric
	if up == "" {
		up = DefaultUpMetric
	}
	switch name {
	case up, StatusMetric, AgeMetric, MaxAgeMetric, GatewayUpMetric,
		runs.PushesMetric, runs.FailedPushesMetric:
		return true
	}
	// A renamed one (exported_...) is not: renaming must end.
	return strings.HasSuffix(name, runs.Operation) && !strings.HasPrefix(name, exportedPrefix)
}

// Export returns a group's series as they are forwarded: a series named
// like a synthesized one (see Synthesized) is renamed exported_<name>,
// prefixed again while that name is synthesized or pushed in the group too,
// so that it never goes out under the identity of a synthesized series. It
// returns series itself when nothing is renamed, else a copy; series is not
// modified.
func (o Options) Export(series []pipeline.Series) []pipeline.Series {
	clash := slices.IndexFunc(series, func(s pipeline.Series) bool {
		return o.Synthesized(s.Labels.Get(model.MetricNameLabel))
	})
	if clash < 0 {
		return series
	}
	names := make(map[string]bool, len(series))
	for i := range series {
		names[series[i].Labels.Get(model.MetricNameLabel)] = true
	}
	out := slices.Clone(series)
	b := labels.NewBuilder(labels.EmptyLabels())
	for i := clash; i < len(out); i++ {
		name := out[i].Labels.Get(model.MetricNameLabel)
		if !o.Synthesized(name) {
			continue
		}
		exported := exportedPrefix + name
		for o.Synthesized(exported) || names[exported] {
			exported = exportedPrefix + exported
		}
		b.Reset(out[i].Labels)
		b.Set(model.MetricNameLabel, exported)
		out[i].Labels, out[i].Hash = b.Labels(), 0
	}
	return out
}

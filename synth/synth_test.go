package synth

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/pushgateway-bridge/pushgateway-bridge/internal/golden"
	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// rule returns a rule named name whose matchers are the label name and
// regex pairs of kv.
func rule(name string, maxAge, expireAfter time.Duration, kv ...string) Rule {
	r := Rule{Name: name, MaxAge: maxAge, ExpireAfter: expireAfter}
	for i := 0; i < len(kv); i += 2 {
		r.Matchers = append(r.Matchers, Matcher{Name: kv[i], Regexp: relabel.MustNewRegexp(kv[i+1])})
	}
	return r
}

func TestSeries(t *testing.T) {
	now := time.Unix(1_800_000_000, 500_000_000)
	ago := func(d time.Duration) float64 { return float64(now.Add(-d).UnixNano()) / 1e9 }
	pushed := ago(90 * time.Second)
	group := func(pushTime, failureTime float64, kv ...string) pipeline.Group {
		return pipeline.Group{Labels: labels.FromStrings(kv...), PushTime: pushTime, PushFailureTime: failureTime}
	}
	up := []Gateway{{Name: "pgw:9091", Up: true}}
	nightly := rule("nightly", 26*time.Hour, 7*24*time.Hour, "job", "nightly_.*")
	withStatus := rule("with_status", 26*time.Hour, 0, "job", "nightly_backup")
	withStatus.Synthesize = KindsOf(KindStatus)
	// Cases switch every kind synth makes on unless defaultKinds says they
	// keep the options they give.
	for _, tc := range []struct {
		name         string
		in           Input
		opts         Options
		defaultKinds bool
	}{
		{
			// The default: up and age only, whatever the status and rule.
			name: "default_kinds",
			in: Input{Gateways: up, Groups: []pipeline.Group{
				group(pushed, 0, "job", "nightly_backup", "instance", "ok"),
				group(ago(27*time.Hour), 0, "job", "nightly_backup", "instance", "too_old"),
				group(pushed, ago(time.Second), "job", "nightly_backup", "instance", "failed"),
			}},
			opts:         Options{Rules: []Rule{nightly}, Expected: []labels.Labels{labels.FromStrings("job", "nightly_backup", "instance", "missing")}},
			defaultKinds: true,
		},
		{
			// A rule's synthesize adds kinds for its groups only; the
			// options' for every group.
			name: "rule_synthesize",
			in: Input{Gateways: up, Groups: []pipeline.Group{
				group(pushed, 0, "job", "nightly_backup"),
				group(pushed, 0, "job", "nightly_report"),
			}},
			opts:         Options{Rules: []Rule{withStatus, nightly}, Series: KindsOf(KindMaxAge)},
			defaultKinds: true,
		},
		{
			name: "ok",
			in: Input{
				Gateways: []Gateway{{Name: "pgw:9091", Up: true}},
				Groups:   []pipeline.Group{group(pushed, 0, "job", "backup", "instance", "db-7")},
			},
		},
		{
			name: "failed",
			in: Input{
				Gateways: []Gateway{{Name: "pgw:9091", Up: true}},
				// An earlier push succeeded; the last one failed.
				Groups: []pipeline.Group{group(pushed, pushed+30, "job", "backup")},
			},
		},
		{
			name: "never_pushed_ok",
			in: Input{
				Gateways: []Gateway{{Name: "pgw:9091", Up: true}},
				// A push that failed creates the group with push_time 0.
				Groups: []pipeline.Group{group(0, pushed, "job", "x", "foo", "bar")},
			},
		},
		{
			name: "recovered",
			in: Input{
				Gateways: []Gateway{{Name: "pgw:9091", Up: true}},
				// A failed push followed by a good one.
				Groups: []pipeline.Group{group(pushed, pushed-60, "job", "backup")},
			},
		},
		{
			name: "gateway_down",
			in:   Input{Gateways: []Gateway{{Name: "pgw:9091", Up: false}}},
		},
		{
			name: "up_metric_renamed",
			in: Input{
				Gateways: []Gateway{{Name: "a", Up: true}, {Name: "b", Up: false}},
				Groups: []pipeline.Group{
					group(pushed, 0, "job", "a"),
					group(pushed, 0, "job", "b", "path", "/var/tmp"),
				},
			},
			opts: Options{UpMetric: "pushgateway_group_up"},
		},
		{
			name: "ok_under_max_age",
			in:   Input{Gateways: up, Groups: []pipeline.Group{group(ago(25*time.Hour), 0, "job", "nightly_backup")}},
			opts: Options{Rules: []Rule{nightly}},
		},
		{
			name: "too_old",
			in:   Input{Gateways: up, Groups: []pipeline.Group{group(ago(27*time.Hour), 0, "job", "nightly_backup")}},
			opts: Options{Rules: []Rule{nightly}},
		},
		{
			// Failed and too old at once: failed says more.
			name: "failed_and_too_old",
			in:   Input{Gateways: up, Groups: []pipeline.Group{group(ago(27*time.Hour), ago(time.Hour), "job", "nightly_backup")}},
			opts: Options{Rules: []Rule{nightly}},
		},
		{
			// A job that still pushes, and fails, does not expire, however
			// old its last successful push.
			name: "failing_does_not_expire",
			in:   Input{Gateways: up, Groups: []pipeline.Group{group(ago(30*24*time.Hour), ago(time.Hour), "job", "nightly_backup")}},
			opts: Options{Rules: []Rule{nightly}},
		},
		{
			name: "missing",
			in:   Input{Gateways: up, Groups: []pipeline.Group{group(pushed, 0, "job", "nightly_report")}},
			opts: Options{
				Rules:    []Rule{nightly},
				Expected: []labels.Labels{labels.FromStrings("job", "nightly_backup", "instance", "db-7"), labels.FromStrings("job", "nightly_report")},
			},
		},
		{
			// Absence is unknown while the gateway cannot be scraped.
			name: "missing_gateway_down",
			in:   Input{Gateways: []Gateway{{Name: "pgw:9091", Up: false}}, Partial: true},
			opts: Options{
				Rules:    []Rule{nightly},
				Expected: []labels.Labels{labels.FromStrings("job", "nightly_backup", "instance", "db-7")},
			},
		},
		{
			// Not expected: every series of the expired group goes; the
			// other group stays.
			name: "expired",
			in: Input{Gateways: up, Groups: []pipeline.Group{
				group(ago(8*24*time.Hour), 0, "job", "nightly_backup", "instance", "gone"),
				group(pushed, 0, "job", "nightly_backup", "instance", "db-7"),
			}},
			opts: Options{Rules: []Rule{nightly}},
		},
		{
			// Expected: up 0 and status expired stay, with the age.
			name: "expired_expected",
			in: Input{Gateways: up, Groups: []pipeline.Group{
				group(ago(8*24*time.Hour), 0, "job", "nightly_backup", "instance", "db-7"),
			}},
			opts: Options{
				Rules:    []Rule{nightly},
				Expected: []labels.Labels{labels.FromStrings("job", "nightly_backup", "instance", "db-7")},
			},
		},
		{
			// Expired and failed at once: nobody pushes any more.
			name: "expired_and_failed",
			in: Input{Gateways: up, Groups: []pipeline.Group{
				group(ago(9*24*time.Hour), ago(8*24*time.Hour), "job", "nightly_backup"),
			}},
			opts: Options{Rules: []Rule{nightly}, Expected: []labels.Labels{labels.FromStrings("job", "nightly_backup")}},
		},
		{
			// db-7 takes the first rule (1m: too old), db-8 the second
			// (1h: ok), the other job none (no max_age series).
			name: "first_match_wins",
			in: Input{Gateways: up, Groups: []pipeline.Group{
				group(pushed, 0, "job", "backup", "instance", "db-7"),
				group(pushed, 0, "job", "backup", "instance", "db-8"),
				group(pushed, 0, "job", "report"),
			}},
			opts: Options{Rules: []Rule{
				rule("strict", time.Minute, 0, "job", "backup", "instance", "db-7"),
				rule("lenient", time.Hour, 0, "job", "backup"),
				rule("never", time.Second, 0, "job", "backup.*", "instance", "db-8"),
			}},
		},
		{
			name: "no_matching_rule",
			in:   Input{Gateways: up, Groups: []pipeline.Group{group(ago(27*time.Hour), 0, "job", "hourly_backup")}},
			opts: Options{Rules: []Rule{nightly}},
		},
		{
			// Over its series limit: up 0, status over_limit, the age.
			name: "over_limit",
			in: Input{Gateways: up, Groups: []pipeline.Group{
				{Labels: labels.FromStrings("job", "big"), PushTime: pushed, Series: make([]pipeline.Series, 3)},
				{Labels: labels.FromStrings("job", "small"), PushTime: pushed, Series: make([]pipeline.Series, 2)},
			}},
			opts: Options{Rules: []Rule{{Name: "limit", SeriesLimit: 2}}},
		},
		{
			// A grouping label named status is kept as exported_status on
			// the status series only.
			name: "status_label_clash",
			in:   Input{Gateways: up, Groups: []pipeline.Group{group(pushed, 0, "job", "x", "status", "done")}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.defaultKinds {
				tc.opts.Series = KindsOf(KindStatus, KindMaxAge)
			}
			var buf bytes.Buffer
			for _, s := range Series(nil, tc.in, now, tc.opts) {
				fmt.Fprintln(&buf, s)
			}
			golden.Check(t, filepath.Join("testdata", tc.name+".golden"), buf.Bytes())
		})
	}
}

func TestSeriesAppendsAndDoesNotMutate(t *testing.T) {
	g := pipeline.Group{Labels: labels.FromStrings("job", "a"), PushTime: 100}
	in := Input{Groups: []pipeline.Group{g}}
	dst := []pipeline.Series{{Labels: labels.FromStrings("__name__", "x")}}
	out := Series(dst, in, time.Unix(110, 0), Options{})
	if len(out) != 3 || !labels.Equal(out[0].Labels, dst[0].Labels) {
		t.Fatalf("want dst kept and up and age appended, got %v", out)
	}
	if !labels.Equal(in.Groups[0].Labels, labels.FromStrings("job", "a")) {
		t.Errorf("grouping key changed: %s", in.Groups[0].Labels)
	}
	if got := out[2].Value; got != 10 {
		t.Errorf("age = %v, want 10", got)
	}
}

// BenchmarkSeries measures synthesizing the series of 10,000 groups.
func BenchmarkSeries(b *testing.B) {
	in := Input{Gateways: []Gateway{{Name: "pgw", Up: true}}}
	for i := range 10_000 {
		in.Groups = append(in.Groups, pipeline.Group{
			Labels:   labels.FromStrings("instance", fmt.Sprintf("i%d", i), "job", "bench"),
			PushTime: 1.7e9,
		})
	}
	now := time.Unix(1_800_000_000, 0)
	b.ReportAllocs()
	var out []pipeline.Series
	for b.Loop() {
		out = Series(out[:0], in, now, Options{})
	}
}

func TestRuleMatches(t *testing.T) {
	key := labels.FromStrings("job", "nightly_backup", "instance", "db-7")
	for _, tc := range []struct {
		name string
		kv   []string
		want bool
	}{
		{"no matchers match every group", nil, true},
		{"anchored regex", []string{"job", "nightly_.*"}, true},
		{"anchored at the start", []string{"job", "backup"}, false},
		{"anchored at the end", []string{"job", "nightly"}, false},
		{"every matcher must match", []string{"job", "nightly_.*", "instance", "db-8"}, false},
		{"both match", []string{"job", "nightly_.*", "instance", "db-[0-9]+"}, true},
		{"absent label is empty: .* matches", []string{"env", ".*"}, true},
		{"absent label is empty: .+ does not", []string{"env", ".+"}, false},
		{"alternation is anchored as a whole", []string{"job", "x|nightly_backup"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rule("r", 0, 0, tc.kv...)
			if got := r.Matches(key); got != tc.want {
				t.Errorf("Matches(%s) = %v, want %v", key, got, tc.want)
			}
		})
	}
	t.Run("zero Regexp matches nothing", func(t *testing.T) {
		r := Rule{Matchers: []Matcher{{Name: "job"}}}
		if r.Matches(key) {
			t.Error("a matcher without a regexp matched")
		}
	})
}

func TestFirstMatch(t *testing.T) {
	rules := []Rule{
		rule("a", 0, 0, "job", "backup", "instance", "db-7"),
		rule("b", 0, 0, "job", "backup"),
		rule("c", 0, 0),
	}
	for _, tc := range []struct {
		key  labels.Labels
		want string
	}{
		{labels.FromStrings("job", "backup", "instance", "db-7"), "a"},
		{labels.FromStrings("job", "backup", "instance", "db-8"), "b"},
		{labels.FromStrings("job", "report"), "c"},
	} {
		t.Run(tc.key.String(), func(t *testing.T) {
			got := FirstMatch(rules, tc.key)
			if got == nil || got.Name != tc.want {
				t.Fatalf("FirstMatch = %v, want rule %s", got, tc.want)
			}
			if got != &rules[map[string]int{"a": 0, "b": 1, "c": 2}[tc.want]] {
				t.Error("FirstMatch does not point into rules")
			}
		})
	}
	if got := FirstMatch(rules[:2], labels.FromStrings("job", "report")); got != nil {
		t.Errorf("FirstMatch = %s, want none", got.Name)
	}
}

// TestEvaluate covers each status and the precedence among those that apply
// together.
func TestEvaluate(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ago := func(d time.Duration) float64 { return float64(now.Add(-d).Unix()) }
	r := rule("r", time.Hour, 24*time.Hour)
	maxAgeOnly := rule("m", time.Hour, 0)
	limited := rule("l", time.Hour, 24*time.Hour)
	limited.SeriesLimit = 2
	series := func(n int) []pipeline.Series { return make([]pipeline.Series, n) }
	for _, tc := range []struct {
		name             string
		g                *pipeline.Group
		rule             *Rule
		want             Status
		wantAge, wantIdl time.Duration
	}{
		{"absent", nil, &r, StatusMissing, 0, 0},
		{"absent without rule", nil, nil, StatusMissing, 0, 0},
		{"ok", &pipeline.Group{PushTime: ago(time.Minute)}, &r, StatusOK, time.Minute, time.Minute},
		{"ok without rule, however old", &pipeline.Group{PushTime: ago(1000 * time.Hour)}, nil, StatusOK, 1000 * time.Hour, 1000 * time.Hour},
		{"age equal to max_age is ok", &pipeline.Group{PushTime: ago(time.Hour)}, &r, StatusOK, time.Hour, time.Hour},
		{"too old", &pipeline.Group{PushTime: ago(2 * time.Hour)}, &r, StatusTooOld, 2 * time.Hour, 2 * time.Hour},
		{"failed", &pipeline.Group{PushTime: ago(time.Minute), PushFailureTime: ago(time.Second)}, &r, StatusFailed, time.Minute, time.Second},
		{"failed, never pushed ok", &pipeline.Group{PushFailureTime: ago(time.Second)}, &r, StatusFailed, 0, time.Second},
		{"failed over too old", &pipeline.Group{PushTime: ago(2 * time.Hour), PushFailureTime: ago(time.Second)}, &r, StatusFailed, 2 * time.Hour, time.Second},
		{"expired", &pipeline.Group{PushTime: ago(25 * time.Hour)}, &r, StatusExpired, 25 * time.Hour, 25 * time.Hour},
		{"expired over failed", &pipeline.Group{PushTime: ago(30 * time.Hour), PushFailureTime: ago(25 * time.Hour)}, &r, StatusExpired, 30 * time.Hour, 25 * time.Hour},
		{"a recent failed push keeps it from expiring", &pipeline.Group{PushTime: ago(30 * time.Hour), PushFailureTime: ago(time.Hour)}, &r, StatusFailed, 30 * time.Hour, time.Hour},
		{"no expire_after: too old forever", &pipeline.Group{PushTime: ago(1000 * time.Hour)}, &maxAgeOnly, StatusTooOld, 1000 * time.Hour, 1000 * time.Hour},
		{"at the series limit is ok", &pipeline.Group{PushTime: ago(time.Minute), Series: series(2)}, &limited, StatusOK, time.Minute, time.Minute},
		{"over the series limit", &pipeline.Group{PushTime: ago(time.Minute), Series: series(3)}, &limited, StatusOverLimit, time.Minute, time.Minute},
		{"over the limit over failed and too old", &pipeline.Group{PushTime: ago(2 * time.Hour), PushFailureTime: ago(time.Second), Series: series(3)}, &limited, StatusOverLimit, 2 * time.Hour, time.Second},
		{"expired over over the limit", &pipeline.Group{PushTime: ago(25 * time.Hour), Series: series(3)}, &limited, StatusExpired, 25 * time.Hour, 25 * time.Hour},
		{"no series limit: any number", &pipeline.Group{PushTime: ago(time.Minute), Series: series(1000)}, &r, StatusOK, time.Minute, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := Evaluate(tc.g, now, tc.rule)
			if h.Status != tc.want {
				t.Errorf("status %s, want %s", h.Status, tc.want)
			}
			if h.Up() != (tc.want == StatusOK) {
				t.Errorf("Up() = %v with status %s", h.Up(), h.Status)
			}
			if h.HasAge != (tc.wantAge != 0) || h.Age != tc.wantAge {
				t.Errorf("age %v (HasAge %v), want %v", h.Age, h.HasAge, tc.wantAge)
			}
			if tc.g != nil && h.Series != len(tc.g.Series) {
				t.Errorf("series %d, want %d", h.Series, len(tc.g.Series))
			}
			if h.Idle != tc.wantIdl {
				t.Errorf("idle %v, want %v", h.Idle, tc.wantIdl)
			}
			if h.Rule != tc.rule {
				t.Errorf("rule %p, want %p", h.Rule, tc.rule)
			}
		})
	}
}

// TestJudge checks the verdicts' order and what each tells the bridge to
// forward or delete.
func TestJudge(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ago := func(d time.Duration) float64 { return float64(now.Add(-d).Unix()) }
	keep := rule("keep", time.Hour, 24*time.Hour, "job", "keep")
	del := rule("delete", 0, 24*time.Hour)
	del.DeleteExpired = true
	big := rule("big", 0, 0, "job", "big")
	big.SeriesLimit = 1
	o := Options{
		Rules: []Rule{big, keep, del},
		Expected: []labels.Labels{
			labels.FromStrings("job", "absent"),
			labels.FromStrings("job", "keep", "instance", "expected"),
			labels.FromStrings("job", "ok"),
		},
	}
	in := Input{
		Gateways: []Gateway{{Name: "a", Up: true}},
		Groups: []pipeline.Group{
			{Labels: labels.FromStrings("job", "ok"), PushTime: ago(time.Minute)},
			{Labels: labels.FromStrings("job", "keep", "instance", "expected"), PushTime: ago(48 * time.Hour)},
			{Labels: labels.FromStrings("job", "keep", "instance", "other"), PushTime: ago(48 * time.Hour)},
			{Labels: labels.FromStrings("job", "gone"), PushTime: ago(48 * time.Hour)},
			{Labels: labels.FromStrings("job", "big"), PushTime: ago(time.Minute), Series: make([]pipeline.Series, 2)},
		},
	}
	type row struct {
		key                              string
		status                           Status
		expected, pushed, synth, delete_ bool
		rule                             string
	}
	want := []row{
		{`{job="ok"}`, StatusOK, true, true, true, false, "delete"},
		{`{instance="expected", job="keep"}`, StatusExpired, true, false, true, false, "keep"},
		{`{instance="other", job="keep"}`, StatusExpired, false, false, false, false, "keep"},
		{`{job="gone"}`, StatusExpired, false, false, false, true, "delete"},
		{`{job="big"}`, StatusOverLimit, false, false, true, false, "big"},
		{`{job="absent"}`, StatusMissing, true, false, true, false, "delete"},
	}
	vs := Judge(nil, in, now, o)
	if len(vs) != len(want) {
		t.Fatalf("got %d verdicts, want %d", len(vs), len(want))
	}
	for i, v := range vs {
		got := row{v.Labels.String(), v.Status, v.Expected, v.ForwardPushed(), v.ForwardSynthesized(), v.DeleteGroup(), v.Rule.Name}
		if got != want[i] {
			t.Errorf("verdict %d:\n got %+v\nwant %+v", i, got, want[i])
		}
		if (v.Group == nil) != (v.Status == StatusMissing) {
			t.Errorf("verdict %d: Group %v with status %s", i, v.Group, v.Status)
		}
		if v.Group != nil && v.Group != &in.Groups[i] {
			t.Errorf("verdict %d does not point into in.Groups", i)
		}
	}

	// Series is Judge then AppendSeries.
	var a, b bytes.Buffer
	for _, s := range Series(nil, in, now, o) {
		fmt.Fprintln(&a, s)
	}
	for _, s := range AppendSeries(nil, in.Gateways, vs, o) {
		fmt.Fprintln(&b, s)
	}
	if a.String() != b.String() {
		t.Errorf("Series gives\n%s\nAppendSeries(Judge) gives\n%s", a.String(), b.String())
	}

	// No absent group is judged while the groups are partial.
	in.Gateways = append(in.Gateways, Gateway{Name: "b"})
	in.Partial = true
	if vs := Judge(vs[:0], in, now, o); len(vs) != len(in.Groups) {
		t.Errorf("with a gateway down: %d verdicts, want the %d present groups", len(vs), len(in.Groups))
	}
}

func TestExport(t *testing.T) {
	s := func(name string, kv ...string) pipeline.Series {
		return pipeline.Series{Labels: labels.FromStrings(append([]string{"__name__", name}, kv...)...), Value: 1}
	}
	names := func(series []pipeline.Series) []string {
		var out []string
		for _, x := range series {
			out = append(out, x.Labels.String())
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		o      Options
		in     []pipeline.Series
		want   []string
		copied bool
	}{
		{"nothing named like a synthesized series", Options{}, []pipeline.Series{s("done", "job", "a"), s("upper")},
			[]string{`{__name__="done", job="a"}`, `{__name__="upper"}`}, false},
		{"a pushed up", Options{}, []pipeline.Series{s("done"), s("up", "job", "a")},
			[]string{`{__name__="done"}`, `{__name__="exported_up", job="a"}`}, true},
		{"every synthesized name", Options{}, []pipeline.Series{s("pushgateway_group_status", "status", "x"), s("pushgateway_group_age_seconds"), s("pushgateway_group_max_age_seconds"), s("pushgateway_up")},
			[]string{`{__name__="exported_pushgateway_group_status", status="x"}`, `{__name__="exported_pushgateway_group_age_seconds"}`, `{__name__="exported_pushgateway_group_max_age_seconds"}`, `{__name__="exported_pushgateway_up"}`}, true},
		{"up under another name is pushed as it is", Options{UpMetric: "job_up"}, []pipeline.Series{s("up"), s("job_up")},
			[]string{`{__name__="up"}`, `{__name__="exported_job_up"}`}, true},
		{"exported_up pushed too", Options{}, []pipeline.Series{s("up"), s("exported_up")},
			[]string{`{__name__="exported_exported_up"}`, `{__name__="exported_up"}`}, true},
		{"an accumulated name", Options{}, []pipeline.Series{s("job:rows_total:sum_runs"), s("job:rows_total:rate5m")},
			[]string{`{__name__="exported_job:rows_total:sum_runs"}`, `{__name__="job:rows_total:rate5m"}`}, true},
		// Reserved like every synthesized name, whether or not any group
		// gets them.
		{"pushes observed", Options{}, []pipeline.Series{s("pushgateway_group_pushes_total"), s("pushgateway_group_failed_pushes_total")},
			[]string{`{__name__="exported_pushgateway_group_pushes_total"}`, `{__name__="exported_pushgateway_group_failed_pushes_total"}`}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.in)
			got := tc.o.Export(in)
			if !slices.Equal(names(got), tc.want) {
				t.Errorf("Export = %q, want %q", names(got), tc.want)
			}
			if same := len(got) > 0 && &got[0] == &in[0]; same == tc.copied {
				t.Errorf("copied = %v, want %v", !same, tc.copied)
			}
			if !slices.Equal(names(in), names(tc.in)) {
				t.Errorf("Export modified its input: %q", names(in))
			}
		})
	}
}

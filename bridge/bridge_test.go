package bridge

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"go.uber.org/goleak"

	"github.com/pushgateway-bridge/pushgateway-bridge/internal/golden"
	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
	"github.com/pushgateway-bridge/pushgateway-bridge/pushgateway"
	"github.com/pushgateway-bridge/pushgateway-bridge/synth"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeSource returns the next scripted snapshot or error on every scrape.
type fakeSource struct {
	script []func() (*pipeline.Snapshot, error)
}

func (f *fakeSource) Scrape(context.Context) (*pipeline.Snapshot, error) {
	next := f.script[0]
	f.script = f.script[1:]
	return next()
}

// recorder is a Sender that keeps what it was given, one slice per cycle.
// It reads a cycle three samples at a time, as a queue reads it a request
// at a time.
// With fail set, it keeps nothing and returns an error for the cycles
// fail says no to.
type recorder struct {
	cycles [][]pipeline.Sample
	fail   func(pipeline.Samples) bool
}

func (r *recorder) Append(s pipeline.Samples) error {
	if r.fail != nil && r.fail(s) {
		return errors.New("recorder: cycle refused")
	}
	var got []pipeline.Sample
	for from := 0; from < s.Len(); from += 3 {
		got = s.AppendTo(got, from, min(from+3, s.Len()))
	}
	r.cycles = append(r.cycles, got)
	return nil
}

// lines formats one cycle as sorted "labels value@ts" lines.
func lines(samples []pipeline.Sample) string {
	out := make([]string, 0, len(samples))
	for _, s := range samples {
		ser := pipeline.Series{Labels: s.Labels, Value: s.V, Extra: (*pipeline.Extra)(nil).WithHistogram(s.H, s.FH)}
		out = append(out, ser.String()+" @"+time.UnixMilli(s.T).UTC().Format("15:04:05"))
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

func series(name string, v float64, kv ...string) pipeline.Series {
	return pipeline.Series{Labels: labels.FromStrings(append([]string{"__name__", name}, kv...)...), Value: v}
}

func group(pushTime float64, s []pipeline.Series, kv ...string) pipeline.Group {
	return pipeline.Group{Labels: labels.FromStrings(kv...), PushTime: pushTime, Series: s}
}

func snap(groups ...pipeline.Group) func() (*pipeline.Snapshot, error) {
	return func() (*pipeline.Snapshot, error) {
		return &pipeline.Snapshot{Groups: groups, Own: []pipeline.Series{series("go_goroutines", 8)}}, nil
	}
}

func unreachable() (*pipeline.Snapshot, error) {
	return nil, errors.New("connection refused")
}

func TestCycles(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	pt := float64(t0.Add(-10 * time.Second).Unix())
	a := func(vals ...float64) pipeline.Group {
		s := []pipeline.Series{series("done", 1, "job", "a")}
		if len(vals) > 0 {
			s = append(s, series("rows", vals[0], "job", "a"))
		}
		return group(pt, s, "job", "a")
	}
	b := group(pt, []pipeline.Series{series("bytes", 5, "job", "b")}, "job", "b")

	src := &fakeSource{script: []func() (*pipeline.Snapshot, error){
		snap(a(3), b),
		snap(a(), b), // PUT without rows: rows goes stale
		unreachable,  // nothing stale, only the gateway is down
		snap(a()),    // b was deleted while the gateway was down
		snap(a()),    // nothing changes: nothing stale
		func() (*pipeline.Snapshot, error) { return nil, context.DeadlineExceeded },
		func() (*pipeline.Snapshot, error) { // over a limit: as unreachable
			return nil, fmt.Errorf("scrape: %w", &pushgateway.LimitError{Reason: pushgateway.ReasonSampleLimit, Limit: 1, Seen: 2})
		},
	}}
	wantComplete := []bool{true, true, false, true, true, false, false}

	now := t0
	rec := &recorder{}
	reg := prometheus.NewPedanticRegistry()
	cycle := 0
	var readyAt []int // the cycles in which OnReady was called
	br, err := New(Options{
		Gateways:   []Gateway{{Name: "pgw", Source: src}},
		Interval:   15 * time.Second,
		Senders:    []Sender{rec},
		Registerer: reg,
		Now:        func() time.Time { return now },
		OnReady:    func() { readyAt = append(readyAt, cycle) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if br.Ready() {
		t.Fatal("ready before the first cycle")
	}
	var got strings.Builder
	for i := range wantComplete {
		cycle = i
		complete := br.Cycle(context.Background()).Complete
		if complete != wantComplete[i] {
			t.Errorf("cycle %d complete = %v, want %v", i, complete, wantComplete[i])
		}
		fmt.Fprintf(&got, "# cycle %d, complete: %v\n%s\n", i, complete, lines(rec.cycles[i]))
		now = now.Add(15 * time.Second)
	}
	golden.Check(t, filepath.Join("testdata", "cycles.golden"), []byte(got.String()))
	if !br.Ready() {
		t.Error("not ready after complete cycles")
	}
	if !slices.Equal(readyAt, []int{0}) {
		t.Errorf("OnReady called in cycles %v, want once, in the first (complete) one", readyAt)
	}
	// rows, then group b's bytes, up and age.
	if got := testutil.ToFloat64(br.m.staleMarkers); got != 4 {
		t.Errorf("stale markers counted = %v, want 4", got)
	}
	for reason, want := range map[string]float64{"error": 2, "sample_limit": 1} {
		if got := testutil.ToFloat64(br.m.scrapeFailures.WithLabelValues("pgw", reason)); got != want {
			t.Errorf("scrape failures {reason=%q} = %v, want %v", reason, got, want)
		}
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("metrics lint: %v %v", problems, err)
	}
}

func TestForwardGatewayMetrics(t *testing.T) {
	for _, forward := range []bool{false, true} {
		rec := &recorder{}
		br, err := New(Options{
			Gateways:              []Gateway{{Name: "pgw", Source: &fakeSource{script: []func() (*pipeline.Snapshot, error){snap()}}}},
			Interval:              time.Second,
			ForwardGatewayMetrics: forward,
			Senders:               []Sender{rec},
		})
		if err != nil {
			t.Fatal(err)
		}
		br.Cycle(context.Background())
		if got := strings.Contains(lines(rec.cycles[0]), "go_goroutines"); got != forward {
			t.Errorf("forward=%v: go_goroutines sent = %v", forward, got)
		}
	}
}

func TestNoSendOnShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	rec := &recorder{}
	src := &fakeSource{script: []func() (*pipeline.Snapshot, error){
		func() (*pipeline.Snapshot, error) { cancel(); return nil, context.Canceled },
	}}
	br, err := New(Options{Gateways: []Gateway{{Name: "pgw", Source: src}}, Interval: time.Second, Senders: []Sender{rec}})
	if err != nil {
		t.Fatal(err)
	}
	if err := br.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(rec.cycles) != 0 {
		t.Errorf("sent %d cycles while shutting down", len(rec.cycles))
	}
}

// TestRuleCycles walks a group through ok, too_old and expired under a
// rule, next to an expected group that never pushes: what is sent, and the
// staleness markers expiry causes, once.
func TestRuleCycles(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	pt := float64(t0.Unix())
	a := group(pt, []pipeline.Series{series("done", 1, "job", "a")}, "job", "a")
	src := &fakeSource{script: []func() (*pipeline.Snapshot, error){
		snap(a), // age 0: ok
		snap(a), // age 30s: too_old (max_age 20s)
		snap(a), // age 60s: expired (expire_after 45s): pushed and synthesized series stale once
		snap(a), // still expired: nothing of a is sent
	}}
	rec := &recorder{}
	now := t0
	br, err := New(Options{
		Gateways: []Gateway{{Name: "pgw", Source: src}},
		Interval: 30 * time.Second,
		Synth: synth.Options{
			Rules: []synth.Rule{{
				Name:        "group_rules[0]",
				Matchers:    []synth.Matcher{{Name: "job", Regexp: relabel.MustNewRegexp("a")}},
				MaxAge:      20 * time.Second,
				ExpireAfter: 45 * time.Second,
			}},
			Expected: []labels.Labels{labels.FromStrings("job", "c")},
			Series:   synth.KindsOf(synth.KindStatus, synth.KindMaxAge),
		},
		Senders: []Sender{rec},
		Now:     func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for i := range src.script {
		complete := br.Cycle(context.Background()).Complete
		fmt.Fprintf(&got, "# cycle %d, complete: %v\n%s\n", i, complete, lines(rec.cycles[i]))
		now = now.Add(30 * time.Second)
	}
	golden.Check(t, filepath.Join("testdata", "rule_cycles.golden"), []byte(got.String()))
}

// TestOverLimitCycles walks a group over its rule's series_limit and back:
// over it, nothing of it is forwarded but up 0 and its status, what was
// sent of it before gets its staleness marker once, and it comes back whole
// once under; another group is unaffected throughout.
func TestOverLimitCycles(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	pt := float64(t0.Unix())
	small := group(pt, []pipeline.Series{series("done", 1, "job", "a")}, "job", "a")
	big := group(pt, []pipeline.Series{series("done", 1, "job", "a"), series("rows", 2, "job", "a"), series("bytes", 3, "job", "a")}, "job", "a")
	other := group(pt, []pipeline.Series{series("x", 1, "job", "b"), series("y", 1, "job", "b"), series("z", 1, "job", "b")}, "job", "b")
	src := &fakeSource{script: []func() (*pipeline.Snapshot, error){
		snap(small, other), // under the limit: forwarded
		snap(big, other),   // over: done goes stale, up 0, over_limit
		snap(big, other),   // still over: nothing more goes stale
		snap(small, other), // under again: done is back
	}}
	wantOver := []float64{0, 1, 1, 0}
	rec := &recorder{}
	now := t0
	reg := prometheus.NewPedanticRegistry()
	br, err := New(Options{
		Gateways: []Gateway{{Name: "pgw", Source: src}},
		Interval: 30 * time.Second,
		Synth: synth.Options{Rules: []synth.Rule{{
			Name:        "group_rules[0]",
			Matchers:    []synth.Matcher{{Name: "job", Regexp: relabel.MustNewRegexp("a")}},
			SeriesLimit: 2,
		}}, Series: synth.KindsOf(synth.KindStatus)},
		Senders:    []Sender{rec},
		Registerer: reg,
		Now:        func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for i := range src.script {
		st := br.Cycle(context.Background())
		fmt.Fprintf(&got, "# cycle %d, complete: %v\n%s\n", i, st.Complete, lines(rec.cycles[i]))
		if v := testutil.ToFloat64(br.m.groupsOverLimit); v != wantOver[i] {
			t.Errorf("cycle %d: groups over limit = %v, want %v", i, v, wantOver[i])
		}
		if g := st.Groups[0]; g.SeriesLimit != 2 || (g.Status == synth.StatusOverLimit) != (wantOver[i] == 1) {
			t.Errorf("cycle %d: group status %s with series_limit %d", i, g.Status, g.SeriesLimit)
		}
		now = now.Add(30 * time.Second)
	}
	golden.Check(t, filepath.Join("testdata", "over_limit_cycles.golden"), []byte(got.String()))
}

func TestStatus(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	pt := float64(t0.Add(-10 * time.Second).Unix())
	a := group(pt, []pipeline.Series{series("done", 1, "job", "a"), series("rows", 3, "job", "a")}, "job", "a")
	src := &fakeSource{script: []func() (*pipeline.Snapshot, error){snap(a), unreachable}}
	now := t0
	br, err := New(Options{
		Gateways: []Gateway{{Name: "pgw", Source: src}},
		Interval: 15 * time.Second,
		Synth:    synth.Options{Expected: []labels.Labels{labels.FromStrings("job", "c")}},
		Now:      func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	if br.Status() != nil {
		t.Fatal("status before the first cycle")
	}
	br.Cycle(context.Background())
	st := br.Status()
	if !st.Complete || len(st.Gateways) != 1 || !st.Gateways[0].Up || st.Gateways[0].Groups != 1 || st.Gateways[0].Series != 2 {
		t.Fatalf("gateways: %+v", st.Gateways)
	}
	if len(st.Groups) != 2 {
		t.Fatalf("groups: %+v", st.Groups)
	}
	ga, gc := st.Groups[0], st.Groups[1]
	if ga.Gateway != "pgw" || ga.Status != synth.StatusOK || !ga.HasAge || ga.Age != 10*time.Second || ga.Series != 2 || ga.PushTime.Unix() != int64(pt) {
		t.Errorf("group a: %+v", ga)
	}
	if gc.Gateway != "" || gc.Status != synth.StatusMissing || !gc.Expected || gc.Up {
		t.Errorf("group c: %+v", gc)
	}
	now = now.Add(15 * time.Second)
	br.Cycle(context.Background())
	st = br.Status()
	if st.Complete || st.Gateways[0].Up || st.Gateways[0].Error == "" || st.Gateways[0].Groups != 1 || len(st.Groups) != 2 {
		t.Errorf("after a failed scrape, the gateway is down and the groups are the last known: %+v", st)
	}
}

// TestOutageHold: a gateway that cannot be scraped keeps contributing its
// last groups for the hold (values unchanged, age still growing, no
// staleness markers), then its groups count as gone (markers once).
func TestOutageHold(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	pt := float64(t0.Add(-10 * time.Second).Unix())
	a := group(pt, []pipeline.Series{series("done", 1, "job", "a")}, "job", "a")
	src := &fakeSource{script: []func() (*pipeline.Snapshot, error){
		snap(a),
		unreachable, // held: 15s since the last success
		unreachable, // held: 30s
		unreachable, // 45s > hold: gone, markers once
		unreachable, // still gone: nothing of a
		snap(a),     // back
	}}
	rec := &recorder{}
	now := t0
	br, err := New(Options{
		Gateways:   []Gateway{{Name: "pgw", Source: src}},
		Interval:   15 * time.Second,
		OutageHold: 30 * time.Second,
		Synth:      synth.Options{Expected: []labels.Labels{labels.FromStrings("job", "a")}},
		Senders:    []Sender{rec},
		Now:        func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for i := range src.script {
		complete := br.Cycle(context.Background()).Complete
		fmt.Fprintf(&got, "# cycle %d, complete: %v\n%s\n", i, complete, onlyInteresting(lines(rec.cycles[i])))
		now = now.Add(15 * time.Second)
	}
	golden.Check(t, filepath.Join("testdata", "outage_hold.golden"), []byte(got.String()))
}

// onlyInteresting drops the status series that are 0, to keep goldens short.
func onlyInteresting(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "pushgateway_group_status") && strings.Contains(l, "} 0 @") {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// TestMergeGateways: groups of two gateways merged by grouping key, the
// newest push wins whole, a tie goes to the first gateway, a group on one
// gateway only comes from it, and a gateway that is down contributes what
// it last held.
func TestMergeGateways(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	old, newer := float64(t0.Add(-60*time.Second).Unix()), float64(t0.Add(-10*time.Second).Unix())
	x := func(pt float64, v float64, extra ...pipeline.Series) pipeline.Group {
		return group(pt, append([]pipeline.Series{series("value", v, "job", "x")}, extra...), "job", "x")
	}
	tie := func(v float64) pipeline.Group {
		return group(old, []pipeline.Series{series("value", v, "job", "tie")}, "job", "tie")
	}
	onlyB := group(old, []pipeline.Series{series("value", 7, "job", "b_only")}, "job", "b_only")
	gwA := &fakeSource{script: []func() (*pipeline.Snapshot, error){
		snap(x(old, 1, series("extra_from_a", 1, "job", "x")), tie(1)),
		snap(x(newer+30, 3), tie(1)), // A gets a newer push
		snap(x(newer+30, 3), tie(1)),
	}}
	gwB := &fakeSource{script: []func() (*pipeline.Snapshot, error){
		snap(x(newer, 2), tie(2), onlyB), // B's x is newer: B's copy whole (no extra_from_a)
		snap(x(newer, 2), tie(2), onlyB),
		unreachable, // held: b_only stays
	}}
	rec := &recorder{}
	now := t0
	br, err := New(Options{
		Gateways:   []Gateway{{Name: "a", Source: gwA}, {Name: "b", Source: gwB}},
		Interval:   15 * time.Second,
		OutageHold: time.Hour,
		Senders:    []Sender{rec},
		Now:        func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for i := range gwA.script {
		complete := br.Cycle(context.Background()).Complete
		fmt.Fprintf(&got, "# cycle %d, complete: %v\n%s\n", i, complete, onlyInteresting(lines(rec.cycles[i])))
		for _, g := range br.Status().Groups {
			fmt.Fprintf(&got, "# %s from %s\n", g.Labels, g.Gateway)
		}
		now = now.Add(15 * time.Second)
	}
	golden.Check(t, filepath.Join("testdata", "merge.golden"), []byte(got.String()))
}

// deletingSource is a fakeSource that records the groups it is asked to
// delete, and deletes each only if its push time is the one given.
type deletingSource struct {
	fakeSource
	pushTimes map[string]float64 // by grouping key: the push time it holds
	asked     []string
}

func (d *deletingSource) DeleteGroup(_ context.Context, key labels.Labels, pushTime float64) (bool, error) {
	d.asked = append(d.asked, fmt.Sprintf("%s@%g", key, pushTime))
	return d.pushTimes[key.String()] == pushTime, nil
}

// TestDeleteExpiredOnEveryGateway checks that an expired group is deleted
// from every gateway scraped in the cycle that holds a copy, each with the
// push time of its own copy, and from no other: an HA pair keeps a copy on
// each gateway, and a copy left behind comes back through the merge.
func TestDeleteExpiredOnEveryGateway(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	old := float64(t0.Add(-time.Hour).Unix())
	older := old - 1
	expired := func(pt float64) pipeline.Group {
		return group(pt, []pipeline.Series{series("done", 1, "job", "batch")}, "job", "batch")
	}
	fresh := group(float64(t0.Unix()), []pipeline.Series{series("done", 1, "job", "other")}, "job", "other")
	key := `{job="batch"}`
	at := func(pt float64) []string { return []string{fmt.Sprintf("%s@%g", key, pt)} }
	type script = []func() (*pipeline.Snapshot, error)
	for _, tc := range []struct {
		name string
		// Two cycles of gateways a, b and c; what each was asked to delete.
		a, b, c             script
		wantA, wantB, wantC []string
		wantDeleted         float64
	}{
		{
			name:  "both of a pair",
			a:     script{snap(fresh), snap(expired(old), fresh)},
			b:     script{snap(), snap(expired(older))},
			c:     script{snap(fresh), snap(fresh)},
			wantA: at(old), wantB: at(older), wantDeleted: 2,
		},
		{
			name:  "only where it is",
			a:     script{snap(fresh), snap(fresh)},
			b:     script{snap(), snap(expired(older))},
			c:     script{snap(), snap()},
			wantB: at(older), wantDeleted: 1,
		},
		{
			name:  "not on a gateway held through an outage",
			a:     script{snap(), snap(expired(old))},
			b:     script{snap(expired(older)), unreachable},
			c:     script{snap(), snap()},
			wantA: at(old), wantDeleted: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mk := func(s script, pt float64) *deletingSource {
				return &deletingSource{fakeSource: fakeSource{script: s}, pushTimes: map[string]float64{key: pt}}
			}
			a, b, c := mk(tc.a, old), mk(tc.b, older), mk(tc.c, 0)
			// Not expired yet in the first cycle, expired in the second.
			now := time.Unix(int64(old), 0).Add(30 * time.Second)
			br, err := New(Options{
				Gateways:   []Gateway{{Name: "a", Source: a}, {Name: "b", Source: b}, {Name: "c", Source: c}},
				Interval:   15 * time.Second,
				Now:        func() time.Time { return now },
				OutageHold: time.Hour,
				Synth: synth.Options{Rules: []synth.Rule{{
					Name: "expire", ExpireAfter: time.Minute, DeleteExpired: true,
					Matchers: []synth.Matcher{{Name: "job", Regexp: relabel.MustNewRegexp("batch")}},
				}}},
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, at := range []time.Time{now, t0} {
				now = at
				if st := br.Cycle(context.Background()); st == nil || !st.Complete {
					t.Fatal("cycle incomplete")
				}
			}
			for _, g := range []struct {
				name      string
				got, want []string
			}{{"a", a.asked, tc.wantA}, {"b", b.asked, tc.wantB}, {"c", c.asked, tc.wantC}} {
				if !slices.Equal(g.got, g.want) {
					t.Errorf("gateway %s asked to delete %q, want %q", g.name, g.got, g.want)
				}
			}
			if got := testutil.ToFloat64(br.m.groupsDeleted); got != tc.wantDeleted {
				t.Errorf("groups deleted = %v, want %v", got, tc.wantDeleted)
			}
		})
	}
}

// TestPushedSynthesizedName: a group that pushes its own up (and a status
// series) forwards them as exported_up and exported_pushgateway_group_status,
// beside the synthesized up, so that no two series go out under one
// identity; in the first cycle, in a later one where the group is
// unchanged, and in one where it was pushed again.
func TestPushedSynthesizedName(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	pt := float64(t0.Add(-10 * time.Second).Unix())
	g := group(pt, []pipeline.Series{series("up", 0, "job", "a"), series("pushgateway_group_status", 3, "job", "a", "status", "x"), series("done", 1, "job", "a")}, "job", "a")
	g2 := g
	g2.Series = slices.Clone(g.Series)
	rec := &recorder{}
	br, err := New(Options{
		Gateways: []Gateway{{Name: "pgw", Source: &fakeSource{script: []func() (*pipeline.Snapshot, error){snap(g), snap(g), snap(g2)}}}},
		Interval: 15 * time.Second,
		Senders:  []Sender{rec},
		Now:      func() time.Time { return t0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		br.Cycle(context.Background())
		got := strings.Split(lines(rec.cycles[i]), "\n")
		for _, want := range []string{`exported_up{job="a"} 0 @10:00:00`, `up{job="a"} 1 @10:00:00`, `exported_pushgateway_group_status{job="a", status="x"} 3 @10:00:00`, `done{job="a"} 1 @10:00:00`} {
			if !slices.Contains(got, want) {
				t.Errorf("cycle %d lacks %s:\n%s", i, want, strings.Join(got, "\n"))
			}
		}
		ups := slices.DeleteFunc(slices.Clone(got), func(l string) bool { return !strings.HasPrefix(l, "up{") })
		if len(ups) != 1 {
			t.Errorf("cycle %d: series named up %q, want only the synthesized one", i, ups)
		}
	}
	if g.Series[0].Labels.Get("__name__") != "up" {
		t.Error("the snapshot's series were modified")
	}
}

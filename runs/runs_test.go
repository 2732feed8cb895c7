package runs

import (
	"fmt"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

var (
	counterMeta   = &metadata.Metadata{Type: model.MetricTypeCounter}
	histogramMeta = &metadata.Metadata{Type: model.MetricTypeHistogram}
	gaugeMeta     = &metadata.Metadata{Type: model.MetricTypeGauge}
)

// push is one push to a group as the bridge sees it in a cycle.
type push struct {
	instance string
	time     float64 // push time; 0 keeps the group's last
	failure  float64
	created  int64 // created timestamp in ms, 0 for none
	values   []float64
	absent   bool // the group is gone in this cycle
}

func group(p push, names []string, meta *metadata.Metadata) pipeline.Group {
	key := labels.FromStrings("instance", p.instance, "job", "etl")
	if p.instance == "" {
		key = labels.FromStrings("job", "etl")
	}
	g := pipeline.Group{Labels: key, PushTime: p.time, PushFailureTime: p.failure}
	for i, v := range p.values {
		b := labels.NewBuilder(key)
		b.Set(model.MetricNameLabel, names[i])
		if names[i] == "d_bucket" {
			b.Set("le", []string{"1", "+Inf"}[i])
		}
		s := pipeline.Series{Labels: b.Labels(), Value: v, Metadata: meta}
		if p.created != 0 {
			s.Extra = &pipeline.Extra{StartTimestamp: p.created}
		}
		g.Series = append(g.Series, s)
	}
	return g
}

func TestAdvance(t *testing.T) {
	rows := []string{"rows_total"}
	for _, tc := range []struct {
		name   string
		acc    Accumulate
		names  []string
		meta   *metadata.Metadata
		cycles [][]push // per cycle the groups found
		want   map[string]float64
		pushes uint64 // of the last group, if it has a state
		failed uint64
	}{
		{
			name: "per push, one key, five runs, each seen twice", acc: Accumulate{Metrics: rows, KeepLabels: []string{"job"}}, names: rows,
			cycles: [][]push{{{time: 1, values: []float64{100}}}, {{time: 1, values: []float64{100}}},
				{{time: 2, values: []float64{120}}}, {{time: 3, values: []float64{80}}}, {{time: 3, values: []float64{80}}},
				{{time: 4, values: []float64{80}}}, {{time: 5, values: []float64{200}}}},
			want: map[string]float64{`{__name__="job:rows_total:sum_runs", job="etl"}`: 580}, pushes: 5,
		},
		{
			name: "per push, created timestamps: one run pushing three times, then a new run", acc: Accumulate{Metrics: rows, KeepLabels: []string{"job"}}, names: rows,
			cycles: [][]push{{{time: 10, created: 9000, values: []float64{10}}}, {{time: 11, created: 9000, values: []float64{30}}},
				{{time: 12, created: 9000, values: []float64{50}}}, {{time: 20, created: 19000, values: []float64{20}}}},
			want: map[string]float64{`{__name__="job:rows_total:sum_runs", job="etl"}`: 70}, pushes: 4,
		},
		{
			name: "on reset: a lower value starts a run", acc: Accumulate{Metrics: rows, KeepLabels: []string{"job"}, Runs: OnReset}, names: rows,
			cycles: [][]push{{{time: 1, values: []float64{10}}}, {{time: 2, values: []float64{30}}}, {{time: 3, values: []float64{50}}},
				{{time: 4, values: []float64{20}}}, {{time: 5, values: []float64{20}}}, {{time: 6, values: []float64{40}}}},
			want: map[string]float64{`{__name__="job:rows_total:sum_runs", job="etl"}`: 90}, pushes: 6,
		},
		{
			name: "instances summed away, and kept after their groups are gone", acc: Accumulate{Metrics: rows, KeepLabels: []string{"job"}}, names: rows,
			cycles: [][]push{{{instance: "a", time: 1, values: []float64{5}}}, {{instance: "a", time: 1, values: []float64{5}}, {instance: "b", time: 2, values: []float64{7}}},
				{{instance: "b", time: 2, values: []float64{7}}}, {{absent: true}}},
			want: map[string]float64{`{__name__="job:rows_total:sum_runs", job="etl"}`: 12},
		},
		{
			name: "kept instance", acc: Accumulate{Metrics: rows, KeepLabels: []string{"job", "instance"}}, names: rows,
			cycles: [][]push{{{instance: "a", time: 1, values: []float64{5}}, {instance: "b", time: 2, values: []float64{7}}}, {{instance: "a", time: 3, values: []float64{1}}}},
			want:   map[string]float64{`{__name__="job_instance:rows_total:sum_runs", instance="a", job="etl"}`: 6, `{__name__="job_instance:rows_total:sum_runs", instance="b", job="etl"}`: 7}, pushes: 2,
		},
		{
			name: "classic histogram, le kept", acc: Accumulate{Metrics: []string{"d"}, KeepLabels: []string{"job"}}, names: []string{"d_bucket", "d_bucket", "d_sum", "d_count"}, meta: histogramMeta,
			cycles: [][]push{{{time: 1, values: []float64{1, 2, 3.5, 2}}}, {{time: 2, values: []float64{0, 1, 4, 1}}}},
			want: map[string]float64{
				`{__name__="job:d_bucket:sum_runs", job="etl", le="+Inf"}`: 3, `{__name__="job:d_bucket:sum_runs", job="etl", le="1"}`: 1,
				`{__name__="job:d_sum:sum_runs", job="etl"}`: 7.5, `{__name__="job:d_count:sum_runs", job="etl"}`: 3,
			}, pushes: 2,
		},
		{
			name: "a gauge is not summed", acc: Accumulate{Metrics: rows, KeepLabels: []string{"job"}}, names: rows, meta: gaugeMeta,
			cycles: [][]push{{{time: 1, values: []float64{5}}}, {{time: 2, values: []float64{7}}}},
			want:   map[string]float64{}, pushes: 2,
		},
		{
			name: "failed pushes keep the last run's values", acc: Accumulate{Metrics: rows, KeepLabels: []string{"job"}}, names: rows,
			cycles: [][]push{{{time: 1, values: []float64{5}}}, {{time: 1, failure: 2, values: []float64{5}}}, {{time: 1, failure: 3, values: []float64{5}}}, {{time: 4, failure: 3, values: []float64{6}}}},
			want:   map[string]float64{`{__name__="job:rows_total:sum_runs", job="etl"}`: 11}, pushes: 2, failed: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			meta := tc.meta
			if meta == nil {
				meta = counterMeta
			}
			var s *State
			var last pipeline.Group
			// The pushes seen: each group's distinct push and failure times.
			var seen uint64
			distinct := map[string]bool{}
			for i, c := range tc.cycles {
				var obs []Observation
				for _, p := range c {
					if p.absent {
						continue
					}
					g := group(p, tc.names, meta)
					last = g
					for j, tm := range []float64{p.time, p.failure} {
						if k := fmt.Sprint(g.Labels, j, tm); tm > 0 && !distinct[k] {
							distinct[k] = true
						}
					}
					obs = append(obs, Observation{Group: &g, Accumulate: &tc.acc})
				}
				next, _, n := s.Advance(obs, []*Accumulate{&tc.acc})
				seen += n
				if again, changed, n := next.Advance(obs, []*Accumulate{&tc.acc}); changed || again != next || n != 0 {
					t.Fatalf("cycle %d: the same groups again changed the state, or saw %d pushes", i, n)
				}
				s = next
			}
			if seen != uint64(len(distinct)) {
				t.Errorf("pushes seen %d, want %d", seen, len(distinct))
			}
			got := map[string]float64{}
			for _, ser := range s.AppendSums(nil) {
				got[ser.Labels.String()] = ser.Value
				if ser.Metadata.Type != model.MetricTypeCounter || ser.Extra.StartTimestampOrZero() == 0 {
					t.Errorf("%s: metadata %v, start %d", ser.Labels, ser.Metadata, ser.Extra.StartTimestampOrZero())
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("sums %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
				}
			}
			if g := s.Group(last.Labels); tc.pushes > 0 && (g == nil || g.Pushes != tc.pushes || g.FailedPushes != tc.failed) {
				t.Errorf("group %v: pushes %+v, want %d and %d failed", last.Labels, g, tc.pushes, tc.failed)
			}
		})
	}
}

func TestAdvanceDropsUnconfiguredSums(t *testing.T) {
	acc := &Accumulate{Metrics: []string{"rows_total"}, KeepLabels: []string{"job"}}
	g := group(push{time: 1, values: []float64{3}}, acc.Metrics, counterMeta)
	s, _, _ := (*State)(nil).Advance([]Observation{{Group: &g, Accumulate: acc}}, []*Accumulate{acc})
	if len(s.Sums()) != 1 {
		t.Fatalf("sums %v, want one", s.Sums())
	}
	other := &Accumulate{Metrics: []string{"rows_total"}, KeepLabels: []string{"instance"}}
	next, changed, _ := s.Advance([]Observation{{Group: &g}}, []*Accumulate{other})
	if !changed || len(next.Sums()) != 0 {
		t.Errorf("after the rule changed: changed %v, sums %v, want none", changed, next.Sums())
	}
	if len(s.Sums()) != 1 || s.Sums()[0].Value != 3 {
		t.Errorf("the old state changed: %v", s.Sums())
	}
}

func TestAppendPushes(t *testing.T) {
	g := pipeline.Group{Labels: labels.FromStrings("job", "etl"), PushTime: 10, PushFailureTime: 12}
	s, _, _ := (*State)(nil).Advance([]Observation{{Group: &g}}, nil)
	got := s.AppendPushes(nil, g.Labels)
	want := []string{`pushgateway_group_pushes_total{job="etl"} 1`, `pushgateway_group_failed_pushes_total{job="etl"} 1`}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] || got[i].Extra.StartTimestampOrZero() != 9999 {
			t.Errorf("got %v start %d, want %v start 9999", got[i], got[i].Extra.StartTimestampOrZero(), want[i])
		}
	}
	if s.AppendPushes(nil, labels.FromStrings("job", "other")) != nil {
		t.Error("series of an unknown group")
	}
}

// BenchmarkAdvanceUnchanged is the steady state: 1,000 groups of 100
// series, one accumulated counter each, none pushed again.
func BenchmarkAdvanceUnchanged(b *testing.B) {
	acc := &Accumulate{Metrics: []string{"rows_total"}, KeepLabels: []string{"job", "instance"}}
	obs := make([]Observation, 1000)
	for i := range obs {
		g := group(push{instance: fmt.Sprintf("i%d", i), time: 1, values: []float64{float64(i)}}, []string{"rows_total"}, counterMeta)
		for j := range 99 {
			g.Series = append(g.Series, pipeline.Series{Labels: labels.FromStrings("__name__", fmt.Sprintf("g%d", j), "instance", fmt.Sprintf("i%d", i), "job", "etl"), Metadata: gaugeMeta})
		}
		obs[i] = Observation{Group: &g, Accumulate: acc}
	}
	s, _, _ := (*State)(nil).Advance(obs, []*Accumulate{acc})
	var dst []pipeline.Series
	b.ReportAllocs()
	for b.Loop() {
		next, changed, _ := s.Advance(obs, []*Accumulate{acc})
		if changed {
			b.Fatal("changed")
		}
		dst = dst[:0]
		for _, o := range obs {
			dst = next.AppendPushes(dst, o.Group.Labels)
		}
		dst = next.AppendSums(dst)
	}
}

// nh is a native histogram with count observations of 1 (schema 0, bucket
// 0) and created timestamp created.
func nh(count float64, created int64) pipeline.Series {
	return pipeline.Series{
		Labels:   labels.FromStrings("__name__", "d", "instance", "x", "job", "etl"),
		Metadata: histogramMeta,
		Extra: &pipeline.Extra{StartTimestamp: created, FloatHistogram: &histogram.FloatHistogram{Count: count, Sum: count, Schema: 0,
			PositiveSpans: []histogram.Span{{Offset: 0, Length: 1}}, PositiveBuckets: []float64{count}}},
	}
}

func TestAdvanceNativeHistogram(t *testing.T) {
	acc := &Accumulate{Metrics: []string{"d"}, KeepLabels: []string{"job"}}
	var s *State
	// A run pushing 2 then 5 observations, a second run pushing 3: 8.
	for i, p := range []struct {
		time    float64
		count   float64
		created int64
	}{{10, 2, 9000}, {10, 2, 9000}, {11, 5, 9000}, {20, 3, 19000}} {
		g := pipeline.Group{Labels: labels.FromStrings("instance", "x", "job", "etl"), PushTime: p.time, Series: []pipeline.Series{nh(p.count, p.created)}}
		s, _, _ = s.Advance([]Observation{{Group: &g, Accumulate: acc}}, []*Accumulate{acc})
		if i == 1 {
			if got := s.AppendSums(nil)[0].FloatHistogram().Count; got != 2 {
				t.Fatalf("after the same push twice: count %v, want 2", got)
			}
		}
	}
	sums := s.AppendSums(nil)
	if len(sums) != 1 || sums[0].FloatHistogram() == nil {
		t.Fatalf("sums %v, want one native histogram", sums)
	}
	h := sums[0].FloatHistogram()
	if h.Count != 8 || h.Sum != 8 || h.PositiveBuckets[0] != 8 || sums[0].Labels.Get("__name__") != "job:d:sum_runs" || sums[0].Metadata.Type != model.MetricTypeHistogram {
		t.Errorf("sum %v (%v), want count, sum and bucket 8 under job:d:sum_runs, type histogram", sums[0], sums[0].Metadata)
	}
	if f := s.Group(labels.FromStrings("instance", "x", "job", "etl")).Families[0]; f.Total != 8 {
		t.Errorf("the group's total %v, want 8 observations", f.Total)
	}
}

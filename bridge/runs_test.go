package bridge

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/histogram"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
	"github.com/pushgateway-bridge/pushgateway-bridge/runs"
	"github.com/pushgateway-bridge/pushgateway-bridge/synth"
)

// TestAccumulateAcrossRestarts runs a bridge over pushes of one group, a
// new bridge process (a kill -9: nothing saved on the way out) taking over
// from the state on disk at the steps marked restart, and checks the sum
// sent at every cycle.
func TestAccumulateAcrossRestarts(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	counter := &metadata.Metadata{Type: model.MetricTypeCounter}
	push := func(at int, v float64) pipeline.Group {
		g := group(float64(t0.Unix()+int64(at)), []pipeline.Series{series("rows_total", v, "instance", "x", "job", "etl")}, "instance", "x", "job", "etl")
		g.Series[0].Metadata = counter
		return g
	}
	so := synth.Options{Series: synth.KindsOf(synth.KindPushes), Rules: []synth.Rule{{Name: "r", Accumulate: &runs.Accumulate{Metrics: []string{"rows_total"}, KeepLabels: []string{"job"}}}}}
	steps := []struct {
		name       string
		restart    bool
		unwritable bool // the run state cannot be written
		g          pipeline.Group
		sum        float64
		pushes     float64
	}{
		{name: "first run", g: push(1, 100), sum: 100, pushes: 1},
		{name: "seen again", g: push(1, 100), sum: 100, pushes: 1},
		{name: "killed, the same run still on the gateway", restart: true, g: push(1, 100), sum: 100, pushes: 1},
		{name: "a second run", g: push(20, 120), sum: 220, pushes: 2},
		{name: "killed, a run pushed meanwhile", restart: true, g: push(40, 80), sum: 300, pushes: 3},
		{name: "the run state cannot be written: the last saved is sent", unwritable: true, g: push(60, 80), sum: 300, pushes: 3},
		{name: "written again: the run counted once", g: push(60, 80), sum: 380, pushes: 4},
		{name: "killed after the unwritten cycle", restart: true, g: push(60, 80), sum: 380, pushes: 4},
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	var br *Bridge
	now := t0
	for i, st := range steps {
		rec := &recorder{}
		if br == nil || st.restart {
			g := st.g
			var err error
			br, err = New(Options{
				Gateways: []Gateway{{Name: "pgw", Source: sourceFunc(func() (*pipeline.Snapshot, error) {
					return &pipeline.Snapshot{Groups: []pipeline.Group{g}}, nil
				})}},
				Interval: 15 * time.Second, Senders: []Sender{rec}, Synth: so, StatePath: path,
				Now: func() time.Time { return now },
			})
			if err != nil {
				t.Fatal(err)
			}
		} else {
			g := st.g
			br.o.Gateways[0].Source = sourceFunc(func() (*pipeline.Snapshot, error) {
				return &pipeline.Snapshot{Groups: []pipeline.Group{g}}, nil
			})
			br.o.Senders = []Sender{rec}
		}
		if st.unwritable {
			// A directory where the file's temporary copy goes.
			if err := os.Mkdir(path+".runs.tmp", 0o500); err != nil {
				t.Fatal(err)
			}
		}
		br.Cycle(context.Background())
		if st.unwritable {
			if err := os.Remove(path + ".runs.tmp"); err != nil {
				t.Fatal(err)
			}
		}
		now = now.Add(15 * time.Second)
		got := map[string]float64{}
		for _, s := range rec.cycles[len(rec.cycles)-1] {
			got[s.Labels.Get(model.MetricNameLabel)] = s.V
		}
		if got["job:rows_total:sum_runs"] != st.sum || got[runs.PushesMetric] != st.pushes {
			t.Errorf("step %d, %s: sum %v, pushes %v; want %v and %v", i, st.name, got["job:rows_total:sum_runs"], got[runs.PushesMetric], st.sum, st.pushes)
		}
		gs := br.Status().Groups[0]
		if !gs.PushesKnown || float64(gs.Pushes) != got[runs.PushesMetric] || len(gs.Accumulated) != 1 {
			t.Errorf("step %d: status %+v", i, gs)
		}
	}
	// The sum's labels: the kept job, nothing else.
	want := labels.FromStrings(model.MetricNameLabel, "job:rows_total:sum_runs", "job", "etl")
	if s := br.carried.runs.Sums(); len(s) != 1 || !labels.Equal(s[0].Labels, want) {
		t.Errorf("sums %v, want one of %v", s, want)
	}
}

// sourceFunc is a Source that calls itself.
type sourceFunc func() (*pipeline.Snapshot, error)

func (f sourceFunc) Scrape(context.Context) (*pipeline.Snapshot, error) { return f() }

func TestRunsFileRoundTrip(t *testing.T) {
	acc := &runs.Accumulate{Metrics: []string{"d", "n"}, KeepLabels: []string{"job"}, Runs: runs.OnReset}
	hist := &metadata.Metadata{Type: model.MetricTypeHistogram}
	g := group(1700000000.5, []pipeline.Series{
		series("d_bucket", 2, "job", "etl", "le", "1"), series("d_bucket", 3, "job", "etl", "le", "+Inf"),
		series("d_sum", 4.5, "job", "etl"), series("d_count", 3, "job", "etl"),
	}, "job", "etl")
	g.Series = append(g.Series, pipeline.Series{Labels: labels.FromStrings("__name__", "n", "job", "etl"),
		Extra: &pipeline.Extra{Histogram: &histogram.Histogram{Count: 3, Sum: 2.5, Schema: 1, ZeroThreshold: 0.001, ZeroCount: 1,
			PositiveSpans: []histogram.Span{{Offset: -1, Length: 2}}, PositiveBuckets: []int64{1, 0},
			NegativeSpans: []histogram.Span{{Offset: 3, Length: 1}}, NegativeBuckets: []int64{0}}}})
	for i := range g.Series {
		g.Series[i].Metadata = hist
	}
	g.PushFailureTime = 1700000001
	s, _, _ := (*runs.State)(nil).Advance([]runs.Observation{{Group: &g, Accumulate: acc}}, []*runs.Accumulate{acc})
	path := filepath.Join(t.TempDir(), "runs")
	if err := saveRuns(path, s); err != nil {
		t.Fatal(err)
	}
	back, err := loadRuns(path)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := s.AppendSums(nil), back.AppendSums(nil); len(a) != 5 || len(a) != len(b) {
		t.Fatalf("sums %v, read back %v", a, b)
	} else {
		for i := range a {
			if a[i].String() != b[i].String() || a[i].Extra.StartTimestampOrZero() != b[i].Extra.StartTimestampOrZero() || a[i].Metadata.Type != b[i].Metadata.Type {
				t.Errorf("sum %d: %v, read back %v", i, a[i], b[i])
			}
		}
	}
	if again, changed, _ := back.Advance([]runs.Observation{{Group: &g, Accumulate: acc}}, []*runs.Accumulate{acc}); changed || fmt.Sprint(again.AppendSums(nil)) != fmt.Sprint(s.AppendSums(nil)) {
		t.Errorf("the state read back takes the same push for a new one: %v", again.AppendSums(nil))
	}
	fi, _ := os.Stat(path)
	t.Logf("run state of 1 group, 5 accumulated series (a native histogram among them): %d bytes", fi.Size())

	b, _ := os.ReadFile(path)
	b[len(b)/2] ^= 1
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadRuns(path); err == nil {
		t.Error("a corrupt run state read without error")
	}
}

// TestPushesUnobserved compares the gateway's count of pushes with the
// pushes the cycles observed.
func TestPushesUnobserved(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	type step struct {
		requests          float64 // the gateway's pushgateway_http_requests_total{handler="push"}
		start             float64 // its start time
		push, failure     int     // the group's push and failure times, seconds after t0
		unreachable       bool
		wantUnobserved    float64
		wantPushesCounted float64
	}
	steps := []step{
		{requests: 4, start: 1, push: 1, wantUnobserved: 0, wantPushesCounted: 1}, // the first count: from now on
		{requests: 6, start: 1, push: 2, wantUnobserved: 1, wantPushesCounted: 2}, // two pushes, one seen
		{requests: 6, start: 1, push: 2, wantUnobserved: 1, wantPushesCounted: 2},
		{unreachable: true, wantUnobserved: 1, wantPushesCounted: 2},
		{requests: 8, start: 1, push: 3, failure: 4, wantUnobserved: 1, wantPushesCounted: 4}, // a push and a failed one, both seen
		{requests: 1, start: 2, push: 5, failure: 4, wantUnobserved: 1, wantPushesCounted: 5}, // the gateway restarted
		{requests: 4, start: 2, push: 6, failure: 4, wantUnobserved: 3, wantPushesCounted: 6}, // three pushes, one seen
	}
	var cur step
	src := sourceFunc(func() (*pipeline.Snapshot, error) {
		if cur.unreachable {
			return nil, errors.New("connection refused")
		}
		g := group(float64(t0.Unix()+int64(cur.push)), nil, "job", "etl")
		if cur.failure > 0 {
			g.PushFailureTime = float64(t0.Unix() + int64(cur.failure))
		}
		own := []pipeline.Series{
			series("pushgateway_http_requests_total", cur.requests-1, "code", "200", "handler", "push", "method", "put"),
			series("pushgateway_http_requests_total", 1, "code", "400", "handler", "push", "method", "post"),
			series("pushgateway_http_requests_total", 50, "code", "200", "handler", "metrics", "method", "get"),
		}
		return &pipeline.Snapshot{Groups: []pipeline.Group{g}, Own: own, StartTime: cur.start}, nil
	})
	now := t0
	br, err := New(Options{
		Gateways: []Gateway{{Name: "pgw", Source: src}}, Interval: 15 * time.Second, Senders: []Sender{&recorder{}},
		Synth: synth.Options{Series: synth.KindsOf(synth.KindPushes)}, OutageHold: time.Hour, Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, st := range steps {
		cur = st
		br.Cycle(context.Background())
		now = now.Add(15 * time.Second)
		gs := br.Status().Groups[0]
		if got := testutil.ToFloat64(br.m.pushesUnobserved); got != st.wantUnobserved || float64(gs.Pushes+gs.FailedPushes) != st.wantPushesCounted {
			t.Errorf("step %d: unobserved %v, pushes counted %d+%d; want %v and %v", i, got, gs.Pushes, gs.FailedPushes, st.wantUnobserved, st.wantPushesCounted)
		}
	}
}

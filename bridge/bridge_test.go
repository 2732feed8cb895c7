package bridge

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"go.uber.org/goleak"

	"github.com/pushgateway-bridge/pushgateway-bridge/pushgateway"
	"github.com/pushgateway-bridge/pushgateway-bridge/remotewrite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeSource returns the next scripted snapshot or error on every scrape.
type fakeSource struct {
	script []func() (*pushgateway.Snapshot, error)
}

func (f *fakeSource) Scrape(context.Context) (*pushgateway.Snapshot, error) {
	next := f.script[0]
	f.script = f.script[1:]
	return next()
}

// recorder is a Sender that keeps what it was given, one slice per cycle.
type recorder struct{ cycles [][]remotewrite.Sample }

func (r *recorder) Append(s []remotewrite.Sample) { r.cycles = append(r.cycles, s) }

// lines formats one cycle as sorted "labels value@ts" lines.
func lines(samples []remotewrite.Sample) string {
	out := make([]string, 0, len(samples))
	for _, s := range samples {
		ser := pushgateway.Series{Labels: s.Labels, Value: s.V, Histogram: s.H, FloatHistogram: s.FH}
		out = append(out, ser.String()+" @"+time.UnixMilli(s.T).UTC().Format("15:04:05"))
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

func series(name string, v float64, kv ...string) pushgateway.Series {
	return pushgateway.Series{Labels: labels.FromStrings(append([]string{"__name__", name}, kv...)...), Value: v}
}

func group(pushTime float64, s []pushgateway.Series, kv ...string) pushgateway.Group {
	return pushgateway.Group{Labels: labels.FromStrings(kv...), PushTime: pushTime, Series: s}
}

func snap(groups ...pushgateway.Group) func() (*pushgateway.Snapshot, error) {
	return func() (*pushgateway.Snapshot, error) {
		return &pushgateway.Snapshot{Groups: groups, Own: []pushgateway.Series{series("go_goroutines", 8)}}, nil
	}
}

func unreachable() (*pushgateway.Snapshot, error) {
	return nil, errors.New("connection refused")
}

func TestCycles(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	pt := float64(t0.Add(-10 * time.Second).Unix())
	a := func(vals ...float64) pushgateway.Group {
		s := []pushgateway.Series{series("done", 1, "job", "a")}
		if len(vals) > 0 {
			s = append(s, series("rows", vals[0], "job", "a"))
		}
		return group(pt, s, "job", "a")
	}
	b := group(pt, []pushgateway.Series{series("bytes", 5, "job", "b")}, "job", "b")

	src := &fakeSource{script: []func() (*pushgateway.Snapshot, error){
		snap(a(3), b),
		snap(a(), b), // PUT without rows: rows goes stale
		unreachable,  // nothing stale, only the gateway is down
		snap(a()),    // b was deleted while the gateway was down
		snap(a()),    // nothing changes: nothing stale
		func() (*pushgateway.Snapshot, error) { return nil, context.DeadlineExceeded },
	}}
	want := []string{
		`bytes{job="b"} 5 @10:00:00
done{job="a"} 1 @10:00:00
pushgateway_group_age_seconds{job="a"} 10 @10:00:00
pushgateway_group_age_seconds{job="b"} 10 @10:00:00
pushgateway_up{gateway="pgw"} 1 @10:00:00
rows{job="a"} 3 @10:00:00
up{job="a"} 1 @10:00:00
up{job="b"} 1 @10:00:00`,
		`bytes{job="b"} 5 @10:00:15
done{job="a"} 1 @10:00:15
pushgateway_group_age_seconds{job="a"} 25 @10:00:15
pushgateway_group_age_seconds{job="b"} 25 @10:00:15
pushgateway_up{gateway="pgw"} 1 @10:00:15
rows{job="a"} stale @10:00:15
up{job="a"} 1 @10:00:15
up{job="b"} 1 @10:00:15`,
		`pushgateway_up{gateway="pgw"} 0 @10:00:30`,
		`bytes{job="b"} stale @10:00:45
done{job="a"} 1 @10:00:45
pushgateway_group_age_seconds{job="a"} 55 @10:00:45
pushgateway_group_age_seconds{job="b"} stale @10:00:45
pushgateway_up{gateway="pgw"} 1 @10:00:45
up{job="a"} 1 @10:00:45
up{job="b"} stale @10:00:45`,
		`done{job="a"} 1 @10:01:00
pushgateway_group_age_seconds{job="a"} 70 @10:01:00
pushgateway_up{gateway="pgw"} 1 @10:01:00
up{job="a"} 1 @10:01:00`,
		`pushgateway_up{gateway="pgw"} 0 @10:01:15`,
	}
	wantComplete := []bool{true, true, false, true, true, false}

	now := t0
	rec := &recorder{}
	reg := prometheus.NewPedanticRegistry()
	br, err := New(Options{
		Gateways:   []Gateway{{Name: "pgw", Source: src}},
		Interval:   15 * time.Second,
		Senders:    []Sender{rec},
		Registerer: reg,
		Now:        func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	if br.Ready() {
		t.Fatal("ready before the first cycle")
	}
	for i := range want {
		if got := br.Cycle(context.Background()); got != wantComplete[i] {
			t.Errorf("cycle %d complete = %v, want %v", i, got, wantComplete[i])
		}
		if got := lines(rec.cycles[i]); got != want[i] {
			t.Errorf("cycle %d sent\n%s\nwant\n%s", i, got, want[i])
		}
		now = now.Add(15 * time.Second)
	}
	if !br.Ready() {
		t.Error("not ready after complete cycles")
	}
	if got := testutil.ToFloat64(br.m.staleMarkers); got != 4 {
		t.Errorf("stale markers counted = %v, want 4", got)
	}
	if got := testutil.ToFloat64(br.m.scrapeFailures.WithLabelValues("pgw")); got != 2 {
		t.Errorf("scrape failures = %v, want 2", got)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("metrics lint: %v %v", problems, err)
	}
}

func TestForwardGatewayMetrics(t *testing.T) {
	for _, forward := range []bool{false, true} {
		rec := &recorder{}
		br, err := New(Options{
			Gateways:              []Gateway{{Name: "pgw", Source: &fakeSource{script: []func() (*pushgateway.Snapshot, error){snap()}}}},
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
	src := &fakeSource{script: []func() (*pushgateway.Snapshot, error){
		func() (*pushgateway.Snapshot, error) { cancel(); return nil, context.Canceled },
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

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
)

// runsConfig accumulates rows_processed_total of job etl (text pushes) and
// etl_go (client_golang pushes, with created timestamps) per job, each
// push a whole run (runs: per_push, the default), plus extra rule keys.
func runsConfig(t testing.TB, extra string) string {
	return writeConfig(t, `
group_rules:
- match: {job: etl.*}
`+extra+`  accumulate:
    metrics: [rows_processed_total, batch_seconds]
    keep_labels: [job]
`)
}

// runsBridge starts a bridge from g to writeURL with the runs configuration
// and a 1s interval, plus args.
func runsBridge(t testing.TB, g *pushgateway, writeURL, cfg string, args ...string) *bridge {
	return startBridge(t, append([]string{
		"--pushgateway.url=" + g.URL, "--remote-write.url=" + writeURL, "--config.file=" + cfg,
		"--scrape.interval=1s", "--log.level=debug", "--synth.series=pushes",
	}, args...)...)
}

// pushRows PUTs a run of job etl, instance instance, that counted rows, as
// curl would: text exposition, the group replaced.
func pushRows(t testing.TB, g *pushgateway, instance string, rows float64) {
	t.Helper()
	mustPush(t, g.URL, http.MethodPut, groupPath("etl", "instance", instance),
		fmt.Sprintf("# TYPE rows_processed_total counter\nrows_processed_total %g\n", rows))
}

// expectValue returns an error unless expr has one sample of value want.
func expectValue(promURL, expr string, want float64) error {
	got, err := scalarOf(promURL, expr)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%s = %g, want %g", expr, got, want)
	}
	return nil
}

// TestRunsAccumulate pushes five runs of one group (text, PUT) counting
// 100, 120, 80, 80, 200, each seen by the bridge: the accumulated series
// ends at 580 and the pushes observed at 5, while increase() over the raw
// series shows less. A client_golang job pushes twice per run (one created
// timestamp) and runs twice: each run counts once, with its last value. A
// native histogram pushed by client_golang in two runs is summed too.
func TestRunsAccumulate(t *testing.T) {
	t.Parallel()
	g := startPushgatewayBin(t, 0, pushgateway1115Bin)
	r := startPrometheusReceiver(t, 0)
	b := runsBridge(t, g, r.WriteURL, runsConfig(t, ""))

	want := 0.0
	for i, rows := range []float64{100, 120, 80, 80, 200} {
		pushRows(t, g, "", rows)
		want += rows
		eventually(t, arrive, func() error {
			if err := expectValue(r.URL, `pushgateway_group_pushes_total{job="etl"}`, float64(i+1)); err != nil {
				return err
			}
			return expectValue(r.URL, `job:rows_processed_total:sum_runs`+`{job="etl"}`, want)
		})
	}
	if err := expectVector(r.URL, `{__name__=~"job:.*"}`, `job:rows_processed_total:sum_runs{job="etl"} 580`); err != nil {
		t.Error(err)
	}
	inc, err := scalarOf(r.URL, `increase(rows_processed_total{job="etl"}[10m])`)
	if err != nil || inc >= 580 {
		t.Errorf("increase() over the raw series = %g (%v), want less than 580", inc, err)
	}
	t.Logf("increase() over the raw series: %g; accumulated: 580", inc)

	// client_golang: a new counter per run (a new created timestamp),
	// pushed twice per run.
	want = 0
	for run, values := range [][]float64{{10, 30}, {5, 25}} {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: "rows_processed_total", Help: "Rows processed."})
		for _, v := range values {
			c.Add(v - testutil.ToFloat64(c))
			p := push.New(g.URL, "etl_go").Collector(c).Format(expfmt.NewFormat(expfmt.TypeProtoDelim)).Client(httpClient)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := p.PushContext(ctx); err != nil {
				t.Fatalf("push with client_golang: %v", err)
			}
			cancel()
			pushes := float64(run*len(values) + slices.Index(values, v) + 1)
			eventually(t, arrive, func() error {
				if err := expectValue(r.URL, `pushgateway_group_pushes_total{job="etl_go"}`, pushes); err != nil {
					return err
				}
				return expectValue(r.URL, `job:rows_processed_total:sum_runs{job="etl_go"}`, want+v)
			})
		}
		want += values[len(values)-1]
	}
	if err := expectValue(r.URL, `job:rows_processed_total:sum_runs{job="etl_go"}`, 55); err != nil {
		t.Error(err)
	}
	// A native histogram, pushed by client_golang: two runs of 3 and 2
	// observations.
	for i, obs := range [][]float64{{0.1, 0.2, 5}, {1, 2}} {
		pushNativeHistogram(t, g.URL, "etl_nh", "batch_seconds", nil, obs...)
		eventually(t, arrive, func() error {
			if err := expectValue(r.URL, `pushgateway_group_pushes_total{job="etl_nh"}`, float64(i+1)); err != nil {
				return err
			}
			return expectValue(r.URL, `histogram_count(job:batch_seconds:sum_runs{job="etl_nh"})`, []float64{3, 5}[i])
		})
	}
	if err := expectValue(r.URL, `histogram_sum(job:batch_seconds:sum_runs{job="etl_nh"})`, 8.3); err != nil {
		t.Error(err)
	}

	// The status API shows the pushes seen and what the group's runs added.
	code, body, err := httpGet(b.URL + "/api/v1/groups?job=etl")
	if err != nil || code != http.StatusOK || !strings.Contains(body, `"pushes":{"ok":5,"failed":0,"accumulated":{"rows_processed_total":580}}`) {
		t.Errorf("GET /api/v1/groups: %d %v\n%s", code, err, body)
	}

	// Two pushes within one interval look like one: the first is neither
	// counted nor summed, and the bridge tells it missed one from the
	// gateway's own count of pushes (unless a scrape fell between them).
	if u := b.MustMetric("pushgateway_bridge_runs_pushes_unobserved_total"); u != 0 {
		t.Errorf("pushes unobserved %v before two pushes in one interval, want 0", u)
	}
	pushRows(t, g, "", 1000)
	pushRows(t, g, "", 7)
	eventually(t, arrive, func() error {
		u, _, err := b.Metric("pushgateway_bridge_runs_pushes_unobserved_total")
		if err != nil {
			return err
		}
		if err := expectValue(r.URL, `pushgateway_group_pushes_total{job="etl"}`, 7-u); err != nil {
			return err
		}
		return expectValue(r.URL, `job:rows_processed_total:sum_runs{job="etl"}`, 587+(1-u)*1000)
	})
	t.Logf("two pushes in one interval: %v unobserved", b.MustMetric("pushgateway_bridge_runs_pushes_unobserved_total"))
}

// TestRunsAccumulateExpired pushes twenty runs, each under its own
// instance, under a rule that expires and deletes them: the sum over the
// runs stays at its total after every group expired and was deleted.
func TestRunsAccumulateExpired(t *testing.T) {
	t.Parallel()
	g := startPushgateway(t)
	r := startPrometheusReceiver(t, 0)
	runsBridge(t, g, r.WriteURL, runsConfig(t, "  expire_after: 4s\n  delete_expired: true\n"))
	total := 0.0
	for i := range 20 {
		pushRows(t, g, fmt.Sprintf("run-%02d", i), float64(i+1))
		total += float64(i + 1)
	}
	eventually(t, arrive, func() error {
		return expectValue(r.URL, `job:rows_processed_total:sum_runs{job="etl"}`, total)
	})
	eventually(t, arrive, func() error {
		_, body, err := httpGet(g.URL + "/api/v1/metrics")
		if err != nil {
			return err
		}
		if n := strings.Count(body, `"run-`); n > 0 {
			return fmt.Errorf("%d groups left on the gateway", n)
		}
		return nil
	})
	// The groups' series are gone (stale); the sum is not.
	eventually(t, arrive, func() error { return expectEmpty(r.URL, `rows_processed_total`) })
	consistently(t, 3*time.Second, func() error {
		if err := expectEmpty(r.URL, `rows_processed_total`); err != nil {
			return err
		}
		return expectValue(r.URL, `job:rows_processed_total:sum_runs{job="etl"}`, total)
	})
}

// TestRunsAccumulateKill kills the bridge (SIGKILL) right after it saved
// a run and maybe before it sent it, right after a push it has likely not
// seen, and while a run is pushed: after each restart the sum holds every
// run once, and the receiver never saw more.
func TestRunsAccumulateKill(t *testing.T) {
	t.Parallel()
	g := startPushgateway(t)
	r := startPrometheusReceiver(t, 0)
	cfg := runsConfig(t, "")
	storage := "--storage.path=" + t.TempDir()
	sum := `job:rows_processed_total:sum_runs{job="etl"}`

	b := runsBridge(t, g, r.WriteURL, cfg, storage)
	pushRows(t, g, "", 100)
	eventually(t, arrive, func() error { return expectValue(r.URL, sum, 100) })

	// Killed once the run state holds the run (the status shows it only
	// after it was saved), sent or not.
	pushRows(t, g, "", 20)
	eventually(t, arrive, func() error {
		_, body, err := httpGet(b.URL + "/api/v1/groups?job=etl")
		if err != nil || !strings.Contains(body, `"pushes":{"ok":2,`) {
			return fmt.Errorf("the bridge has not seen the push: %v %s", err, body)
		}
		return nil
	})
	b.Kill()
	b = runsBridge(t, g, r.WriteURL, cfg, storage)
	eventually(t, arrive, func() error { return expectValue(r.URL, sum, 120) })

	// Killed right after a push, most likely before it saw it.
	pushRows(t, g, "", 7)
	b.Kill()
	b = runsBridge(t, g, r.WriteURL, cfg, storage)
	eventually(t, arrive, func() error { return expectValue(r.URL, sum, 127) })

	// Killed, and a run pushed while the bridge is down.
	b.Kill()
	pushRows(t, g, "", 5)
	runsBridge(t, g, r.WriteURL, cfg, storage)
	eventually(t, arrive, func() error { return expectValue(r.URL, sum, 132) })
	consistently(t, 3*time.Second, func() error {
		if err := expectValue(r.URL, sum, 132); err != nil {
			return err
		}
		return expectValue(r.URL, `max_over_time(`+sum+`[10m])`, 132)
	})
}

// TestRunsAccumulateReplicas runs two bridge replicas (external label
// __replica__) over one gateway: for every run pushed both send the same
// sums, and the sequences of values each sent are the same.
func TestRunsAccumulateReplicas(t *testing.T) {
	t.Parallel()
	g := startPushgateway(t)
	r := startPrometheusReceiver(t, 0)
	for _, rep := range []string{"r1", "r2"} {
		cfg := writeConfig(t, fmt.Sprintf(`
global:
  external_labels: {__replica__: %s}
group_rules:
- match: {job: etl}
  accumulate:
    metrics: [rows_processed_total]
    keep_labels: [job]
`, rep))
		runsBridge(t, g, r.WriteURL, cfg)
	}
	want := 0.0
	for _, rows := range []float64{3, 1.5, 1.5, 10, 0.25} {
		pushRows(t, g, "x", rows)
		want += rows
		eventually(t, arrive, func() error {
			return expectVector(r.URL, `job:rows_processed_total:sum_runs`, fmt.Sprintf(`
job:rows_processed_total:sum_runs{__replica__="r1",job="etl"} %[1]g
job:rows_processed_total:sum_runs{__replica__="r2",job="etl"} %[1]g`, want))
		})
	}
	m, err := queryMatrixAt(r.URL, `job:rows_processed_total:sum_runs[10m]`, time.Now())
	if err != nil || len(m) != 2 {
		t.Fatalf("raw samples: %v, %v", m, err)
	}
	var seqs [2][]float64
	for i, s := range m {
		for _, p := range s.Values {
			if v := float64(p.Value); len(seqs[i]) == 0 || seqs[i][len(seqs[i])-1] != v {
				seqs[i] = append(seqs[i], v)
			}
		}
	}
	if !slices.Equal(seqs[0], seqs[1]) || len(seqs[0]) != 5 {
		t.Errorf("values sent, in order: %s %v, %s %v; want the same 5", m[0].Metric, seqs[0], m[1].Metric, seqs[1])
	}
}

// TestRunsStartTimestamps sends the accumulated series and the pushes
// observed over remote write 2.0 to Prometheus 3 with start timestamps
// stored: each starts just before the first push it counted.
func TestRunsStartTimestamps(t *testing.T) {
	t.Parallel()
	g := startPushgateway(t)
	r := startPrometheusBin(t, "prometheus3", prometheus3Bin, 0,
		"--web.remote-write-receiver.accepted-protobuf-messages="+rw2Message,
		"--enable-feature=st-storage",
		"--enable-feature=use-start-timestamps",
		"--enable-feature=promql-experimental-functions")
	cfg := writeConfig(t, fmt.Sprintf(`
remote_write:
- url: %s
  protobuf_message: %s
group_rules:
- match: {job: etl}
  accumulate:
    metrics: [rows_processed_total]
    keep_labels: [job]
`, r.WriteURL, rw2Message))
	startBridge(t, "--pushgateway.url="+g.URL, "--config.file="+cfg, "--scrape.interval=1s", "--synth.series=pushes")
	pushRows(t, g, "", 9)
	eventually(t, arrive, func() error {
		return expectValue(r.URL, `job:rows_processed_total:sum_runs{job="etl"}`, 9)
	})
	pushTime, err := scalarOf(r.URL, `push_time_seconds{job="etl"}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, series := range []string{`job:rows_processed_total:sum_runs{job="etl"}`, `pushgateway_group_pushes_total{job="etl"}`} {
		eventually(t, arrive, func() error {
			st, err := scalarOf(r.URL, `start_timestamp(`+series+`)`)
			if err != nil {
				return err
			}
			if d := pushTime - st; d < 0 || d > 0.002 {
				return fmt.Errorf("start_timestamp(%s) = %.3f, want just before the push, %.3f", series, st, pushTime)
			}
			return nil
		})
	}
}

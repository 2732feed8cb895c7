package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Bounds of the waits below. The bridge cycles every second; a staleness
// marker or a new sample must show within a few cycles plus remote-write
// latency, while the peers' and the bridge's start-up may take longer.
const (
	// arrive bounds how long pushed data may take to reach the receiver.
	arrive = 20 * time.Second
	// vanish bounds how long a vanished series may stay queryable. Without
	// staleness markers it would stay for the whole 5m lookback delta.
	vanish = 5 * time.Second
)

// setup starts a Pushgateway, a receiver with the default 5m lookback delta
// and a bridge between them scraping every second.
func setup(t *testing.T) (*pushgateway, *receiver, *bridge) {
	t.Helper()
	return setupWith(t, startPushgateway(t))
}

// setupWith is setup with the gateway g, e.g. one of forEachGateway's.
func setupWith(t *testing.T, g *pushgateway) (*pushgateway, *receiver, *bridge) {
	t.Helper()
	r := startPrometheusReceiver(t, 0)
	b := startBridge(t, bridgeArgs(g.URL, r.WriteURL)...)
	return g, r, b
}

// TestMetricTypes checks that every metric type arrives with the labels the
// gateway exposes minus its empty instance label, and that the gateway's own
// metrics are not forwarded.
// It runs against each Pushgateway version (forEachGateway).
func TestMetricTypes(t *testing.T) { forEachGateway(t, testMetricTypes) }

func testMetricTypes(t *testing.T, g *pushgateway) {
	r := startPrometheusReceiver(t, 0)
	rec := startWriteRecorder(t, r.WriteURL)
	startBridge(t, bridgeArgs(g.URL, rec.URL)...)

	mustPush(t, g.URL, http.MethodPut, groupPath("types", "env", "test"), `
# TYPE e2e_gauge gauge
e2e_gauge{color="blue",size="xl"} 42.5
e2e_gauge{color="red",size="s"} -1
# TYPE e2e_requests_total counter
e2e_requests_total 7
# TYPE e2e_hist histogram
e2e_hist_bucket{le="0.5"} 1
e2e_hist_bucket{le="2.5"} 3
e2e_hist_bucket{le="+Inf"} 4
e2e_hist_sum 5.5
e2e_hist_count 4
# TYPE e2e_summary summary
e2e_summary{quantile="0.5"} 0.2
e2e_summary{quantile="0.9"} 0.8
e2e_summary_sum 3.3
e2e_summary_count 6
e2e_untyped{kind="raw"} 13
`)
	pushNativeHistogram(t, g.URL, "native", "e2e_native", []string{"env", "test"}, 1, 2, 3, 10)

	eventually(t, arrive, func() error {
		return expectVector(r.URL, `{job="types",__name__=~"e2e_.*"}`, `
e2e_gauge{color="blue",env="test",job="types",size="xl"} 42.5
e2e_gauge{color="red",env="test",job="types",size="s"} -1
e2e_requests_total{env="test",job="types"} 7
e2e_hist_bucket{env="test",job="types",le="0.5"} 1
e2e_hist_bucket{env="test",job="types",le="2.5"} 3
e2e_hist_bucket{env="test",job="types",le="+Inf"} 4
e2e_hist_sum{env="test",job="types"} 5.5
e2e_hist_count{env="test",job="types"} 4
e2e_summary{env="test",job="types",quantile="0.5"} 0.2
e2e_summary{env="test",job="types",quantile="0.9"} 0.8
e2e_summary_sum{env="test",job="types"} 3.3
e2e_summary_count{env="test",job="types"} 6
e2e_untyped{env="test",job="types",kind="raw"} 13
`)
	})
	eventually(t, arrive, func() error {
		return expectVector(r.URL, `histogram_count(e2e_native)`, `{env="test",job="native"} 4`)
	})
	if err := expectVector(r.URL, `histogram_sum(e2e_native)`, `{env="test",job="native"} 16`); err != nil {
		t.Error(err)
	}

	// The push timestamps are part of each group and forwarded as they are.
	if err := expectMetrics(r.URL, `push_time_seconds > 1e9`,
		`push_time_seconds{env="test",job="types"}`,
		`push_time_seconds{env="test",job="native"}`,
	); err != nil {
		t.Error(err)
	}
	if err := expectVector(r.URL, `push_failure_time_seconds`, `
push_failure_time_seconds{env="test",job="types"} 0
push_failure_time_seconds{env="test",job="native"} 0
`); err != nil {
		t.Error(err)
	}

	// No series carries the gateway's empty instance label, or any other
	// empty label: neither at the receiver nor, since the receiver drops
	// empty labels itself, in what the bridge sent.
	all := query(t, r.URL, `{__name__=~".+"}`)
	for _, s := range all {
		for name, value := range s.Metric {
			if name == "instance" || value == "" {
				t.Errorf("series %s has label %s=%q", formatMetric(s.Metric), name, value)
			}
		}
	}
	if series, errs := rec.emptyLabels(); len(series) > 0 || len(errs) > 0 {
		t.Errorf("remote write from the bridge: series with empty-valued labels:\n%s\nundecodable requests:\n%s",
			indent(strings.Join(series, "\n")), indent(strings.Join(errs, "\n")))
	}

	// The gateway's own metrics are not forwarded; the bridge's synthesized
	// pushgateway_up and pushgateway_group_{age_seconds,status,max_age_seconds} are.
	if err := expectEmpty(r.URL, `count({__name__=~"go_.*|process_.*|pushgateway_.*",__name__!~"pushgateway_up|pushgateway_group_(age_seconds|status|max_age_seconds)"})`); err != nil {
		t.Error(err)
	}
	if err := expectVector(r.URL, `pushgateway_up`, fmt.Sprintf(`pushgateway_up{gateway=%q} 1`, g.Addr)); err != nil {
		t.Error(err)
	}
}

// TestUpAndAge checks the synthesized per-group up and
// pushgateway_group_age_seconds.
// It runs against each Pushgateway version (forEachGateway).
func TestUpAndAge(t *testing.T) { forEachGateway(t, testUpAndAge) }

func testUpAndAge(t *testing.T, g *pushgateway) {
	_, r, _ := setupWith(t, g)

	mustPush(t, g.URL, http.MethodPut, groupPath("good"), "# TYPE e2e_shared gauge\ne2e_shared 1\n")
	mustPush(t, g.URL, http.MethodPut, groupPath("bad"), "e2e_ok 1\n")
	eventually(t, arrive, func() error {
		return expectVector(r.URL, `up`, `
up{job="good"} 1
up{job="bad"} 1
`)
	})

	// Pushgateway 1.5.1 records a failed push (push_failure_time_seconds)
	// only for pushes that parse but fail its consistency check; a parse
	// error is answered 400 and leaves the group untouched. A type clash
	// with another group's metric of the same name is such a failure.
	for _, job := range []string{"bad", "never"} {
		code, body := pushText(t, g.URL, http.MethodPut, groupPath(job), "# TYPE e2e_shared counter\ne2e_shared 2\n")
		if code != http.StatusBadRequest || !strings.Contains(body, "inconsistent") {
			t.Fatalf("conflicting push to job %q: status %d %q, want 400 inconsistent", job, code, body)
		}
	}
	eventually(t, arrive, func() error {
		return expectVector(r.URL, `up`, `
up{job="good"} 1
up{job="bad"} 0
up{job="never"} 0
`)
	})
	// A failed push leaves the group's series as they were.
	if err := expectVector(r.URL, `{__name__=~"e2e_.*"}`, `
e2e_shared{job="good"} 1
e2e_ok{job="bad"} 1
`); err != nil {
		t.Error(err)
	}
	if err := expectMetrics(r.URL, `push_failure_time_seconds > push_time_seconds`,
		`push_failure_time_seconds{job="bad"}`,
		`push_failure_time_seconds{job="never"}`,
	); err != nil {
		t.Error(err)
	}

	// Age exists for groups that pushed successfully once, not for "never".
	if err := expectMetrics(r.URL, `pushgateway_group_age_seconds`,
		`pushgateway_group_age_seconds{job="good"}`,
		`pushgateway_group_age_seconds{job="bad"}`,
	); err != nil {
		t.Error(err)
	}
	age1, err := scalarOf(r.URL, `pushgateway_group_age_seconds{job="good"}`)
	if err != nil {
		t.Fatal(err)
	}
	if age1 < 0 || age1 > 60 {
		t.Errorf("pushgateway_group_age_seconds{job=\"good\"} = %v, want between 0 and 60", age1)
	}
	eventually(t, arrive, func() error {
		age2, err := scalarOf(r.URL, `pushgateway_group_age_seconds{job="good"}`)
		if err != nil {
			return err
		}
		if age2 < age1+1.5 {
			return fmt.Errorf("pushgateway_group_age_seconds{job=\"good\"}: %v, want at least %v (first query) + 1.5", age2, age1)
		}
		return nil
	})
}

// TestPutFewerSeriesMarksStale checks that a series dropped from a group by
// a PUT gets a staleness marker: with a 5m lookback delta nothing else can
// make it vanish from instant queries within seconds.
// It runs against each Pushgateway version (forEachGateway).
func TestPutFewerSeriesMarksStale(t *testing.T) { forEachGateway(t, testPutFewerSeriesMarksStale) }

func testPutFewerSeriesMarksStale(t *testing.T, g *pushgateway) {
	_, r, _ := setupWith(t, g)

	mustPush(t, g.URL, http.MethodPut, groupPath("shrink"), "e2e_keep 1\ne2e_drop 2\n")
	eventually(t, arrive, func() error {
		return expectVector(r.URL, `{__name__=~"e2e_.*"}`, `
e2e_keep{job="shrink"} 1
e2e_drop{job="shrink"} 2
`)
	})

	mustPush(t, g.URL, http.MethodPut, groupPath("shrink"), "e2e_keep 3\n")
	took := eventually(t, vanish, func() error {
		return expectVector(r.URL, `{__name__=~"e2e_.*"}`, `e2e_keep{job="shrink"} 3`)
	})
	t.Logf("e2e_drop vanished %v after the PUT", took.Round(time.Millisecond))
	consistently(t, 3*time.Second, func() error {
		return expectVector(r.URL, `{__name__=~"e2e_.*"}`, `e2e_keep{job="shrink"} 3`)
	})
}

// TestDeleteGroupMarksStale checks that a deleted group's series and its
// synthesized series vanish at once, and only that group's.
// It runs against each Pushgateway version (forEachGateway).
func TestDeleteGroupMarksStale(t *testing.T) { forEachGateway(t, testDeleteGroupMarksStale) }

func testDeleteGroupMarksStale(t *testing.T, g *pushgateway) {
	_, r, _ := setupWith(t, g)

	mustPush(t, g.URL, http.MethodPut, groupPath("gone", "k", "v"), "e2e_gone 1\n")
	mustPush(t, g.URL, http.MethodPut, groupPath("stay"), "e2e_stay 1\n")
	eventually(t, arrive, func() error {
		return expectMetrics(r.URL, `{job=~"gone|stay",__name__!="pushgateway_group_status"}`,
			`e2e_gone{job="gone",k="v"}`,
			`up{job="gone",k="v"}`,
			`pushgateway_group_age_seconds{job="gone",k="v"}`,
			`push_time_seconds{job="gone",k="v"}`,
			`push_failure_time_seconds{job="gone",k="v"}`,
			`e2e_stay{job="stay"}`,
			`up{job="stay"}`,
			`pushgateway_group_age_seconds{job="stay"}`,
			`push_time_seconds{job="stay"}`,
			`push_failure_time_seconds{job="stay"}`,
		)
	})

	mustPush(t, g.URL, http.MethodDelete, groupPath("gone", "k", "v"), "")
	took := eventually(t, vanish, func() error {
		return expectEmpty(r.URL, `{job="gone"}`)
	})
	t.Logf("group gone vanished %v after the DELETE", took.Round(time.Millisecond))
	if err := expectMetrics(r.URL, `{job=~"gone|stay",__name__!="pushgateway_group_status"}`,
		`e2e_stay{job="stay"}`,
		`up{job="stay"}`,
		`pushgateway_group_age_seconds{job="stay"}`,
		`push_time_seconds{job="stay"}`,
		`push_failure_time_seconds{job="stay"}`,
	); err != nil {
		t.Error(err)
	}
}

// TestPushgatewayDown checks that a stopped gateway yields pushgateway_up 0
// and no staleness markers, and that the bridge picks up again when the
// gateway is back on the same address.
func TestPushgatewayDown(t *testing.T) {
	g, r, _ := setup(t)
	upExpr := `pushgateway_up`
	upWant := func(v int) string { return fmt.Sprintf(`pushgateway_up{gateway=%q} %d`, g.Addr, v) }

	mustPush(t, g.URL, http.MethodPut, groupPath("persist"), "e2e_persist 7\n")
	eventually(t, arrive, func() error {
		if err := expectVector(r.URL, upExpr, upWant(1)); err != nil {
			return err
		}
		return expectVector(r.URL, `e2e_persist`, `e2e_persist{job="persist"} 7`)
	})
	// While the gateway is down the bridge forwards what it last held
	// (--pushgateway.outage-hold): the same values, only the age grows.
	groupSeries := `{job="persist",__name__!="pushgateway_group_age_seconds"}`
	before := query(t, r.URL, groupSeries)
	ageBefore, err := scalarOf(r.URL, `pushgateway_group_age_seconds{job="persist"}`)
	if err != nil {
		t.Fatal(err)
	}

	g.Stop()
	eventually(t, arrive, func() error { return expectVector(r.URL, upExpr, upWant(0)) })
	consistently(t, 5*time.Second, func() error {
		v, err := queryVector(r.URL, groupSeries)
		if err != nil {
			return err
		}
		if got, want := formatVector(v), formatVector(before); got != want {
			return fmt.Errorf("query %s while the gateway is down:\n got:\n%s\nwant (as before the stop):\n%s", groupSeries, indent(got), indent(want))
		}
		return nil
	})
	if ageDown, err := scalarOf(r.URL, `pushgateway_group_age_seconds{job="persist"}`); err != nil || ageDown < ageBefore+4 {
		t.Errorf("age while the gateway is down = %v (%v), want it still growing from %v", ageDown, err, ageBefore)
	}
	tsDown, err := scalarOf(r.URL, `timestamp(e2e_persist)`)
	if err != nil {
		t.Fatal(err)
	}

	g.Start()
	eventually(t, arrive, func() error {
		if err := expectVector(r.URL, upExpr, upWant(1)); err != nil {
			return err
		}
		if err := expectVector(r.URL, `e2e_persist`, `e2e_persist{job="persist"} 7`); err != nil {
			return err
		}
		ts, err := scalarOf(r.URL, `timestamp(e2e_persist)`)
		if err != nil {
			return err
		}
		if ts <= tsDown {
			return fmt.Errorf("timestamp(e2e_persist) = %v, want > %v (while the gateway was down)", ts, tsDown)
		}
		return nil
	})
}

// TestBase64GroupingKey checks that grouping label values pushed with the
// @base64 path encoding arrive decoded.
// It runs against each Pushgateway version (forEachGateway).
func TestBase64GroupingKey(t *testing.T) { forEachGateway(t, testBase64GroupingKey) }

func testBase64GroupingKey(t *testing.T, g *pushgateway) {
	_, r, _ := setupWith(t, g)

	path := groupPath("dir/job", "path", "/var/tmp")
	if want := "/metrics/job@base64/ZGlyL2pvYg/path@base64/L3Zhci90bXA"; path != want {
		t.Fatalf("groupPath = %s, want %s", path, want)
	}
	mustPush(t, g.URL, http.MethodPut, path, "e2e_b64 1\n")
	eventually(t, arrive, func() error {
		return expectVector(r.URL, `{__name__=~"e2e_b64|up"}`, `
e2e_b64{job="dir/job",path="/var/tmp"} 1
up{job="dir/job",path="/var/tmp"} 1
`)
	})
}

// TestOverlappingGroupingKeys checks groups {job="x"} and {job="x",foo="bar"}
// whose series overlap in labels: each keeps its own up, and deleting one
// leaves the other's series alone.
// It runs against each Pushgateway version (forEachGateway).
func TestOverlappingGroupingKeys(t *testing.T) { forEachGateway(t, testOverlappingGroupingKeys) }

func testOverlappingGroupingKeys(t *testing.T, g *pushgateway) {
	_, r, _ := setupWith(t, g)

	mustPush(t, g.URL, http.MethodPut, groupPath("x"), `some_gauge{foo="bar"} 1`+"\n")
	mustPush(t, g.URL, http.MethodPut, groupPath("x", "foo", "bar"), "other_gauge 2\n")
	expr := `{job="x",__name__=~"some_gauge|other_gauge|up"}`
	eventually(t, arrive, func() error {
		return expectVector(r.URL, expr, `
some_gauge{foo="bar",job="x"} 1
other_gauge{foo="bar",job="x"} 2
up{job="x"} 1
up{foo="bar",job="x"} 1
`)
	})
	if err := expectMetrics(r.URL, `pushgateway_group_age_seconds`,
		`pushgateway_group_age_seconds{job="x"}`,
		`pushgateway_group_age_seconds{foo="bar",job="x"}`,
	); err != nil {
		t.Error(err)
	}
	ts1, err := scalarOf(r.URL, `timestamp(some_gauge)`)
	if err != nil {
		t.Fatal(err)
	}

	mustPush(t, g.URL, http.MethodDelete, groupPath("x", "foo", "bar"), "")
	after := `
some_gauge{foo="bar",job="x"} 1
up{job="x"} 1
`
	eventually(t, vanish, func() error { return expectVector(r.URL, expr, after) })
	consistently(t, 3*time.Second, func() error { return expectVector(r.URL, expr, after) })
	if err := expectMetrics(r.URL, `pushgateway_group_age_seconds`, `pushgateway_group_age_seconds{job="x"}`); err != nil {
		t.Error(err)
	}
	// some_gauge keeps getting fresh samples: it belongs to group {job="x"}.
	if ts2, err := scalarOf(r.URL, `timestamp(some_gauge)`); err != nil {
		t.Error(err)
	} else if ts2 <= ts1 {
		t.Errorf("timestamp(some_gauge) = %v after the delete, want > %v (before)", ts2, ts1)
	}
}

// TestReadyAndFlags checks /-/ready before and after the first successful
// cycle, and that bad flags end the bridge with exit code 2.
func TestReadyAndFlags(t *testing.T) {
	t.Run("ready after first successful cycle", func(t *testing.T) {
		r := startPrometheusReceiver(t, 0)
		port := freePort(t)
		gatewayURL := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		b := startBridge(t, bridgeArgs(gatewayURL, r.WriteURL)...)

		consistently(t, 3*time.Second, func() error {
			code, body, err := httpGet(b.URL + "/-/ready")
			if err != nil {
				return err
			}
			if code != http.StatusServiceUnavailable {
				return fmt.Errorf("GET /-/ready with no gateway listening: status %d %q, want 503", code, body)
			}
			return nil
		})

		startPushgatewayOn(t, port)
		eventually(t, arrive, func() error {
			if !b.Ready() {
				return errors.New("GET /-/ready: not 200 with the gateway up")
			}
			return nil
		})
	})

	for _, tc := range []struct {
		name string
		flag string
	}{
		{"unknown flag", "--no-such-flag"},
		{"bad duration", "--scrape.interval=banana"},
		{"garbage collector target not positive", "--runtime.gogc=0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			cmd := exec.CommandContext(ctx, bridgeBin,
				"--web.listen-address="+addr,
				"--pushgateway.url=http://127.0.0.1:1",
				"--remote-write.url=http://127.0.0.1:1/api/v1/write",
				tc.flag,
			)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Errorf("%s: exit %v, want exit status 2", tc.flag, err)
			}
			msg := strings.TrimSpace(stderr.String())
			if msg == "" || strings.Contains(msg, "\n") {
				t.Errorf("%s: stderr %q, want one line", tc.flag, stderr.String())
			}
			if listening(addr) {
				t.Errorf("%s: something listens on %s", tc.flag, addr)
			}
			t.Logf("%s: %v, stderr: %s", tc.flag, err, msg)
		})
	}
}

// TestPushedUpExported pushes a group with its own up (0, as the
// compliance suite's real-world payload does) next to its other series: the
// receiver gets the pushed value as exported_up and the synthesized up 1 of
// a healthy group, not one of the two at random.
// It runs against each Pushgateway version (forEachGateway).
func TestPushedUpExported(t *testing.T) { forEachGateway(t, testPushedUpExported) }

func testPushedUpExported(t *testing.T, g *pushgateway) {
	_, r, _ := setupWith(t, g)
	mustPush(t, g.URL, http.MethodPut, groupPath("selfup"), "up 0\ne2e_selfup_done 1\n")
	eventually(t, arrive, func() error {
		return expectVector(r.URL, `{job="selfup",__name__=~"up|exported_up|e2e_selfup_done"}`, `
up{job="selfup"} 1
exported_up{job="selfup"} 0
e2e_selfup_done{job="selfup"} 1
`)
	})
	consistently(t, 3*time.Second, func() error {
		return expectVector(r.URL, `{job="selfup",__name__=~"up|exported_up"}`, `
up{job="selfup"} 1
exported_up{job="selfup"} 0
`)
	})
}

package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestLabelLimitsOversizedValue pushes to a real Pushgateway, which accepts
// it, a series with a 16 MB label value: more than the labels library can
// hold (it used to crash the bridge, at every restart). Next to it, in the
// same group and in another one, normal series. The bridge keeps running,
// forwards everything else and counts the drop.
func TestLabelLimitsOversizedValue(t *testing.T) {
	g, r, b := setup(t)
	mustPush(t, g.URL, http.MethodPut, groupPath("limits_ok"), "e2e_limits_ok 1\n")
	huge := strings.Repeat("x", 16<<20)
	mustPush(t, g.URL, http.MethodPut, groupPath("limits_bad"),
		"e2e_limits_kept 2\ne2e_limits_huge{v=\""+huge+"\"} 3\n")

	eventually(t, arrive, func() error {
		return expectMetrics(r.URL, `{__name__=~"e2e_limits_.*"}`,
			`e2e_limits_ok{job="limits_ok"}`,
			`e2e_limits_kept{job="limits_bad"}`)
	})
	eventually(t, arrive, func() error {
		v, _, err := b.Metric("pushgateway_bridge_scrape_series_dropped_total", "gateway", g.Addr, "reason", "label_value_length_limit")
		if err != nil {
			return err
		}
		if v < 1 {
			return fmt.Errorf("pushgateway_bridge_scrape_series_dropped_total{reason=\"label_value_length_limit\"} = %v, want at least 1", v)
		}
		return nil
	})
	if out := b.Output(); !strings.Contains(out, "series over a label limit dropped") || !strings.Contains(out, `group="{job=\"limits_bad\"}"`) {
		t.Errorf("no warning naming the drop and the group in the log")
	}
	// Still running: a later push arrives.
	mustPush(t, g.URL, http.MethodPut, groupPath("limits_later"), "e2e_limits_later 4\n")
	eventually(t, arrive, func() error {
		return expectMetrics(r.URL, `e2e_limits_later`, `e2e_limits_later{job="limits_later"}`)
	})
	if b.proc.exited() {
		t.Fatal("bridge exited")
	}
}

// TestBodySizeLimitHoldsGateway puts a proxy in front of a real Pushgateway
// that, once switched, answers /metrics with a 1 GB exposition made on the
// fly, as after a mistaken push of millions of series. With body_size_limit
// 1MB the bridge treats the gateway as unreachable: pushgateway_up 0, the
// reason counted and logged, the groups it last held kept at the receiver
// with no staleness marker, and its peak memory far below the body.
func TestBodySizeLimitHoldsGateway(t *testing.T) {
	t.Parallel()
	g := startPushgateway(t)
	r := startPrometheusReceiver(t, 0)
	target, err := url.Parse(g.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	const bodySize = 1 << 30
	var huge atomic.Bool
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !huge.Load() || req.URL.Path != "/metrics" {
			proxy.ServeHTTP(w, req)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Header().Set("Content-Length", strconv.Itoa(bodySize))
		var line []byte
		for n, i := 0, 0; n < bodySize; i++ {
			line = fmt.Appendf(line[:0], "e2e_huge_%09d{job=\"huge\"} 1\n", i)
			line = line[:min(len(line), bodySize-n)]
			k, err := w.Write(line)
			n += k
			served.Add(int64(k))
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)

	cfg := writeConfig(t, fmt.Sprintf(`
pushgateways:
- name: limited
  url: %s
  body_size_limit: 1MB
`, srv.URL))
	b := startBridge(t, "--config.file="+cfg, "--remote-write.url="+r.WriteURL, "--scrape.interval=1s", "--log.level=debug")

	mustPush(t, g.URL, http.MethodPut, groupPath("held"), "e2e_held_gauge 7\n")
	eventually(t, arrive, func() error {
		if err := expectVector(r.URL, `e2e_held_gauge`, `e2e_held_gauge{job="held"} 7`+"\n"); err != nil {
			return err
		}
		return expectVector(r.URL, `pushgateway_up`, `pushgateway_up{gateway="limited"} 1`+"\n")
	})

	huge.Store(true)
	eventually(t, arrive, func() error {
		if v, _, err := b.Metric("pushgateway_bridge_scrape_failures_total", "gateway", "limited", "reason", "body_size_limit"); err != nil || v < 2 {
			return fmt.Errorf("scrape failures for body_size_limit = %v (%v), want at least 2", v, err)
		}
		return expectVector(r.URL, `pushgateway_up`, `pushgateway_up{gateway="limited"} 0`+"\n")
	})
	// Held as in an outage: the group's series have no staleness marker
	// (an instant query would come back empty), and keep their value.
	consistently(t, 3*time.Second, func() error {
		return expectVector(r.URL, `{job="held",__name__=~"e2e_held_gauge|up"}`, "e2e_held_gauge{job=\"held\"} 7\nup{job=\"held\"} 1\n")
	})
	if out := b.Output(); !strings.Contains(out, "reason=body_size_limit") || !strings.Contains(out, "body_size_limit of 1048576 bytes") {
		t.Errorf("no log line naming body_size_limit")
	}
	peak, err := peakRSS(b.proc.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bridge peak RSS %d MiB; the fake gateway served %d MiB of its %d MiB body", peak>>20, served.Load()>>20, bodySize>>20)
	if peak > 200<<20 {
		t.Errorf("bridge peak RSS %d MiB, want under 200 MiB", peak>>20)
	}
	if s := served.Load(); s > 64<<20 {
		t.Errorf("the bridge read %d MiB of the body, want it stopped near the 1 MiB limit", s>>20)
	}

	// Back under the limit: the gateway is up again, the group as it was.
	huge.Store(false)
	eventually(t, arrive, func() error {
		return expectVector(r.URL, `pushgateway_up`, `pushgateway_up{gateway="limited"} 1`+"\n")
	})
	if err := expectVector(r.URL, `e2e_held_gauge`, `e2e_held_gauge{job="held"} 7`+"\n"); err != nil {
		t.Error(err)
	}
}

// peakRSS is VmHWM, the peak resident set of process pid, in bytes.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmHWM %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// TestSeriesLimit pushes to a real Pushgateway groups under a rule with
// series_limit 4 (every series a group holds counts, its two push times
// included): one within it, then over it, then back; one over it from its
// first push; one under no limit. Over the limit a group's series are not
// forwarded (those sent before get staleness markers), its up is 0 and its
// status over_limit, and it is counted; the other groups are unaffected.
func TestSeriesLimit(t *testing.T) {
	t.Parallel()
	g, r, b := rulesSetup(t, `
group_rules:
- match: {job: limited_.*}
  series_limit: 4
`)
	mustPush(t, g.URL, http.MethodPut, groupPath("limited_a"), "e2e_sl_one 1\ne2e_sl_two 2\n")
	mustPush(t, g.URL, http.MethodPut, groupPath("limited_b"), "e2e_sl_one 1\ne2e_sl_two 2\ne2e_sl_three 3\n")
	mustPush(t, g.URL, http.MethodPut, groupPath("free"), "e2e_sl_one 1\ne2e_sl_two 2\ne2e_sl_three 3\n")
	pushed := `{__name__=~"e2e_sl_.*|push_time_seconds|push_failure_time_seconds"}`
	eventually(t, arrive, func() error {
		if err := expectMetrics(r.URL, pushed,
			`e2e_sl_one{job="free"}`, `e2e_sl_two{job="free"}`, `e2e_sl_three{job="free"}`,
			`push_time_seconds{job="free"}`, `push_failure_time_seconds{job="free"}`,
			`e2e_sl_one{job="limited_a"}`, `e2e_sl_two{job="limited_a"}`,
			`push_time_seconds{job="limited_a"}`, `push_failure_time_seconds{job="limited_a"}`); err != nil {
			return err
		}
		if err := expectVector(r.URL, `up`, "up{job=\"free\"} 1\nup{job=\"limited_a\"} 1\nup{job=\"limited_b\"} 0\n"); err != nil {
			return err
		}
		return expectVector(r.URL, `pushgateway_group_status{job="limited_b"}`, rulesStatus(`job="limited_b"`, "over_limit"))
	})
	// limited_b never had a series forwarded, at any time.
	if err := expectEmpty(r.URL, `count_over_time({job="limited_b",__name__=~"e2e_sl_.*|push_time_seconds|push_failure_time_seconds"}[1h])`); err != nil {
		t.Error(err)
	}

	// limited_a goes over: what was sent of it goes stale.
	mustPush(t, g.URL, http.MethodPut, groupPath("limited_a"), "e2e_sl_one 1\ne2e_sl_two 2\ne2e_sl_three 3\n")
	eventually(t, arrive, func() error {
		if err := expectEmpty(r.URL, `{job="limited_a",__name__=~"e2e_sl_.*|push_time_seconds|push_failure_time_seconds"}`); err != nil {
			return err
		}
		if err := expectVector(r.URL, `up{job="limited_a"}`, "up{job=\"limited_a\"} 0\n"); err != nil {
			return err
		}
		if err := expectVector(r.URL, `pushgateway_group_status{job="limited_a"}`, rulesStatus(`job="limited_a"`, "over_limit")); err != nil {
			return err
		}
		if v, _, err := b.Metric("pushgateway_bridge_cycle_groups_over_limit"); err != nil || v != 2 {
			return fmt.Errorf("pushgateway_bridge_cycle_groups_over_limit = %v (%v), want 2", v, err)
		}
		return nil
	})
	// Nothing of a limited_a over its limit arrived.
	if err := expectEmpty(r.URL, `count_over_time(e2e_sl_three{job="limited_a"}[1h])`); err != nil {
		t.Error(err)
	}
	// The group without a limit is unaffected.
	if err := expectVector(r.URL, `{job="free",__name__=~"e2e_sl_.*|up"}`, "e2e_sl_one{job=\"free\"} 1\ne2e_sl_three{job=\"free\"} 3\ne2e_sl_two{job=\"free\"} 2\nup{job=\"free\"} 1\n"); err != nil {
		t.Error(err)
	}
	if out := b.Output(); !strings.Contains(out, "group over its series limit") || !strings.Contains(out, `group="{job=\"limited_a\"}"`) {
		t.Error("no warning naming the group over its series limit")
	}
	// The status page's API shows it.
	if _, body, err := httpGet(b.URL + "/api/v1/groups?job=limited_a"); err != nil || !strings.Contains(body, `"status":"over_limit"`) || !strings.Contains(body, `"seriesLimit":4`) {
		t.Errorf("/api/v1/groups?job=limited_a: %v %s, want status over_limit and seriesLimit 4", err, body)
	}

	// Back under the limit: forwarded again.
	mustPush(t, g.URL, http.MethodPut, groupPath("limited_a"), "e2e_sl_one 5\n")
	eventually(t, arrive, func() error {
		if err := expectVector(r.URL, `{job="limited_a",__name__=~"e2e_sl_.*|up"}`, "e2e_sl_one{job=\"limited_a\"} 5\nup{job=\"limited_a\"} 1\n"); err != nil {
			return err
		}
		return expectVector(r.URL, `pushgateway_group_status{job="limited_a"}`, rulesStatus(`job="limited_a"`, "ok"))
	})
}

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// Timing of the batch-job rule tests. The bridge cycles every
// rulesInterval (bridgeArgs); a verdict that changes when a group crosses
// max_age or expire_after shows in the first cycle after the crossing, and
// at the receiver once that cycle is delivered.
const (
	rulesInterval = time.Second
	// rulesDeliverySlack is what the wall-clock bounds allow on top of the
	// cycles for remote write, the receiver's ingestion and the polling.
	rulesDeliverySlack = time.Second
	// rulesCycleJitter is how late a cycle may start after its tick, as
	// seen in its sample timestamps.
	rulesCycleJitter = 250 * time.Millisecond
	// rulesClockSlack absorbs the millisecond truncation of sample
	// timestamps against sub-millisecond push times.
	rulesClockSlack = 5 * time.Millisecond
)

// rulesSetup starts a Pushgateway, a receiver with the default 5m lookback
// delta (so only a staleness marker makes a series vanish within seconds)
// and a bridge between them with cfg as its --config.file and extra flags.
// The bridge synthesizes the status and max_age series for every group
// (--synth.series), which the rule tests read.
func rulesSetup(t *testing.T, cfg string, extra ...string) (*pushgateway, *receiver, *bridge) {
	t.Helper()
	g := startPushgateway(t)
	r := startPrometheusReceiver(t, 0)
	args := append(bridgeArgs(g.URL, r.WriteURL), "--config.file="+writeConfig(t, cfg), "--synth.series=status", "--synth.series=max_age")
	b := startBridge(t, append(args, extra...)...)
	return g, r, b
}

// rulesStatus returns the expected pushgateway_group_status lines of the
// group whose grouping labels are key (`job="x",...`): 1 for current, 0
// for the other statuses.
func rulesStatus(key, current string) string {
	var sb strings.Builder
	for _, s := range []string{"ok", "failed", "too_old", "missing", "expired", "over_limit"} {
		v := 0
		if s == current {
			v = 1
		}
		fmt.Fprintf(&sb, "pushgateway_group_status{%s,status=%q} %d\n", key, s, v)
	}
	return sb.String()
}

// rulesGroupSeries returns, as formatMetric renders them, the series a
// group pushed once with one gauge named metric carries at the receiver:
// the gauge, the gateway's push times and the synthesized series, up and
// age by default; status adds the pushgateway_group_status series, maxAge
// pushgateway_group_max_age_seconds. key is `job="x",...`, sorted.
func rulesGroupSeries(key, metric string, status, maxAge bool) []string {
	s := []string{
		metric + "{" + key + "}",
		"push_time_seconds{" + key + "}",
		"push_failure_time_seconds{" + key + "}",
		"up{" + key + "}",
		"pushgateway_group_age_seconds{" + key + "}",
	}
	for _, st := range []string{"ok", "failed", "too_old", "missing", "expired", "over_limit"} {
		if status {
			s = append(s, fmt.Sprintf("pushgateway_group_status{%s,status=%q}", key, st))
		}
	}
	if maxAge {
		s = append(s, "pushgateway_group_max_age_seconds{"+key+"}")
	}
	return s
}

// rulesUnix converts a Unix time in float seconds, as push_time_seconds
// holds it.
func rulesUnix(s float64) time.Time {
	return time.Unix(0, int64(s*1e9))
}

// rulesPushTime waits until the receiver has the group's push_time_seconds
// and it is after notBefore, and returns it.
func rulesPushTime(t *testing.T, promURL, selector string, notBefore time.Time) time.Time {
	t.Helper()
	var pt time.Time
	eventually(t, arrive, func() error {
		v, err := scalarOf(promURL, selector)
		if err != nil {
			return err
		}
		pt = rulesUnix(v)
		if pt.Before(notBefore) {
			return fmt.Errorf("%s = %s, want a push after %s", selector, pt.Format(time.StampMilli), notBefore.Format(time.StampMilli))
		}
		return nil
	})
	return pt
}

// rulesSamples returns the raw samples of the one series selector matches,
// from from until now, oldest first. Staleness markers are not among them:
// range selectors skip them.
func rulesSamples(promURL, selector string, from time.Time) ([]model.SamplePair, error) {
	now := time.Now()
	expr := fmt.Sprintf("%s[%dms]", selector, now.Sub(from).Milliseconds()+1)
	m, err := queryMatrixAt(promURL, expr, now)
	if err != nil {
		return nil, err
	}
	if len(m) != 1 {
		var names []string
		for _, ss := range m {
			names = append(names, formatMetric(ss.Metric))
		}
		return nil, fmt.Errorf("query %s: want 1 series, got %d: %q", expr, len(m), names)
	}
	return m[0].Values, nil
}

// rulesFirstSampleIs checks that each selector's first sample stamped
// after from has the value want: the first cycle after an event (a push)
// already shows its effect.
func rulesFirstSampleIs(t *testing.T, promURL string, from time.Time, want model.SampleValue, selectors ...string) {
	t.Helper()
	for _, sel := range selectors {
		var samples []model.SamplePair
		eventually(t, arrive, func() error {
			var err error
			samples, err = rulesSamples(promURL, sel, from)
			if err == nil && len(samples) == 0 {
				err = fmt.Errorf("%s: no sample after %s", sel, from.Format(time.StampMilli))
			}
			return err
		})
		if samples[0].Value != want {
			t.Errorf("%s: samples after %s: %s, want %v first", sel, from.Format(time.StampMilli), rulesFormatSamples(samples, from), want)
		}
	}
}

// rulesFormatSamples renders samples as "+<offset from base> value" for
// failure messages.
func rulesFormatSamples(samples []model.SamplePair, base time.Time) string {
	parts := make([]string, 0, len(samples))
	for _, s := range samples {
		parts = append(parts, fmt.Sprintf("%+.3fs:%v", s.Timestamp.Time().Sub(base).Seconds(), s.Value))
	}
	return strings.Join(parts, " ")
}

// rulesGatewayGroups returns the grouping keys the Pushgateway's
// /api/v1/metrics lists, each as formatMetric renders it without a name
// (`{job="x"}`), empty label values left out.
func rulesGatewayGroups(gatewayURL string) ([]string, error) {
	code, body, err := httpGet(gatewayURL + "/api/v1/metrics")
	if err != nil {
		return nil, fmt.Errorf("GET /api/v1/metrics: %w", err)
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("GET /api/v1/metrics: status %d: %s", code, body)
	}
	var resp struct {
		Status string `json:"status"`
		Data   []struct {
			Labels map[string]string `json:"labels"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		return nil, fmt.Errorf("GET /api/v1/metrics: decode: %w", err)
	}
	var keys []string
	for _, g := range resp.Data {
		m := model.Metric{}
		for k, v := range g.Labels {
			if v != "" {
				m[model.LabelName(k)] = model.LabelValue(v)
			}
		}
		keys = append(keys, formatMetric(m))
	}
	slices.Sort(keys)
	return keys, nil
}

// rulesGatewayHas returns an error unless the gateway's listing of groups
// holds key (`{job="x"}`) if want, or does not if !want.
func rulesGatewayHas(gatewayURL, key string, want bool) error {
	keys, err := rulesGatewayGroups(gatewayURL)
	if err != nil {
		return err
	}
	if slices.Contains(keys, key) != want {
		return fmt.Errorf("pushgateway /api/v1/metrics lists %q; want %s listed: %t", keys, key, want)
	}
	return nil
}

// rulesMetricIs returns an error unless the bridge's own metric name with
// labels lv has exactly the value want.
func rulesMetricIs(b *bridge, want float64, name string, lv ...string) error {
	v, n, err := b.Metric(name, lv...)
	if err != nil {
		return err
	}
	if n == 0 || v != want {
		return fmt.Errorf("bridge /metrics: %s%q = %v (%d samples), want %v", name, lv, v, n, want)
	}
	return nil
}

// rulesWithin polls f every pollInterval until it returns nil, and returns
// how long that took, or f's last error once timeout passed. Unlike
// eventually it does not end the test, so that a test can report a late
// event with its figures and go on.
func rulesWithin(timeout time.Duration, f func() error) (time.Duration, error) {
	start := time.Now()
	for {
		err := f()
		if err == nil {
			return time.Since(start), nil
		}
		if time.Since(start) > timeout {
			return time.Since(start), fmt.Errorf("not true within %v: %w", timeout, err)
		}
		time.Sleep(pollInterval)
	}
}

// rulesPost sends an empty POST to url and returns the status and body.
func rulesPost(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := httpClient.Post(url, "text/plain", nil)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// rulesRewrite replaces the content of the config file at path.
func rulesRewrite(t *testing.T, path, cfg string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRuleMaxAge checks a group under max_age: up 1 (status ok) while its
// last push is younger than max_age, 0 (status too_old) from the first cycle
// after it is older, and 1 again after a new push.
func TestRuleMaxAge(t *testing.T) {
	t.Parallel()
	const maxAge = 3 * time.Second
	g, r, _ := rulesSetup(t, `
group_rules:
- match: {job: e2e_max_age}
  max_age: 3s
`)
	key := `job="e2e_max_age"`
	up := "up{" + key + "}"

	before := time.Now()
	mustPush(t, g.URL, http.MethodPut, groupPath("e2e_max_age"), "e2e_batch_done 1\n")
	push := rulesPushTime(t, r.URL, "push_time_seconds{"+key+"}", before.Add(-time.Second))

	// Wall clock: up turns 0 at the receiver no later than max_age plus two
	// intervals after the push (one for the cycle after the crossing, one
	// for a late tick), plus delivery.
	eventually(t, arrive, func() error { return expectVector(r.URL, up, up+" 0") })
	seen := time.Since(push)
	if bound := maxAge + 2*rulesInterval + rulesDeliverySlack; seen > bound {
		t.Errorf("%s 0 seen at the receiver %v after the push, want at most %v", up, seen.Round(time.Millisecond), bound)
	}

	// Sample timestamps are cycle times: 1 before the push is max_age old,
	// 0 after, and the first 0 within one interval of the crossing.
	samples, err := rulesSamples(r.URL, up, push.Add(-time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s samples (offset from push): %s", up, rulesFormatSamples(samples, push))
	var firstZero time.Duration = -1
	ones := 0
	for _, s := range samples {
		age := s.Timestamp.Time().Sub(push)
		switch {
		case age < maxAge-rulesClockSlack && s.Value != 1:
			t.Errorf("%s at push%+v: %v, want 1 (younger than max_age %v)", up, age, s.Value, maxAge)
		case age > maxAge+rulesClockSlack && s.Value != 0:
			t.Errorf("%s at push%+v: %v, want 0 (older than max_age %v)", up, age, s.Value, maxAge)
		}
		if s.Value == 1 {
			ones++
		}
		if s.Value == 0 && firstZero < 0 {
			firstZero = age
		}
	}
	if ones == 0 || samples[0].Value != 1 {
		t.Errorf("%s: want 1 first, before the push is %v old; samples: %s", up, maxAge, rulesFormatSamples(samples, push))
	}
	if bound := maxAge + rulesInterval + rulesCycleJitter; firstZero < 0 || firstZero > bound {
		t.Errorf("%s: first 0 stamped push+%v, want between push+%v and push+%v", up, firstZero, maxAge, bound)
	} else {
		t.Logf("%s: first 0 stamped push+%v, seen at the receiver push+%v", up, firstZero, seen.Round(time.Millisecond))
	}

	if err := expectVector(r.URL, `pushgateway_group_status{`+key+`}`, rulesStatus(key, "too_old")); err != nil {
		t.Error(err)
	}
	if err := expectVector(r.URL, `pushgateway_group_max_age_seconds`, `pushgateway_group_max_age_seconds{`+key+`} 3`); err != nil {
		t.Error(err)
	}
	if age, err := scalarOf(r.URL, `pushgateway_group_age_seconds{`+key+`}`); err != nil || age < maxAge.Seconds() {
		t.Errorf("pushgateway_group_age_seconds{%s} = %v (%v), want > %v", key, age, err, maxAge.Seconds())
	}

	// A new push: the first cycle after it has up 1 and status ok again.
	before = time.Now()
	mustPush(t, g.URL, http.MethodPut, groupPath("e2e_max_age"), "e2e_batch_done 2\n")
	push2 := rulesPushTime(t, r.URL, "push_time_seconds{"+key+"}", before.Add(-time.Second))
	rulesFirstSampleIs(t, r.URL, push2, 1, up, `pushgateway_group_status{`+key+`,status="ok"}`)
}

// TestRuleExpectedGroupMissing checks that an expected group that never
// pushed is up 0 with status missing from the bridge's first cycle on.
func TestRuleExpectedGroupMissing(t *testing.T) {
	t.Parallel()
	start := time.Now()
	g, r, _ := rulesSetup(t, `
expected_groups:
- {job: e2e_nightly_backup, instance: db-7}
`)
	key := `instance="db-7",job="e2e_nightly_backup"`
	up := "up{" + key + "}"
	eventually(t, arrive, func() error { return expectVector(r.URL, up, up+" 0") })
	if err := expectVector(r.URL, `pushgateway_group_status{`+key+`}`, rulesStatus(key, "missing")); err != nil {
		t.Error(err)
	}
	// Never pushed, under no rule: neither age nor max age.
	if err := expectEmpty(r.URL, `{__name__=~"pushgateway_group_(max_)?age_seconds"}`); err != nil {
		t.Error(err)
	}

	// The first cycle is the first sample of pushgateway_up; up of the
	// missing group has a sample then already, and it is 0.
	ups, err := rulesSamples(r.URL, up, start.Add(-time.Second))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := rulesSamples(r.URL, fmt.Sprintf(`pushgateway_up{gateway=%q}`, g.Addr), start.Add(-time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(ups) == 0 || len(gw) == 0 || ups[0].Timestamp != gw[0].Timestamp {
		t.Errorf("first sample of %s: %s; first cycle (pushgateway_up): %s; want the same timestamp",
			up, rulesFormatSamples(ups[:min(1, len(ups))], start), rulesFormatSamples(gw[:min(1, len(gw))], start))
	}
	for _, s := range ups {
		if s.Value != 0 {
			t.Errorf("%s: samples %s, want 0 throughout", up, rulesFormatSamples(ups, start))
			break
		}
	}
}

// TestRuleExpiry checks expire_after: an expired group's series and its
// synthesized ones vanish from instant queries at once (staleness markers;
// the lookback is 5m), the group stays in the Pushgateway unless
// delete_expired says otherwise, and a new push brings it back.
func TestRuleExpiry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		delete bool
	}{
		{"kept in the pushgateway", false},
		{"deleted from the pushgateway", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const expireAfter = 3 * time.Second
			g, r, b := rulesSetup(t, fmt.Sprintf(`
group_rules:
- match: {job: e2e_expire}
  expire_after: 3s
  delete_expired: %t
`, tc.delete))
			key := `job="e2e_expire"`
			sel := "{" + key + "}"
			control := rulesGroupSeries(`job="e2e_control"`, "e2e_control", true, false)

			before := time.Now()
			mustPush(t, g.URL, http.MethodPut, groupPath("e2e_control"), "e2e_control 1\n")
			mustPush(t, g.URL, http.MethodPut, groupPath("e2e_expire"), "e2e_expiring 1\n")
			push := rulesPushTime(t, r.URL, "push_time_seconds{"+key+"}", before.Add(-time.Second))
			// Forwarded whole before it expires.
			if _, err := rulesWithin(time.Until(push.Add(expireAfter-rulesInterval)), func() error {
				return expectMetrics(r.URL, sel, rulesGroupSeries(key, "e2e_expiring", true, false)...)
			}); err != nil {
				t.Errorf("before expiry: %v", err)
			}

			eventually(t, arrive, func() error { return expectEmpty(r.URL, sel) })
			gone := time.Since(push)
			if lo, hi := expireAfter, expireAfter+2*rulesInterval+rulesDeliverySlack; gone < lo || gone > hi {
				t.Errorf("%s vanished %v after the push, want between %v and %v", sel, gone.Round(time.Millisecond), lo, hi)
			} else {
				t.Logf("%s vanished %v after the push", sel, gone.Round(time.Millisecond))
			}
			// It was forwarded until it expired: the last sample of up is
			// stamped at most expire_after, and at least expire_after less
			// one interval, after the push.
			if samples, err := rulesSamples(r.URL, "up"+sel, push.Add(-time.Second)); err != nil {
				t.Error(err)
			} else {
				last := samples[len(samples)-1].Timestamp.Time().Sub(push)
				if lo, hi := expireAfter-rulesInterval-rulesCycleJitter, expireAfter+rulesClockSlack; last < lo || last > hi {
					t.Errorf("up%s: last sample at push+%v, want between push+%v and push+%v; samples %s", sel, last, lo, hi, rulesFormatSamples(samples, push))
				}
			}
			if err := expectMetrics(r.URL, `{job="e2e_control"}`, control...); err != nil {
				t.Error(err)
			}

			if !tc.delete {
				consistently(t, 2*time.Second, func() error {
					if err := expectEmpty(r.URL, sel); err != nil {
						return err
					}
					return rulesGatewayHas(g.URL, sel, true)
				})
				if v, _, err := b.Metric("pushgateway_bridge_groups_deleted_total"); err != nil || v != 0 {
					t.Errorf("pushgateway_bridge_groups_deleted_total = %v (%v), want 0", v, err)
				}
			} else {
				eventually(t, vanish, func() error { return rulesGatewayHas(g.URL, sel, false) })
				if err := rulesGatewayHas(g.URL, `{job="e2e_control"}`, true); err != nil {
					t.Error(err)
				}
				eventually(t, vanish, func() error { return rulesMetricIs(b, 1, "pushgateway_bridge_groups_deleted_total") })
				consistently(t, 2*time.Second, func() error {
					if err := expectEmpty(r.URL, sel); err != nil {
						return err
					}
					return rulesMetricIs(b, 1, "pushgateway_bridge_groups_deleted_total")
				})
				if !strings.Contains(b.Output(), "deleted expired group from the pushgateway") {
					t.Error("bridge log: no line about the deleted expired group")
				}
			}

			// A new push brings the group back, up 1 in its first cycle.
			before = time.Now()
			mustPush(t, g.URL, http.MethodPut, groupPath("e2e_expire"), "e2e_expiring 2\n")
			push2 := rulesPushTime(t, r.URL, "push_time_seconds{"+key+"}", before.Add(-time.Second))
			rulesFirstSampleIs(t, r.URL, push2, 2, "e2e_expiring"+sel)
			rulesFirstSampleIs(t, r.URL, push2, 1, "up"+sel, `pushgateway_group_status{`+key+`,status="ok"}`)
		})
	}
}

// TestStateAfterKill checks the persisted series state: after kill -9, a
// group deleted while the bridge was down vanishes in the first cycles of
// the restarted bridge, and a group that survived is never marked stale.
func TestStateAfterKill(t *testing.T) {
	t.Parallel()
	g := startPushgateway(t)
	r := startPrometheusReceiver(t, 0)
	dir := t.TempDir()
	args := append(bridgeArgs(g.URL, r.WriteURL), "--storage.path="+dir)
	b1 := startBridge(t, args...)

	gone, stay := `job="e2e_gone"`, `job="e2e_stay"`
	goneSeries := rulesGroupSeries(gone, "e2e_gone", false, false)
	staySeries := rulesGroupSeries(stay, "e2e_stay", false, false)
	mustPush(t, g.URL, http.MethodPut, groupPath("e2e_gone"), "e2e_gone 1\n")
	mustPush(t, g.URL, http.MethodPut, groupPath("e2e_stay"), "e2e_stay 1\n")
	eventually(t, arrive, func() error {
		if err := expectMetrics(r.URL, "{"+gone+"}", goneSeries...); err != nil {
			return err
		}
		return expectMetrics(r.URL, "{"+stay+"}", staySeries...)
	})
	statePath := filepath.Join(dir, "state")
	if _, err := rulesWithin(3*time.Second, func() error { _, err := os.Stat(statePath); return err }); err != nil {
		t.Errorf("state file %s: %v", statePath, err)
	}
	time.Sleep(rulesInterval) // a cycle more, as a running bridge would have had

	killed := time.Now()
	b1.Kill()
	mustPush(t, g.URL, http.MethodDelete, groupPath("e2e_gone"), "")
	restart := time.Now()
	b2 := startBridge(t, args...)

	_, err := rulesWithin(2*rulesInterval+2*rulesDeliverySlack, func() error { return expectEmpty(r.URL, "{"+gone+"}") })
	took := time.Since(restart)
	if bound := 2*rulesInterval + rulesDeliverySlack; err != nil || took > bound {
		t.Errorf("deleted group after the restart: %v; gone %v after the restart, want at most %v", err, took.Round(time.Millisecond), bound)
	} else {
		t.Logf("deleted group vanished %v after the restart", took.Round(time.Millisecond))
	}
	// The cycle counts its markers after it delivered them and saved its
	// state: the receiver can have them first.
	if _, err := rulesWithin(rulesInterval+rulesDeliverySlack, func() error {
		return rulesMetricIs(b2, float64(len(goneSeries)), "pushgateway_bridge_cycle_stale_markers_total")
	}); err != nil {
		t.Error(err)
	}
	if v, _, _ := b2.Metric("pushgateway_bridge_state_load_failures_total"); v != 0 {
		t.Errorf("pushgateway_bridge_state_load_failures_total = %v, want 0", v)
	}
	time.Sleep(2 * rulesInterval)

	// Evaluated at every 100ms from before the kill until now, the
	// surviving group answers with all its series: no staleness marker
	// was written for any of them.
	var gaps []string
	for at := killed.Add(-time.Second); at.Before(time.Now().Add(-rulesDeliverySlack)); at = at.Add(100 * time.Millisecond) {
		v, err := queryVectorAt(r.URL, "{"+stay+"}", at)
		if err != nil {
			t.Fatal(err)
		}
		if len(v) != len(staySeries) {
			gaps = append(gaps, fmt.Sprintf("kill%+.1fs: %d series", at.Sub(killed).Seconds(), len(v)))
		}
	}
	if len(gaps) > 0 {
		t.Errorf("surviving group {%s}, want %d series at every instant; got: %s", stay, len(staySeries), strings.Join(gaps, ", "))
	}
}

// TestStateCorrupt checks that a damaged state file costs the bridge
// nothing but the state: it starts, gets ready, forwards, and counts it.
func TestStateCorrupt(t *testing.T) {
	t.Parallel()
	g := startPushgateway(t)
	r := startPrometheusReceiver(t, 0)
	dir := t.TempDir()
	args := append(bridgeArgs(g.URL, r.WriteURL), "--storage.path="+dir)
	b1 := startBridge(t, args...)
	mustPush(t, g.URL, http.MethodPut, groupPath("e2e_corrupt"), "e2e_corrupt 1\n")
	eventually(t, arrive, func() error { return expectVector(r.URL, `up{job="e2e_corrupt"}`, `up{job="e2e_corrupt"} 1`) })
	b1.Stop()
	statePath := filepath.Join(dir, "state")
	if _, err := os.Stat(statePath); err != nil {
		t.Errorf("state file after a clean stop: %v", err)
	}
	if err := os.WriteFile(statePath, []byte("garbage, not a state file\x00\xff\x01"), 0o644); err != nil {
		t.Fatal(err)
	}

	restart := time.Now()
	b2 := startBridge(t, args...)
	eventually(t, arrive, func() error {
		if !b2.Ready() {
			return fmt.Errorf("GET %s/-/ready: not 200", b2.URL)
		}
		return nil
	})
	eventually(t, arrive, func() error {
		ts, err := scalarOf(r.URL, `timestamp(up{job="e2e_corrupt"})`)
		if err != nil {
			return err
		}
		if rulesUnix(ts).Before(restart) {
			return fmt.Errorf("timestamp(up{job=\"e2e_corrupt\"}) = %v, want after the restart at %v", ts, float64(restart.UnixMilli())/1000)
		}
		return nil
	})
	if err := rulesMetricIs(b2, 1, "pushgateway_bridge_state_load_failures_total"); err != nil {
		t.Error(err)
	}
	if !strings.Contains(b2.Output(), "state unreadable") {
		t.Error("bridge log: no line about the unreadable state")
	}
}

// TestRulesReload checks reloading group_rules through POST /-/reload and
// SIGHUP, that a broken file keeps the running rules, and that a kind of
// series a rule stops synthesizing is marked stale at once.
func TestRulesReload(t *testing.T) {
	t.Parallel()
	g := startPushgateway(t)
	r := startPrometheusReceiver(t, 0)
	cfg := writeConfig(t, "group_rules: []\n")
	b := startBridge(t, append(bridgeArgs(g.URL, r.WriteURL), "--config.file="+cfg, "--web.enable-lifecycle", "--synth.series=status")...)
	key := `job="e2e_reload"`
	status := `pushgateway_group_status{` + key + `}`
	maxAge := `pushgateway_group_max_age_seconds{` + key + `}`

	mustPush(t, g.URL, http.MethodPut, groupPath("e2e_reload"), "e2e_reload 1\n")
	eventually(t, arrive, func() error { return expectVector(r.URL, status, rulesStatus(key, "ok")) })
	if err := expectEmpty(r.URL, maxAge); err != nil {
		t.Error(err)
	}
	// Old enough for max_age: 1s whatever the timing.
	time.Sleep(1500 * time.Millisecond)

	rulesRewrite(t, cfg, "group_rules:\n- match: {job: e2e_reload}\n  max_age: 1s\n  synthesize: [max_age]\n")
	if code, body := rulesPost(t, b.URL+"/-/reload"); code != http.StatusOK {
		t.Fatalf("POST /-/reload with a valid file: status %d %q, want 200", code, body)
	}
	took := eventually(t, arrive, func() error {
		if err := expectVector(r.URL, status, rulesStatus(key, "too_old")); err != nil {
			return err
		}
		if err := expectVector(r.URL, "up{"+key+"}", "up{"+key+"} 0"); err != nil {
			return err
		}
		return expectVector(r.URL, maxAge, maxAge+" 1")
	})
	t.Logf("too_old %v after POST /-/reload", took.Round(time.Millisecond))
	if took > 2*rulesInterval+rulesDeliverySlack {
		t.Errorf("status too_old %v after the reload, want at most %v", took, 2*rulesInterval+rulesDeliverySlack)
	}
	if err := rulesMetricIs(b, 1, "pushgateway_bridge_config_last_reload_successful"); err != nil {
		t.Error(err)
	}

	rulesRewrite(t, cfg, "group_rules:\n- match: {job: e2e_reload}\n  max_age: 5s\n  expire_after: 1s\n  synthesize: [max_age]\n")
	code, body := rulesPost(t, b.URL+"/-/reload")
	if code != http.StatusInternalServerError || !strings.Contains(body, "expire_after") {
		t.Errorf("POST /-/reload with a broken file: status %d %q, want 500 naming expire_after", code, body)
	}
	if err := rulesMetricIs(b, 0, "pushgateway_bridge_config_last_reload_successful"); err != nil {
		t.Error(err)
	}
	consistently(t, 3*time.Second, func() error {
		if err := expectVector(r.URL, status, rulesStatus(key, "too_old")); err != nil {
			return err
		}
		return expectVector(r.URL, maxAge, maxAge+" 1")
	})

	rulesRewrite(t, cfg, "group_rules:\n- match: {job: e2e_reload}\n  max_age: 1h\n  synthesize: [max_age]\n")
	if err := b.proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, vanish, func() error { return rulesMetricIs(b, 1, "pushgateway_bridge_config_last_reload_successful") })
	eventually(t, arrive, func() error {
		if err := expectVector(r.URL, status, rulesStatus(key, "ok")); err != nil {
			return err
		}
		if err := expectVector(r.URL, "up{"+key+"}", "up{"+key+"} 1"); err != nil {
			return err
		}
		return expectVector(r.URL, maxAge, maxAge+" 3600")
	})

	// max_age no longer synthesized: its series gets a staleness marker
	// (gone from an instant query within the 5m lookback); the rest stays.
	rulesRewrite(t, cfg, "group_rules:\n- match: {job: e2e_reload}\n  max_age: 1h\n")
	if code, body := rulesPost(t, b.URL+"/-/reload"); code != http.StatusOK {
		t.Fatalf("POST /-/reload: status %d %q, want 200", code, body)
	}
	eventually(t, arrive, func() error { return expectEmpty(r.URL, maxAge) })
	if err := expectVector(r.URL, status, rulesStatus(key, "ok")); err != nil {
		t.Error(err)
	}
}

// TestLostGroups checks that groups a Pushgateway without persistence
// loses in a restart are counted, and that an expected one among them
// reports missing.
func TestLostGroups(t *testing.T) {
	t.Parallel()
	g, r, b := rulesSetup(t, `
expected_groups:
- {job: e2e_lost_a}
`)
	mustPush(t, g.URL, http.MethodPut, groupPath("e2e_lost_a"), "e2e_lost 1\n")
	mustPush(t, g.URL, http.MethodPut, groupPath("e2e_lost_b"), "e2e_lost 2\n")
	eventually(t, arrive, func() error {
		return expectVector(r.URL, `up{job=~"e2e_lost_.*"}`, "up{job=\"e2e_lost_a\"} 1\nup{job=\"e2e_lost_b\"} 1")
	})

	// The helper's gateway persists its groups; removing the file between
	// Stop and Start makes it a gateway without persistence.
	g.Stop()
	if err := os.Remove(g.dataFile); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	g.Start()
	if err := rulesGatewayHas(g.URL, `{job="e2e_lost_a"}`, false); err != nil {
		t.Fatalf("restarted gateway still holds the groups: %v", err)
	}

	eventually(t, arrive, func() error {
		return rulesMetricIs(b, 2, "pushgateway_bridge_groups_lost_total", "gateway", g.Addr)
	})
	eventually(t, arrive, func() error {
		if err := expectVector(r.URL, `up{job=~"e2e_lost_.*"}`, `up{job="e2e_lost_a"} 0`); err != nil {
			return err
		}
		if err := expectVector(r.URL, `pushgateway_group_status{job="e2e_lost_a"}`, rulesStatus(`job="e2e_lost_a"`, "missing")); err != nil {
			return err
		}
		return expectEmpty(r.URL, `{job="e2e_lost_b"}`)
	})
	consistently(t, 2*time.Second, func() error {
		return rulesMetricIs(b, 2, "pushgateway_bridge_groups_lost_total", "gateway", g.Addr)
	})
	if !strings.Contains(b.Output(), "pushgateway lost groups in a restart") {
		t.Error("bridge log: no line about the lost groups")
	}
}

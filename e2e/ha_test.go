package e2e

import (
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/value"
	"golang.org/x/crypto/bcrypt"
)

// High availability end to end (README "Several Pushgateways" and
// "Configuration file"): two real Pushgateways merged by the newest push, a
// gateway stopped under the default outage hold, a gateway behind basic
// auth, and two bridge replicas told apart by their external labels. The
// bridges cycle every contInterval; the receiver's lookback is contLookback,
// so a cycle that does not forward a series shows within seconds.

// haArgs are the flags of a bridge scraping every gateway URL every
// contInterval and writing to writeURL.
func haArgs(writeURL string, gatewayURLs ...string) []string {
	args := contArgs(gatewayURLs[0], writeURL)
	for _, u := range gatewayURLs[1:] {
		args = append(args, "--pushgateway.url="+u)
	}
	return args
}

// haCycleSets returns, per cycle timestamp, the series of the recorded
// samples that match and are not staleness markers, each rendered as
// formatMetric plus its value, sorted.
func haCycleSets(rec *sampleRecorder, match func(model.Metric) bool) map[int64][]string {
	out := map[int64][]string{}
	for key, byT := range rec.samples(match) {
		for ts, v := range byT {
			if !value.IsStaleNaN(v) {
				out[ts] = append(out[ts], key+" "+strconv.FormatFloat(v, 'g', -1, 64))
			}
		}
	}
	for ts := range out {
		slices.Sort(out[ts])
	}
	return out
}

// TestMergeNewestPushWins pushes a group to gateway A, then to B with other
// series, then to A again: the receiver gets B's copy, then A's newer one,
// each whole; no cycle sends a mix of the two copies' series. It runs
// against each Pushgateway version.
func TestMergeNewestPushWins(t *testing.T) {
	t.Parallel()
	forEachGatewayVersion(t, testMergeNewestPushWins)
}

func testMergeNewestPushWins(t *testing.T, start func(testing.TB) *pushgateway) {
	a, b := start(t), start(t)
	r := startPrometheusReceiver(t, contLookback)
	rec := startSampleRecorder(t, r.WriteURL)
	startBridge(t, haArgs(rec.URL+"/api/v1/write", a.URL, b.URL)...)

	sel := `{job="merge",__name__=~"e2e_.*"}`
	copies := []struct {
		name string
		g    *pushgateway
		body string
		want string
	}{
		{"A first", a, "e2e_merge{src=\"a\"} 1\ne2e_merge_only_a 1\n", `
e2e_merge{job="merge",src="a"} 1
e2e_merge_only_a{job="merge"} 1`},
		{"B newer", b, "e2e_merge{src=\"b\"} 2\ne2e_merge_only_b 2\n", `
e2e_merge{job="merge",src="b"} 2
e2e_merge_only_b{job="merge"} 2`},
		{"A newest", a, "e2e_merge{src=\"a2\"} 3\ne2e_merge_only_a 3\ne2e_merge_a2 3\n", `
e2e_merge{job="merge",src="a2"} 3
e2e_merge_a2{job="merge"} 3
e2e_merge_only_a{job="merge"} 3`},
	}
	var whole []string // each copy's series, as haCycleSets renders them
	for _, c := range copies {
		mustPush(t, c.g.URL, http.MethodPut, groupPath("merge"), c.body)
		pushed := time.Now()
		took := eventually(t, arrive, func() error { return expectVector(r.URL, sel, c.want) })
		// And it stays so: the other gateway's older copy does not come back.
		consistently(t, 2*contInterval, func() error { return expectVector(r.URL, sel, c.want) })
		pt, err := scalarOf(r.URL, `push_time_seconds{job="merge"}`)
		if err != nil {
			t.Fatal(err)
		}
		if d := rulesUnix(pt).Sub(pushed); d > 0 || d < -time.Second {
			t.Errorf("%s: push_time_seconds{job=\"merge\"} = %s, want the push at about %s", c.name, fmtMs(rulesUnix(pt).UnixMilli()), fmtMs(pushed.UnixMilli()))
		}
		t.Logf("%s (pushed to %s): at the receiver %v after the push, whole", c.name, c.g.Addr, took.Round(time.Millisecond))
		lines := strings.Split(strings.TrimSpace(c.want), "\n")
		slices.Sort(lines)
		whole = append(whole, strings.Join(lines, "\n"))
	}

	// Every cycle sent exactly one whole copy.
	cycles := haCycleSets(rec, func(m model.Metric) bool {
		return m["job"] == "merge" && strings.HasPrefix(string(m[model.MetricNameLabel]), "e2e_")
	})
	var mixed []string
	seen := map[int]int{}
	for _, ts := range slices.Sorted(maps.Keys(cycles)) {
		got := strings.Join(cycles[ts], "\n")
		i := slices.Index(whole, got)
		if i < 0 {
			mixed = append(mixed, fmt.Sprintf("cycle %s:\n%s", fmtMs(ts), indent(got)))
			continue
		}
		seen[i]++
	}
	if len(mixed) > 0 {
		t.Errorf("cycles that sent no single copy whole:\n%s", strings.Join(mixed, "\n"))
	}
	t.Logf("cycles per copy: A first %d, B newer %d, A newest %d; mixed %d", seen[0], seen[1], seen[2], len(mixed))
}

// TestGatewayStopMerged stops each of two merged gateways in turn under the
// default outage hold: nothing goes stale, no up is 0, a group held only by
// the stopped gateway stays queryable at every poll, and that gateway's
// pushgateway_up goes 0 and back to 1 once it is restarted.
func TestGatewayStopMerged(t *testing.T) {
	t.Parallel()
	const down = 6 * time.Second
	a, b := startPushgateway(t), startPushgateway(t)
	r := startPrometheusReceiver(t, contLookback)
	rec := startSampleRecorder(t, r.WriteURL)
	startBridge(t, haArgs(rec.URL+"/api/v1/write", a.URL, b.URL)...)

	for _, g := range []*pushgateway{a, b} {
		mustPush(t, g.URL, http.MethodPut, groupPath("ha_both"), "e2e_ha_both 1\n")
	}
	mustPush(t, a.URL, http.MethodPut, groupPath("ha_only_a"), "e2e_ha_only_a 1\n")
	mustPush(t, b.URL, http.MethodPut, groupPath("ha_only_b"), "e2e_ha_only_b 1\n")
	var want []string
	for _, job := range []string{"ha_both", "ha_only_a", "ha_only_b"} {
		want = append(want, rulesGroupSeries(`job="`+job+`"`, "e2e_"+job, false, false)...)
	}
	groups := `{job=~"ha_.*"}`
	upOf := func(g *pushgateway) string { return fmt.Sprintf(`pushgateway_up{gateway=%q}`, g.Addr) }
	ups := func(va, vb int) string {
		return fmt.Sprintf("%s %d\n%s %d", upOf(a), va, upOf(b), vb)
	}
	eventually(t, arrive, func() error {
		if err := expectVector(r.URL, `pushgateway_up`, ups(1, 1)); err != nil {
			return err
		}
		return expectMetrics(r.URL, groups, want...)
	})

	for _, stopped := range []*pushgateway{a, b} {
		other := b
		if stopped == b {
			other = a
		}
		stopAt := time.Now()
		stopped.Stop()
		firstDown := time.Duration(-1)
		polls := 0
		for time.Since(stopAt) < down {
			polls++
			since := time.Since(stopAt).Round(time.Millisecond)
			if err := expectMetrics(r.URL, groups, want...); err != nil {
				t.Fatalf("%s stopped +%v: %v", stopped.Addr, since, err)
			}
			if err := expectEmpty(r.URL, `up == 0`); err != nil {
				t.Fatalf("%s stopped +%v: %v", stopped.Addr, since, err)
			}
			if err := expectVector(r.URL, upOf(other), upOf(other)+" 1"); err != nil {
				t.Fatalf("%s stopped +%v: the other gateway: %v", stopped.Addr, since, err)
			}
			v, err := scalarOf(r.URL, upOf(stopped))
			if err != nil {
				t.Fatalf("%s stopped +%v: %v", stopped.Addr, since, err)
			}
			switch {
			case v == 0 && firstDown < 0:
				firstDown = since
			case v != 0 && firstDown >= 0:
				t.Fatalf("%s stopped +%v: %s = %v after it was 0", stopped.Addr, since, upOf(stopped), v)
			case v != 0 && since > 2*contInterval+contSlack:
				t.Fatalf("%s stopped +%v: %s = %v, want 0 within %v", stopped.Addr, since, upOf(stopped), v, 2*contInterval+contSlack)
			}
			time.Sleep(contPoll)
		}
		restartAt := time.Now()
		stopped.Start()
		eventually(t, arrive, func() error { return expectVector(r.URL, `pushgateway_up`, ups(1, 1)) })
		t.Logf("%s stopped %v: %d polls, all %d series of the 3 groups at each, no up 0; pushgateway_up 0 from +%v, 1 again %v after the restart began",
			stopped.Addr, down, polls, len(want), firstDown, time.Since(restartAt).Round(time.Millisecond))
	}
	if err := expectMetrics(r.URL, groups, want...); err != nil {
		t.Error(err)
	}
	if m := rec.staleMarkers(); len(m) > 0 {
		t.Errorf("staleness markers written, want none:\n%s", indent(fmt.Sprint(m)))
	}
	for key, byT := range rec.samples(hasLabels("__name__", "up")) {
		for ts, v := range byT {
			if v != 1 {
				t.Errorf("%s = %v at %s, want 1 throughout", key, v, fmtMs(ts))
			}
		}
	}
}

// haAuthGateway starts a Pushgateway on a free port behind basic auth: user
// with password, through its own --web.config.file holding the bcrypt hash.
// It is killed when the test ends.
func haAuthGateway(t *testing.T, user, password string) (url, addr string) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	webCfg := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webCfg, fmt.Appendf(nil, "basic_auth_users:\n  %s: %s\n", user, hash), 0o600); err != nil {
		t.Fatal(err)
	}
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	url = "http://" + addr
	out := &syncBuffer{}
	logOnFailure(t, "pushgateway (basic auth) "+addr, out)
	p := startProcess(t, "pushgateway", out, pushgatewayBin,
		"--web.listen-address="+addr,
		"--web.config.file="+webCfg,
		"--persistence.file="+filepath.Join(dir, "pushgateway.data"),
		"--log.level=debug",
	)
	t.Cleanup(p.kill)
	deadline := time.Now().Add(startTimeout)
	for {
		if p.exited() {
			t.Fatalf("pushgateway with basic auth exited: %v; output:\n%s", p.err, out)
		}
		code, err := haAuthDo(http.MethodGet, url+"/-/ready", user, password, "")
		if err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pushgateway with basic auth: /-/ready not 200 within %v: %d, %v", startTimeout, code, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Without credentials it must refuse, or the test below proves nothing.
	if code, _, err := httpGet(url + "/metrics"); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("pushgateway with basic auth: GET /metrics without credentials: %d, %v; want 401", code, err)
	}
	return url, addr
}

// haAuthDo sends a request with basic auth and returns its status code.
func haAuthDo(method, url, user, password, body string) (int, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth(user, password)
	if body != "" {
		req.Header.Set("Content-Type", "text/plain; version=0.0.4")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// TestPushgatewayBasicAuth scrapes a Pushgateway behind basic auth: with
// the credentials from a password_file in the bridge's pushgateways config
// the group arrives and pushgateway_up{gateway="pgw-a"} is 1; with a plain
// --pushgateway.url and no credentials pushgateway_up is 0 and nothing of
// the group arrives. The password never shows in the bridge's logs.
func TestPushgatewayBasicAuth(t *testing.T) {
	t.Parallel()
	const user, password = "bridge", "e2e-s3cret-pa55"
	gwURL, gwAddr := haAuthGateway(t, user, password)
	if code, err := haAuthDo(http.MethodPut, gwURL+groupPath("authjob"), user, password, "e2e_auth 1\n"); err != nil || code/100 != 2 {
		t.Fatalf("push with basic auth: %d, %v", code, err)
	}

	t.Run("no credentials", func(t *testing.T) {
		t.Parallel()
		r := startPrometheusReceiver(t, contLookback)
		startBridge(t, contArgs(gwURL, r.WriteURL)...)
		upSel := fmt.Sprintf(`pushgateway_up{gateway=%q}`, gwAddr)
		eventually(t, arrive, func() error { return expectVector(r.URL, upSel, upSel+" 0") })
		consistently(t, 3*contInterval, func() error {
			if err := expectVector(r.URL, upSel, upSel+" 0"); err != nil {
				return err
			}
			return expectEmpty(r.URL, `{job="authjob"}`)
		})
	})

	t.Run("password_file", func(t *testing.T) {
		t.Parallel()
		r := startPrometheusReceiver(t, contLookback)
		passFile := filepath.Join(t.TempDir(), "pgw-pass")
		if err := os.WriteFile(passFile, []byte(password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		// The pushgateways key is the contract this test pins down; a
		// bridge that does not know it exits 2 with
		// "field pushgateways not found", which startBridge reports.
		cfg := writeConfig(t, fmt.Sprintf(`
pushgateways:
- name: pgw-a
  url: %s
  basic_auth: {username: %s, password_file: %s}
`, gwURL, user, passFile))
		b := startBridge(t,
			"--config.file="+cfg,
			"--remote-write.url="+r.WriteURL,
			"--scrape.interval="+model.Duration(contInterval).String(),
			"--log.level=debug",
		)
		eventually(t, arrive, func() error {
			if err := expectVector(r.URL, `pushgateway_up`, `pushgateway_up{gateway="pgw-a"} 1`); err != nil {
				return err
			}
			return expectVector(r.URL, `e2e_auth`, `e2e_auth{job="authjob"} 1`)
		})
		if out := b.Output(); strings.Contains(out, password) {
			t.Errorf("the bridge logged the password:\n%s", grepContaining(out, password))
		}
		if body := b.MetricsText(); strings.Contains(body, password) {
			t.Errorf("the bridge's /metrics holds the password:\n%s", grepContaining(body, password))
		}
	})
}

// TestReplicasExternalLabels runs two bridge replicas with the same
// configuration but for global.external_labels' __replica__, writing to one
// receiver through one recording proxy (each under its own path): every
// series of every request of each replica carries cluster="e2e" and its own
// __replica__, and the receiver holds both replicas' copies.
func TestReplicasExternalLabels(t *testing.T) {
	t.Parallel()
	g := startPushgateway(t)
	r := startPrometheusReceiver(t, contLookback)
	rec := startSampleRecorder(t, r.WriteURL)
	mustPush(t, g.URL, http.MethodPut, groupPath("rep", "instance", "x"), "e2e_rep 1\ne2e_rep_other{a=\"b\"} 2\n")
	replicas := []string{"r1", "r2"}
	for _, rep := range replicas {
		cfg := writeConfig(t, fmt.Sprintf(`
global:
  external_labels:
    cluster: e2e
    __replica__: %s
remote_write:
- url: %s/%s/api/v1/write
  name: rec
`, rep, rec.URL, rep))
		startBridge(t,
			"--pushgateway.url="+g.URL,
			"--config.file="+cfg,
			"--scrape.interval="+model.Duration(contInterval).String(),
			"--log.level=debug",
		)
	}
	eventually(t, arrive, func() error {
		return expectVector(r.URL, `e2e_rep`, `
e2e_rep{__replica__="r1",cluster="e2e",instance="x",job="rep"} 1
e2e_rep{__replica__="r2",cluster="e2e",instance="x",job="rep"} 1`)
	})
	// Several cycles of each.
	eventually(t, arrive, func() error {
		reqs, _ := rec.requests()
		n := map[string]int{}
		for _, q := range reqs {
			n[q.path]++
		}
		for _, rep := range replicas {
			if p := "/" + rep + "/api/v1/write"; n[p] < 5 {
				return fmt.Errorf("%d requests on %s, want 5", n[p], p)
			}
		}
		return nil
	})

	reqs, errs := rec.requests()
	if len(errs) > 0 {
		t.Errorf("undecodable requests:\n%s", indent(strings.Join(errs, "\n")))
	}
	count := map[string]int{}
	distinct := map[string]map[string]bool{}
	var bad []string
	for i, q := range reqs {
		rep, _, _ := strings.Cut(strings.TrimPrefix(q.path, "/"), "/")
		if !slices.Contains(replicas, rep) {
			t.Errorf("request %d on unexpected path %s", i, q.path)
			continue
		}
		count[rep]++
		if distinct[rep] == nil {
			distinct[rep] = map[string]bool{}
		}
		for _, s := range q.series {
			distinct[rep][s.key] = true
			if s.metric["cluster"] != "e2e" || s.metric["__replica__"] != model.LabelValue(rep) {
				bad = append(bad, fmt.Sprintf("request %d of %s: %s", i, rep, s.key))
			}
		}
	}
	if len(bad) > 0 {
		t.Errorf("series without cluster=\"e2e\" and their replica's __replica__:\n%s", indent(strings.Join(bad, "\n")))
	}
	for _, rep := range replicas {
		t.Logf("replica %s: %d requests, %d distinct series, every one with cluster=\"e2e\",__replica__=%q", rep, count[rep], len(distinct[rep]), rep)
	}
	// The group's 2 pushed series, its 2 push times, up and age, and
	// pushgateway_up.
	const groupSeries = 6
	for _, rep := range replicas {
		if n := len(distinct[rep]); n != groupSeries+1 {
			t.Errorf("replica %s: %d distinct series, want %d: the group's %d and pushgateway_up", rep, n, groupSeries+1, groupSeries)
		}
	}
	if err := expectVector(r.URL, `count by (__replica__, cluster) ({job="rep"})`, fmt.Sprintf(`
{__replica__="r1",cluster="e2e"} %d
{__replica__="r2",cluster="e2e"} %d`, groupSeries, groupSeries)); err != nil {
		t.Error(err)
	}
	if err := expectEmpty(r.URL, `{__name__=~".+",cluster!="e2e"} or {__name__=~".+",__replica__!~"r1|r2"}`); err != nil {
		t.Error(err)
	}
}

// TestDeleteExpiredHAPair pushes a group with delete_expired to both
// gateways of an HA pair: once it expires the bridge deletes it from both,
// each on its own push time, so it does not come back through the merge,
// and logs no "pushed again" line. A group pushed to both that does not
// expire stays on both. It runs against each Pushgateway version.
func TestDeleteExpiredHAPair(t *testing.T) {
	t.Parallel()
	forEachGatewayVersion(t, testDeleteExpiredHAPair)
}

func testDeleteExpiredHAPair(t *testing.T, start func(testing.TB) *pushgateway) {
	a, b := start(t), start(t)
	r := startPrometheusReceiver(t, 0)
	cfg := writeConfig(t, `
group_rules:
- match: {job: e2e_ha_expire}
  expire_after: 3s
  delete_expired: true
`)
	br := startBridge(t, append(haArgs(r.WriteURL, a.URL, b.URL), "--config.file="+cfg)...)

	sel := `{job="e2e_ha_expire"}`
	for _, g := range []*pushgateway{a, b} {
		mustPush(t, g.URL, http.MethodPut, groupPath("e2e_ha_keep"), "e2e_ha_keep 1\n")
		mustPush(t, g.URL, http.MethodPut, groupPath("e2e_ha_expire"), "e2e_ha_expiring 1\n")
	}
	for name, g := range map[string]*pushgateway{"A": a, "B": b} {
		eventually(t, arrive, func() error {
			if err := rulesGatewayHas(g.URL, sel, false); err != nil {
				return fmt.Errorf("gateway %s: %w", name, err)
			}
			return nil
		})
	}
	eventually(t, vanish, func() error { return rulesMetricIs(br, 2, "pushgateway_bridge_groups_deleted_total") })
	// Deleted for good: it stays off both gateways and off the receiver,
	// the other group stays on both, and no copy came back to be judged
	// again.
	consistently(t, 3*time.Second, func() error {
		for _, g := range []*pushgateway{a, b} {
			if err := rulesGatewayHas(g.URL, sel, false); err != nil {
				return err
			}
			if err := rulesGatewayHas(g.URL, `{job="e2e_ha_keep"}`, true); err != nil {
				return err
			}
		}
		if err := expectEmpty(r.URL, sel); err != nil {
			return err
		}
		return rulesMetricIs(br, 2, "pushgateway_bridge_groups_deleted_total")
	})
	if strings.Contains(br.Output(), "expired group was pushed again") {
		t.Errorf("bridge log says an expired group was pushed again:\n%s", grepLines(br.Output(), "level=INFO"))
	}
}

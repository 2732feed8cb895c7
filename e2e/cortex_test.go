package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cortexFailover is the HA tracker's failover timeout in the tests: after
// it has seen nothing of the elected replica for this long, Cortex accepts
// the other. Cortex wants it at least 1s above the update timeout plus its
// jitter, 1s and 0 here.
const cortexFailover = 5 * time.Second

// cortex is a single-process Cortex: its remote-write endpoint and its
// base URL (the Prometheus API is under /prometheus, per tenant).
type cortex struct {
	*receiver
}

// startCortex starts Cortex (bin/cortex of scripts/peers.sh) as one process
// running the distributor, ingester, querier and store-gateway, with
// multi-tenancy on (X-Scope-OrgID), blocks storage on the local filesystem
// under a temp dir, in-memory rings, one ingester and every listener on
// 127.0.0.1, plus extra flags, and waits until /ready answers 200. It is
// killed when the test ends.
func startCortex(t testing.TB, extra ...string) *cortex {
	t.Helper()
	dir := t.TempDir()
	httpPort, grpcPort := freePort(t), freePort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort))
	grpcAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(grpcPort))
	args := append([]string{
		"-target=distributor,ingester,querier,store-gateway",
		"-auth.enabled=true",
		"-server.http-listen-address=127.0.0.1",
		"-server.http-listen-port=" + strconv.Itoa(httpPort),
		"-server.grpc-listen-address=127.0.0.1",
		"-server.grpc-listen-port=" + strconv.Itoa(grpcPort),
		"-ring.store=inmemory",
		"-distributor.ring.store=inmemory",
		"-distributor.ring.instance-addr=127.0.0.1",
		"-distributor.replication-factor=1",
		"-ingester.lifecycler.addr=127.0.0.1",
		"-ingester.num-tokens=16",
		"-ingester.join-after=0s",
		"-ingester.min-ready-duration=0s",
		"-ingester.final-sleep=0s",
		"-blocks-storage.backend=filesystem",
		"-blocks-storage.filesystem.dir=" + filepath.Join(dir, "bucket"),
		"-blocks-storage.tsdb.dir=" + filepath.Join(dir, "tsdb"),
		"-blocks-storage.bucket-store.sync-dir=" + filepath.Join(dir, "sync"),
		// Without store-gateway sharding the querier asks the listed
		// store-gateways: this process' own.
		"-querier.store-gateway-addresses=" + grpcAddr,
		// By default ./active-query-tracker, in the package's folder.
		"-querier.active-query-tracker-dir=" + filepath.Join(dir, "active-query-tracker"),
		"-log.level=info",
	}, extra...)
	r := startReceiverProcess(t, "cortex", cortexBin, addr, "/api/v1/push", "/ready", args...)
	return &cortex{receiver: r}
}

// tenantAPI returns the base URL of a proxy that serves Cortex's Prometheus
// API (under /prometheus) to tenant, adding its X-Scope-OrgID to every
// request, so that the query helpers (queryVector, expectVector...) work on
// one tenant's view. It is closed when the test ends.
func (c *cortex) tenantAPI(t testing.TB, tenant string) string {
	t.Helper()
	target, err := url.Parse(c.URL + "/prometheus")
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Header.Set("X-Scope-OrgID", tenant)
	}}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestCortexTenants forwards three groups into a real Cortex with
// multi-tenancy and remote write 2.0 on, through three endpoints: one routes
// each series by its team label to the tenant of that name (X-Scope-OrgID,
// the default tenant_header; the group without a team goes to the default
// tenant), the others send everything under a static X-Scope-OrgID header,
// one in remote write 1.0 with metadata requests, one in 2.0. Each tenant's
// queries see its own groups only, with the values pushed; a query without
// a tenant is refused; /api/v1/metadata of the 1.0 and the 2.0 tenant holds
// the pushed TYPE and HELP, /api/v1/query_exemplars the exemplar pushed by
// client_golang, and the 2.0 endpoint never falls back.
func TestCortexTenants(t *testing.T) {
	t.Parallel()
	g := startPushgateway(t)
	c := startCortex(t, "-distributor.remote-writev2-enabled=true", "-ingester.max-exemplars=1000")
	cfg := writeConfig(t, fmt.Sprintf(`
remote_write:
- url: %[1]s
  name: cortex-teams
  tenant_label: team
  default_tenant: shared
- url: %[1]s
  name: cortex-ops
  headers: {X-Scope-OrgID: ops}
  metadata_config: {send: true, send_interval: 1s}
  send_exemplars: true
- url: %[1]s
  name: cortex-rw2
  headers: {X-Scope-OrgID: rw2}
  protobuf_message: %[2]s
  send_exemplars: true
`, c.WriteURL, rw2Message))
	b := startBridge(t, "--pushgateway.url="+g.URL, "--config.file="+cfg, "--scrape.interval=1s", "--log.level=debug")

	const help = "A gauge pushed with HELP, per tenant."
	for _, p := range []struct {
		path  string
		value int
	}{
		{groupPath("cortex_a", "team", "team-a"), 1},
		{groupPath("cortex_b", "team", "team-b"), 2},
		{groupPath("cortex_none"), 3},
	} {
		mustPush(t, g.URL, http.MethodPut, p.path, fmt.Sprintf("# HELP e2e_cortex_value %s\n# TYPE e2e_cortex_value gauge\ne2e_cortex_value %d\n", help, p.value))
	}
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	pushExemplarCounter(t, g.URL, "exemplars", "e2e_cortex_records_total", traceID)
	a := `e2e_cortex_value{job="cortex_a",team="team-a"} 1`
	bv := `e2e_cortex_value{job="cortex_b",team="team-b"} 2`
	none := `e2e_cortex_value{job="cortex_none"} 3`
	up := fmt.Sprintf(`pushgateway_up{gateway=%q} 1`, g.Addr)
	// The group's pushed series, its push times, up and age (the default
	// series budget).
	const groupSeries = 5
	for _, tc := range []struct {
		tenant string
		values []string // e2e_cortex_value
		jobs   []string // the groups whose every series it holds
		up     bool     // pushgateway_up, which has no team
	}{
		{"team-a", []string{a}, []string{"cortex_a"}, false},
		{"team-b", []string{bv}, []string{"cortex_b"}, false},
		{"shared", []string{none}, []string{"cortex_none"}, true},
		{"ops", []string{a, bv, none}, []string{"cortex_a", "cortex_b", "cortex_none"}, true},
		{"rw2", []string{a, bv, none}, []string{"cortex_a", "cortex_b", "cortex_none"}, true},
	} {
		api := c.tenantAPI(t, tc.tenant)
		took := eventually(t, arrive, func() error {
			return expectVector(api, `e2e_cortex_value`, strings.Join(tc.values, "\n"))
		})
		var counts []string
		for _, job := range tc.jobs {
			counts = append(counts, fmt.Sprintf("{job=%q} %d", job, groupSeries))
		}
		countExpr := `count by (job) ({__name__=~".+",job=~"cortex_.*"})`
		eventually(t, arrive, func() error { return expectVector(api, countExpr, strings.Join(counts, "\n")) })
		wantUp := ""
		if tc.up {
			wantUp = up
		}
		if err := expectVector(api, `pushgateway_up`, wantUp); err != nil {
			t.Errorf("tenant %s: %v", tc.tenant, err)
		}
		t.Logf("X-Scope-OrgID %s, %v after the pushes: e2e_cortex_value:\n%s\n%s:\n%s\npushgateway_up: %q",
			tc.tenant, took.Round(time.Millisecond), indent(strings.Join(tc.values, "\n")), countExpr, indent(strings.Join(counts, "\n")), wantUp)
	}

	code, body, err := httpGet(c.URL + "/prometheus/api/v1/query?query=e2e_cortex_value")
	if err != nil || code != http.StatusUnauthorized {
		t.Errorf("query without X-Scope-OrgID: %d %q, %v; want 401", code, body, err)
	}

	// Metadata: from 1.0's metadata requests and from 2.0's series.
	wantMeta := fmt.Sprintf(`{"e2e_cortex_value":[{"type":"gauge","help":%q,"unit":""}]}`, help)
	for _, tenant := range []string{"ops", "rw2"} {
		api := c.tenantAPI(t, tenant)
		var got string
		eventually(t, arrive, func() error {
			var err error
			got, err = apiData(api + "/api/v1/metadata?metric=e2e_cortex_value")
			if err == nil && got != wantMeta {
				err = fmt.Errorf("/api/v1/metadata?metric=e2e_cortex_value: %s, want %s", got, wantMeta)
			}
			return err
		})
		t.Logf("X-Scope-OrgID %s: /api/v1/metadata?metric=e2e_cortex_value: %s", tenant, got)
	}
	// Exemplars, in 1.0 and 2.0.
	for _, tenant := range []string{"ops", "rw2"} {
		api := c.tenantAPI(t, tenant)
		var got string
		eventually(t, arrive, func() error {
			var err error
			got, err = expectExemplar(api, `e2e_cortex_records_total`, traceID)
			return err
		})
		t.Logf("X-Scope-OrgID %s: /api/v1/query_exemplars?query=e2e_cortex_records_total: %s", tenant, got)
	}
	if v := b.MustMetric(mExemplarsUnwritten, "remote_name", "cortex-rw2"); v != 0 {
		t.Errorf("%s{remote_name=\"cortex-rw2\"} = %v, want 0", mExemplarsUnwritten, v)
	}
	if v := b.MustMetric(mFallbacks, "remote_name", "cortex-rw2"); v != 0 {
		t.Errorf("%s{remote_name=\"cortex-rw2\"} = %v, want 0: Cortex takes 2.0", mFallbacks, v)
	}
	for _, remote := range []string{"cortex-teams", "cortex-ops", "cortex-rw2"} {
		if err := expectNoDrops(b, remote); err != nil {
			t.Error(err)
		}
	}
}

// apiData GETs a Prometheus API URL and returns the data of its success
// answer as compact JSON.
func apiData(u string) (string, error) {
	code, body, err := httpGet(u)
	if err != nil {
		return "", err
	}
	var resp struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		return "", fmt.Errorf("GET %s: status %d: decode %q: %w", u, code, body, err)
	}
	if resp.Status != "success" {
		return "", fmt.Errorf("GET %s: status %d: %s", u, code, resp.Error)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, resp.Data); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// cortexElected returns the replica Cortex's HA tracker has elected for
// tenant and cluster, from /distributor/ha_tracker in JSON, and "" if none.
func cortexElected(c *cortex, tenant, cluster string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, c.URL+"/distributor/ha_tracker", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var status struct {
		Elected []struct {
			UserID  string `json:"userID"`
			Cluster string `json:"cluster"`
			Replica string `json:"replica"`
		} `json:"elected"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&status); err != nil {
		return "", fmt.Errorf("GET /distributor/ha_tracker: status %d: %w", resp.StatusCode, err)
	}
	for _, e := range status.Elected {
		if e.UserID == tenant && e.Cluster == cluster {
			return e.Replica, nil
		}
	}
	return "", nil
}

// TestCortexHATracker runs two bridge replicas with the same cluster and
// their own __replica__ (Cortex's default HA labels) writing one gateway's
// groups to the same tenant of a real Cortex with the HA tracker on: Cortex
// keeps one copy, without the replica label. Once the elected replica is
// killed (SIGKILL), Cortex fails over to the other within its failover
// timeout: a value pushed after the kill arrives.
func TestCortexHATracker(t *testing.T) {
	t.Parallel()
	const tenant, cluster = "ha", "e2e"
	g := startPushgateway(t)
	memberlistPort := strconv.Itoa(freePort(t))
	c := startCortex(t,
		"-distributor.ha-tracker.enable=true",
		"-distributor.ha-tracker.enable-for-all-users=true",
		// The tracker's KV store must be consul, etcd, memberlist or
		// multi; memberlist needs no other process.
		"-distributor.ha-tracker.store=memberlist",
		"-memberlist.bind-addr=127.0.0.1",
		"-memberlist.bind-port="+memberlistPort,
		"-memberlist.advertise-addr=127.0.0.1",
		"-memberlist.advertise-port="+memberlistPort,
		"-distributor.ha-tracker.update-timeout=1s",
		"-distributor.ha-tracker.update-timeout-jitter-max=0s",
		"-distributor.ha-tracker.failover-timeout="+cortexFailover.String(),
	)
	api := c.tenantAPI(t, tenant)

	mustPush(t, g.URL, http.MethodPut, groupPath("cortex_ha"), "e2e_cortex_ha 1\n")
	replicas := map[string]*bridge{}
	for _, rep := range []string{"r1", "r2"} {
		cfg := writeConfig(t, fmt.Sprintf(`
global:
  external_labels: {cluster: %s, __replica__: %s}
remote_write:
- url: %s
  name: cortex
  headers: {X-Scope-OrgID: %s}
`, cluster, rep, c.WriteURL, tenant))
		replicas[rep] = startBridge(t, "--pushgateway.url="+g.URL, "--config.file="+cfg, "--scrape.interval=1s", "--log.level=debug")
	}

	// One copy, without __replica__: the elected replica's.
	want := `e2e_cortex_ha{cluster="e2e",job="cortex_ha"} 1`
	took := eventually(t, arrive, func() error { return expectVector(api, `e2e_cortex_ha`, want) })
	var elected string
	eventually(t, arrive, func() error {
		var err error
		elected, err = cortexElected(c, tenant, cluster)
		if err == nil && elected == "" {
			err = fmt.Errorf("no replica elected for tenant %s, cluster %s", tenant, cluster)
		}
		return err
	})
	// Both replicas keep sending meanwhile; the other's copy never shows.
	consistently(t, 3*time.Second, func() error {
		if err := expectVector(api, `e2e_cortex_ha`, want); err != nil {
			return err
		}
		return expectEmpty(api, `{__name__=~".+",__replica__!=""}`)
	})
	// The other replica's samples did reach Cortex, which dropped them.
	deduped, _, err := metricAt(c.URL+"/metrics", "cortex_distributor_deduped_samples_total", "user", tenant, "cluster", cluster)
	if err != nil {
		t.Fatal(err)
	}
	if deduped == 0 {
		t.Errorf("cortex_distributor_deduped_samples_total{user=%q,cluster=%q} = 0, want the other replica's samples", tenant, cluster)
	}
	const groupSeries = 5 // the pushed series, push times, up and age
	countExpr := `count by (cluster, job) ({__name__=~".+",job="cortex_ha"})`
	countWant := fmt.Sprintf(`{cluster="e2e",job="cortex_ha"} %d`, groupSeries)
	if err := expectVector(api, countExpr, countWant); err != nil {
		t.Error(err)
	}
	t.Logf("elected %s; %v after the push: %s; %s: %s; no series with __replica__; cortex_distributor_deduped_samples_total %v",
		elected, took.Round(time.Millisecond), want, countExpr, countWant, deduped)

	others := slices.DeleteFunc([]string{"r1", "r2"}, func(r string) bool { return r == elected })
	if len(others) != 1 {
		t.Fatalf("elected replica %q is neither r1 nor r2", elected)
	}
	other := others[0]
	replicas[elected].Kill()
	killed := time.Now()
	mustPush(t, g.URL, http.MethodPut, groupPath("cortex_ha"), "e2e_cortex_ha 2\n")
	want = `e2e_cortex_ha{cluster="e2e",job="cortex_ha"} 2`
	// Cortex fails over once it has seen nothing of the elected replica
	// for the failover timeout, counted from before the kill; then comes
	// the surviving replica's next cycle (1s) and its request.
	eventually(t, cortexFailover+5*time.Second, func() error { return expectVector(api, `e2e_cortex_ha`, want) })
	arrived := time.Since(killed)
	now, err := cortexElected(c, tenant, cluster)
	if err != nil {
		t.Fatal(err)
	}
	if now != other {
		t.Errorf("after the kill of %s the HA tracker has %q elected, want %s", elected, now, other)
	}
	if err := expectEmpty(api, `{__name__=~".+",__replica__!=""}`); err != nil {
		t.Error(err)
	}
	// Cortex answered the replica it did not elect 202: sent, not dropped.
	if err := expectNoDrops(replicas[other], "cortex"); err != nil {
		t.Error(err)
	}
	t.Logf("killed %s; %s elected and %s at Cortex %v after the kill (failover timeout %v)", elected, now, want, arrived.Round(time.Millisecond), cortexFailover)
}

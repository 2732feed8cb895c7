package e2e

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// thanosArrive bounds how long a pushed sample takes to show through Thanos
// query: on top of the bridge's cycle, the querier learns a new tenant's
// label set from the receive's Info API, which it asks every few seconds.
const thanosArrive = 40 * time.Second

// thanosReplicaLabel is the external label every receive must announce;
// the querier deduplicates on it, so it does not show in query results.
const thanosReplicaLabel = "receive_replica"

// thanos is a Thanos receive (remote write on WriteURL, tenants from the
// THANOS-TENANT header) and a Thanos query reading it over the receive's
// gRPC Store API, whose Prometheus HTTP API is at URL.
type thanos struct {
	// URL is the base URL of Thanos query's Prometheus HTTP API.
	URL string
	// WriteURL is the receive's remote-write endpoint.
	WriteURL string
}

// localAddr returns 127.0.0.1:<a free port>.
func localAddr(t testing.TB) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
}

// startThanos starts a Thanos receive (bin/thanos of scripts/peers.sh) with
// its TSDB in a temp dir, in ingestor-only mode (no hashring), every listener
// on 127.0.0.1, and a Thanos query pointed at its gRPC Store API, and waits
// until both answer /-/ready. Both are killed when the test ends.
func startThanos(t testing.TB) *thanos {
	t.Helper()
	dir := t.TempDir()
	recvHTTP, recvGRPC, rwAddr := localAddr(t), localAddr(t), localAddr(t)
	startReceiverProcess(t, "thanos-receive", thanosBin, recvHTTP, "", "/-/ready",
		"receive",
		"--http-address="+recvHTTP,
		"--grpc-address="+recvGRPC,
		"--remote-write.address="+rwAddr,
		// Listens even without replication: off its default 0.0.0.0:19391,
		// so that parallel tests do not collide.
		"--receive.capnproto-address="+localAddr(t),
		"--tsdb.path="+dir,
		"--label="+thanosReplicaLabel+`="0"`,
		"--receive.tenant-header=THANOS-TENANT",
		"--tsdb.max-exemplars=1000",
		"--log.level=info",
	)
	queryHTTP := localAddr(t)
	startReceiverProcess(t, "thanos-query", thanosBin, queryHTTP, "", "/-/ready",
		"query",
		"--http-address="+queryHTTP,
		"--grpc-address="+localAddr(t),
		"--endpoint="+recvGRPC,
		"--query.replica-label="+thanosReplicaLabel,
		"--log.level=info",
	)
	return &thanos{URL: "http://" + queryHTTP, WriteURL: "http://" + rwAddr + "/api/v1/receive"}
}

// TestThanosReceiveTenants forwards three groups through one endpoint that
// routes series to tenants by their team label in the THANOS-TENANT header
// (the group without one to the default tenant) into a real Thanos receive,
// and reads them back through Thanos query: every series of a group carries
// its tenant as tenant_id, with the values pushed, and an exemplar pushed by
// client_golang shows in /api/v1/query_exemplars. A DELETE on the gateway
// makes that group's series stale through Thanos too, and only its own.
func TestThanosReceiveTenants(t *testing.T) {
	t.Parallel()
	g := startPushgateway(t)
	th := startThanos(t)
	cfg := writeConfig(t, fmt.Sprintf(`
remote_write:
- url: %s
  name: thanos
  tenant_label: team
  tenant_header: THANOS-TENANT
  default_tenant: shared
  send_exemplars: true
`, th.WriteURL))
	startBridge(t, "--pushgateway.url="+g.URL, "--config.file="+cfg, "--scrape.interval=1s", "--log.level=debug")

	tenants := []struct{ job, team, tenant string }{
		{"thanos_a", "team-a", "team-a"},
		{"thanos_b", "team-b", "team-b"},
		{"thanos_none", "", "shared"},
	}
	var want []string
	for i, c := range tenants {
		path := groupPath(c.job)
		team := ""
		if c.team != "" {
			path = groupPath(c.job, "team", c.team)
			team = fmt.Sprintf(",team=%q", c.team)
		}
		mustPush(t, g.URL, http.MethodPut, path, fmt.Sprintf("e2e_thanos_value %d\n", i+1))
		want = append(want, fmt.Sprintf("e2e_thanos_value{job=%q%s,tenant_id=%q} %d", c.job, team, c.tenant, i+1))
	}
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	pushExemplarCounter(t, g.URL, "exemplars", "e2e_thanos_records_total", traceID)
	took := eventually(t, thanosArrive, func() error {
		return expectVector(th.URL, `e2e_thanos_value`, strings.Join(want, "\n"))
	})
	t.Logf("through Thanos query %v after the pushes:\n%s", took.Round(time.Millisecond), indent(strings.Join(want, "\n")))

	// Every series of each group, the synthesized ones included, went to
	// the group's tenant only: the pushed series, its push times, up and
	// age (the default series budget).
	const groupSeries = 5
	var counts []string
	for _, c := range tenants {
		counts = append(counts, fmt.Sprintf("{job=%q,tenant_id=%q} %d", c.job, c.tenant, groupSeries))
	}
	countExpr := `count by (job, tenant_id) ({job=~"thanos_.*"})`
	eventually(t, arrive, func() error { return expectVector(th.URL, countExpr, strings.Join(counts, "\n")) })
	upWant := fmt.Sprintf(`pushgateway_up{gateway=%q,tenant_id="shared"} 1`, g.Addr)
	if err := expectVector(th.URL, `pushgateway_up`, upWant); err != nil {
		t.Error(err)
	}
	t.Logf("%s:\n%s\n%s", countExpr, indent(strings.Join(counts, "\n")), upWant)

	// The exemplar, in the default tenant.
	var exemplars string
	eventually(t, arrive, func() error {
		var err error
		exemplars, err = expectExemplar(th.URL, `e2e_thanos_records_total`, traceID)
		return err
	})
	t.Logf("/api/v1/query_exemplars?query=e2e_thanos_records_total: %s", exemplars)

	mustPush(t, g.URL, http.MethodDelete, groupPath("thanos_b", "team", "team-b"), "")
	took = eventually(t, arrive, func() error { return expectEmpty(th.URL, `{job="thanos_b"}`) })
	t.Logf("group thanos_b (tenant team-b) gone from Thanos query %v after the DELETE", took.Round(time.Millisecond))
	consistently(t, 3*time.Second, func() error {
		if err := expectEmpty(th.URL, `{job="thanos_b"}`); err != nil {
			return err
		}
		return expectVector(th.URL, `e2e_thanos_value`, want[0]+"\n"+want[2])
	})
}

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	"github.com/prometheus/common/expfmt"
)

// TestFidelity pushes what a Go batch job pushes with client_golang's push
// package (protobuf: a counter with an exemplar and its created timestamp)
// to each Pushgateway the bridge is tested with, Debian's 1.5.1 and 1.11.5,
// and, to 1.11.5 started with --push.enable-utf8-names, a UTF-8 name; the
// bridge forwards it with remote write 2.0 into Prometheus 3 with exemplar
// storage and start timestamps on. Prometheus 3 must show the exemplar in
// /api/v1/query_exemplars, the created timestamp as the series' start
// (start_timestamp() with st-storage and use-start-timestamps, and the zero
// sample created-timestamp-zero-ingestion adds), and the UTF-8 name as
// pushed, or escaped with underscores by an endpoint that asks for it.
func TestFidelity(t *testing.T) {
	for _, gw := range []struct {
		name  string
		start func(t *testing.T) *pushgateway
		utf8  bool
	}{
		{"pushgateway-1.5.1", func(t *testing.T) *pushgateway { return startPushgateway(t) }, false},
		{"pushgateway-1.11.5", func(t *testing.T) *pushgateway {
			return startPushgatewayBin(t, 0, pushgateway1115Bin, "--push.enable-utf8-names")
		}, true},
	} {
		t.Run(gw.name, func(t *testing.T) {
			t.Parallel()
			testFidelity(t, gw.start(t), gw.utf8)
		})
	}
}

func testFidelity(t *testing.T, g *pushgateway, utf8 bool) {
	r := startPrometheusBin(t, "prometheus3", prometheus3Bin, 0,
		"--web.remote-write-receiver.accepted-protobuf-messages="+rw2Message,
		"--enable-feature=exemplar-storage",
		"--enable-feature=created-timestamp-zero-ingestion",
		"--enable-feature=st-storage",
		"--enable-feature=use-start-timestamps",
		"--enable-feature=promql-experimental-functions")

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "fidelity_records_total", Help: "Records processed."})
	created := time.Now()
	c.(prometheus.ExemplarAdder).AddWithExemplar(42, prometheus.Labels{"trace_id": traceID})
	if err := push.New(g.URL, "fidelity").Collector(c).Format(expfmt.NewFormat(expfmt.TypeProtoDelim)).Push(); err != nil {
		t.Fatalf("push with client_golang: %v", err)
	}
	if utf8 {
		mustPush(t, g.URL, http.MethodPut, groupPath("utf8"), `{"my.dotted.metric","service.name"="checkout"} 3`+"\n")
	}
	cfg := writeConfig(t, fmt.Sprintf(`
remote_write:
- url: %[1]s
  name: p3
  protobuf_message: %[2]s
  send_exemplars: true
- url: %[1]s
  name: p3-escaped
  protobuf_message: %[2]s
  metric_name_escaping_scheme: underscores
  write_relabel_configs:
  - source_labels: [__name__]
    regex: my\.dotted\.metric
    action: keep
`, r.WriteURL, rw2Message))
	b := startBridge(t, deliveryArgs(g.URL, cfg, tick)...)

	eventually(t, arrive, func() error {
		return expectVector(r.URL, `fidelity_records_total`, `fidelity_records_total{job="fidelity"} 42`)
	})

	// The exemplar.
	var exemplars string
	eventually(t, arrive, func() error {
		var err error
		exemplars, err = queryExemplars(r.URL, `fidelity_records_total`, created.Add(-time.Minute), time.Now().Add(time.Minute))
		if err != nil {
			return err
		}
		if !strings.Contains(exemplars, `"trace_id":"`+traceID+`"`) || !strings.Contains(exemplars, `"value":"42"`) {
			return fmt.Errorf("/api/v1/query_exemplars: %s, want the trace_id exemplar of value 42", exemplars)
		}
		return nil
	})
	t.Logf("/api/v1/query_exemplars?query=fidelity_records_total: %s", exemplars)
	if v := b.MustMetric(mExemplarsUnwritten, "remote_name", "p3"); v != 0 {
		t.Errorf("%s = %v, want 0: Prometheus 3 with exemplar-storage writes every exemplar", mExemplarsUnwritten, v)
	}

	// The start timestamp: client_golang's created timestamp, to the
	// millisecond, and what PromQL makes of it.
	st := query(t, r.URL, `start_timestamp(fidelity_records_total)`)
	t.Logf("start_timestamp(fidelity_records_total): %s (counter created at %.3f)", formatVector(st), float64(created.UnixMilli())/1000)
	if len(st) != 1 || float64(st[0].Value) < float64(created.Add(-time.Second).UnixMilli())/1000 || float64(st[0].Value) > float64(created.Add(time.Second).UnixMilli())/1000 {
		t.Errorf("start_timestamp(fidelity_records_total) = %s, want the counter's creation, %.3f", formatVector(st), float64(created.UnixMilli())/1000)
	}
	m, err := queryMatrixAt(r.URL, `fidelity_records_total[5m]`, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fidelity_records_total[5m]: %s", m)
	if len(m) != 1 || len(m[0].Values) < 2 || m[0].Values[0].Value != 0 {
		t.Errorf("fidelity_records_total[5m] = %s, want a zero sample at the start timestamp before the pushed value", m)
	}

	if !utf8 {
		return
	}
	eventually(t, arrive, func() error {
		// formatVector writes names unquoted.
		return expectVector(r.URL, `{"my.dotted.metric"}`, `my.dotted.metric{job="utf8",service.name="checkout"} 3`)
	})
	t.Logf(`{"my.dotted.metric"}: %s`, formatVector(query(t, r.URL, `{"my.dotted.metric"}`)))
	eventually(t, arrive, func() error {
		return expectVector(r.URL, `my_dotted_metric`, `my_dotted_metric{job="utf8",service_name="checkout"} 3`)
	})
	t.Logf(`my_dotted_metric (metric_name_escaping_scheme: underscores): %s`, formatVector(query(t, r.URL, `my_dotted_metric`)))
}

// queryExemplars returns the data of /api/v1/query_exemplars as JSON.
func queryExemplars(promURL, expr string, start, end time.Time) (string, error) {
	params := url.Values{"query": {expr}, "start": {apiTime(start)}, "end": {apiTime(end)}}
	code, body, err := httpGet(promURL + "/api/v1/query_exemplars?" + params.Encode())
	if err != nil {
		return "", err
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("/api/v1/query_exemplars: status %d: %s", code, body)
	}
	var resp struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		return "", err
	}
	return string(resp.Data), nil
}

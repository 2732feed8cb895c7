package e2e

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// Remote-write protobuf messages, as Prometheus 3 names them in
// --web.remote-write-receiver.accepted-protobuf-messages.
const (
	rw1Message = "prometheus.WriteRequest"
	rw2Message = "io.prometheus.write.v2.Request"
)

// vmVisible bounds how long VictoriaMetrics takes to make a sample of a new
// series searchable; see startVictoriaMetrics.
const vmVisible = 20 * time.Second

// startPrometheus3Receiver starts Prometheus 3 (bin/prometheus3 of
// scripts/peers.sh) as a remote-write receiver on /api/v1/write with an empty
// scrape config and the given query lookback delta (0 means 5m), and waits
// until /-/ready answers 200. It is stopped when the test ends.
//
// acceptedMessages, when given, become its only accepted remote-write
// messages (rw1Message, rw2Message); otherwise it accepts both 1.0 and 2.0,
// Prometheus 3's default. Native histograms need no flag: since 3.8 the
// receiver always ingests them and --enable-feature=native-histograms is a
// no-op that logs a warning.
func startPrometheus3Receiver(t testing.TB, lookback time.Duration, acceptedMessages ...string) *receiver {
	t.Helper()
	var extra []string
	for _, m := range acceptedMessages {
		extra = append(extra, "--web.remote-write-receiver.accepted-protobuf-messages="+m)
	}
	return startPrometheusBin(t, "prometheus3", prometheus3Bin, lookback, extra...)
}

// startVictoriaMetrics starts a single-node VictoriaMetrics (Debian's 1.79)
// with a one-day retention in a temp dir and waits until /health answers
// 200. It is stopped when the test ends. Its WriteURL takes remote write 1.0
// only; its URL serves the Prometheus query API at /api/v1/query (and
// /prometheus/api/v1/query), so the query helpers work on it.
//
// A write answered 204 is not visible to an immediate query: poll with
// eventually (vmVisible). VictoriaMetrics buffers accepted samples in memory
// and makes them searchable when it flushes that buffer, about a second
// later for a series it already knows; a new series took 9 to 11s to show
// with 1.79.5 (its index of recent series is refreshed in the background).
// -search.latencyOffset=0s lifts the default 30s during which it hides the
// newest samples from queries, and -search.disableCache keeps a cached
// answer from hiding fresh samples.
// Unlike Prometheus it has no fixed lookback delta: it derives staleness
// from the interval between a series' samples.
func startVictoriaMetrics(t testing.TB) *receiver {
	t.Helper()
	dir := t.TempDir()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	return startReceiverProcess(t, "victoria-metrics", victoriaMetricsBin, addr, "/api/v1/write", "/health",
		"-storageDataPath="+dir,
		"-httpListenAddr="+addr,
		"-retentionPeriod=1d",
		"-search.latencyOffset=0s",
		"-search.disableCache",
	)
}

// rwRequest is an encoded remote-write request with the headers its
// protocol version needs.
type rwRequest struct {
	contentType string
	version     string
	body        []byte // snappy-compressed protobuf
}

// rwResponse is what a receiver answered to an rwRequest.
type rwResponse struct {
	code   int
	header http.Header
	body   string
}

// rw1Request builds a remote write 1.0 request holding one float sample v at
// ts for the series lset.
func rw1Request(t testing.TB, lset labels.Labels, ts time.Time, v float64) rwRequest {
	t.Helper()
	var pl []prompb.Label
	lset.Range(func(l labels.Label) {
		pl = append(pl, prompb.Label{Name: l.Name, Value: l.Value})
	})
	wr := prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  pl,
		Samples: []prompb.Sample{{Value: v, Timestamp: ts.UnixMilli()}},
	}}}
	raw, err := wr.Marshal()
	if err != nil {
		t.Fatalf("marshal remote write 1.0 request: %v", err)
	}
	return rwRequest{
		contentType: "application/x-protobuf",
		version:     "0.1.0",
		body:        snappy.Encode(nil, raw),
	}
}

// rw2Request builds a remote write 2.0 request holding one float sample v at
// ts for floatSeries and the integer native histogram h at ts for
// histSeries.
func rw2Request(t testing.TB, floatSeries labels.Labels, v float64, histSeries labels.Labels, h *histogram.Histogram, ts time.Time) rwRequest {
	t.Helper()
	st := writev2.NewSymbolTable()
	req := writev2.Request{Timeseries: []writev2.TimeSeries{
		{
			LabelsRefs: st.SymbolizeLabels(floatSeries, nil),
			Samples:    []writev2.Sample{{Value: v, Timestamp: ts.UnixMilli()}},
		},
		{
			LabelsRefs: st.SymbolizeLabels(histSeries, nil),
			Histograms: []writev2.Histogram{writev2.FromIntHistogram(0, ts.UnixMilli(), h)},
		},
	}}
	req.Symbols = st.Symbols()
	raw, err := req.Marshal()
	if err != nil {
		t.Fatalf("marshal remote write 2.0 request: %v", err)
	}
	return rwRequest{
		contentType: "application/x-protobuf;proto=" + rw2Message,
		version:     "2.0.0",
		body:        snappy.Encode(nil, raw),
	}
}

// postWrite POSTs req to writeURL and returns the answer.
func postWrite(t testing.TB, writeURL string, req rwRequest) rwResponse {
	t.Helper()
	hr, err := http.NewRequest(http.MethodPost, writeURL, bytes.NewReader(req.body))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Content-Type", req.contentType)
	hr.Header.Set("Content-Encoding", "snappy")
	hr.Header.Set("X-Prometheus-Remote-Write-Version", req.version)
	resp, err := httpClient.Do(hr)
	if err != nil {
		t.Fatalf("POST %s: %v", writeURL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return rwResponse{code: resp.StatusCode, header: resp.Header, body: strings.TrimSpace(string(body))}
}

// TestReceiversAcceptRemoteWrite checks the receivers beyond Debian's
// Prometheus 2 with hand-built requests, independent of the bridge: the
// status and written-counts headers each answers to remote write 1.0 and
// 2.0, and that what it accepted comes back through PromQL.
func TestReceiversAcceptRemoteWrite(t *testing.T) {
	// Integer native histogram, schema 0: one observation in (0.5,1], two in
	// (1,2].
	hist := &histogram.Histogram{
		Schema:          0,
		Count:           3,
		Sum:             5,
		ZeroThreshold:   1e-128,
		PositiveSpans:   []histogram.Span{{Offset: 0, Length: 2}},
		PositiveBuckets: []int64{1, 1}, // deltas: counts 1, 2
	}
	for _, tc := range []struct {
		name  string
		start func(t testing.TB) *receiver
		// write builds the request to send for the series named by the
		// subtest, stamped ts.
		write      func(t testing.TB, floatSeries, histSeries labels.Labels, ts time.Time) rwRequest
		wantCode   int
		wantHeader map[string]string // "" means absent
		// queries and their formatVector results once the write is
		// visible.
		queries map[string]string
		// visible bounds how long a written sample may take to show.
		visible time.Duration
		// wantNothing asserts that the write left no series behind.
		wantNothing bool
	}{
		{
			name:  "victoria-metrics/rw1",
			start: startVictoriaMetrics,
			write: func(t testing.TB, fs, _ labels.Labels, ts time.Time) rwRequest {
				return rw1Request(t, fs, ts, 42)
			},
			wantCode: http.StatusNoContent,
			queries: map[string]string{
				`e2e_receiver_check`: `e2e_receiver_check{receiver="victoria-metrics/rw1"} 42`,
			},
			visible: vmVisible,
		},
		{
			// VictoriaMetrics 1.79 predates remote write 2.0: it answers
			// 204 and writes nothing. Only the missing written-counts
			// headers tell a 2.0 sender that its data was dropped.
			name:  "victoria-metrics/rw2",
			start: startVictoriaMetrics,
			write: func(t testing.TB, fs, hs labels.Labels, ts time.Time) rwRequest {
				return rw2Request(t, fs, 42, hs, hist, ts)
			},
			wantCode: http.StatusNoContent,
			wantHeader: map[string]string{
				"X-Prometheus-Remote-Write-Samples-Written":    "",
				"X-Prometheus-Remote-Write-Histograms-Written": "",
			},
		},
		{
			name:  "prometheus3/rw1",
			start: func(t testing.TB) *receiver { return startPrometheus3Receiver(t, 0) },
			write: func(t testing.TB, fs, _ labels.Labels, ts time.Time) rwRequest {
				return rw1Request(t, fs, ts, 42)
			},
			wantCode: http.StatusNoContent,
			// 1.0 has no written-counts headers.
			wantHeader: map[string]string{"X-Prometheus-Remote-Write-Samples-Written": ""},
			queries: map[string]string{
				`e2e_receiver_check`: `e2e_receiver_check{receiver="prometheus3/rw1"} 42`,
			},
			visible: 5 * time.Second,
		},
		{
			name:  "prometheus3/rw2",
			start: func(t testing.TB) *receiver { return startPrometheus3Receiver(t, 0, rw2Message) },
			write: func(t testing.TB, fs, hs labels.Labels, ts time.Time) rwRequest {
				return rw2Request(t, fs, 42, hs, hist, ts)
			},
			wantCode: http.StatusNoContent,
			// A 2.0 receiver reports what it wrote.
			wantHeader: map[string]string{
				"X-Prometheus-Remote-Write-Samples-Written":    "1",
				"X-Prometheus-Remote-Write-Histograms-Written": "1",
				"X-Prometheus-Remote-Write-Exemplars-Written":  "0",
			},
			queries: map[string]string{
				`e2e_receiver_check`:                       `e2e_receiver_check{receiver="prometheus3/rw2"} 42`,
				`histogram_count(e2e_receiver_check_hist)`: `{receiver="prometheus3/rw2"} 3`,
				`histogram_sum(e2e_receiver_check_hist)`:   `{receiver="prometheus3/rw2"} 5`,
			},
			visible: 5 * time.Second,
		},
		{
			// A 2.0-only receiver refuses 1.0 with 415, the answer on
			// which a 2.0 sender falls back to 1.0.
			name:  "prometheus3/rw1-to-rw2-only",
			start: func(t testing.TB) *receiver { return startPrometheus3Receiver(t, 0, rw2Message) },
			write: func(t testing.TB, fs, _ labels.Labels, ts time.Time) rwRequest {
				return rw1Request(t, fs, ts, 42)
			},
			wantCode:    http.StatusUnsupportedMediaType,
			wantNothing: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := tc.start(t)
			fs := labels.FromStrings("__name__", "e2e_receiver_check", "receiver", tc.name)
			hs := labels.FromStrings("__name__", "e2e_receiver_check_hist", "receiver", tc.name)
			resp := postWrite(t, r.WriteURL, tc.write(t, fs, hs, time.Now()))
			t.Logf("POST %s: %d %q; Samples-Written %q, Histograms-Written %q",
				r.WriteURL, resp.code, resp.body,
				resp.header.Get("X-Prometheus-Remote-Write-Samples-Written"),
				resp.header.Get("X-Prometheus-Remote-Write-Histograms-Written"))
			if resp.code != tc.wantCode {
				t.Fatalf("POST %s: status %d %q, want %d", r.WriteURL, resp.code, resp.body, tc.wantCode)
			}
			for k, want := range tc.wantHeader {
				if got := resp.header.Get(k); got != want {
					t.Errorf("POST %s: header %s = %q, want %q", r.WriteURL, k, got, want)
				}
			}
			for expr, want := range tc.queries {
				took := eventually(t, tc.visible, func() error { return expectVector(r.URL, expr, want) })
				t.Logf("%s visible after %v", expr, took.Round(time.Millisecond))
			}
			if tc.wantNothing {
				if err := expectEmpty(r.URL, `{__name__=~"e2e_receiver_check.*"}`); err != nil {
					t.Errorf("refused write: %v", err)
				}
			}
		})
	}
}

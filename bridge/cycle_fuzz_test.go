package bridge_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"

	"github.com/pushgateway-bridge/pushgateway-bridge/bridge"
	"github.com/pushgateway-bridge/pushgateway-bridge/pushgateway"
	"github.com/pushgateway-bridge/pushgateway-bridge/remotewrite"
)

const (
	protoType = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
	textType  = "text/plain; version=0.0.4; charset=utf-8"
)

// fuzzExposition is a gateway holding two groups, one of them with a
// histogram and a summary.
const fuzzExposition = `# TYPE a gauge
a{instance="",job="x",foo="bar"} 1
a{instance="",job="y"} 2
# TYPE h histogram
h_bucket{instance="",job="x",le="1"} 1
h_bucket{instance="",job="x",le="+Inf"} 2
h_sum{instance="",job="x"} 3
h_count{instance="",job="x"} 2
# TYPE s summary
s{instance="",job="y",quantile="0.5"} 1
s_sum{instance="",job="y"} 3
s_count{instance="",job="y"} 2
# TYPE push_failure_time_seconds gauge
push_failure_time_seconds{instance="",job="x"} 0
push_failure_time_seconds{instance="",job="y"} 0
# TYPE push_time_seconds gauge
push_time_seconds{instance="",job="x"} 1.7e+09
push_time_seconds{instance="",job="y"} 1.7e+09
`

// FuzzCycle drives whole cycles, not only the parser: a gateway serves
// the body (as text, or converted to protobuf when expfmt can read it), with
// bigMiB, if not 0, a series with a label value of that many MiB added to
// group {job="x"}; pushgateway.Client scrapes it, the bridge runs two cycles
// (the second against an empty gateway, so staleness markers are written),
// saves its state to a file and hands the samples to a remotewrite.Queue,
// whose requests an httptest receiver decodes. Nothing may panic, and
// nothing over the label limits may reach the receiver.
func FuzzCycle(f *testing.F) {
	f.Add([]byte(fuzzExposition), false, uint8(0))
	f.Add([]byte(fuzzExposition), true, uint8(0))
	f.Add([]byte(fuzzExposition), false, uint8(16))
	f.Add([]byte(fuzzExposition), true, uint8(16))
	f.Add([]byte(fuzzExposition), true, uint8(4))
	f.Add([]byte("# TYPE a gauge\na{job=\"x\",\"a.b\"=\"c\"} 1\npush_time_seconds{job=\"x\"} 1\n"), false, uint8(0))
	f.Fuzz(func(t *testing.T, body []byte, asProto bool, bigMiB uint8) {
		if bigMiB > 17 {
			bigMiB %= 18
		}
		if bigMiB > 0 {
			body = append(body, "\nbig{instance=\"\",job=\"x\",v=\""+strings.Repeat("x", int(bigMiB)<<20)+"\"} 1\n"...)
		}
		contentType := textType
		if asProto {
			if pb, ok := toProto(body); ok {
				body, contentType = pb, protoType
			}
		}
		runCycles(t, body, contentType)
	})
}

// toProto converts a text exposition to the delimited protobuf one.
func toProto(text []byte) ([]byte, bool) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return nil, false
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeProtoDelim))
	for _, mf := range fams {
		if err := enc.Encode(mf); err != nil {
			return nil, false
		}
	}
	return buf.Bytes(), true
}

func runCycles(t *testing.T, body []byte, contentType string) {
	var empty bool
	var mu sync.Mutex
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.URL.Path == "/api/v1/metrics":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"status":"success","data":[]}`)
		case empty:
			w.Header().Set("Content-Type", textType)
		default:
			w.Header().Set("Content-Type", contentType)
			_, _ = w.Write(body)
		}
	}))
	defer gw.Close()

	var (
		requests int
		bad      string
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		compressed, _ := io.ReadAll(r.Body)
		raw, err := snappy.Decode(nil, compressed)
		var req prompb.WriteRequest
		if err == nil {
			err = req.Unmarshal(raw)
		}
		mu.Lock()
		defer mu.Unlock()
		requests++
		if err != nil {
			bad = "undecodable request: " + err.Error()
		}
		for _, ts := range req.Timeseries {
			if len(ts.Labels) > pushgateway.DefaultLabelLimit+8 {
				bad = "a series with too many labels reached the receiver"
			}
			for _, l := range ts.Labels {
				if len(l.Value) > pushgateway.DefaultLabelValueLengthLimit || len(l.Name) > pushgateway.DefaultLabelNameLengthLimit {
					bad = "a label over the limits reached the receiver"
				}
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()

	ctx := context.Background()
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	dir := t.TempDir()
	logger := slog.New(slog.DiscardHandler)
	gwURL, _ := url.Parse(gw.URL)
	rcvURL, _ := url.Parse(rcv.URL)
	q, err := remotewrite.NewQueue(remotewrite.Options{
		URL: rcvURL, Name: "fuzz", Dir: filepath.Join(dir, "queue"), Client: rcv.Client(),
		MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- q.Run(runCtx) }()
	defer func() {
		stopRun()
		<-done
	}()

	statePath := filepath.Join(dir, "state")
	now := time.Unix(1.7e9, 0)
	br, err := bridge.New(bridge.Options{
		Gateways: []bridge.Gateway{{Name: "fuzz", Source: pushgateway.NewClient(gwURL, gw.Client(), "fuzz", pushgateway.Options{Name: "fuzz", Logger: logger})}},
		Interval: 15 * time.Second,
		Timeout:  10 * time.Second,
		Senders:  []bridge.Sender{q},
		// The state is saved every cycle: the fuzzer's clock moves
		// past the save throttle.
		StatePath: statePath,
		Logger:    logger,
		Now:       func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	st := br.Cycle(ctx)
	if st.Complete {
		if _, err := os.Stat(statePath); err != nil {
			t.Fatalf("state not saved after a complete cycle: %v", err)
		}
	}
	mu.Lock()
	empty = true
	mu.Unlock()
	now = now.Add(time.Hour)
	br.Cycle(ctx)
	// Flush follows Run's end.
	stopRun()
	<-done
	done <- nil
	flushCtx, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	if err := q.Flush(flushCtx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if bad != "" {
		t.Fatal(bad)
	}
	if st.Complete && len(st.Groups) > 0 && requests == 0 {
		t.Fatalf("%d groups scraped, nothing sent", len(st.Groups))
	}
}

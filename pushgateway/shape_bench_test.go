package pushgateway

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"runtime"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"
)

// shapeExposition renders what a Pushgateway holding groups groups of
// series series of a benchmark load shape (bench/cmd/pgwload) serves in
// protobuf: "onefamily" (one gauge family of series series per group,
// labels item and kind) or "smallfamilies" (series gauge families of one
// series per group), with push_time_seconds and push_failure_time_seconds.
func shapeExposition(tb testing.TB, shape string, groups, series int) []byte {
	tb.Helper()
	lp := func(kv ...string) []*dto.LabelPair {
		var out []*dto.LabelPair
		for i := 0; i < len(kv); i += 2 {
			out = append(out, &dto.LabelPair{Name: proto.String(kv[i]), Value: proto.String(kv[i+1])})
		}
		return out
	}
	gauge := func(name string) *dto.MetricFamily {
		return &dto.MetricFamily{Name: proto.String(name), Help: proto.String("Benchmark gauge."), Type: dto.MetricType_GAUGE.Enum()}
	}
	var fams []*dto.MetricFamily
	switch shape {
	case "onefamily":
		fams = []*dto.MetricFamily{gauge("bench_job_item_value")}
	case "smallfamilies":
		for k := range series {
			fams = append(fams, gauge(fmt.Sprintf("bench_job_metric_%d", k)))
		}
	default:
		tb.Fatalf("unknown shape %q", shape)
	}
	pushTime, pushFail := gauge(PushTimeMetric), gauge(PushFailureTimeMetric)
	for g := range groups {
		job, inst := fmt.Sprintf("bench_%d", g%10), fmt.Sprintf("i%d", g)
		for k := range series {
			v := float64((g*7919+k*104729)%100000) / 100
			switch shape {
			case "onefamily":
				fams[0].Metric = append(fams[0].Metric, &dto.Metric{Label: lp("instance", inst, "item", fmt.Sprintf("item%d", k), "job", job, "kind", fmt.Sprintf("k%d", k%5)),
					Gauge: &dto.Gauge{Value: proto.Float64(v)}})
			case "smallfamilies":
				fams[k].Metric = append(fams[k].Metric, &dto.Metric{Label: lp("instance", inst, "job", job), Gauge: &dto.Gauge{Value: proto.Float64(v)}})
			}
		}
		pushTime.Metric = append(pushTime.Metric, &dto.Metric{Label: lp("instance", inst, "job", job), Gauge: &dto.Gauge{Value: proto.Float64(1.7e9)}})
		pushFail.Metric = append(pushFail.Metric, &dto.Metric{Label: lp("instance", inst, "job", job), Gauge: &dto.Gauge{Value: proto.Float64(0)}})
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeProtoDelim))
	for _, mf := range append(fams, pushTime, pushFail) {
		if err := enc.Encode(mf); err != nil {
			tb.Fatal(err)
		}
	}
	return buf.Bytes()
}

// BenchmarkFirstScrape measures a new client's first scrape of 1,000
// groups × 100 series of two load shapes, the bridge's peak of memory:
// B/op is what it allocates, live-B/op what the snapshot and the cache
// keep after it.
func BenchmarkFirstScrape(b *testing.B) {
	for _, shape := range []string{"onefamily", "smallfamilies"} {
		body := shapeExposition(b, shape, 1000, 100)
		b.Run(shape, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			var live uint64
			var ms runtime.MemStats
			for b.Loop() {
				c := NewClient(&url.URL{}, nil, "", Options{})
				runtime.GC()
				runtime.ReadMemStats(&ms)
				before := ms.HeapAlloc
				snap, err := c.snapshot(ctx, body, protoType)
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				runtime.ReadMemStats(&ms)
				live += ms.HeapAlloc - before
				runtime.KeepAlive(snap)
				runtime.KeepAlive(c)
			}
			b.ReportMetric(float64(live)/float64(b.N), "live-B/op")
		})
	}
}

// BenchmarkScrapeUnchangedShapes is BenchmarkScrapeUnchanged for the load
// shapes of BenchmarkFirstScrape.
func BenchmarkScrapeUnchangedShapes(b *testing.B) {
	for _, shape := range []string{"onefamily", "smallfamilies"} {
		body := shapeExposition(b, shape, 1000, 100)
		b.Run(shape, func(b *testing.B) {
			c := NewClient(&url.URL{}, nil, "", Options{})
			ctx := context.Background()
			if _, err := c.snapshot(ctx, body, protoType); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := c.snapshot(ctx, body, protoType); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package pushgateway

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"
)

// syntheticExposition renders what a Pushgateway holding groups × series
// serves: per group gauges with a few labels, a counter and a 10-bucket
// histogram, plus push_time_seconds and push_failure_time_seconds, all
// with the instance="" the gateway adds.
func syntheticExposition(tb testing.TB, groups, series int, format expfmt.Format) []byte {
	tb.Helper()
	lp := func(kv ...string) []*dto.LabelPair {
		var out []*dto.LabelPair
		for i := 0; i < len(kv); i += 2 {
			out = append(out, &dto.LabelPair{Name: proto.String(kv[i]), Value: proto.String(kv[i+1])})
		}
		return out
	}
	gauge := &dto.MetricFamily{Name: proto.String("bench_gauge"), Help: proto.String("A gauge."), Type: dto.MetricType_GAUGE.Enum()}
	counter := &dto.MetricFamily{Name: proto.String("bench_total"), Help: proto.String("A counter."), Type: dto.MetricType_COUNTER.Enum()}
	hist := &dto.MetricFamily{Name: proto.String("bench_seconds"), Help: proto.String("A histogram."), Type: dto.MetricType_HISTOGRAM.Enum()}
	pushTime := &dto.MetricFamily{Name: proto.String(PushTimeMetric), Help: proto.String("Last push."), Type: dto.MetricType_GAUGE.Enum()}
	pushFail := &dto.MetricFamily{Name: proto.String(PushFailureTimeMetric), Help: proto.String("Last failed push."), Type: dto.MetricType_GAUGE.Enum()}
	gauges := max(series-13, 1)
	for g := range groups {
		job, inst := fmt.Sprintf("bench_%d", g%10), fmt.Sprintf("i%d", g)
		for s := range gauges {
			gauge.Metric = append(gauge.Metric, &dto.Metric{
				Label: lp("instance", inst, "job", job, "shard", fmt.Sprint(s%4), "table", fmt.Sprintf("t%d", s)),
				Gauge: &dto.Gauge{Value: proto.Float64(float64(s))},
			})
		}
		counter.Metric = append(counter.Metric, &dto.Metric{Label: lp("instance", inst, "job", job), Counter: &dto.Counter{Value: proto.Float64(42)}})
		var buckets []*dto.Bucket
		for b := range 10 {
			buckets = append(buckets, &dto.Bucket{UpperBound: proto.Float64(float64(b+1) / 10), CumulativeCount: proto.Uint64(uint64(b))})
		}
		hist.Metric = append(hist.Metric, &dto.Metric{Label: lp("instance", inst, "job", job),
			Histogram: &dto.Histogram{SampleCount: proto.Uint64(10), SampleSum: proto.Float64(4.5), Bucket: buckets}})
		pushTime.Metric = append(pushTime.Metric, &dto.Metric{Label: lp("instance", inst, "job", job), Gauge: &dto.Gauge{Value: proto.Float64(1.7e9)}})
		pushFail.Metric = append(pushFail.Metric, &dto.Metric{Label: lp("instance", inst, "job", job), Gauge: &dto.Gauge{Value: proto.Float64(0)}})
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, format)
	for _, mf := range []*dto.MetricFamily{gauge, counter, hist, pushTime, pushFail} {
		if err := enc.Encode(mf); err != nil {
			tb.Fatal(err)
		}
	}
	return buf.Bytes()
}

// BenchmarkParse measures parsing one scrape of 1,000 groups × 100 series.
func BenchmarkParse(b *testing.B) {
	for _, tc := range []struct {
		name, contentType string
		format            expfmt.Format
	}{
		{"protobuf", protoType, expfmt.NewFormat(expfmt.TypeProtoDelim)},
		{"text", textType, expfmt.NewFormat(expfmt.TypeTextPlain)},
	} {
		body := syntheticExposition(b, 1000, 100, tc.format)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, _, err := parse(body, tc.contentType); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAttribute measures attributing the series of one scrape of
// 1,000 groups × 100 series to their groups.
func BenchmarkAttribute(b *testing.B) {
	body := syntheticExposition(b, 1000, 100, expfmt.NewFormat(expfmt.TypeProtoDelim))
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		groups, series, err := parse(body, protoType)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := attribute(groups, series, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScrapeUnchanged measures parsing and attributing one scrape of
// 1,000 groups × 100 series that did not change since the last one, the
// common case: the groups of the last scrape are reused, and only the
// gateway's own metrics (here one family, changing every scrape) are parsed.
// BenchmarkScrapeOnePush is the same with one group pushed between scrapes:
// the families it changed are parsed again through the cache of metric
// messages and every series is attributed again.
func BenchmarkScrapeUnchanged(b *testing.B) { benchmarkScrape(b, false) }
func BenchmarkScrapeOnePush(b *testing.B)   { benchmarkScrape(b, true) }

func benchmarkScrape(b *testing.B, push bool) {
	base := syntheticExposition(b, 1000, 100, expfmt.NewFormat(expfmt.TypeProtoDelim))
	var bodies [2][]byte
	for i := range bodies {
		bodies[i] = mutate(b, base, func(fams []*dto.MetricFamily) []*dto.MetricFamily {
			for _, mf := range fams {
				if push && mf.GetName() == PushTimeMetric {
					mf.Metric[0].Gauge.Value = proto.Float64(float64(2e9 + i))
				}
			}
			return append(fams, &dto.MetricFamily{Name: proto.String("go_goroutines"), Type: dto.MetricType_GAUGE.Enum(),
				Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: proto.Float64(float64(i))}}}})
		})
	}
	c := NewClient(&url.URL{}, nil, "", Options{})
	ctx := context.Background()
	if _, err := c.snapshot(ctx, bodies[1], protoType); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(base)))
	i := 0
	for b.Loop() {
		i++
		if _, err := c.snapshot(ctx, bodies[i%2], protoType); err != nil {
			b.Fatal(err)
		}
	}
}

package pushgateway

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"
)

func labelPairs(kv ...string) []*dto.LabelPair {
	var out []*dto.LabelPair
	for i := 0; i < len(kv); i += 2 {
		out = append(out, &dto.LabelPair{Name: proto.String(kv[i]), Value: proto.String(kv[i+1])})
	}
	return out
}

// limitsExposition is what a Pushgateway holding group {job="j"} serves,
// the gauge ok{job="j"} and the family bad next to it, in format.
func limitsExposition(t testing.TB, format expfmt.Format, bad *dto.MetricFamily) []byte {
	t.Helper()
	gauge := func(name string, v float64) *dto.MetricFamily {
		return &dto.MetricFamily{Name: proto.String(name), Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{{
			Label: labelPairs("instance", "", "job", "j"),
			Gauge: &dto.Gauge{Value: proto.Float64(v)},
		}}}
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, format)
	for _, mf := range []*dto.MetricFamily{bad, gauge("ok", 1), gauge(PushFailureTimeMetric, 0), gauge(PushTimeMetric, 10)} {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func badGauge(name string, kv ...string) *dto.MetricFamily {
	return &dto.MetricFamily{Name: proto.String(name), Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{{
		Label: labelPairs(append([]string{"instance", ""}, kv...)...),
		Gauge: &dto.Gauge{Value: proto.Float64(2)},
	}}}
}

// TestLabelLimits scrapes a gateway holding a series over a limit next to
// good ones, as text and as protobuf, twice (the second scrape of protobuf
// is served from the cache): the series is dropped and counted in its group
// and in the counter, the rest of the group is kept.
func TestLabelLimits(t *testing.T) {
	// Long enough for push_failure_time_seconds.
	small := Limits{LabelLimit: 5, LabelNameLengthLimit: 10, LabelValueLengthLimit: 30}
	const rest = "ok{job=\"j\"} 1\npush_failure_time_seconds{job=\"j\"} 0\npush_time_seconds{job=\"j\"} 10\n"
	summary := &dto.MetricFamily{Name: proto.String("rpc_seconds"), Type: dto.MetricType_SUMMARY.Enum(), Metric: []*dto.Metric{{
		Label: labelPairs("instance", "", "job", "j", "path", strings.Repeat("/", 31)),
		Summary: &dto.Summary{SampleCount: proto.Uint64(3), SampleSum: proto.Float64(1.5), Quantile: []*dto.Quantile{
			{Quantile: proto.Float64(0.5), Value: proto.Float64(0.4)},
			{Quantile: proto.Float64(0.9), Value: proto.Float64(0.8)},
		}},
	}}}
	for _, tc := range []struct {
		name    string
		limits  Limits
		bad     *dto.MetricFamily
		kept    string // the bad family's series kept, if any
		reason  string
		dropped int // in the group
		counted int // in the counter, per scrape
	}{
		{name: "label_limit", limits: small, bad: badGauge("bad", "job", "j", "a", "1", "b", "2", "c", "3", "d", "4"), reason: "label_limit", dropped: 1, counted: 1},
		{name: "label_limit counts no empty label", limits: small, bad: badGauge("bad", "job", "j", "a", "1", "b", "2", "c", "3", "d", ""),
			kept: "bad{a=\"1\", b=\"2\", c=\"3\", job=\"j\"} 2\n"},
		{name: "label_name_length_limit", limits: small, bad: badGauge("bad", "job", "j", "abcdefghijk", "1"), reason: "label_name_length_limit", dropped: 1, counted: 1},
		{name: "label_value_length_limit", limits: small, bad: badGauge("bad", "job", "j", "a", strings.Repeat("x", 31)), reason: "label_value_length_limit", dropped: 1, counted: 1},
		{name: "label_value_length_limit escaped", limits: small, bad: badGauge("bad", "job", "j", "a", strings.Repeat("\"", 31)), reason: "label_value_length_limit", dropped: 1, counted: 1},
		{name: "within label_value_length_limit once unescaped", limits: small, bad: badGauge("bad", "job", "j", "a", strings.Repeat("\n", 30)),
			kept: "bad{a=\"" + strings.Repeat(`\n`, 30) + "\", job=\"j\"} 2\n"},
		{name: "metric name over label_value_length_limit", limits: small, bad: badGauge(strings.Repeat("m", 31), "job", "j"), reason: "label_value_length_limit", dropped: 1, counted: 1},
		{name: "summary", limits: small, bad: summary, reason: "label_value_length_limit", dropped: 4, counted: 4},
		{name: "series of no group", limits: small, bad: badGauge("bad", "job", "other", "a", strings.Repeat("x", 31)), reason: "label_value_length_limit", counted: 1},
		{name: "16 MiB label value, default limits", bad: badGauge("bad", "job", "j", "a", strings.Repeat("x", 16<<20)), reason: "label_value_length_limit", dropped: 1, counted: 1},
		{name: "100k labels, default limits", bad: badGauge("bad", manyLabels(100000)...), reason: "label_limit", dropped: 1, counted: 1},
	} {
		for _, format := range []struct {
			name        string
			format      expfmt.Format
			contentType string
		}{
			{"text", expfmt.NewFormat(expfmt.TypeTextPlain), textType},
			{"protobuf", expfmt.NewFormat(expfmt.TypeProtoDelim), protoType},
		} {
			t.Run(tc.name+"/"+format.name, func(t *testing.T) {
				srv, _ := fakeGateway(t, limitsExposition(t, format.format, tc.bad), format.contentType, nil)
				u, _ := url.Parse(srv.URL)
				reg := prometheus.NewRegistry()
				c := NewClient(u, srv.Client(), "", Options{Name: "pgw", Limits: tc.limits, Registerer: reg})
				for scrape := 1; scrape <= 2; scrape++ {
					snap, err := c.Scrape(context.Background())
					if err != nil {
						t.Fatal(err)
					}
					want := "# group {job=\"j\"} push_time=10 push_failure_time=0\n" + tc.kept + rest + "# own series: 0\n"
					if got := string(render(snap)); got != want {
						t.Fatalf("scrape %d: got\n%.2000s\nwant\n%s", scrape, got, want)
					}
					if got := snap.Groups[0].DroppedSeries; got != tc.dropped {
						t.Errorf("scrape %d: group's DroppedSeries = %d, want %d", scrape, got, tc.dropped)
					}
					for r := range numReasons {
						want := 0
						if r.String() == tc.reason {
							want = tc.counted * scrape
						}
						if got := testutil.ToFloat64(c.drops.counters[r]); got != float64(want) {
							t.Errorf("scrape %d: %s{reason=%q} = %g, want %d", scrape, seriesDroppedName, r, got, want)
						}
					}
				}
				if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
					t.Errorf("lint: %v %v", problems, err)
				}
			})
		}
	}
}

func manyLabels(n int) []string {
	kv := []string{"job", "j"}
	for i := range n {
		kv = append(kv, "l"+strings.Repeat("0", 6-len(itoa(i)))+itoa(i), "v")
	}
	return kv
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

// TestLimitsSharedRegistry gives two gateways' clients one registry: they
// share the counter.
func TestLimitsSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	u, _ := url.Parse("http://pgw")
	a := NewClient(u, nil, "", Options{Name: "a", Registerer: reg})
	b := NewClient(u, nil, "", Options{Name: "b", Registerer: reg})
	a.drops.counters[reasonLabelLimit].Inc()
	b.drops.counters[reasonLabelLimit].Add(2)
	if n, err := testutil.GatherAndCount(reg, seriesDroppedName); err != nil || n != 6 {
		t.Errorf("%d series of %s (%v), want 6: 3 reasons for 2 gateways", n, seriesDroppedName, err)
	}
}

func TestLimitsValidate(t *testing.T) {
	for _, tc := range []struct {
		limits Limits
		err    string
	}{
		{DefaultLimits(), ""},
		{Limits{LabelLimit: -1, LabelNameLengthLimit: 1, LabelValueLengthLimit: 1}, "label_limit: -1 is not positive"},
		{Limits{LabelLimit: 1, LabelNameLengthLimit: 0, LabelValueLengthLimit: 1}, "label_name_length_limit: 0 is not positive"},
		{Limits{LabelLimit: 1024, LabelNameLengthLimit: 1024, LabelValueLengthLimit: 32 << 10}, "label_limit × (label_name_length_limit + label_value_length_limit) allows series of 34611200 bytes, more than 8388608"},
		{Limits{LabelLimit: 1, LabelNameLengthLimit: 1, LabelValueLengthLimit: 16 << 20}, "label_limit × (label_name_length_limit + label_value_length_limit) allows series of 16777225 bytes, more than 8388608"},
	} {
		err := tc.limits.Validate()
		if got := ""; err != nil {
			got = err.Error()
			if got != tc.err {
				t.Errorf("%+v: error %q, want %q", tc.limits, got, tc.err)
			}
		} else if tc.err != "" {
			t.Errorf("%+v: no error, want %q", tc.limits, tc.err)
		}
	}
	if got := (Limits{LabelLimit: 7}).WithDefaults(); got != (Limits{7, DefaultLabelNameLengthLimit, DefaultLabelValueLengthLimit}) {
		t.Errorf("WithDefaults = %+v", got)
	}
	if got := (Limits{LabelLimit: 1 << 20, LabelNameLengthLimit: 1 << 20, LabelValueLengthLimit: 1 << 20}).safe(); got != DefaultLimits() {
		t.Errorf("limits that do not hold: safe() = %+v, want the defaults", got)
	}
}

// TestCheckText reads the series bytes of the text exposition as the text
// parsers give them, quoted (UTF-8) names included.
func TestCheckText(t *testing.T) {
	// __name__ is a name of 8 bytes.
	l := Limits{LabelLimit: 3, LabelNameLengthLimit: 8, LabelValueLengthLimit: 3}
	for _, tc := range []struct {
		raw    string
		reason string // "" for kept
		ok     bool
	}{
		{raw: `abc`, ok: true},
		{raw: `abcd`, reason: "label_value_length_limit", ok: true},
		{raw: `a{b="c",d="e"}`, ok: true},
		{raw: `a{b="c",d="e",f="g"}`, reason: "label_limit", ok: true},
		{raw: `a{b="c",d="e",f=""}`, ok: true},
		{raw: `a{b="c",d="e",}`, ok: true},
		{raw: `a{ b = "c" , d="e" }`, ok: true},
		{raw: `a{bcdefghij="c"}`, reason: "label_name_length_limit", ok: true},
		{raw: `a{b="\\\"\n"}`, ok: true},
		{raw: `a{b="\\\"\nx"}`, reason: "label_value_length_limit", ok: true},
		{raw: `{"a.b"}`, ok: true},
		{raw: `{"a.bc"}`, reason: "label_value_length_limit", ok: true},
		{raw: `{"a", "b.c"="d"}`, ok: true},
		{raw: `{"a", "b.cdefghij"="d"}`, reason: "label_name_length_limit", ok: true},
		{raw: `a{b}`, ok: false},
		{raw: `a{b="c"`, ok: false},
		{raw: "a\xffb\xffc", reason: "label_value_length_limit", ok: true},
	} {
		var c labelCheck
		ok := c.checkText(l, []byte(tc.raw), false)
		if ok != tc.ok {
			t.Errorf("%s: ok %v, want %v", tc.raw, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		reason, drop := c.verdict()
		got := ""
		if drop {
			got = reason.String()
		}
		if got != tc.reason {
			t.Errorf("%s: verdict %q, want %q", tc.raw, got, tc.reason)
		}
	}
}

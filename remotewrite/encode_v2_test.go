package remotewrite

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"

	"github.com/pushgateway-bridge/pushgateway-bridge/internal/rwtest"
	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// decodeReqV2 decodes a 2.0 body independently of the code under test and
// checks the invariants the spec puts on every request.
func decodeReqV2(t testing.TB, body []byte) *writev2.Request {
	t.Helper()
	req, err := rwtest.DecodeV2(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Symbols) == 0 || req.Symbols[0] != "" {
		t.Fatalf("symbols must start with the empty string, got %q", req.Symbols)
	}
	seen := map[string]bool{}
	for _, s := range req.Symbols {
		if seen[s] {
			t.Errorf("symbol %q appears twice in %q", s, req.Symbols)
		}
		seen[s] = true
	}
	for i, ts := range req.Timeseries {
		if len(ts.LabelsRefs) == 0 || len(ts.LabelsRefs)%2 != 0 {
			t.Errorf("series %d: %d label refs, want a positive even number", i, len(ts.LabelsRefs))
		}
		for _, ref := range append(slices.Clone(ts.LabelsRefs), ts.Metadata.HelpRef, ts.Metadata.UnitRef) {
			if int(ref) >= len(req.Symbols) {
				t.Fatalf("series %d: ref %d outside %d symbols", i, ref, len(req.Symbols))
			}
		}
		if (len(ts.Samples) > 0) == (len(ts.Histograms) > 0) {
			t.Errorf("series %d: %d samples and %d histograms, want exactly one kind", i, len(ts.Samples), len(ts.Histograms))
		}
		lset, err := ts.ToLabels(&labels.ScratchBuilder{}, req.Symbols)
		if err != nil {
			t.Fatal(err)
		}
		for j := 2; j < len(ts.LabelsRefs); j += 2 {
			if req.Symbols[ts.LabelsRefs[j-2]] >= req.Symbols[ts.LabelsRefs[j]] {
				t.Errorf("series %d: labels not sorted: %s", i, lset)
			}
		}
	}
	return req
}

// renderV2 writes each TimeSeries as labels, "h" if it holds histograms,
// the timestamps, and the metadata if any.
func renderV2(t testing.TB, req *writev2.Request) string {
	t.Helper()
	var sb strings.Builder
	for _, ts := range req.Timeseries {
		lset, err := ts.ToLabels(&labels.ScratchBuilder{}, req.Symbols)
		if err != nil {
			t.Fatal(err)
		}
		var tss []int64
		kind := ""
		for _, s := range ts.Samples {
			tss = append(tss, s.Timestamp)
		}
		for _, h := range ts.Histograms {
			tss = append(tss, h.Timestamp)
			kind = "h"
		}
		fmt.Fprintf(&sb, "%s%s%v", lset, kind, tss)
		if md := ts.Metadata; md.Type != 0 || md.HelpRef != 0 || md.UnitRef != 0 {
			m, err := ts.ToMetadata(req.Symbols)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&sb, "(%s|%s|%s)", m.Type, m.Help, m.Unit)
		}
		sb.WriteString(" ")
	}
	return sb.String()
}

var (
	testIntHistogram = &histogram.Histogram{
		CounterResetHint: histogram.NotCounterReset,
		Schema:           1,
		ZeroThreshold:    0.001,
		ZeroCount:        2,
		Count:            21,
		Sum:              -3.5,
		PositiveSpans:    []histogram.Span{{Offset: 0, Length: 2}, {Offset: 1, Length: 2}},
		PositiveBuckets:  []int64{1, 2, -1, 3},
		NegativeSpans:    []histogram.Span{{Offset: -2, Length: 1}},
		NegativeBuckets:  []int64{8},
	}
	testFloatHistogram = &histogram.FloatHistogram{
		CounterResetHint: histogram.GaugeType,
		Schema:           histogram.CustomBucketsSchema,
		Count:            7.5,
		Sum:              12.25,
		PositiveSpans:    []histogram.Span{{Offset: 0, Length: 3}},
		PositiveBuckets:  []float64{1.5, 4, 2},
		CustomValues:     []float64{0.1, 1, 10},
	}
)

func TestEncodeV2(t *testing.T) {
	a := labels.FromStrings("__name__", "a", "job", "x")
	b := labels.FromStrings("__name__", "b", "job", "x")
	c := labels.FromStrings("__name__", "c", "job", "x", "zone", "z")
	gauge := &metadata.Metadata{Type: model.MetricTypeGauge, Help: "A gauge.", Unit: "seconds"}
	gaugeCopy := *gauge
	counter := &metadata.Metadata{Type: model.MetricTypeCounter, Help: "A counter."}
	e := newEncoderV2(encodeOptions{})
	// The encoder is reused across cases on purpose: leftovers from an
	// earlier, bigger request must not leak into a later one.
	for _, tc := range []struct {
		name  string
		batch []pipeline.Sample
		want  string // TimeSeries in order: labels, kind, timestamps, metadata
	}{
		{
			name:  "consecutive samples of a series share a TimeSeries",
			batch: []pipeline.Sample{{Labels: a, T: 1}, {Labels: a, T: 2}, {Labels: b, T: 1}, {Labels: c, T: 1}, {Labels: a, T: 3}},
			want:  `{__name__="a", job="x"}[1 2] {__name__="b", job="x"}[1] {__name__="c", job="x", zone="z"}[1] {__name__="a", job="x"}[3] `,
		},
		{
			name: "metadata of the family, equal by value",
			batch: []pipeline.Sample{
				{Labels: a, T: 1, Meta: gauge}, {Labels: a, T: 2, Meta: &gaugeCopy},
				{Labels: b, T: 1, Meta: counter}, {Labels: c, T: 1},
			},
			want: `{__name__="a", job="x"}[1 2](gauge|A gauge.|seconds) {__name__="b", job="x"}[1](counter|A counter.|) {__name__="c", job="x", zone="z"}[1] `,
		},
		{
			name: "floats and histograms of one series go in separate series, in order",
			batch: []pipeline.Sample{
				{Labels: a, T: 1}, {Labels: a, T: 2, H: testIntHistogram},
				{Labels: a, T: 3, FH: testFloatHistogram}, {Labels: a, T: 4},
				{Labels: b, T: 1, H: testIntHistogram}, {Labels: b, T: 2, FH: testFloatHistogram},
			},
			want: `{__name__="a", job="x"}[1] {__name__="a", job="x"}h[2 3] {__name__="a", job="x"}[4] {__name__="b", job="x"}h[1 2] `,
		},
		{
			name:  "changed metadata starts a new series",
			batch: []pipeline.Sample{{Labels: a, T: 1, Meta: gauge}, {Labels: a, T: 2, Meta: counter}, {Labels: a, T: 3, Meta: counter}},
			want:  `{__name__="a", job="x"}[1](gauge|A gauge.|seconds) {__name__="a", job="x"}[2 3](counter|A counter.|) `,
		},
		{
			name:  "smaller request after a bigger one",
			batch: []pipeline.Sample{{Labels: b, T: 9}},
			want:  `{__name__="b", job="x"}[9] `,
		},
		{
			name:  "empty",
			batch: nil,
			want:  ``,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, st, err := e.encode(tc.batch)
			if err != nil {
				t.Fatal(err)
			}
			want := encodeStats{samples: len(tc.batch), highestT: minInt64}
			for _, s := range tc.batch {
				if s.H != nil || s.FH != nil {
					want.histograms++
				}
				want.highestT = max(want.highestT, s.T)
			}
			if st != want {
				t.Errorf("stats = %+v, want %+v", st, want)
			}
			if got := renderV2(t, decodeReqV2(t, body)); got != tc.want {
				t.Errorf("encoded\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestEncodeV2Symbols(t *testing.T) {
	batch := []pipeline.Sample{
		{Labels: labels.FromStrings("__name__", "up", "job", "x"), T: 1, V: 1},
		{Labels: labels.FromStrings("__name__", "up", "job", "y"), T: 1, V: 0, Meta: &metadata.Metadata{Type: model.MetricTypeGauge, Help: "x"}},
	}
	body, _, err := newEncoderV2(encodeOptions{}).encode(batch)
	if err != nil {
		t.Fatal(err)
	}
	req := decodeReqV2(t, body)
	// The help text "x" equals a label value and shares its symbol.
	if want := []string{"", "__name__", "up", "job", "x", "y"}; !slices.Equal(req.Symbols, want) {
		t.Errorf("symbols = %q, want %q", req.Symbols, want)
	}
	for i, want := range []struct {
		refs []uint32
		meta writev2.Metadata
	}{
		{refs: []uint32{1, 2, 3, 4}},
		{refs: []uint32{1, 2, 3, 5}, meta: writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_GAUGE, HelpRef: 4, UnitRef: 0}},
	} {
		ts := req.Timeseries[i]
		if !slices.Equal(ts.LabelsRefs, want.refs) {
			t.Errorf("series %d: label refs = %v, want %v", i, ts.LabelsRefs, want.refs)
		}
		if md := ts.Metadata; md.Type != want.meta.Type || md.HelpRef != want.meta.HelpRef || md.UnitRef != want.meta.UnitRef {
			t.Errorf("series %d: metadata = %+v, want %+v", i, ts.Metadata, want.meta)
		}
	}
}

func TestEncodeV2Values(t *testing.T) {
	lset := labels.FromStrings("__name__", "m")
	hlset := labels.FromStrings("__name__", "h")
	stale := math.Float64frombits(value.StaleNaN)
	batch := []pipeline.Sample{
		{Labels: lset, T: 1, V: 1.5},
		{Labels: lset, T: 2, V: stale},
		{Labels: lset, T: 3, V: math.Inf(-1)},
		{Labels: hlset, T: 1, H: testIntHistogram},
		{Labels: hlset, T: 2, FH: testFloatHistogram},
		{Labels: hlset, T: 3, H: &histogram.Histogram{}}, // all zero
	}
	body, _, err := newEncoderV2(encodeOptions{}).encode(batch)
	if err != nil {
		t.Fatal(err)
	}
	req := decodeReqV2(t, body)
	if len(req.Timeseries) != 2 {
		t.Fatalf("got %d series, want 2", len(req.Timeseries))
	}
	floats := req.Timeseries[0].Samples
	for i, want := range []uint64{math.Float64bits(1.5), value.StaleNaN, math.Float64bits(math.Inf(-1))} {
		if got := math.Float64bits(floats[i].Value); got != want {
			t.Errorf("sample %d: value bits %#x, want %#x", i, got, want)
		}
		if floats[i].Timestamp != int64(i+1) {
			t.Errorf("sample %d: timestamp %d, want %d", i, floats[i].Timestamp, i+1)
		}
	}
	// Each histogram must marshal exactly as Prometheus' own conversion.
	hists := req.Timeseries[1].Histograms
	for i, want := range []writev2.Histogram{
		writev2.FromIntHistogram(0, 1, testIntHistogram),
		writev2.FromFloatHistogram(0, 2, testFloatHistogram),
		writev2.FromIntHistogram(0, 3, &histogram.Histogram{}),
	} {
		got, err := hists[i].Marshal()
		if err != nil {
			t.Fatal(err)
		}
		wantPB, err := want.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, wantPB) {
			t.Errorf("histogram %d:\n got %v\nwant %v", i, hists[i], want)
		}
	}
	if h := hists[0].ToIntHistogram(); !h.Equals(testIntHistogram) {
		t.Errorf("int histogram = %v, want %v", h, testIntHistogram)
	}
	if fh := hists[1].ToFloatHistogram(); !fh.Equals(testFloatHistogram) {
		t.Errorf("float histogram = %v, want %v", fh, testFloatHistogram)
	}
}

// TestEncodeV2Reuse checks that a body copied by the caller survives the
// next encode, and that the encoder keeps nothing of the batch it encoded.
func TestEncodeV2Reuse(t *testing.T) {
	e := newEncoderV2(encodeOptions{})
	first := []pipeline.Sample{
		{Labels: labels.FromStrings("__name__", "first", "job", "x"), T: 1, V: 1, Meta: &metadata.Metadata{Type: model.MetricTypeGauge, Help: "First."}},
		{Labels: labels.FromStrings("__name__", "hist", "job", "x"), T: 1, H: testIntHistogram},
	}
	body, _, err := e.encode(first)
	if err != nil {
		t.Fatal(err)
	}
	kept := slices.Clone(body)
	want := renderV2(t, decodeReqV2(t, kept))

	for _, batch := range [][]pipeline.Sample{realisticBatch(), nativeHistogramBatch(), first[:1]} {
		if _, _, err := e.encode(batch); err != nil {
			t.Fatal(err)
		}
		if got := renderV2(t, decodeReqV2(t, kept)); got != want {
			t.Fatalf("copied body changed by a later encode:\n got %s\nwant %s", got, want)
		}
		if n := len(e.symbols.Symbols()); n != 1 {
			t.Errorf("symbol table holds %d symbols after encode, want 1", n)
		}
		if e.last.lset.Len() != 0 || e.last.meta != nil {
			t.Fatal("the encoder still points at the last series of the batch")
		}
		for i, ts := range e.series[:cap(e.series)] {
			for _, h := range ts.Histograms[:cap(ts.Histograms)] {
				if h.PositiveDeltas != nil || h.PositiveCounts != nil || h.CustomValues != nil {
					t.Fatalf("series[%d] still points at histogram buckets of the batch", i)
				}
			}
		}
	}
}

func TestEncodeV2Allocs(t *testing.T) {
	native := nativeHistogramBatch()
	ints := 0
	for _, s := range native {
		if s.H != nil {
			ints++
		}
	}
	for _, tc := range []struct {
		name  string
		batch []pipeline.Sample
		max   float64
	}{
		{"realistic", realisticBatch(), 0},
		// The generated writev2.Histogram marshaller allocates a scratch
		// buffer for packed bucket deltas (one per delta slice too long for
		// the stack): up to two per integer histogram. Float counts do not
		// need one.
		{"native histograms", native, float64(2 * ints)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEncoderV2(encodeOptions{})
			if _, _, err := e.encode(tc.batch); err != nil { // grow the buffers
				t.Fatal(err)
			}
			allocs := testing.AllocsPerRun(10, func() {
				if _, _, err := e.encode(tc.batch); err != nil {
					t.Fatal(err)
				}
			})
			if allocs > tc.max {
				t.Errorf("%v allocations per encode, want at most %v", allocs, tc.max)
			}
		})
	}
}

// TestEncodedSize logs what a request costs per sample in 1.0 and 2.0 for a
// batch shaped like the bridge's, and checks that 2.0 is the smaller.
func TestEncodedSize(t *testing.T) {
	for name, batch := range map[string][]pipeline.Sample{
		"realistic":         realisticBatch(),
		"native histograms": nativeHistogramBatch(),
	} {
		v1, _, err := newEncoder(encodeOptions{}).encode(batch)
		if err != nil {
			t.Fatal(err)
		}
		v2, _, err := newEncoderV2(encodeOptions{}).encode(batch)
		if err != nil {
			t.Fatal(err)
		}
		raw1, _ := snappy.DecodedLen(v1)
		raw2, _ := snappy.DecodedLen(v2)
		n := float64(len(batch))
		t.Logf("%s, %d samples: 1.0 %.1f bytes/sample (%.1f uncompressed), 2.0 %.1f bytes/sample (%.1f uncompressed)",
			name, len(batch), float64(len(v1))/n, float64(raw1)/n, float64(len(v2))/n, float64(raw2)/n)
		if len(v2) >= len(v1) {
			t.Errorf("%s: 2.0 body of %d bytes is not smaller than the 1.0 body of %d bytes", name, len(v2), len(v1))
		}
	}
}

// realisticBatch is one cycle of a bridge scraping a Pushgateway holding
// groups of batch jobs: per group a few gauges and a classic histogram, all
// with metadata, labels drawn from a small shared vocabulary. It holds
// DefaultMaxSamplesPerSend samples, one per series.
func realisticBatch() []pipeline.Sample {
	rnd := rand.New(rand.NewPCG(1, 2))
	const now = 1767225600000
	gauges := []*metadata.Metadata{
		{Type: model.MetricTypeGauge, Help: "Last time the job finished successfully.", Unit: "seconds"},
		{Type: model.MetricTypeGauge, Help: "Duration of the last run.", Unit: "seconds"},
		{Type: model.MetricTypeGauge, Help: "Records processed by the last run."},
		{Type: model.MetricTypeGauge, Help: "Last Unix time when changing this group in the Pushgateway succeeded."},
		{Type: model.MetricTypeGauge, Help: "Last Unix time when changing this group in the Pushgateway failed."},
	}
	gaugeNames := []string{"job_last_success_timestamp_seconds", "job_duration_seconds", "job_records_processed", "push_time_seconds", "push_failure_time_seconds"}
	hist := &metadata.Metadata{Type: model.MetricTypeHistogram, Help: "Duration of the steps of a run.", Unit: "seconds"}
	les := []string{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"}

	var batch []pipeline.Sample
	add := func(meta *metadata.Metadata, v float64, lbls ...string) {
		if len(batch) < DefaultMaxSamplesPerSend {
			batch = append(batch, pipeline.Sample{Labels: labels.FromStrings(lbls...), T: now, V: v, Meta: meta})
		}
	}
	for g := 0; len(batch) < DefaultMaxSamplesPerSend; g++ {
		job := fmt.Sprintf("batch_job_%d", g%12)
		instance := fmt.Sprintf("host-%d.example.org", g/12)
		for i, name := range gaugeNames {
			add(gauges[i], math.Round(rnd.Float64()*1e9)/1e3, "__name__", name, "env", "prod", "instance", instance, "job", job, "team", "data")
		}
		var cum float64
		for _, le := range les {
			cum += float64(rnd.IntN(50))
			add(hist, cum, "__name__", "job_step_duration_seconds_bucket", "env", "prod", "instance", instance, "job", job, "le", le)
		}
		add(hist, rnd.Float64()*100, "__name__", "job_step_duration_seconds_sum", "env", "prod", "instance", instance, "job", job)
		add(hist, cum, "__name__", "job_step_duration_seconds_count", "env", "prod", "instance", instance, "job", job)
	}
	return batch
}

// nativeHistogramBatch is 200 native histogram series (half of them float
// histograms) with 5 samples each, a series' samples in a row.
func nativeHistogramBatch() []pipeline.Sample {
	meta := &metadata.Metadata{Type: model.MetricTypeHistogram, Help: "Request latency.", Unit: "seconds"}
	var batch []pipeline.Sample
	for i := range 1000 {
		series := i / 5 // five samples of a series in a row
		s := pipeline.Sample{
			Labels: labels.FromStrings("__name__", "request_duration_seconds", "instance", fmt.Sprintf("host-%d", series/10), "job", "api", "route", fmt.Sprintf("/r%d", series%10)),
			T:      1767225600000 + int64(i%5)*15000,
			Meta:   meta,
		}
		if series%2 == 0 {
			s.H = testIntHistogram
		} else {
			s.FH = testFloatHistogram
		}
		batch = append(batch, s)
	}
	return batch
}

// BenchmarkEncodeV2 encodes the batch of BenchmarkEncode.
func BenchmarkEncodeV2(b *testing.B) {
	batch := make([]pipeline.Sample, 0, DefaultMaxSamplesPerSend)
	for i := range DefaultMaxSamplesPerSend {
		series := i % 200
		batch = append(batch, pipeline.Sample{
			Labels: labels.FromStrings(
				"__name__", fmt.Sprintf("batch_job_metric_%d", series%20),
				"instance", "host-17.example.org",
				"job", "nightly_backup",
				"le", fmt.Sprint(series/20),
			),
			T: 1767225600000 + int64(i/200)*15000,
			V: float64(i),
		})
	}
	e := newEncoderV2(encodeOptions{})
	if _, _, err := e.encode(batch); err != nil { // grow the buffers
		b.Fatal(err)
	}
	b.ReportAllocs()
	var size int
	for b.Loop() {
		body, _, err := e.encode(batch)
		if err != nil {
			b.Fatal(err)
		}
		size = len(body)
	}
	b.ReportMetric(float64(size), "bytes/req")
}

// BenchmarkEncodeShapes compares 1.0 and 2.0 on the batches of
// TestEncodedSize, reporting the compressed bytes per sample. The encoders
// are warmed up first, so allocs/op is the steady state of a long-lived queue.
func BenchmarkEncodeShapes(b *testing.B) {
	for _, shape := range []struct {
		name  string
		batch []pipeline.Sample
	}{
		{"realistic", realisticBatch()},
		{"native_histograms", nativeHistogramBatch()},
	} {
		for _, enc := range []struct {
			name   string
			encode func([]pipeline.Sample) ([]byte, encodeStats, error)
		}{
			{"v1", newEncoder(encodeOptions{}).encode},
			{"v2", newEncoderV2(encodeOptions{}).encode},
		} {
			b.Run(shape.name+"/"+enc.name, func(b *testing.B) {
				if _, _, err := enc.encode(shape.batch); err != nil { // grow the buffers
					b.Fatal(err)
				}
				b.ReportAllocs()
				var size int
				for b.Loop() {
					body, _, err := enc.encode(shape.batch)
					if err != nil {
						b.Fatal(err)
					}
					size = len(body)
				}
				b.ReportMetric(float64(size)/float64(len(shape.batch)), "bytes/sample")
			})
		}
	}
}

// TestEncodeExemplarsAndStartTimestamps checks, for both messages, that
// exemplars go out with their samples only when SendExemplars is on, an
// exemplar without a timestamp takes its sample's, staleness markers carry
// none, and start timestamps reach 2.0's samples and histograms.
func TestEncodeExemplarsAndStartTimestamps(t *testing.T) {
	c := labels.FromStrings("__name__", "jobs_total", "job", "x")
	hl := labels.FromStrings("__name__", "latency", "job", "x")
	exs := []exemplar.Exemplar{
		{Labels: labels.FromStrings("trace_id", "abc"), Value: 1, Ts: 900, HasTs: true},
		{Labels: labels.FromStrings("span_id", "s", "trace_id", "def"), Value: 2},
	}
	h := &histogram.Histogram{Count: 1, Sum: 1, Schema: 0, PositiveSpans: []histogram.Span{{Offset: 0, Length: 1}}, PositiveBuckets: []int64{1}}
	batch := []pipeline.Sample{
		{Labels: c, T: 1000, V: 5, Extra: &pipeline.Extra{Exemplars: exs, StartTimestamp: 500}},
		{Labels: c, T: 2000, V: math.Float64frombits(value.StaleNaN)},
		{Labels: hl, T: 1000, H: h, Extra: &pipeline.Extra{Exemplars: exs[:1], StartTimestamp: 400}},
	}
	const (
		wantOn  = "jobs_total: {trace_id=\"abc\"} 1 @900, {span_id=\"s\", trace_id=\"def\"} 2 @1000\nlatency: {trace_id=\"abc\"} 1 @900\n"
		wantOff = "jobs_total:\nlatency:\n"
	)
	for _, send := range []bool{false, true} {
		want := wantOff
		if send {
			want = wantOn
		}
		t.Run(fmt.Sprint("v1/send=", send), func(t *testing.T) {
			body, st, err := newEncoder(encodeOptions{exemplars: send}).encode(batch)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, ts := range decode(t, body).Timeseries {
				fmt.Fprintf(&b, "%s:", labelValue(ts.Labels, "__name__"))
				for i, e := range ts.Exemplars {
					sep := ","
					if i == 0 {
						sep = ""
					}
					fmt.Fprintf(&b, "%s %s %g @%d", sep, labels.New(rwtestLabels(e.Labels)...), e.Value, e.Timestamp)
				}
				b.WriteByte('\n')
			}
			if b.String() != want {
				t.Errorf("got\n%swant\n%s", b.String(), want)
			}
			if wantN := map[bool]int{false: 0, true: 3}[send]; st.exemplars != wantN {
				t.Errorf("stats count %d exemplars, want %d", st.exemplars, wantN)
			}
		})
		t.Run(fmt.Sprint("v2/send=", send), func(t *testing.T) {
			e := newEncoderV2(encodeOptions{exemplars: send})
			for range 2 { // a reused encoder gives the same request
				body, st, err := e.encode(batch)
				if err != nil {
					t.Fatal(err)
				}
				req := decodeReqV2(t, body)
				var b strings.Builder
				var sts []int64
				for _, ts := range req.Timeseries {
					lset, _ := ts.ToLabels(&labels.ScratchBuilder{}, req.Symbols)
					fmt.Fprintf(&b, "%s:", lset.Get("__name__"))
					for i, ex := range ts.Exemplars {
						sep := ","
						if i == 0 {
							sep = ""
						}
						el, err := exemplarLabels(req.Symbols, ex.LabelsRefs)
						if err != nil {
							t.Fatal(err)
						}
						fmt.Fprintf(&b, "%s %s %g @%d", sep, labels.New(rwtestLabels(el)...), ex.Value, ex.Timestamp)
					}
					b.WriteByte('\n')
					for _, s := range ts.Samples {
						sts = append(sts, s.StartTimestamp)
					}
					for _, h := range ts.Histograms {
						sts = append(sts, h.StartTimestamp)
					}
				}
				if b.String() != want {
					t.Errorf("got\n%swant\n%s", b.String(), want)
				}
				if !slices.Equal(sts, []int64{500, 0, 400}) {
					t.Errorf("start timestamps %v, want [500 0 400]", sts)
				}
				if c, err := countV2(body); err != nil || c.exemplars != st.exemplars {
					t.Errorf("countV2 finds %d exemplars (err %v), encode reported %d", c.exemplars, err, st.exemplars)
				}
				if send {
					// A fallback to 1.0 keeps them.
					v1, err := convertV2ToV1(body)
					if err != nil {
						t.Fatal(err)
					}
					if n := len(decode(t, v1).Timeseries[0].Exemplars); n != 2 {
						t.Errorf("converted to 1.0: %d exemplars on the counter, want 2", n)
					}
				}
			}
		})
	}
}

func labelValue(ls []prompb.Label, name string) string {
	for _, l := range ls {
		if l.Name == name {
			return l.Value
		}
	}
	return ""
}

func rwtestLabels(ls []prompb.Label) []labels.Label {
	out := make([]labels.Label, len(ls))
	for i, l := range ls {
		out[i] = labels.Label{Name: l.Name, Value: l.Value}
	}
	return out
}

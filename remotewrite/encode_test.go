package remotewrite

import (
	"fmt"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
)

func decode(t testing.TB, body []byte) *prompb.WriteRequest {
	t.Helper()
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		t.Fatalf("snappy decode: %v", err)
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(raw); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	return &req
}

func TestEncode(t *testing.T) {
	a := labels.FromStrings("__name__", "a", "job", "x")
	b := labels.FromStrings("__name__", "b", "job", "x")
	c := labels.FromStrings("__name__", "c", "job", "x", "zone", "z")
	e := newEncoder()
	// The encoder is reused across cases on purpose: leftovers from an
	// earlier, bigger request must not leak into a later one.
	for _, tc := range []struct {
		name  string
		batch []Sample
		want  string // series in order of first appearance: labels and timestamps
	}{
		{
			name:  "interleaved series are grouped in order",
			batch: []Sample{{Labels: a, T: 1}, {Labels: b, T: 1}, {Labels: a, T: 2}, {Labels: c, T: 1}, {Labels: b, T: 2}, {Labels: a, T: 3}},
			want:  `{__name__="a", job="x"}[1 2 3] {__name__="b", job="x"}[1 2] {__name__="c", job="x", zone="z"}[1] `,
		},
		{
			name:  "smaller request after a bigger one",
			batch: []Sample{{Labels: b, T: 9}},
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
			if st.samples != len(tc.batch) {
				t.Errorf("stats.samples = %d, want %d", st.samples, len(tc.batch))
			}
			if got := render(decode(t, body)); got != tc.want {
				t.Errorf("encoded\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestEncodeHashCollision forces two label sets onto one hash bucket.
func TestEncodeHashCollision(t *testing.T) {
	a := labels.FromStrings("__name__", "a")
	b := labels.FromStrings("__name__", "b")
	e := newEncoder()
	const h = 42 // both label sets on one hash
	e.seriesFor(a, h).Samples = append(e.seriesFor(a, h).Samples, prompb.Sample{Timestamp: 1})
	e.seriesFor(b, h).Samples = append(e.seriesFor(b, h).Samples, prompb.Sample{Timestamp: 2})
	e.seriesFor(a, h).Samples = append(e.seriesFor(a, h).Samples, prompb.Sample{Timestamp: 3})
	e.seriesFor(b, h).Samples = append(e.seriesFor(b, h).Samples, prompb.Sample{Timestamp: 4})
	for i := range e.series { // encode marshals from e.lset
		e.series[i].Labels = prompb.FromLabels(e.lset[i], nil)
	}
	got := render(&prompb.WriteRequest{Timeseries: e.series})
	if want := `{__name__="a"}[1 3] {__name__="b"}[2 4] `; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func render(req *prompb.WriteRequest) string {
	s := ""
	for _, ts := range req.Timeseries {
		var tss []int64
		for _, x := range ts.Samples {
			tss = append(tss, x.Timestamp)
		}
		s += fmt.Sprintf("%s%v ", ts.ToLabels(&labels.ScratchBuilder{}, nil), tss)
	}
	return s
}

// BenchmarkEncode encodes a full default-sized batch: 200 series with 10
// samples each, labels shaped like a Pushgateway group's.
func BenchmarkEncode(b *testing.B) {
	batch := make([]Sample, 0, defaultMaxSamplesPerSend)
	for i := range defaultMaxSamplesPerSend {
		series := i % 200
		batch = append(batch, Sample{
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
	e := newEncoder()
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

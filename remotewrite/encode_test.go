package remotewrite

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"

	"github.com/pushgateway-bridge/pushgateway-bridge/internal/rwtest"
	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

func decode(t testing.TB, body []byte) *prompb.WriteRequest {
	t.Helper()
	req, err := rwtest.DecodeV1(body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestEncode(t *testing.T) {
	a := labels.FromStrings("__name__", "a", "job", "x")
	b := labels.FromStrings("__name__", "b", "job", "x")
	c := labels.FromStrings("__name__", "c", "job", "x", "zone", "z")
	// Label messages of exactly 127 bytes (the last one-byte size) and more.
	long := labels.FromStrings("__name__", "d", "job", strings.Repeat("j", 120), "path", strings.Repeat("p", 200))
	e := newEncoder(encodeOptions{})
	// The encoder is reused across cases on purpose: leftovers from an
	// earlier, bigger request must not leak into a later one.
	for _, tc := range []struct {
		name  string
		batch []pipeline.Sample
		want  string // series in order of first appearance: labels and timestamps
	}{
		{
			name:  "one series each",
			batch: []pipeline.Sample{{Labels: a, T: 1}, {Labels: b, T: 1}, {Labels: c, T: 1}},
			want:  `{__name__="a", job="x"}[1] {__name__="b", job="x"}[1] {__name__="c", job="x", zone="z"}[1] `,
		},
		{
			name:  "consecutive samples of a series share a TimeSeries",
			batch: []pipeline.Sample{{Labels: a, T: 1}, {Labels: a, T: 2}, {Labels: b, T: 1}, {Labels: a, T: 3}},
			want:  `{__name__="a", job="x"}[1 2] {__name__="b", job="x"}[1] {__name__="a", job="x"}[3] `,
		},
		{
			name:  "labels of 127 bytes and more",
			batch: []pipeline.Sample{{Labels: long, T: 1}},
			want:  `{__name__="d", job="` + strings.Repeat("j", 120) + `", path="` + strings.Repeat("p", 200) + `"}[1] `,
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
			if st.samples != len(tc.batch) {
				t.Errorf("stats.samples = %d, want %d", st.samples, len(tc.batch))
			}
			if got := render(decode(t, body)); got != tc.want {
				t.Errorf("encoded\n got %s\nwant %s", got, tc.want)
			}
		})
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

// BenchmarkEncode encodes a full default-sized batch of one cycle: as many
// series with one sample each, labels shaped like a Pushgateway group's.
func BenchmarkEncode(b *testing.B) {
	batch := make([]pipeline.Sample, 0, DefaultMaxSamplesPerSend)
	for i := range DefaultMaxSamplesPerSend {
		batch = append(batch, pipeline.Sample{
			Labels: labels.FromStrings(
				"__name__", fmt.Sprintf("batch_job_metric_%d", i%20),
				"instance", fmt.Sprintf("host-%d.example.org", i/200),
				"job", "nightly_backup",
				"le", fmt.Sprint(i/20%10),
			),
			T: 1767225600000,
			V: float64(i),
		})
	}
	e := newEncoder(encodeOptions{})
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

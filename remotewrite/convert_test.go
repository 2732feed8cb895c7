package remotewrite

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// convertCases are batches whose 2.0 encoding, converted to 1.0, must decode
// like their 1.0 encoding.
func convertCases() []struct {
	name  string
	batch []pipeline.Sample
	split bool // encoderV2 splits a series that encoder keeps whole
} {
	a := labels.FromStrings("__name__", "a", "job", "x")
	b := labels.FromStrings("__name__", "b", "job", "x", "zone", "z")
	meta := &metadata.Metadata{Type: model.MetricTypeCounter, Help: "A counter.", Unit: "bytes"}
	stale := math.Float64frombits(value.StaleNaN)
	return []struct {
		name  string
		batch []pipeline.Sample
		split bool
	}{
		{name: "empty"},
		{
			name:  "floats, several per series, with metadata",
			batch: []pipeline.Sample{{Labels: a, T: 1, V: 1, Meta: meta}, {Labels: b, T: 1, V: -2}, {Labels: a, T: 2, V: 3, Meta: meta}},
		},
		{
			name:  "staleness markers",
			batch: []pipeline.Sample{{Labels: a, T: 1, V: 1}, {Labels: a, T: 2, V: stale}, {Labels: b, T: 2, V: stale}},
		},
		{
			name: "int and float histograms",
			batch: []pipeline.Sample{
				{Labels: a, T: 1, H: testIntHistogram}, {Labels: b, T: 1, FH: testFloatHistogram},
				{Labels: a, T: 2, FH: testFloatHistogram}, {Labels: b, T: 2, H: &histogram.Histogram{}},
			},
		},
		{
			name:  "floats and histograms in one series",
			batch: []pipeline.Sample{{Labels: a, T: 1, V: 1}, {Labels: a, T: 2, H: testIntHistogram}, {Labels: a, T: 3, V: 3}},
			split: true,
		},
		{name: "realistic", batch: realisticBatch()},
		{name: "native histograms", batch: nativeHistogramBatch()},
	}
}

func TestConvertV2ToV1(t *testing.T) {
	for _, tc := range convertCases() {
		t.Run(tc.name, func(t *testing.T) {
			v1, _, err := newEncoder(encodeOptions{}).encode(tc.batch)
			if err != nil {
				t.Fatal(err)
			}
			v2, st, err := newEncoderV2(encodeOptions{}).encode(tc.batch)
			if err != nil {
				t.Fatal(err)
			}
			conv, err := convertV2ToV1(v2)
			if err != nil {
				t.Fatal(err)
			}
			got, want := decode(t, conv), decode(t, v1)
			if tc.split {
				got, want = mergeSeries(got), mergeSeries(want)
			}
			// Compare re-marshalled bytes: exact down to NaN bits, which
			// reflect.DeepEqual cannot compare.
			gotPB, err := got.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			wantPB, err := want.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(gotPB, wantPB) {
				t.Errorf("converted 2.0 request differs from the 1.0 encoding\n got %v\nwant %v", got, want)
			}

			cst, err := countV2(v2)
			if err != nil {
				t.Fatal(err)
			}
			if cst != st {
				t.Errorf("countV2 = %+v, encode reported %+v", cst, st)
			}
		})
	}
}

// mergeSeries folds TimeSeries with equal labels into the first of them.
func mergeSeries(req *prompb.WriteRequest) *prompb.WriteRequest {
	out := &prompb.WriteRequest{}
	first := map[string]int{}
	for _, ts := range req.Timeseries {
		k := ts.ToLabels(&labels.ScratchBuilder{}, nil).String()
		i, ok := first[k]
		if !ok {
			first[k] = len(out.Timeseries)
			out.Timeseries = append(out.Timeseries, ts)
			continue
		}
		m := &out.Timeseries[i]
		m.Samples = append(m.Samples, ts.Samples...)
		m.Histograms = append(m.Histograms, ts.Histograms...)
	}
	return out
}

func TestConvertV2ToV1Errors(t *testing.T) {
	encode := func(req *writev2.Request) []byte {
		pb, err := req.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return snappy.Encode(nil, pb)
	}
	sample := []writev2.Sample{{Value: 1, Timestamp: 1}}
	for _, tc := range []struct {
		name string
		body []byte
		want string
	}{
		{
			name: "not snappy",
			body: []byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"),
			want: "decode remote write 2.0 body",
		},
		{
			name: "decoded length too big",
			body: binary.AppendUvarint(nil, 1<<30),
			want: "decoded length 1073741824 exceeds",
		},
		{
			name: "truncated",
			body: snappy.Encode(nil, []byte("short"))[:4],
			want: "decode remote write 2.0 body",
		},
		{
			name: "not a protobuf",
			body: snappy.Encode(nil, []byte{0xff, 0xff, 0xff}),
			want: "unmarshal remote write 2.0 request",
		},
		{
			name: "label ref outside the symbols",
			body: encode(&writev2.Request{Symbols: []string{"", "__name__"}, Timeseries: []writev2.TimeSeries{{LabelsRefs: []uint32{1, 7}, Samples: sample}}}),
			want: "series 0: symbol ref 7 outside the symbol table of 2 entries",
		},
		{
			name: "odd label refs",
			body: encode(&writev2.Request{Symbols: []string{"", "__name__"}, Timeseries: []writev2.TimeSeries{{LabelsRefs: []uint32{1}, Samples: sample}}}),
			want: "series 0 has an odd number (1) of label refs",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := convertV2ToV1(tc.body)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("convertV2ToV1 = %d bytes, %v; want an error containing %q", len(out), err, tc.want)
			}
		})
	}
}

func FuzzConvertV2ToV1(f *testing.F) {
	for _, tc := range convertCases() {
		body, _, err := newEncoderV2(encodeOptions{}).encode(tc.batch)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		st, cerr := countV2(body)
		out, err := convertV2ToV1(body)
		if err != nil {
			return
		}
		if cerr != nil {
			t.Fatalf("convertV2ToV1 accepted what countV2 rejected: %v", cerr)
		}
		req := decode(t, out)
		n := 0
		for _, ts := range req.Timeseries {
			n += len(ts.Samples) + len(ts.Histograms)
		}
		if n != st.samples {
			t.Errorf("converted request holds %d samples, countV2 says %d", n, st.samples)
		}
	})
}

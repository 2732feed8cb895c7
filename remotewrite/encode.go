package remotewrite

import (
	"fmt"
	"math"
	"slices"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// encodeStats describes what one encoded request holds.
type encodeStats struct {
	samples    int   // all samples, histograms included
	histograms int   // native histogram samples
	highestT   int64 // highest timestamp in milliseconds
	exemplars  int   // exemplars sent with the samples
}

// encoder turns a batch into a remote write 1.0 body. It keeps its buffers
// between calls, so it is not safe for concurrent use, and the returned body
// is valid only until the next call.
type encoder struct {
	o      encodeOptions
	esc    escaper
	pb     []byte
	snappy []byte
}

func newEncoder(o encodeOptions) *encoder {
	return &encoder{o: o, esc: escaper{scheme: o.escaping}}
}

// encode marshals the batch as a prompb.WriteRequest, one TimeSeries per
// run of consecutive samples of a series (a queue's batch holds each series
// once, as Prometheus' do), and snappy block-compresses it.
func (e *encoder) encode(batch []pipeline.Sample) ([]byte, encodeStats, error) {
	st := encodeStats{highestT: minInt64}
	// The request is marshalled by hand, straight from the labels: the
	// same bytes gogo would write for a prompb.WriteRequest, without first
	// copying every label into prompb.Label values.
	pb := e.pb[:0]
	var err error
	for i := 0; i < len(batch) && err == nil; {
		j := i + 1
		for j < len(batch) && sameSeries(&batch[j], &batch[i]) {
			j++
		}
		pb, err = e.appendTimeSeries(pb, batch[i:j], &st)
		i = j
	}
	e.pb = pb
	if err != nil {
		return nil, st, fmt.Errorf("marshal write request of %d samples: %w", len(batch), err)
	}
	if m := snappy.MaxEncodedLen(len(pb)); cap(e.snappy) < m {
		e.snappy = make([]byte, m)
	}
	return snappy.Encode(e.snappy[:cap(e.snappy)], pb), st, nil
}

const minInt64 = -1 << 63

// Field numbers of prompb.WriteRequest, TimeSeries, Label and Sample.
const (
	fieldWriteRequestTimeseries = 1
	fieldTimeSeriesLabels       = 1
	fieldTimeSeriesSamples      = 2
	fieldTimeSeriesExemplars    = 3
	fieldTimeSeriesHistograms   = 4
	fieldExemplarValue          = 2
	fieldExemplarTimestamp      = 3
	fieldLabelName              = 1
	fieldLabelValue             = 2
	fieldSampleValue            = 1
	fieldSampleTimestamp        = 2
)

// sameSeries tells whether two samples are of the same series, by their
// hashes when both are known.
func sameSeries(a, b *pipeline.Sample) bool {
	if a.Hash != 0 && b.Hash != 0 && a.Hash != b.Hash {
		return false
	}
	return labels.Equal(a.Labels, b.Labels)
}

// appendTimeSeries appends one prompb.WriteRequest timeseries field: the
// labels of the run's first sample, then the run's samples and histograms,
// each followed by its exemplars if they are sent.
func (e *encoder) appendTimeSeries(b []byte, run []pipeline.Sample, st *encodeStats) ([]byte, error) {
	b = protowire.AppendTag(b, fieldWriteRequestTimeseries, protowire.BytesType)
	// The size is written once the content is: reserve the bytes of a
	// varint up to 2 MiB and move the content if it needs fewer or more.
	lenAt := len(b)
	b = append(b, 0, 0, 0)
	b = appendLabels(b, e.esc.labels(run[0].Labels))
	for i := range run {
		s := &run[i]
		var h prompb.Histogram
		switch {
		case s.H != nil:
			h = prompb.FromIntHistogram(s.T, s.H)
		case s.FH != nil:
			h = prompb.FromFloatHistogram(s.T, s.FH)
		default:
			b = append(b, fieldTimeSeriesSamples<<3|byte(protowire.BytesType))
			if s.T == 0 {
				b = append(b, 9, fieldSampleValue<<3|byte(protowire.Fixed64Type))
				b = protowire.AppendFixed64(b, math.Float64bits(s.V))
			} else {
				b = append(b, byte(10+protowire.SizeVarint(uint64(s.T))), fieldSampleValue<<3|byte(protowire.Fixed64Type))
				b = protowire.AppendFixed64(b, math.Float64bits(s.V))
				b = append(b, fieldSampleTimestamp<<3|byte(protowire.VarintType))
				b = protowire.AppendVarint(b, uint64(s.T))
			}
		}
		if s.H != nil || s.FH != nil {
			n := h.Size()
			b = protowire.AppendTag(b, fieldTimeSeriesHistograms, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(n))
			b = slices.Grow(b, n)
			if _, err := h.MarshalToSizedBuffer(b[len(b) : len(b)+n]); err != nil {
				return b, err
			}
			b = b[:len(b)+n]
			st.histograms++
		}
		if s.Extra != nil && e.o.exemplars {
			exs := s.Extra.Exemplars
			for i := range exs {
				b = e.appendExemplar(b, &exs[i], s.T)
			}
			st.exemplars += len(exs)
		}
		st.samples++
		st.highestT = max(st.highestT, s.T)
	}
	return putSize(b, lenAt, 3), nil
}

// appendExemplar appends one prompb.TimeSeries exemplars field. An exemplar
// the exposition gave without a timestamp takes its sample's, as a
// Prometheus scrape stamps it with the scrape's.
func (e *encoder) appendExemplar(b []byte, ex *exemplar.Exemplar, t int64) []byte {
	if ex.HasTs {
		t = ex.Ts
	}
	b = protowire.AppendTag(b, fieldTimeSeriesExemplars, protowire.BytesType)
	lenAt := len(b)
	b = append(b, 0)
	// Exemplar.labels has the field number of TimeSeries.labels: the
	// Label messages are written alike.
	b = appendLabels(b, e.esc.labels(ex.Labels))
	b = append(b, fieldExemplarValue<<3|byte(protowire.Fixed64Type))
	b = protowire.AppendFixed64(b, math.Float64bits(ex.Value))
	if t != 0 {
		b = append(b, fieldExemplarTimestamp<<3|byte(protowire.VarintType))
		b = protowire.AppendVarint(b, uint64(t))
	}
	return putSize(b, lenAt, 1)
}

// putSize writes the size of what follows the reserved bytes at b[at:] as
// a varint there, moving the content to fit.
func putSize(b []byte, at, reserved int) []byte {
	content := len(b) - at - reserved
	k := protowire.SizeVarint(uint64(content))
	if k != reserved {
		if k > reserved {
			b = slices.Grow(b, k-reserved)[:len(b)+k-reserved]
		}
		copy(b[at+k:], b[at+reserved:at+reserved+content])
		b = b[:at+k+content]
	}
	protowire.AppendVarint(b[at:at], uint64(content))
	return b
}

// labelSize is the size of a Label message as gogo marshals it: an empty
// name or value is left out.
func labelSize(l labels.Label) int {
	n := 0
	if l.Name != "" {
		n += 1 + protowire.SizeBytes(len(l.Name))
	}
	if l.Value != "" {
		n += 1 + protowire.SizeBytes(len(l.Value))
	}
	return n
}

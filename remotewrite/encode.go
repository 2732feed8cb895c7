package remotewrite

import (
	"fmt"
	"math"
	"slices"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"google.golang.org/protobuf/encoding/protowire"
)

// encodeStats describes what one encoded request holds.
type encodeStats struct {
	samples    int   // all samples, histograms included
	histograms int   // native histogram samples
	highestT   int64 // highest timestamp in milliseconds
}

// encoder turns a batch into a remote write 1.0 body. It keeps its buffers
// between calls, so it is not safe for concurrent use, and the returned body
// is valid only until the next call.
type encoder struct {
	series []prompb.TimeSeries
	lset   []labels.Labels // lset[i] are the labels of series[i], for collision checks
	next   []int           // next[i] is the next series with the same hash, or -1
	index  map[uint64]int  // label hash -> first series with that hash
	pb     []byte
	snappy []byte
}

func newEncoder() *encoder {
	return &encoder{index: map[uint64]int{}}
}

// encode groups the batch by series (the samples of one series keep their
// batch order, which is timestamp order), marshals a prompb.WriteRequest and
// snappy block-compresses it.
func (e *encoder) encode(batch []Sample) ([]byte, encodeStats, error) {
	st := encodeStats{highestT: minInt64}
	clear(e.index)
	e.series = e.series[:0]
	e.lset = e.lset[:0]
	e.next = e.next[:0]

	for i := range batch {
		s := &batch[i]
		ts := e.seriesFor(s.Labels, s.labelsHash())
		switch {
		case s.H != nil:
			ts.Histograms = append(ts.Histograms, prompb.FromIntHistogram(s.T, s.H))
			st.histograms++
		case s.FH != nil:
			ts.Histograms = append(ts.Histograms, prompb.FromFloatHistogram(s.T, s.FH))
			st.histograms++
		default:
			ts.Samples = append(ts.Samples, prompb.Sample{Value: s.V, Timestamp: s.T})
		}
		st.samples++
		st.highestT = max(st.highestT, s.T)
	}

	// The request is marshalled by hand, straight from the labels: the
	// same bytes gogo would write for a prompb.WriteRequest, without first
	// copying every label into prompb.Label values.
	pb := e.pb[:0]
	var err error
	for i := range e.series {
		if pb, err = appendTimeSeries(pb, e.lset[i], &e.series[i]); err != nil {
			break
		}
	}
	e.pb = pb
	// Drop references to label strings and histograms held by the batch.
	e.releaseRefs()
	if err != nil {
		return nil, st, fmt.Errorf("marshal write request of %d samples: %w", st.samples, err)
	}
	if m := snappy.MaxEncodedLen(len(pb)); cap(e.snappy) < m {
		e.snappy = make([]byte, m)
	}
	return snappy.Encode(e.snappy[:cap(e.snappy)], pb), st, nil
}

// seriesFor returns the TimeSeries for lset in this request, adding it (and
// reusing the slices left from earlier requests) if it is new.
func (e *encoder) seriesFor(lset labels.Labels, h uint64) *prompb.TimeSeries {
	head, ok := e.index[h]
	if ok {
		for i := head; i >= 0; i = e.next[i] {
			if labels.Equal(e.lset[i], lset) {
				return &e.series[i]
			}
		}
	} else {
		head = -1
	}
	i := len(e.series)
	if i < cap(e.series) {
		e.series = e.series[:i+1]
		old := &e.series[i]
		*old = prompb.TimeSeries{
			Labels:     old.Labels[:0],
			Samples:    old.Samples[:0],
			Histograms: old.Histograms[:0],
		}
	} else {
		e.series = append(e.series, prompb.TimeSeries{})
	}
	ts := &e.series[i]
	e.lset = append(e.lset, lset)
	e.next = append(e.next, head)
	e.index[h] = i
	return ts
}

// releaseRefs zeroes what points into caller data so a kept buffer does not
// pin label strings or histogram buckets of batches already sent.
func (e *encoder) releaseRefs() {
	for i := range e.series {
		ts := &e.series[i]
		clear(ts.Labels)
		clear(ts.Histograms)
	}
	clear(e.lset)
}

const minInt64 = -1 << 63

// Field numbers of prompb.WriteRequest, TimeSeries, Label and Sample.
const (
	fieldWriteRequestTimeseries = 1
	fieldTimeSeriesLabels       = 1
	fieldTimeSeriesSamples      = 2
	fieldTimeSeriesHistograms   = 4
	fieldLabelName              = 1
	fieldLabelValue             = 2
	fieldSampleValue            = 1
	fieldSampleTimestamp        = 2
)

// appendTimeSeries appends one prompb.WriteRequest timeseries field: the
// labels ls and the samples and histograms of ts (whose Labels are unused).
func appendTimeSeries(b []byte, ls labels.Labels, ts *prompb.TimeSeries) ([]byte, error) {
	size := 0
	ls.Range(func(l labels.Label) { size += lenDelimited(labelSize(l)) })
	for _, smp := range ts.Samples {
		size += lenDelimited(sampleSize(smp))
	}
	for i := range ts.Histograms {
		size += lenDelimited(ts.Histograms[i].Size())
	}
	b = protowire.AppendTag(b, fieldWriteRequestTimeseries, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	ls.Range(func(l labels.Label) {
		b = protowire.AppendTag(b, fieldTimeSeriesLabels, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(labelSize(l)))
		b = protowire.AppendTag(b, fieldLabelName, protowire.BytesType)
		b = protowire.AppendString(b, l.Name)
		b = protowire.AppendTag(b, fieldLabelValue, protowire.BytesType)
		b = protowire.AppendString(b, l.Value)
	})
	for _, smp := range ts.Samples {
		b = protowire.AppendTag(b, fieldTimeSeriesSamples, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(sampleSize(smp)))
		b = protowire.AppendTag(b, fieldSampleValue, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(smp.Value))
		if smp.Timestamp != 0 {
			b = protowire.AppendTag(b, fieldSampleTimestamp, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(smp.Timestamp))
		}
	}
	for i := range ts.Histograms {
		h := &ts.Histograms[i]
		n := h.Size()
		b = protowire.AppendTag(b, fieldTimeSeriesHistograms, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(n))
		b = slices.Grow(b, n)
		if _, err := h.MarshalToSizedBuffer(b[len(b) : len(b)+n]); err != nil {
			return b, err
		}
		b = b[:len(b)+n]
	}
	return b, nil
}

// lenDelimited is the size of a length-delimited field holding n bytes.
func lenDelimited(n int) int { return 1 + protowire.SizeVarint(uint64(n)) + n }

func labelSize(l labels.Label) int {
	return 1 + protowire.SizeBytes(len(l.Name)) + 1 + protowire.SizeBytes(len(l.Value))
}

func sampleSize(s prompb.Sample) int {
	n := 1 + 8
	if s.Timestamp != 0 {
		n += 1 + protowire.SizeVarint(uint64(s.Timestamp))
	}
	return n
}

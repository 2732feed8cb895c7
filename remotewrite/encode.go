package remotewrite

import (
	"fmt"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
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

	req := prompb.WriteRequest{Timeseries: e.series}
	size := req.Size()
	if cap(e.pb) < size {
		e.pb = make([]byte, size)
	}
	n, err := req.MarshalToSizedBuffer(e.pb[:size])
	// Drop references to label strings and histograms held by the batch.
	e.releaseRefs()
	if err != nil {
		return nil, st, fmt.Errorf("marshal write request of %d samples: %w", st.samples, err)
	}
	if m := snappy.MaxEncodedLen(n); cap(e.snappy) < m {
		e.snappy = make([]byte, m)
	}
	return snappy.Encode(e.snappy[:cap(e.snappy)], e.pb[:n]), st, nil
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
	ts.Labels = prompb.FromLabels(lset, ts.Labels)
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

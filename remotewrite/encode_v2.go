package remotewrite

import (
	"fmt"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// Request headers that tell a receiver which protobuf message a body holds
// (remote write 2.0 spec, "Content-Type" and "X-Prometheus-Remote-Write-
// Version"). Both messages are sent with Content-Encoding: snappy.
const (
	// contentTypeV1 is what 1.x receivers expect; the spec also allows
	// ";proto=prometheus.WriteRequest" but recommends the bare type for them.
	contentTypeV1 = "application/x-protobuf"
	versionV1     = "0.1.0"
	contentTypeV2 = "application/x-protobuf;proto=io.prometheus.write.v2.Request"
	versionV2     = "2.0.0"
)

// encoderV2 turns a batch into a remote write 2.0 body: a snappy
// block-compressed writev2.Request. Like encoder, it keeps its buffers between
// calls, so it is not safe for concurrent use, and the returned body is valid
// only until the next call.
type encoderV2 struct {
	o       encodeOptions
	esc     escaper
	symbols writev2.SymbolsTable
	series  []writev2.TimeSeries
	// last is what the newest TimeSeries holds: the next sample joins it if
	// it is of the same series, kind and metadata.
	last v2Series

	// Arenas for what a histogram points to, so that a reused encoder does
	// not allocate per histogram as writev2.FromIntHistogram does.
	oneofs []histogramOneofs
	spans  []writev2.BucketSpan
	// refs is the arena of the exemplars' label references.
	refs []uint32

	pb     []byte
	snappy []byte
}

// v2Series describes a TimeSeries of the request being built. A series
// gets a further TimeSeries when it switches between floats and histograms
// (the spec forbids both in one TimeSeries) or its metadata changes.
type v2Series struct {
	lset labels.Labels
	hist bool
	meta *metadata.Metadata
}

// histogramOneofs backs the oneof fields of one writev2.Histogram.
type histogramOneofs struct {
	countInt       writev2.Histogram_CountInt
	countFloat     writev2.Histogram_CountFloat
	zeroCountInt   writev2.Histogram_ZeroCountInt
	zeroCountFloat writev2.Histogram_ZeroCountFloat
}

func newEncoderV2(o encodeOptions) *encoderV2 {
	return &encoderV2{o: o, esc: escaper{scheme: o.escaping}, symbols: writev2.NewSymbolTable()}
}

// encode puts each run of consecutive samples of a series in one
// TimeSeries, as encoder.encode does, with labels,
// help and unit interned in the request's symbol table, then marshals and
// snappy block-compresses the request. Metadata comes from Sample.Meta; a
// series without it is sent with type unspecified and empty help and unit.
// A sample's start timestamp goes in its Sample's or Histogram's
// start_timestamp, and its exemplars, if they are sent, in its TimeSeries.
func (e *encoderV2) encode(batch []pipeline.Sample) ([]byte, encodeStats, error) {
	st := encodeStats{highestT: minInt64}
	e.series = e.series[:0]
	e.last = v2Series{}
	e.oneofs = e.oneofs[:0]
	e.spans = e.spans[:0]
	e.refs = e.refs[:0]

	for i := range batch {
		s := &batch[i]
		isHist := s.H != nil || s.FH != nil
		ts := e.seriesFor(s, isHist)
		start := s.Extra.StartTimestampOrZero()
		switch {
		case s.H != nil:
			ts.Histograms = append(ts.Histograms, e.intHistogram(s.T, s.H))
			ts.Histograms[len(ts.Histograms)-1].StartTimestamp = start
			st.histograms++
		case s.FH != nil:
			ts.Histograms = append(ts.Histograms, e.floatHistogram(s.T, s.FH))
			ts.Histograms[len(ts.Histograms)-1].StartTimestamp = start
			st.histograms++
		default:
			ts.Samples = append(ts.Samples, writev2.Sample{Value: s.V, Timestamp: s.T, StartTimestamp: start})
		}
		if s.Extra != nil && e.o.exemplars {
			e.addExemplars(ts, s)
			st.exemplars += len(s.Extra.Exemplars)
		}
		st.samples++
		st.highestT = max(st.highestT, s.T)
	}

	req := writev2.Request{Symbols: e.symbols.Symbols(), Timeseries: e.series}
	pb, err := req.OptimizedMarshal(e.pb)
	// Drop references to label strings and histograms held by the batch.
	e.releaseRefs()
	if err != nil {
		return nil, st, fmt.Errorf("marshal remote write 2.0 request of %d samples: %w", st.samples, err)
	}
	e.pb = pb
	if m := snappy.MaxEncodedLen(len(pb)); cap(e.snappy) < m {
		e.snappy = make([]byte, m)
	}
	return snappy.Encode(e.snappy[:cap(e.snappy)], pb), st, nil
}

// seriesFor returns the TimeSeries that s goes into: the newest one if it
// holds the same series, kind of sample (float or histogram) and metadata,
// else a new one.
func (e *encoderV2) seriesFor(s *pipeline.Sample, hist bool) *writev2.TimeSeries {
	l := &e.last
	if len(e.series) == 0 || l.hist != hist || !sameMetadata(l.meta, s.Meta) || !labels.Equal(l.lset, s.Labels) {
		e.newSeries(s.Labels, s.Meta)
		*l = v2Series{lset: s.Labels, hist: hist, meta: s.Meta}
	}
	return &e.series[len(e.series)-1]
}

// newSeries appends a TimeSeries for lset and meta, reusing the slices left
// from earlier requests, and returns its index.
func (e *encoderV2) newSeries(lset labels.Labels, meta *metadata.Metadata) int {
	i := len(e.series)
	if i < cap(e.series) {
		e.series = e.series[:i+1]
		old := &e.series[i]
		*old = writev2.TimeSeries{
			LabelsRefs: old.LabelsRefs[:0],
			Samples:    old.Samples[:0],
			Histograms: old.Histograms[:0],
			Exemplars:  old.Exemplars[:0],
		}
	} else {
		e.series = append(e.series, writev2.TimeSeries{})
	}
	ts := &e.series[i]
	ts.LabelsRefs = e.symbols.SymbolizeLabels(e.esc.labels(lset), ts.LabelsRefs)
	if meta != nil {
		ts.Metadata = writev2.Metadata{
			Type:    writev2.FromMetadataType(meta.Type),
			HelpRef: e.symbols.Symbolize(meta.Help),
			UnitRef: e.symbols.Symbolize(meta.Unit),
		}
	}
	return i
}

// addExemplars adds the exemplars of s to ts, their label references in
// the encoder's arena (capped, as bucketSpans' are). An exemplar without a timestamp takes its sample's.
func (e *encoderV2) addExemplars(ts *writev2.TimeSeries, s *pipeline.Sample) {
	exs := s.Extra.Exemplars
	for i := range exs {
		ex := &exs[i]
		start := len(e.refs)
		e.esc.labels(ex.Labels).Range(func(l labels.Label) {
			e.refs = append(e.refs, e.symbols.Symbolize(l.Name), e.symbols.Symbolize(l.Value))
		})
		t := s.T
		if ex.HasTs {
			t = ex.Ts
		}
		ts.Exemplars = append(ts.Exemplars, writev2.Exemplar{LabelsRefs: e.refs[start:len(e.refs):len(e.refs)], Value: ex.Value, Timestamp: t})
	}
}

func sameMetadata(a, b *metadata.Metadata) bool {
	return a == b || a != nil && b != nil && *a == *b
}

// intHistogram is writev2.FromIntHistogram(0, t, h) without allocating: the
// oneofs and spans live in the encoder's arenas.
func (e *encoderV2) intHistogram(t int64, h *histogram.Histogram) writev2.Histogram {
	o := e.newOneofs()
	o.countInt.CountInt = h.Count
	o.zeroCountInt.ZeroCountInt = h.ZeroCount
	return writev2.Histogram{
		Count:          &o.countInt,
		Sum:            h.Sum,
		Schema:         h.Schema,
		ZeroThreshold:  h.ZeroThreshold,
		ZeroCount:      &o.zeroCountInt,
		NegativeSpans:  e.bucketSpans(h.NegativeSpans),
		NegativeDeltas: h.NegativeBuckets,
		PositiveSpans:  e.bucketSpans(h.PositiveSpans),
		PositiveDeltas: h.PositiveBuckets,
		ResetHint:      writev2.Histogram_ResetHint(h.CounterResetHint),
		CustomValues:   h.CustomValues,
		Timestamp:      t,
	}
}

// floatHistogram is writev2.FromFloatHistogram(0, t, fh) without allocating.
func (e *encoderV2) floatHistogram(t int64, fh *histogram.FloatHistogram) writev2.Histogram {
	o := e.newOneofs()
	o.countFloat.CountFloat = fh.Count
	o.zeroCountFloat.ZeroCountFloat = fh.ZeroCount
	return writev2.Histogram{
		Count:          &o.countFloat,
		Sum:            fh.Sum,
		Schema:         fh.Schema,
		ZeroThreshold:  fh.ZeroThreshold,
		ZeroCount:      &o.zeroCountFloat,
		NegativeSpans:  e.bucketSpans(fh.NegativeSpans),
		NegativeCounts: fh.NegativeBuckets,
		PositiveSpans:  e.bucketSpans(fh.PositiveSpans),
		PositiveCounts: fh.PositiveBuckets,
		ResetHint:      writev2.Histogram_ResetHint(fh.CounterResetHint),
		CustomValues:   fh.CustomValues,
		Timestamp:      t,
	}
}

// newOneofs hands out the next arena slot. When the arena grows, histograms
// built earlier in this request keep pointing into the old array, which
// stays alive as long as they do.
func (e *encoderV2) newOneofs() *histogramOneofs {
	e.oneofs = append(e.oneofs, histogramOneofs{})
	return &e.oneofs[len(e.oneofs)-1]
}

// bucketSpans copies spans into the span arena. The result is capped so that
// nothing appended to it can overwrite a neighbour.
func (e *encoderV2) bucketSpans(spans []histogram.Span) []writev2.BucketSpan {
	if len(spans) == 0 {
		return nil
	}
	start := len(e.spans)
	for _, s := range spans {
		e.spans = append(e.spans, writev2.BucketSpan{Offset: s.Offset, Length: s.Length})
	}
	return e.spans[start:len(e.spans):len(e.spans)]
}

// releaseRefs zeroes what points into caller data so kept buffers do not pin
// label strings, metadata or histogram buckets of batches already sent, and
// resets the symbol table for the next request.
func (e *encoderV2) releaseRefs() {
	for i := range e.series {
		clear(e.series[i].Histograms)
	}
	e.last = v2Series{}
	// Reset keeps the backing array of the symbols; blank them first.
	clear(e.symbols.Symbols()[1:])
	e.symbols.Reset()
}

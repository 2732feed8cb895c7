package remotewrite

import (
	"fmt"

	"github.com/golang/snappy"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// rescuer keeps the staleness markers of the requests the disk log drops to
// stay within its bound: a bound that drops data must not take them with
// it, or the series they end would look alive for five more minutes. The
// log hands it the unread records of every segment it drops, and appends
// the markers they held as one record, before the record whose room they
// made; only the rest is counted as dropped.
//
// The log calls it with its mutex held, from append, so from the Queue's
// Append: it runs under the Queue's write lock and may use what the writer
// owns, but for the encoders, whose body the record being appended holds.
type rescuer interface {
	// markers appends the staleness markers r holds to dst.
	markers(dst []pipeline.Sample, r *record) []pipeline.Sample
	// record encodes markers as one record, nil if it cannot.
	record(markers []pipeline.Sample) *record
}

// markerRescuer is a Queue's rescuer.
type markerRescuer struct {
	q *Queue
	// Encoders of their own: the queue's hold the body being appended.
	enc   *encoder
	encV2 *encoderV2
}

var _ rescuer = (*markerRescuer)(nil)

func (m *markerRescuer) markers(dst []pipeline.Sample, r *record) []pipeline.Sample {
	var err error
	if r.format == formatV2 {
		dst, err = markersV2(dst, r.body)
	} else {
		dst, err = markersV1(dst, r.body)
	}
	if err != nil {
		// Written by this code, checksummed: cannot happen but for a bug.
		m.q.logger.Error("read staleness markers of a dropped request", "err", err)
	}
	return dst
}

// rescueEncoding encodes rescued markers: their names were escaped when
// they were first encoded, and markers carry no exemplars.
var rescueEncoding = encodeOptions{escaping: model.NoEscaping}

// record encodes markers in the format the queue sends now. The record may
// hold any series: its shard count of 0 matches no spread, so it is sent
// after every request before it that is not yet acknowledged, and every
// later one after it (see mayShareSeries).
func (m *markerRescuer) record(markers []pipeline.Sample) *record {
	q := m.q
	format := formatV1
	if q.o.Message == MessageV2 && !q.v1.Load() {
		format = formatV2
	}
	var (
		body []byte
		st   encodeStats
		err  error
	)
	if format == formatV2 {
		if m.encV2 == nil {
			m.encV2 = newEncoderV2(rescueEncoding)
		}
		body, st, err = m.encV2.encode(markers)
	} else {
		if m.enc == nil {
			m.enc = newEncoder(rescueEncoding)
		}
		body, st, err = m.enc.encode(markers)
	}
	if err != nil {
		q.logger.Error("encode the staleness markers of dropped requests", "err", err)
		return nil
	}
	q.appendSeq++
	return &record{
		format:    format,
		appendSeq: q.appendSeq,
		samples:   uint32(st.samples),
		highestT:  st.highestT,
		body:      body,
		stale:     true,
	}
}

// markersV1 appends the staleness markers of a remote write 1.0 body.
func markersV1(dst []pipeline.Sample, body []byte) ([]pipeline.Sample, error) {
	n, err := snappy.DecodedLen(body)
	if err != nil || n > maxDecodedLen {
		return dst, fmt.Errorf("decode remote write 1.0 body: length %d: %v", n, err)
	}
	pb, err := snappy.Decode(nil, body)
	if err != nil {
		return dst, fmt.Errorf("decode remote write 1.0 body: %w", err)
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(pb); err != nil {
		return dst, fmt.Errorf("unmarshal remote write 1.0 request: %w", err)
	}
	var b labels.ScratchBuilder
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		var ls labels.Labels
		for _, s := range ts.Samples {
			if !value.IsStaleNaN(s.Value) {
				continue
			}
			if ls.IsEmpty() {
				b.Reset()
				for _, l := range ts.Labels {
					b.Add(l.Name, l.Value)
				}
				ls = b.Labels()
			}
			dst = append(dst, pipeline.Sample{Labels: ls, T: s.Timestamp, V: s.Value})
		}
	}
	return dst, nil
}

// markersV2 appends the staleness markers of a remote write 2.0 body.
func markersV2(dst []pipeline.Sample, body []byte) ([]pipeline.Sample, error) {
	req, err := decodeV2(body)
	if err != nil {
		return dst, err
	}
	var (
		b     labels.ScratchBuilder
		metas = map[metadata.Metadata]*metadata.Metadata{}
	)
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		var (
			ls   labels.Labels
			meta *metadata.Metadata
		)
		for _, s := range ts.Samples {
			if !value.IsStaleNaN(s.Value) {
				continue
			}
			if ls.IsEmpty() {
				refs := ts.LabelsRefs
				if len(refs)%2 != 0 {
					return dst, fmt.Errorf("remote write 2.0 series %d: odd number of label refs", i)
				}
				b.Reset()
				for j := 0; j < len(refs); j += 2 {
					name, nerr := symbol(req.Symbols, refs[j])
					val, verr := symbol(req.Symbols, refs[j+1])
					if nerr != nil || verr != nil {
						return dst, fmt.Errorf("remote write 2.0 series %d: %v %v", i, nerr, verr)
					}
					b.Add(name, val)
				}
				ls = b.Labels()
				// The series' metadata goes with its marker: where it is
				// part of the identity (type-and-unit labels), the marker
				// must reach the same series.
				if m, err := ts.ToMetadata(req.Symbols); err == nil && (m.Type != model.MetricTypeUnknown || m.Unit != "" || m.Help != "") {
					if metas[m] == nil {
						metas[m] = &m
					}
					meta = metas[m]
				}
			}
			dst = append(dst, pipeline.Sample{Labels: ls, T: s.Timestamp, V: s.Value, Meta: meta})
		}
	}
	return dst, nil
}

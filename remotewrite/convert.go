package remotewrite

import (
	"errors"
	"fmt"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// maxDecodedLen bounds the uncompressed size of a body read back for
// conversion or counting. A snappy block states its decoded length up front;
// a corrupt body read from disk must not make us allocate whatever it claims.
// Bodies we encode are far smaller: a few hundred bytes per sample at most.
const maxDecodedLen = 64 << 20

// convertV2ToV1 turns a remote write 2.0 body made by encoderV2 into a 1.0
// body with the same series, samples and histograms, in the same order. It is
// for batches already encoded as 2.0 (in memory or on disk) when the endpoint
// turns out to speak only 1.0.
//
// Metadata is dropped: 1.0 carries it per metric family in separate
// requests, and encoder does not send it either. So are start timestamps,
// which 1.0 cannot carry. Exemplars are kept. A series
// that encoderV2 split into several TimeSeries (float and histogram samples
// mixed, or changed metadata) stays split, which keeps its samples in order.
func convertV2ToV1(body []byte) ([]byte, error) {
	req, err := decodeV2(body)
	if err != nil {
		return nil, err
	}
	out := prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, len(req.Timeseries))}
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		refs := ts.LabelsRefs
		if len(refs)%2 != 0 {
			return nil, fmt.Errorf("convert remote write 2.0 request: series %d has an odd number (%d) of label refs", i, len(refs))
		}
		v1 := &out.Timeseries[i]
		v1.Labels = make([]prompb.Label, 0, len(refs)/2)
		for j := 0; j < len(refs); j += 2 {
			name, nerr := symbol(req.Symbols, refs[j])
			value, verr := symbol(req.Symbols, refs[j+1])
			if err := errors.Join(nerr, verr); err != nil {
				return nil, fmt.Errorf("convert remote write 2.0 request: series %d: %w", i, err)
			}
			v1.Labels = append(v1.Labels, prompb.Label{Name: name, Value: value})
		}
		if len(ts.Samples) > 0 {
			v1.Samples = make([]prompb.Sample, len(ts.Samples))
			for j, s := range ts.Samples {
				v1.Samples[j] = prompb.Sample{Value: s.Value, Timestamp: s.Timestamp}
			}
		}
		for j := range ts.Exemplars {
			ex := &ts.Exemplars[j]
			el, err := exemplarLabels(req.Symbols, ex.LabelsRefs)
			if err != nil {
				return nil, fmt.Errorf("convert remote write 2.0 request: series %d exemplar %d: %w", i, j, err)
			}
			v1.Exemplars = append(v1.Exemplars, prompb.Exemplar{Labels: el, Value: ex.Value, Timestamp: ex.Timestamp})
		}
		if len(ts.Histograms) > 0 {
			v1.Histograms = make([]prompb.Histogram, len(ts.Histograms))
			for j := range ts.Histograms {
				h := &ts.Histograms[j]
				if h.IsFloatHistogram() {
					v1.Histograms[j] = prompb.FromFloatHistogram(h.Timestamp, h.ToFloatHistogram())
				} else {
					v1.Histograms[j] = prompb.FromIntHistogram(h.Timestamp, h.ToIntHistogram())
				}
			}
		}
	}
	pb, err := out.Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshal converted remote write 1.0 request: %w", err)
	}
	return snappy.Encode(nil, pb), nil
}

// countV2 returns what a remote write 2.0 body holds, as encoderV2.encode
// reported when it made the body: for a batch read back from disk.
func countV2(body []byte) (encodeStats, error) {
	st := encodeStats{highestT: minInt64}
	req, err := decodeV2(body)
	if err != nil {
		return st, err
	}
	for _, ts := range req.Timeseries {
		for _, s := range ts.Samples {
			st.highestT = max(st.highestT, s.Timestamp)
		}
		for _, h := range ts.Histograms {
			st.highestT = max(st.highestT, h.Timestamp)
		}
		st.samples += len(ts.Samples) + len(ts.Histograms)
		st.exemplars += len(ts.Exemplars)
		st.histograms += len(ts.Histograms)
	}
	return st, nil
}

// decodeV2 snappy-decodes and unmarshals a remote write 2.0 body.
func decodeV2(body []byte) (*writev2.Request, error) {
	n, err := snappy.DecodedLen(body)
	if err != nil {
		return nil, fmt.Errorf("decode remote write 2.0 body: %w", err)
	}
	if n > maxDecodedLen {
		return nil, fmt.Errorf("decode remote write 2.0 body: decoded length %d exceeds %d bytes", n, maxDecodedLen)
	}
	pb, err := snappy.Decode(nil, body)
	if err != nil {
		return nil, fmt.Errorf("decode remote write 2.0 body: %w", err)
	}
	var req writev2.Request
	if err := req.Unmarshal(pb); err != nil {
		return nil, fmt.Errorf("unmarshal remote write 2.0 request: %w", err)
	}
	return &req, nil
}

// exemplarLabels resolves an exemplar's label references.
func exemplarLabels(symbols []string, refs []uint32) ([]prompb.Label, error) {
	if len(refs)%2 != 0 {
		return nil, fmt.Errorf("odd number (%d) of label refs", len(refs))
	}
	out := make([]prompb.Label, 0, len(refs)/2)
	for j := 0; j < len(refs); j += 2 {
		name, nerr := symbol(symbols, refs[j])
		value, verr := symbol(symbols, refs[j+1])
		if err := errors.Join(nerr, verr); err != nil {
			return nil, err
		}
		out = append(out, prompb.Label{Name: name, Value: value})
	}
	return out, nil
}

// symbol looks up ref in a request's symbol table.
func symbol(symbols []string, ref uint32) (string, error) {
	if uint64(ref) >= uint64(len(symbols)) {
		return "", fmt.Errorf("symbol ref %d outside the symbol table of %d entries", ref, len(symbols))
	}
	return symbols[ref], nil
}

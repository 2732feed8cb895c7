package pipeline

import (
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
)

// Sample is one value of one series at one time, ready to be sent. Exactly
// one of V, H and FH is meaningful: H or FH non-nil makes it a native
// histogram sample, otherwise V is the float value. A staleness marker is
// V = math.Float64frombits(value.StaleNaN).
type Sample struct {
	Labels labels.Labels // sorted, including __name__
	T      int64         // milliseconds since the epoch
	V      float64
	H      *histogram.Histogram
	FH     *histogram.FloatHistogram
	// Meta is the series' metric family metadata (TYPE, HELP, UNIT), shared
	// between series; nil if unknown.
	Meta *metadata.Metadata
	// Extra holds the exemplars that go with the sample and its series'
	// start timestamp (see Series.Extra; a native histogram's value is in
	// it too, but H or FH is the one to read); nil for none, and always
	// for a staleness marker. Shared with the Series: read only.
	Extra *Extra
	// Hash is Labels.Hash() if the caller knows it, else 0: the queue then
	// computes it once for sharding and encoding.
	Hash uint64
}

// Samples are the samples of one cycle as a sender takes them. The sender
// (remotewrite's writer) reads them in order, a request's worth at a time, after Append
// returned: they must not change until the sender is done with them.
// Reading them in pieces spares the sender a copy of the whole cycle, and
// the caller one: a cycle can be a view of series it keeps
// anyway.
type Samples interface {
	// Len is the number of samples.
	Len() int
	// AppendTo appends the samples from to to-1, in order, to dst. The
	// reader calls it with increasing, adjacent ranges.
	AppendTo(dst []Sample, from, to int) []Sample
}

// SampleSlice is Samples held in a slice.
type SampleSlice []Sample

// Len implements Samples.
func (s SampleSlice) Len() int { return len(s) }

// AppendTo implements Samples.
func (s SampleSlice) AppendTo(dst []Sample, from, to int) []Sample {
	return append(dst, s[from:to]...)
}

var _ Samples = SampleSlice(nil)

// LabelsHash returns Labels.Hash(), filling in Hash.
func (s *Sample) LabelsHash() uint64 {
	if s.Hash == 0 {
		s.Hash = s.Labels.Hash()
	}
	return s.Hash
}

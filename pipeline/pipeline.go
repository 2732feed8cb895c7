// Package pipeline holds the words every stage of the bridge's cycle speaks,
// owned by none of them: a pushed group and its series, what one scrape of a
// Pushgateway found (a snapshot), and the timestamped samples a cycle hands
// to delivery.
//
// The source adapter (package pushgateway) produces these types, the pure
// stages (synth, the bridge's merge and state) transform them and the
// senders (remotewrite) consume them. The package imports no network code,
// so that a stage importing it stays pure in its imports too.
//
// Values of these types are shared between stages and between cycles
// without copying: once made, a Group's, Snapshot's or Series' contents are
// never modified. Whoever needs a different one builds a new one.
package pipeline

import (
	"math"
	"strconv"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/value"
)

// Series is one series as the Pushgateway exposes it, without a timestamp.
// Value carries the value, unless a histogram in Extra does (see Histogram
// and FloatHistogram): then it is a native histogram. It is kept to 48
// bytes, as a bridge holds one per series it forwards.
type Series struct {
	// Labels are sorted, include __name__ and never hold an empty value.
	Labels labels.Labels
	Value  float64
	// Metadata is the TYPE, HELP and UNIT of the series' metric family,
	// shared by every series of the family; nil if the exposition gave none.
	Metadata *metadata.Metadata
	// Extra holds the series' exemplars, start timestamp and native
	// histogram value; nil if it has none, as most series have.
	Extra *Extra
	// Hash is Labels.Hash(), or 0 if not computed yet: the scrape cache
	// computes it once per series, not once per cycle and consumer.
	Hash uint64
}

// Extra is what a series may carry besides its labels and float value, as
// a protobuf exposition gives it. It is behind a pointer so that the many
// series without any cost one word, not the size of these fields: the
// series of one metric message that have neither exemplars nor a histogram
// share one Extra.
type Extra struct {
	// Exemplars are the exemplars the exposition gave with the value (a
	// counter's, a classic histogram bucket's, or a native histogram's).
	// They go out with the series' samples, never with its staleness
	// markers.
	Exemplars []exemplar.Exemplar
	// StartTimestamp is when the series started counting (the protobuf
	// exposition's created_timestamp of a counter, summary or histogram),
	// in milliseconds since the epoch; 0 if unknown.
	StartTimestamp int64
	// Histogram or FloatHistogram, if not nil, is the value of a native
	// histogram series; at most one of them is set.
	Histogram      *histogram.Histogram
	FloatHistogram *histogram.FloatHistogram
}

// Histogram returns the series' integer native histogram, nil if it has none.
func (s *Series) Histogram() *histogram.Histogram {
	if s.Extra == nil {
		return nil
	}
	return s.Extra.Histogram
}

// FloatHistogram returns the series' float native histogram, nil if it has
// none.
func (s *Series) FloatHistogram() *histogram.FloatHistogram {
	if s.Extra == nil {
		return nil
	}
	return s.Extra.FloatHistogram
}

// WithHistogram returns x with a native histogram value: a copy, as an
// Extra may be shared between series (nil for none: a new one). With both
// h and fh nil it returns x.
func (x *Extra) WithHistogram(h *histogram.Histogram, fh *histogram.FloatHistogram) *Extra {
	if h == nil && fh == nil {
		return x
	}
	var c Extra
	if x != nil {
		c = *x
	}
	c.Histogram, c.FloatHistogram = h, fh
	return &c
}

func (x *Extra) ExemplarsOrNil() []exemplar.Exemplar {
	if x == nil {
		return nil
	}
	return x.Exemplars
}

// StartTimestampOrZero returns the start timestamp of x, 0 if x is nil.
func (x *Extra) StartTimestampOrZero() int64 {
	if x == nil {
		return 0
	}
	return x.StartTimestamp
}

// LabelsHash returns Labels.Hash(), computed only if Hash is not set.
func (s *Series) LabelsHash() uint64 {
	if s.Hash != 0 {
		return s.Hash
	}
	return s.Labels.Hash()
}

// Group is one pushed group.
type Group struct {
	// Labels is the grouping key: sorted, without __name__ and without
	// empty values (the instance="" the Pushgateway adds is not part of it).
	Labels labels.Labels
	// PushTime and PushFailureTime are the Unix times, in seconds, of the last
	// successful and the last failed push; 0 means never.
	PushTime        float64
	PushFailureTime float64
	// Series holds every series of the group, push_time_seconds and
	// push_failure_time_seconds included, in exposition order.
	Series []Series
	// DroppedSeries counts the group's series the source left out of Series
	// because they broke its label limits (too many labels, a label name or
	// value too long): while it is not 0, the group is incomplete.
	DroppedSeries int
}

// LastPushFailed tells whether the most recent push to the group failed.
func (g *Group) LastPushFailed() bool { return g.PushFailureTime > g.PushTime }

// PushedOK tells whether the group has ever been pushed successfully.
func (g *Group) PushedOK() bool { return g.PushTime > 0 && !math.IsNaN(g.PushTime) }

// Snapshot is what one scrape of a Pushgateway found.
type Snapshot struct {
	// Groups is sorted by grouping key. Consecutive snapshots of an
	// unchanged gateway share it: it must not be modified.
	Groups []Group
	// Own holds the series that belong to no group: the Pushgateway's own
	// metrics.
	Own []Series
	// StartTime is the gateway's process_start_time_seconds, 0 if it does
	// not expose it. A change means it restarted.
	StartTime float64
}

// String formats the series as one line: its labels in PromQL form, then its
// value: a float, "stale" for a staleness marker, or the histogram's own
// String form for a native histogram. Golden files and logs use it.
func (s Series) String() string {
	var v string
	switch {
	case s.Histogram() != nil:
		v = s.Histogram().String()
	case s.FloatHistogram() != nil:
		v = s.FloatHistogram().String()
	case value.IsStaleNaN(s.Value):
		v = "stale"
	default:
		v = strconv.FormatFloat(s.Value, 'g', -1, 64)
	}
	return FormatLabels(s.Labels) + " " + v
}

// FormatLabels formats a series' labels as exposition text does:
// name{label="value", ...}, or {"name", label="value", ...} for a name that
// is not a legacy one (a UTF-8 name such as my.dotted.metric).
func FormatLabels(ls labels.Labels) string {
	name := ls.Get(model.MetricNameLabel)
	if name == "" {
		return ls.String()
	}
	rest := labels.NewBuilder(ls).Del(model.MetricNameLabel).Labels()
	if !model.LegacyValidation.IsValidMetricName(name) {
		if rest.IsEmpty() {
			return "{" + strconv.Quote(name) + "}"
		}
		return "{" + strconv.Quote(name) + ", " + rest.String()[1:]
	}
	if rest.IsEmpty() {
		return name
	}
	return name + rest.String()
}

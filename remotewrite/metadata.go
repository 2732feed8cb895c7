package remotewrite

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/prompb"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// sendsMetadata tells whether metadata goes in requests of its own: with
// remote write 1.0, when asked for. Remote write 2.0 carries it per series.
func (q *Queue) sendsMetadata() bool {
	return q.o.Metadata.Send && (q.o.Message == MessageV1 || q.v1.Load())
}

// metadataNote collects the metadata of the families in a cycle, for the
// next metadata round. A queue collects it with 2.0 too, for a round after a
// fallback. The zero value collects nothing.
type metadataNote struct {
	families map[string]prompb.MetricMetadata
	// seen holds the Meta values looked at: series of one family share
	// theirs, so each family's name is looked at once, not every sample's.
	seen map[*metadata.Metadata]bool
}

// add notes the metadata of samples.
func (n *metadataNote) add(samples []pipeline.Sample) {
	if n.families == nil {
		return
	}
	for i := range samples {
		s := &samples[i]
		if s.Meta == nil || n.seen[s.Meta] || s.Meta.IsEmpty() {
			continue
		}
		n.seen[s.Meta] = true
		family := familyName(s.Labels.Get(model.MetricNameLabel), s.Meta.Type)
		if _, ok := n.families[family]; ok {
			continue
		}
		n.families[family] = prompb.MetricMetadata{
			Type:             prompb.FromMetadataType(s.Meta.Type),
			MetricFamilyName: family,
			Help:             s.Meta.Help,
			Unit:             s.Meta.Unit,
		}
	}
}

// familyName is the metric family a series belongs to: its name without the
// suffix a classic histogram or summary adds.
func familyName(name string, typ model.MetricType) string {
	var suffixes []string
	switch typ {
	case model.MetricTypeHistogram, model.MetricTypeGaugeHistogram:
		suffixes = []string{"_bucket", "_sum", "_count"}
	case model.MetricTypeSummary:
		suffixes = []string{"_sum", "_count"}
	}
	for _, s := range suffixes {
		if f, ok := strings.CutSuffix(name, s); ok {
			return f
		}
	}
	return name
}

// metadataLoop sends the last cycle's metadata every Metadata.Interval until
// ctx ends. Metadata is not queued on disk: the next round repeats it.
func (q *Queue) metadataLoop(ctx context.Context) {
	t := time.NewTicker(q.o.Metadata.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		q.sendMetadata(ctx)
	}
}

func (q *Queue) sendMetadata(ctx context.Context) {
	if !q.sendsMetadata() {
		return
	}
	q.metaMu.Lock()
	all := make([]prompb.MetricMetadata, 0, len(q.metadata))
	for _, m := range q.metadata {
		if q.o.NameEscaping != model.NoEscaping {
			m.MetricFamilyName = model.EscapeName(m.MetricFamilyName, q.o.NameEscaping)
		}
		all = append(all, m)
	}
	q.metaMu.Unlock()
	slices.SortFunc(all, func(a, b prompb.MetricMetadata) int { return strings.Compare(a.MetricFamilyName, b.MetricFamilyName) })
	for len(all) > 0 && ctx.Err() == nil {
		n := min(len(all), q.o.Metadata.MaxPerSend)
		req := prompb.WriteRequest{Metadata: all[:n]}
		all = all[n:]
		pb, err := req.Marshal()
		if err != nil {
			q.m.metadataDropped.Add(float64(n))
			continue
		}
		if err := q.sendWithBackoff(ctx, snappy.Encode(nil, pb), formatV1, encodeStats{}); err != nil {
			if ctx.Err() == nil {
				q.m.metadataDropped.Add(float64(n))
				if ok, suppressed := q.dropLog.allow(q.o.Now()); ok {
					q.logger.Error("remote write dropped metadata", "entries", n, "err", err, "suppressed_logs", suppressed)
				}
			}
			continue
		}
		q.m.metadataSent.Add(float64(n))
	}
}

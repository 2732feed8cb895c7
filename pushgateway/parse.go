package pushgateway

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/textparse"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// parse reads one /metrics exposition under the default limits.
func parse(body []byte, contentType string) ([]pipeline.Group, []parsedSeries, error) {
	groups, series, _, err := parseLimited(body, contentType, DefaultLimits())
	return groups, series, err
}

// parseLimited reads one /metrics exposition. It returns the groups, found
// through their push_time_seconds and push_failure_time_seconds series,
// every series with the metric family it belongs to, and what the limits
// dropped. A series over the limits is judged on the exposition's bytes and
// is returned as a record of the drop, never as a label set.
//
// The client reads the text exposition with it. A protobuf body goes
// through the scrape cache, which applies the limits itself; parsed here
// (as tests do, for a reference), its labels are not checked, since the
// protobuf parser builds them before handing the series over.
func parseLimited(body []byte, contentType string, limits Limits) ([]pipeline.Group, []parsedSeries, dropTally, error) {
	var tally dropTally
	limits = limits.safe()
	checked := !isProtobuf(contentType)
	p, err := textparse.New(body, contentType, labels.NewSymbolTable(), textparse.ParserOptions{
		// The Pushgateway serves protobuf or text; a proxy in between may
		// drop the Content-Type.
		FallbackContentType: "text/plain",
		// A histogram pushed with both classic buckets and a native
		// representation keeps both, as a Prometheus scraping the gateway
		// with always_scrape_classic_histograms would.
		KeepClassicOnClassicAndNativeHistograms: true,
	})
	if p == nil {
		return nil, nil, tally, fmt.Errorf("parse exposition: %w", err)
	}
	var (
		series     []parsedSeries
		family     = new("") // none before the first TYPE, HELP or UNIT
		familyMeta *metadata.Metadata
		lset       labels.Labels
		b          labels.Builder
		check      labelCheck
		extras     extraReader
		groups     = map[uint64][]*pipeline.Group{}
		order      []*pipeline.Group
	)
	// meta returns the metadata of the family a TYPE, HELP or UNIT entry
	// names, starting a new family when the name changes. Series that follow
	// belong to it.
	meta := func(name []byte) *metadata.Metadata {
		if familyMeta == nil || string(name) != *family {
			family = new(string(name))
			familyMeta = &metadata.Metadata{}
		}
		return familyMeta
	}
	group := func(ls labels.Labels) *pipeline.Group {
		b.Reset(ls)
		b.Del(model.MetricNameLabel)
		key := b.Labels()
		h := key.Hash()
		for _, g := range groups[h] {
			if labels.Equal(g.Labels, key) {
				return g
			}
		}
		g := &pipeline.Group{Labels: key}
		groups[h] = append(groups[h], g)
		order = append(order, g)
		return g
	}
	for {
		entry, err := p.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, tally, fmt.Errorf("parse exposition: %w", err)
		}
		var (
			s   pipeline.Series
			raw []byte
			h   *histogram.Histogram
			fh  *histogram.FloatHistogram
		)
		switch entry {
		case textparse.EntryType:
			name, typ := p.Type()
			meta(name).Type = typ
			continue
		case textparse.EntryHelp:
			name, help := p.Help()
			meta(name).Help = string(help)
			continue
		case textparse.EntryUnit:
			name, unit := p.Unit()
			meta(name).Unit = string(unit)
			continue
		case textparse.EntrySeries:
			raw, _, s.Value = p.Series()
		case textparse.EntryHistogram:
			raw, _, h, fh = p.Histogram()
		default:
			continue
		}
		if checked {
			if d := checkTextSeries(&check, limits, raw, p, &lset); d != nil {
				tally.add(d)
				series = append(series, parsedSeries{drop: d, family: family})
				continue
			}
		}
		p.Labels(&lset)
		s.Labels = dropEmpty(&b, lset)
		if !checked {
			// Only the protobuf exposition carries exemplars and created
			// timestamps (the text one the bridge asks for has neither).
			s.Extra = extras.read(p)
		}
		s.Extra = s.Extra.WithHistogram(h, fh)
		switch s.Labels.Get(model.MetricNameLabel) {
		case PushTimeMetric:
			group(s.Labels).PushTime = s.Value
		case PushFailureTimeMetric:
			group(s.Labels).PushFailureTime = s.Value
		}
		s.Metadata = familyMeta
		series = append(series, parsedSeries{Series: &s, family: family})
	}
	out := make([]pipeline.Group, 0, len(order))
	for _, g := range order {
		out = append(out, *g)
	}
	sortGroups(out)
	return out, series, tally, nil
}

// checkTextSeries judges a series of the text exposition by its bytes, and
// returns the record of its drop if it breaks a limit, nil if it can be
// kept. Bytes checkText cannot read are parsed if they are short enough for
// any label set made of them to be held, and judged on the labels built.
func checkTextSeries(c *labelCheck, limits Limits, raw []byte, p textparse.Parser, lset *labels.Labels) *dropped {
	if c.checkText(limits, raw, false) {
		reason, drop := c.verdict()
		if !drop {
			return nil
		}
		c.checkText(limits, raw, true)
		return c.drop(reason, metricName(c.pairs, raw), 1)
	}
	if len(raw) > MaxSeriesSize {
		c.reset(limits, false)
		return c.drop(reasonLabelValueLength, string(raw[:min(len(raw), maxExampleName)]), 1)
	}
	p.Labels(lset)
	c.reset(limits, true)
	lset.Range(func(l labels.Label) {
		c.add(len(l.Name), len(l.Value), func() (string, string) { return l.Name, l.Value })
	})
	if reason, drop := c.verdict(); drop {
		return c.drop(reason, lset.Get(model.MetricNameLabel), 1)
	}
	return nil
}

// metricName is the name of a dropped series for the log: its __name__ if
// kept, else the start of its bytes.
func metricName(pairs []labels.Label, raw []byte) string {
	for _, l := range pairs {
		if l.Name == model.MetricNameLabel {
			return l.Value
		}
	}
	return string(raw[:min(len(raw), maxExampleName)])
}

func sortGroups(groups []pipeline.Group) {
	slices.SortFunc(groups, func(a, b pipeline.Group) int { return labels.Compare(a.Labels, b.Labels) })
}

// dropEmpty returns ls without its empty-valued labels, such as the
// instance="" the Pushgateway adds: Prometheus treats an empty label as absent.
func dropEmpty(b *labels.Builder, ls labels.Labels) labels.Labels {
	var empty []string
	ls.Range(func(l labels.Label) {
		if l.Value == "" {
			empty = append(empty, l.Name)
		}
	})
	if len(empty) == 0 {
		return ls.Copy()
	}
	b.Reset(ls)
	b.Del(empty...)
	return b.Labels()
}

package pushgateway

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/textparse"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// parse reads one /metrics exposition. It returns the groups, found through
// their push_time_seconds and push_failure_time_seconds series, and every
// series with the metric family it belongs to.
func parse(body []byte, contentType string) ([]pipeline.Group, []parsedSeries, error) {
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
		return nil, nil, fmt.Errorf("parse exposition: %w", err)
	}
	var (
		series     []parsedSeries
		family     = new("") // none before the first TYPE, HELP or UNIT
		familyMeta *metadata.Metadata
		lset       labels.Labels
		b          labels.Builder
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
			return nil, nil, fmt.Errorf("parse exposition: %w", err)
		}
		var s pipeline.Series
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
			_, _, s.Value = p.Series()
		case textparse.EntryHistogram:
			_, _, s.Histogram, s.FloatHistogram = p.Histogram()
		default:
			continue
		}
		p.Labels(&lset)
		s.Labels = dropEmpty(&b, lset)
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
	return out, series, nil
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

package pushgateway

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/textparse"
	"google.golang.org/protobuf/encoding/protowire"
)

// scrapeCache makes a scrape of an unchanged protobuf exposition cheap. A
// Pushgateway serves the same bytes for a series until its group is pushed
// again, so the cache remembers, per metric message (keyed by a hash of its
// bytes and of its family's name, type, help and unit), the series it
// expanded to and the group it belonged to. A scrape then only walks the
// protobuf framing, hashes each metric message and looks it up; messages
// not seen in the last scrape are parsed by Prometheus' own textparse, so
// the expansion (classic buckets, quantiles, native histograms) is exactly
// Prometheus'.
//
// It is not safe for concurrent use.
type scrapeCache struct {
	scrape  uint64
	entries map[uint64]*cacheEntry
	meta    map[string]*metadata.Metadata // family -> its metadata, shared
	st      *labels.SymbolTable
	lb      labels.Builder
	msg     []byte         // scratch: a one-metric family message
	metrics [][]byte       // scratch: the metric messages of a family
	out     []parsedSeries // reused between scrapes; nobody keeps it
	// order holds the entries in the order of the last scrape: the next
	// scrape usually has the same metric messages in the same order, and
	// comparing a key with the entry at the same place is cheaper than a
	// map lookup. shift realigns the two after an insertion or removal.
	order, nextOrder []*cacheEntry
}

type cacheEntry struct {
	key    uint64
	pos    int // place in the last scrape's order
	scrape uint64
	family string
	series []Series
	// The group the series were attributed to, and under which generation.
	groupKey   labels.Labels
	groupHash  uint64
	attributed uint64
	ambiguous  bool
}

func newScrapeCache() *scrapeCache {
	return &scrapeCache{
		entries: map[uint64]*cacheEntry{},
		meta:    map[string]*metadata.Metadata{},
		st:      labels.NewSymbolTable(),
	}
}

// Protobuf field numbers of io.prometheus.client.MetricFamily.
const (
	fieldName   = 1
	fieldHelp   = 2
	fieldType   = 3
	fieldMetric = 4
	fieldUnit   = 5
)

// parseProto reads a delimited protobuf exposition like parse does, through
// the cache. The returned slice is valid until the next call.
func (c *scrapeCache) parseProto(body []byte) ([]Group, []parsedSeries, error) {
	c.scrape++
	c.out = c.out[:0]
	c.nextOrder = c.nextOrder[:0]
	shift := 0
	metrics := c.metrics
	defer func() { c.metrics = metrics[:0] }()
	for len(body) > 0 {
		n, ln := protowire.ConsumeVarint(body)
		if ln < 0 || uint64(len(body)-ln) < n {
			return nil, nil, errors.New("parse exposition: truncated metric family")
		}
		fam := body[ln : ln+int(n)]
		body = body[ln+int(n):]

		var (
			name, help, unit string
			typ              uint64
		)
		metrics = metrics[:0]
		for len(fam) > 0 {
			num, wt, tl := protowire.ConsumeTag(fam)
			if tl < 0 {
				return nil, nil, errors.New("parse exposition: bad metric family field")
			}
			fam = fam[tl:]
			var vl int
			switch {
			case wt == protowire.BytesType:
				v, l := protowire.ConsumeBytes(fam)
				vl = l
				switch num {
				case fieldName:
					name = string(v)
				case fieldHelp:
					help = string(v)
				case fieldUnit:
					unit = string(v)
				case fieldMetric:
					metrics = append(metrics, v)
				}
			case wt == protowire.VarintType && num == fieldType:
				typ, vl = protowire.ConsumeVarint(fam)
			default:
				vl = protowire.ConsumeFieldValue(num, wt, fam)
			}
			if vl < 0 {
				return nil, nil, errors.New("parse exposition: bad metric family field")
			}
			fam = fam[vl:]
		}
		if name == "" {
			return nil, nil, errors.New("parse exposition: metric family without a name")
		}
		meta := c.familyMeta(name, typ, help, unit)
		famDigest := xxhash.New()
		_, _ = famDigest.WriteString(name)
		_, _ = famDigest.Write([]byte{0xff, byte(typ), 0xff})
		_, _ = famDigest.WriteString(help)
		_, _ = famDigest.Write([]byte{0xff})
		_, _ = famDigest.WriteString(unit)
		_, _ = famDigest.Write([]byte{0xff})
		for _, m := range metrics {
			d := *famDigest
			_, _ = d.Write(m)
			key := d.Sum64()
			pos := len(c.nextOrder)
			var e *cacheEntry
			if i := pos + shift; i >= 0 && i < len(c.order) && c.order[i].key == key {
				e = c.order[i]
			} else if e = c.entries[key]; e != nil {
				shift = e.pos - pos
			}
			if e == nil || e.family != name {
				var err error
				if e, err = c.expand(name, typ, help, unit, m, meta); err != nil {
					return nil, nil, err
				}
				e.key = key
				c.entries[key] = e
			}
			e.scrape, e.pos = c.scrape, pos
			c.nextOrder = append(c.nextOrder, e)
			for _, s := range e.series {
				c.out = append(c.out, parsedSeries{Series: s, family: name, entry: e})
			}
		}
	}
	c.order, c.nextOrder = c.nextOrder, c.order
	clear(c.nextOrder)
	if len(c.entries) > len(c.order) {
		for k, e := range c.entries {
			if e.scrape != c.scrape {
				delete(c.entries, k)
			}
		}
	}
	return groupsOf(c.out), c.out, nil
}

// familyMeta returns the shared metadata of a family, a new value when it
// changed, so that series keep the metadata they were expanded with.
func (c *scrapeCache) familyMeta(name string, typ uint64, help, unit string) *metadata.Metadata {
	t := metricType(typ)
	if m := c.meta[name]; m != nil && m.Type == t && m.Help == help && m.Unit == unit {
		return m
	}
	m := &metadata.Metadata{Type: t, Help: help, Unit: unit}
	c.meta[name] = m
	return m
}

func metricType(t uint64) model.MetricType {
	switch t {
	case 0:
		return model.MetricTypeCounter
	case 1:
		return model.MetricTypeGauge
	case 2:
		return model.MetricTypeSummary
	case 4:
		return model.MetricTypeHistogram
	case 5:
		return model.MetricTypeGaugeHistogram
	}
	return model.MetricTypeUnknown
}

// expand parses one metric message with textparse, as a family of its own.
func (c *scrapeCache) expand(name string, typ uint64, help, unit string, m []byte, meta *metadata.Metadata) (*cacheEntry, error) {
	fam := c.msg[:0]
	fam = protowire.AppendTag(fam, fieldName, protowire.BytesType)
	fam = protowire.AppendString(fam, name)
	if help != "" {
		fam = protowire.AppendTag(fam, fieldHelp, protowire.BytesType)
		fam = protowire.AppendString(fam, help)
	}
	fam = protowire.AppendTag(fam, fieldType, protowire.VarintType)
	fam = protowire.AppendVarint(fam, typ)
	fam = protowire.AppendTag(fam, fieldMetric, protowire.BytesType)
	fam = protowire.AppendBytes(fam, m)
	if unit != "" {
		fam = protowire.AppendTag(fam, fieldUnit, protowire.BytesType)
		fam = protowire.AppendString(fam, unit)
	}
	msg := protowire.AppendVarint(make([]byte, 0, len(fam)+binaryVarintLen), uint64(len(fam)))
	msg = append(msg, fam...)
	c.msg = fam

	p := textparse.NewProtobufParser(msg, false, true, false, false, c.st)
	e := &cacheEntry{family: name}
	var ls labels.Labels
	for {
		entry, err := p.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse exposition: %w", err)
		}
		var s Series
		switch entry {
		case textparse.EntrySeries:
			_, _, s.Value = p.Series()
		case textparse.EntryHistogram:
			_, _, s.Histogram, s.FloatHistogram = p.Histogram()
		default:
			continue
		}
		p.Labels(&ls)
		s.Labels = dropEmpty(&c.lb, ls)
		s.Metadata = meta
		s.Hash = s.Labels.Hash()
		e.series = append(e.series, s)
	}
	return e, nil
}

const binaryVarintLen = 10

// groupsOf finds the groups through their push_time_seconds and
// push_failure_time_seconds series.
func groupsOf(series []parsedSeries) []Group {
	var (
		b      labels.Builder
		byHash = map[uint64][]int{}
		groups []Group
	)
	group := func(ls labels.Labels) *Group {
		b.Reset(ls)
		b.Del(model.MetricNameLabel)
		key := b.Labels()
		h := key.Hash()
		for _, i := range byHash[h] {
			if labels.Equal(groups[i].Labels, key) {
				return &groups[i]
			}
		}
		byHash[h] = append(byHash[h], len(groups))
		groups = append(groups, Group{Labels: key})
		return &groups[len(groups)-1]
	}
	for i := range series {
		s := &series[i]
		// The family is the series name for these gauges, and comparing
		// it is cheaper than looking the name up in the labels.
		switch s.family {
		case PushTimeMetric:
			group(s.Labels).PushTime = s.Value
		case PushFailureTimeMetric:
			group(s.Labels).PushFailureTime = s.Value
		}
	}
	sortGroups(groups)
	return groups
}

// generations returns identities of the set of grouping keys, and of the
// keys with their push times: equal values mean, with overwhelming
// likelihood, equal sets.
func generations(groups []Group) (keys, content uint64) {
	keys = uint64(len(groups))
	content = keys
	for i := range groups {
		h := groups[i].Labels.Hash()
		keys ^= h * 0x9E3779B97F4A7C15
		content ^= (h ^ math.Float64bits(groups[i].PushTime) ^ math.Float64bits(groups[i].PushFailureTime)*31) * 0xC2B2AE3D27D4EB4F
	}
	return keys, content
}

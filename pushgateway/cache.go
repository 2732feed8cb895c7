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

// scrapeCache makes a scrape of an unchanged protobuf exposition cheap, at
// two levels.
//
// A Pushgateway serves the same bytes for a series until its group is
// pushed again, so the cache remembers, per metric message (keyed by a hash
// of its bytes and of its family's name, type, help and unit), the series it
// expanded to and the group it belonged to. Messages not seen in the last
// scrape are parsed by Prometheus' own textparse, so the expansion (classic
// buckets, quantiles, native histograms) is exactly Prometheus'.
//
// Above that, it remembers every metric family's hash and entries. A family
// whose bytes did not change is not walked message by message. And a push,
// failed or not, and a deletion always change push_time_seconds or
// push_failure_time_seconds: when every family that held group series is
// byte for byte what it was, the groups are the ones the last scrape found,
// and only the families that changed (the gateway's own metrics, which
// change on every scrape) are parsed.
//
// It is not safe for concurrent use.
type scrapeCache struct {
	scrape   uint64
	entries  map[uint64]*cacheEntry
	families map[string]*family
	meta     map[string]*metadata.Metadata // family -> its metadata, shared
	st       *labels.SymbolTable
	lb       labels.Builder
	msg      []byte          // scratch: a one-metric family message
	metrics  [][]byte        // scratch: the metric messages of a family
	scanned  []scannedFamily // scratch: the families of this scrape
	out      []parsedSeries  // reused between scrapes; nobody keeps it
	// groups are the groups the last full parse found and attributed,
	// returned again while they are unchanged; valid if attributed.
	groups     []Group
	attributed bool
	grouped    int // families holding group series
}

type cacheEntry struct {
	key    uint64
	pos    int // place in its family's entries
	scrape uint64
	family string
	series []Series
	// The group the series were attributed to, and under which generation.
	groupKey   labels.Labels
	groupHash  uint64
	attributed uint64
	ambiguous  bool
}

// family is what the cache knows of one metric family.
type family struct {
	hash    uint64
	entries []*cacheEntry
	// Known after attribution: whether some series belong to a group, and
	// the series that belong to none.
	grouped bool
	own     []Series
}

// scannedFamily is one metric family message of a scrape.
type scannedFamily struct {
	name string
	msg  []byte
	hash uint64
}

func newScrapeCache() *scrapeCache {
	return &scrapeCache{
		entries:  map[uint64]*cacheEntry{},
		families: map[string]*family{},
		meta:     map[string]*metadata.Metadata{},
		st:       labels.NewSymbolTable(),
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

var errTruncated = errors.New("parse exposition: truncated metric family")

// scan splits a delimited protobuf exposition into its metric families and
// hashes each.
func (c *scrapeCache) scan(body []byte) ([]scannedFamily, error) {
	fams := c.scanned[:0]
	for len(body) > 0 {
		n, ln := protowire.ConsumeVarint(body)
		if ln < 0 || uint64(len(body)-ln) < n {
			return nil, errTruncated
		}
		msg := body[ln : ln+int(n)]
		body = body[ln+int(n):]
		name, err := familyName(msg)
		if err != nil {
			return nil, err
		}
		fams = append(fams, scannedFamily{name: name, msg: msg, hash: xxhash.Sum64(msg)})
	}
	c.scanned = fams
	return fams, nil
}

// familyName returns the name field of a metric family message. The name
// usually comes first; the walk stops there.
func familyName(fam []byte) (string, error) {
	for len(fam) > 0 {
		num, wt, tl := protowire.ConsumeTag(fam)
		if tl < 0 {
			return "", errors.New("parse exposition: bad metric family field")
		}
		fam = fam[tl:]
		vl := protowire.ConsumeFieldValue(num, wt, fam)
		if vl < 0 {
			return "", errors.New("parse exposition: bad metric family field")
		}
		if num == fieldName && wt == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(fam)
			if len(v) > 0 {
				return string(v), nil
			}
		}
		fam = fam[vl:]
	}
	return "", errors.New("parse exposition: metric family without a name")
}

// unchanged tells whether the groups of the last full parse still hold:
// it was attributed, every family that held group series is unchanged, and
// every other family is one known to hold none.
func (c *scrapeCache) unchanged(fams []scannedFamily) bool {
	if !c.attributed {
		return false
	}
	grouped := 0
	for i := range fams {
		f := c.families[fams[i].name]
		switch {
		case f == nil:
			return false
		case f.hash == fams[i].hash:
			if f.grouped {
				grouped++
			}
		case f.grouped:
			return false
		}
	}
	return grouped == c.grouped
}

// own returns the series of a scrape that unchanged approved, which belong
// to no group, in exposition order: the remembered ones of unchanged
// families, and every series of those that changed.
func (c *scrapeCache) own(fams []scannedFamily) ([]Series, error) {
	c.scrape++
	var own []Series
	for i := range fams {
		f := c.families[fams[i].name]
		if f.hash != fams[i].hash {
			if err := c.parseFamily(f, &fams[i]); err != nil {
				c.attributed = false
				return nil, err
			}
			f.own = f.own[:0]
			for _, e := range f.entries {
				f.own = append(f.own, e.series...)
			}
		}
		own = append(own, f.own...)
	}
	c.forget(fams)
	return own, nil
}

// parseProto reads a delimited protobuf exposition like parse does, through
// the cache. The returned slice is valid until the next call.
func (c *scrapeCache) parseProto(body []byte) ([]Group, []parsedSeries, error) {
	fams, err := c.scan(body)
	if err != nil {
		return nil, nil, err
	}
	return c.parseScanned(fams)
}

// parseScanned is parseProto for a scanned exposition. attribute must follow
// before its groups can be reused.
func (c *scrapeCache) parseScanned(fams []scannedFamily) ([]Group, []parsedSeries, error) {
	c.scrape++
	c.attributed = false
	c.out = c.out[:0]
	for i := range fams {
		sf := &fams[i]
		f := c.families[sf.name]
		if f == nil {
			f = &family{}
			c.families[sf.name] = f
		}
		if f.hash != sf.hash || f.entries == nil {
			if err := c.parseFamily(f, sf); err != nil {
				return nil, nil, err
			}
		}
		for _, e := range f.entries {
			for _, s := range e.series {
				c.out = append(c.out, parsedSeries{Series: s, family: sf.name, entry: e})
			}
		}
	}
	c.forget(fams)
	return groupsOf(c.out), c.out, nil
}

// attribute records, after attributeCached placed the series of the last
// parseProto under the generations keysGen and contentGen, which families
// hold group series and which series are the gateway's own, and keeps
// groups to return while they are unchanged. It must not be called if the
// attribution failed.
func (c *scrapeCache) attribute(groups []Group, keysGen, contentGen uint64) {
	fams := c.scanned
	c.grouped = 0
	for i := range fams {
		f := c.families[fams[i].name]
		f.grouped, f.own = false, f.own[:0]
		for _, e := range f.entries {
			if gen := e.attributed; gen == 0 || (gen != keysGen && gen != contentGen) {
				return // not attributed by this call: no reuse
			}
			if e.groupKey.IsEmpty() {
				f.own = append(f.own, e.series...)
			} else {
				f.grouped = true
			}
		}
		if f.grouped {
			c.grouped++
		}
	}
	c.groups, c.attributed = groups, true
}

// forget drops the families not in this scrape and their entries.
func (c *scrapeCache) forget(fams []scannedFamily) {
	if len(c.families) == len(fams) {
		return
	}
	present := make(map[string]struct{}, len(fams))
	for i := range fams {
		present[fams[i].name] = struct{}{}
	}
	for name, f := range c.families {
		if _, ok := present[name]; ok {
			continue
		}
		for _, e := range f.entries {
			if c.entries[e.key] == e {
				delete(c.entries, e.key)
			}
		}
		delete(c.families, name)
	}
}

// parseFamily expands a family that changed, reusing the entries of its
// metric messages that did not, and forgets the entries it no longer has.
func (c *scrapeCache) parseFamily(f *family, sf *scannedFamily) error {
	var (
		name, help, unit string
		typ              uint64
	)
	metrics := c.metrics[:0]
	defer func() { c.metrics = metrics[:0] }()
	for fam := sf.msg; len(fam) > 0; {
		num, wt, tl := protowire.ConsumeTag(fam)
		if tl < 0 {
			return errors.New("parse exposition: bad metric family field")
		}
		fam = fam[tl:]
		var vl int
		switch {
		case wt == protowire.BytesType:
			v, l := protowire.ConsumeBytes(fam)
			vl = l
			switch num {
			case fieldName:
				name = sf.name
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
			return errors.New("parse exposition: bad metric family field")
		}
		fam = fam[vl:]
	}
	meta := c.familyMeta(name, typ, help, unit)
	famDigest := xxhash.New()
	_, _ = famDigest.WriteString(name)
	_, _ = famDigest.Write([]byte{0xff, byte(typ), 0xff})
	_, _ = famDigest.WriteString(help)
	_, _ = famDigest.Write([]byte{0xff})
	_, _ = famDigest.WriteString(unit)
	_, _ = famDigest.Write([]byte{0xff})

	// The new entries usually are the old ones, in the same order, with a
	// few inserted or removed: comparing a key with the old entry at the
	// same place (shifted by what was inserted or removed before it) is
	// cheaper than a map lookup.
	old := f.entries
	entries := make([]*cacheEntry, 0, len(metrics))
	shift := 0
	for _, m := range metrics {
		d := *famDigest
		_, _ = d.Write(m)
		key := d.Sum64()
		pos := len(entries)
		var e *cacheEntry
		if i := pos + shift; i >= 0 && i < len(old) && old[i].key == key {
			e = old[i]
		} else if e = c.entries[key]; e != nil {
			shift = e.pos - pos
		}
		if e == nil || e.family != name {
			var err error
			if e, err = c.expand(name, typ, help, unit, m, meta); err != nil {
				// Keep what was expanded with the family, to be
				// forgotten when it is parsed again.
				f.entries = append(old, entries...)
				return err
			}
			e.key = key
			c.entries[key] = e
		}
		e.scrape, e.pos = c.scrape, pos
		entries = append(entries, e)
	}
	for _, e := range old {
		if e.scrape != c.scrape && c.entries[e.key] == e {
			delete(c.entries, e.key)
		}
	}
	f.entries, f.hash = entries, sf.hash
	return nil
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

package pushgateway

import (
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// parsedSeries is a series read from /metrics with the name of the metric
// family it came in, needed to look it up in /api/v1/metrics.
type parsedSeries struct {
	// Series points at the series where the parser or the cache keeps it;
	// nil for a metric dropped by the limits, which drop describes.
	*pipeline.Series
	drop   *dropped
	family *string
	// entry is the scrape cache entry the series came from; nil without
	// the cache.
	entry *cacheEntry
}

// groupIndex finds the groups whose grouping key is a subset of a series'
// labels. A Pushgateway usually has few distinct sets of grouping label names
// ({job}, {job,instance}, ...), so a lookup hashes the series once per name set
// instead of comparing it with every group.
type groupIndex struct {
	groups   []pipeline.Group
	nameSets [][]string
	byKey    []map[uint64][]int32 // parallel to nameSets: indexes into groups
	buf      []byte
}

func newGroupIndex(groups []pipeline.Group) *groupIndex {
	idx := &groupIndex{groups: groups}
	seen := map[string]int{}
	for i := range groups {
		g := &groups[i]
		names := make([]string, 0, g.Labels.Len())
		g.Labels.Range(func(l labels.Label) { names = append(names, l.Name) })
		k := strings.Join(names, "\xff")
		n, ok := seen[k]
		if !ok {
			n = len(idx.nameSets)
			seen[k] = n
			idx.nameSets = append(idx.nameSets, names)
			idx.byKey = append(idx.byKey, map[uint64][]int32{})
		}
		var h uint64
		h, idx.buf = g.Labels.HashForLabels(idx.buf, names...)
		idx.byKey[n][h] = append(idx.byKey[n][h], int32(i))
	}
	return idx
}

// candidates appends to dst the index of every group whose grouping key is
// contained in ls.
func (idx *groupIndex) candidates(dst []int32, ls labels.Labels) []int32 {
	for n, names := range idx.nameSets {
		var h uint64
		h, idx.buf = ls.HashForLabels(idx.buf, names...)
		for _, gi := range idx.byKey[n][h] {
			if containsAll(ls, idx.groups[gi].Labels) {
				dst = append(dst, gi)
			}
		}
	}
	return dst
}

// candidatesOfDropped is candidates for a metric dropped by the limits,
// which has no label set: each name set is looked up with the metric's
// labels of those names only.
func (idx *groupIndex) candidatesOfDropped(dst []int32, d *dropped, sb *labels.ScratchBuilder) []int32 {
	for n, names := range idx.nameSets {
		ls, ok := keyPairs(sb, d.pairs, names)
		if !ok {
			continue
		}
		var h uint64
		h, idx.buf = ls.HashForLabels(idx.buf, names...)
		for _, gi := range idx.byKey[n][h] {
			if labels.Equal(ls, idx.groups[gi].Labels) {
				dst = append(dst, gi)
			}
		}
	}
	return dst
}

// containsAll tells whether every label of sub is in ls with the same value.
func containsAll(ls, sub labels.Labels) bool {
	ok := true
	sub.Range(func(l labels.Label) {
		if ok && ls.Get(l.Name) != l.Value {
			ok = false
		}
	})
	return ok
}

// membership tells, for series whose labels match several grouping keys,
// which group really holds them. It comes from /api/v1/metrics, which lists
// each group's series under the group.
type membership interface {
	// groupsOf returns the grouping keys of the groups holding a series of
	// the given metric family with the given labels (le and quantile
	// excluded, empty values dropped).
	groupsOf(family string, ls labels.Labels) []labels.Labels
}

// attribute distributes series among groups. Series matching no group are
// the Pushgateway's own and go to own. When a series matches several groups,
// resolve is asked for the membership (once per call); if it cannot tell, the
// series goes to the group with the most specific grouping key.
func attribute(groups []pipeline.Group, series []parsedSeries, resolve func() (membership, error)) (own []pipeline.Series, err error) {
	return attributeCached(groups, series, resolve, 0, 0)
}

// attributeCached is attribute that reuses what a series' cache entry says
// about its group when the set of grouping keys (keysGen) is the one the
// entry was attributed under, and for series whose attribution was
// ambiguous, also the groups' push times (contentGen). Zero generations
// disable the reuse. It records new attributions in the entries.
func attributeCached(groups []pipeline.Group, series []parsedSeries, resolve func() (membership, error), keysGen, contentGen uint64) (own []pipeline.Series, err error) {
	var (
		idx    *groupIndex // built when first needed
		cands  []int32
		mem    membership
		b      labels.Builder
		sb     labels.ScratchBuilder
		byHash map[uint64]int32
	)
	if keysGen != 0 {
		byHash = make(map[uint64]int32, len(groups))
		for i := range groups {
			byHash[groups[i].Labels.Hash()] = int32(i)
		}
	}
	// First find each series' group (its index, -1 for none), then give
	// every group one slice of the right size.
	holder := make([]int32, len(series))
	count := make([]int, len(groups))
	for i := range series {
		s := &series[i]
		if e := s.entry; e != nil && keysGen != 0 {
			gen := keysGen
			if e.ambiguous {
				gen = contentGen
			}
			if e.attributed == gen {
				if e.groupKey.IsEmpty() {
					holder[i] = -1 // the gateway's own
					continue
				}
				if gi, ok := byHash[e.groupHash]; ok && labels.Equal(groups[gi].Labels, e.groupKey) {
					holder[i] = gi
					if s.drop == nil {
						count[gi]++
					}
					continue
				}
			}
		}
		if idx == nil {
			idx = newGroupIndex(groups)
		}
		if s.drop != nil {
			// Dropped by the limits: counted in the group with the most
			// specific grouping key it matches; /api/v1/metrics is not
			// asked about series the bridge does not keep.
			holder[i] = -1
			cands = idx.candidatesOfDropped(cands[:0], s.drop, &sb)
			if len(cands) == 0 {
				s.remember(nil, keysGen, false)
				continue
			}
			holder[i] = pickGroup(groups, cands, nil)
			s.remember(&groups[holder[i]], keysGen, false)
			continue
		}
		cands = idx.candidates(cands[:0], s.Labels)
		if len(cands) > 1 && isGroupMetric(s.Labels) {
			// push_time_seconds and push_failure_time_seconds carry exactly
			// their group's key.
			b.Reset(s.Labels)
			b.Del(model.MetricNameLabel)
			key := b.Labels()
			cands = slices.DeleteFunc(cands, func(gi int32) bool { return !labels.Equal(groups[gi].Labels, key) })
		}
		var gi int32
		switch len(cands) {
		case 0:
			s.remember(nil, keysGen, false)
			holder[i] = -1
			continue
		case 1:
			gi = cands[0]
			s.remember(&groups[gi], keysGen, false)
		default:
			if mem == nil {
				if mem, err = resolve(); err != nil {
					return nil, err
				}
			}
			b.Reset(s.Labels)
			b.Del(model.MetricNameLabel, labels.BucketLabel, "quantile")
			gi = pickGroup(groups, cands, mem.groupsOf(*s.family, b.Labels()))
			s.remember(&groups[gi], contentGen, true)
		}
		holder[i] = gi
		count[gi]++
	}
	// Each group's series are allocated when its first one is placed, and
	// with the cache, each entry is pointed at its group's copy as soon as
	// its series are placed, and the series' place in the parse is let go:
	// the parsed series (the cache's slabs) become garbage as they are
	// copied, rather than all of them living next to all the copies until
	// the end. A first scrape is the bridge's peak of memory.
	for i := range groups {
		groups[i].Series = nil
	}
	cache := keysGen != 0
	for i := 0; i < len(series); {
		j := i + 1
		for cache && j < len(series) && series[j].entry == series[i].entry {
			j++
		}
		start := -1 // the place of the run's first series in its group
		for k := i; k < j; k++ {
			gi := holder[k]
			if d := series[k].drop; d != nil {
				if gi >= 0 {
					groups[gi].DroppedSeries += d.series
				}
				continue
			}
			if gi < 0 {
				own = append(own, *series[k].Series)
				continue
			}
			g := &groups[gi]
			if g.Series == nil {
				g.Series = make([]pipeline.Series, 0, count[gi])
			}
			if k == i {
				start = len(g.Series)
			}
			g.Series = append(g.Series, *series[k].Series)
		}
		if cache {
			shareEntry(groups, series[i:j], holder[i:j], start)
		}
		i = j
	}
	for i := range groups {
		if groups[i].Series == nil {
			groups[i].Series = []pipeline.Series{}
		}
	}
	return own, nil
}

// shareEntry points the cache entry of one run of series (all from that
// entry, in order) at its group's copy if they all went to one group, from
// place start on, so that the cache and the groups hold the series once,
// and lets go of the parsed series. Groups never change once made, so
// sharing is safe; the next attribution copies from the entries.
func shareEntry(groups []pipeline.Group, run []parsedSeries, holder []int32, start int) {
	e := run[0].entry
	if gi := holder[0]; e != nil && gi >= 0 && start >= 0 && len(e.series) == len(run) && !slices.ContainsFunc(holder, func(h int32) bool { return h != gi }) {
		e.series = groups[gi].Series[start : start+len(run) : start+len(run)]
	}
	for k := range run {
		if run[k].drop == nil {
			run[k].Series = nil
		}
	}
}

// remember records in the series' cache entry which group holds it.
func (s *parsedSeries) remember(g *pipeline.Group, gen uint64, ambiguous bool) {
	if s.entry == nil || gen == 0 {
		return
	}
	e := s.entry
	e.attributed, e.ambiguous = gen, ambiguous
	if g == nil {
		e.groupKey, e.groupHash = labels.EmptyLabels(), 0
		return
	}
	e.groupKey, e.groupHash = g.Labels, g.Labels.Hash()
}

func isGroupMetric(ls labels.Labels) bool {
	name := ls.Get(model.MetricNameLabel)
	return name == PushTimeMetric || name == PushFailureTimeMetric
}

// pickGroup chooses among candidate groups the first one that the membership
// names, or else the one with the most grouping labels.
func pickGroup(groups []pipeline.Group, cands []int32, members []labels.Labels) int32 {
	for _, gi := range cands {
		if slices.ContainsFunc(members, func(m labels.Labels) bool { return labels.Equal(m, groups[gi].Labels) }) {
			return gi
		}
	}
	best := cands[0]
	for _, gi := range cands[1:] {
		if groups[gi].Labels.Len() > groups[best].Labels.Len() {
			best = gi
		}
	}
	return best
}

package pushgateway

import (
	"iter"
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
	return attributeCached(groups, slices.Values(series), resolve, 0, 0)
}

// attributeCached is attribute that reuses what a series' cache entry says
// about its group when the set of grouping keys (keysGen) is the one the
// entry was attributed under, and for series whose attribution was
// ambiguous, also the groups' push times (contentGen). Zero generations
// disable the reuse. It records new attributions in the entries. series
// is walked twice and must give the same series both times; with the
// cache, it walks the cache's entries rather than a list as large as the
// exposition.
func attributeCached(groups []pipeline.Group, series iter.Seq[parsedSeries], resolve func() (membership, error), keysGen, contentGen uint64) (own []pipeline.Series, err error) {
	var (
		idx    *groupIndex // built when first needed
		cands  []int32
		mem    membership
		b      labels.Builder
		sb     labels.ScratchBuilder
		byHash map[uint64]int32
		refs   []groupRef // the grouping keys entries are pointed at
	)
	cache := keysGen != 0
	if cache {
		byHash = make(map[uint64]int32, len(groups))
		refs = make([]groupRef, len(groups))
		for i := range groups {
			h := groups[i].Labels.Hash()
			byHash[h] = int32(i)
			refs[i] = groupRef{key: groups[i].Labels, hash: h}
		}
	}
	ref := func(gi int32) *groupRef {
		if gi < 0 || refs == nil {
			return nil
		}
		return &refs[gi]
	}
	// First find each series' group (its index, -1 for none), then give
	// every group one slice of the right size.
	var holder []int32
	count := make([]int, len(groups))
	for s := range series {
		i := len(holder)
		holder = append(holder, -1)
		if e := s.entry; e != nil && cache {
			gen := keysGen
			if e.ambiguous {
				gen = contentGen
			}
			if e.attributed == gen {
				if e.group == nil {
					continue // the gateway's own
				}
				if gi, ok := byHash[e.group.hash]; ok && labels.Equal(groups[gi].Labels, e.group.key) {
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
			cands = idx.candidatesOfDropped(cands[:0], s.drop, &sb)
			if len(cands) == 0 {
				s.remember(nil, keysGen, false)
				continue
			}
			holder[i] = pickGroup(groups, cands, nil)
			s.remember(ref(holder[i]), keysGen, false)
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
			continue
		case 1:
			gi = cands[0]
			s.remember(ref(gi), keysGen, false)
		default:
			if mem == nil {
				if mem, err = resolve(); err != nil {
					return nil, err
				}
			}
			b.Reset(s.Labels)
			b.Del(model.MetricNameLabel, labels.BucketLabel, "quantile")
			gi = pickGroup(groups, cands, mem.groupsOf(*s.family, b.Labels()))
			s.remember(ref(gi), contentGen, true)
		}
		holder[i] = gi
		count[gi]++
	}
	// Each group's series are allocated when its first one is placed, and
	// with the cache, each entry is pointed at its group's copy as soon as
	// its series are placed (a run: the consecutive series of one entry):
	// the parsed series (the cache's slabs) become garbage as they are
	// copied, rather than all of them living next to all the copies until
	// the end. A first scrape is the bridge's peak of memory.
	for i := range groups {
		groups[i].Series = nil
	}
	var run entryRun
	i := 0
	for s := range series {
		gi := holder[i]
		i++
		if cache && (run.n == 0 || s.entry != run.entry) {
			run.share(groups)
			run = entryRun{entry: s.entry, group: gi, start: -1}
		}
		run.n++
		if gi != run.group {
			run.group = -1
		}
		if d := s.drop; d != nil {
			if gi >= 0 {
				groups[gi].DroppedSeries += d.series
			}
			continue
		}
		if gi < 0 {
			own = append(own, *s.Series)
			continue
		}
		g := &groups[gi]
		if g.Series == nil {
			g.Series = make([]pipeline.Series, 0, count[gi])
		}
		if run.n == 1 {
			run.start = len(g.Series)
		}
		g.Series = append(g.Series, *s.Series)
	}
	run.share(groups)
	for i := range groups {
		if groups[i].Series == nil {
			groups[i].Series = []pipeline.Series{}
		}
	}
	return own, nil
}

// entryRun is the consecutive series of one cache entry as attribution
// places them: n series, all in group (-1 if not all in one group), from
// place start on (-1 if the first was not placed in a group).
type entryRun struct {
	entry *cacheEntry
	n     int
	group int32
	start int
}

// share points the run's cache entry at its group's copy if all its
// series went to one group, so that the cache and the groups hold the
// series once and the parsed ones can go. Groups never change once made,
// so sharing is safe; the next attribution copies from the entries.
func (r *entryRun) share(groups []pipeline.Group) {
	if e := r.entry; e != nil && r.group >= 0 && r.start >= 0 && int(e.n) == r.n {
		e.setSeries(groups[r.group].Series[r.start : r.start+r.n])
	}
}

// remember records in the series' cache entry which group holds it.
func (s *parsedSeries) remember(g *groupRef, gen uint64, ambiguous bool) {
	if s.entry == nil || gen == 0 {
		return
	}
	e := s.entry
	e.attributed, e.ambiguous, e.group = gen, ambiguous, g
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

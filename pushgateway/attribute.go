package pushgateway

import (
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// parsedSeries is a series read from /metrics with the name of the metric
// family it came in, needed to look it up in /api/v1/metrics.
type parsedSeries struct {
	Series
	family string
}

// groupIndex finds the groups whose grouping key is a subset of a series'
// labels. A Pushgateway usually has few distinct sets of grouping label names
// ({job}, {job,instance}, ...), so a lookup hashes the series once per name set
// instead of comparing it with every group.
type groupIndex struct {
	nameSets [][]string
	byKey    []map[uint64][]*Group // parallel to nameSets
	buf      []byte
}

func newGroupIndex(groups []Group) *groupIndex {
	idx := &groupIndex{}
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
			idx.byKey = append(idx.byKey, map[uint64][]*Group{})
		}
		var h uint64
		h, idx.buf = g.Labels.HashForLabels(idx.buf, names...)
		idx.byKey[n][h] = append(idx.byKey[n][h], g)
	}
	return idx
}

// candidates appends to dst every group whose grouping key is contained in ls.
func (idx *groupIndex) candidates(dst []*Group, ls labels.Labels) []*Group {
	for n, names := range idx.nameSets {
		var h uint64
		h, idx.buf = ls.HashForLabels(idx.buf, names...)
		for _, g := range idx.byKey[n][h] {
			if containsAll(ls, g.Labels) {
				dst = append(dst, g)
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
func attribute(groups []Group, series []parsedSeries, resolve func() (membership, error)) (own []Series, err error) {
	idx := newGroupIndex(groups)
	var (
		cands []*Group
		mem   membership
		b     labels.Builder
	)
	for _, s := range series {
		cands = idx.candidates(cands[:0], s.Labels)
		if len(cands) > 1 && isGroupMetric(s.Labels) {
			// push_time_seconds and push_failure_time_seconds carry exactly
			// their group's key.
			b.Reset(s.Labels)
			b.Del(model.MetricNameLabel)
			key := b.Labels()
			cands = slices.DeleteFunc(cands, func(g *Group) bool { return !labels.Equal(g.Labels, key) })
		}
		switch len(cands) {
		case 0:
			own = append(own, s.Series)
			continue
		case 1:
			cands[0].Series = append(cands[0].Series, s.Series)
			continue
		}
		if mem == nil {
			if mem, err = resolve(); err != nil {
				return nil, err
			}
		}
		b.Reset(s.Labels)
		b.Del(model.MetricNameLabel, labels.BucketLabel, "quantile")
		g := pickGroup(cands, mem.groupsOf(s.family, b.Labels()))
		g.Series = append(g.Series, s.Series)
	}
	return own, nil
}

func isGroupMetric(ls labels.Labels) bool {
	name := ls.Get(model.MetricNameLabel)
	return name == PushTimeMetric || name == PushFailureTimeMetric
}

// pickGroup chooses among candidate groups the first one that the membership
// names, or else the one with the most grouping labels.
func pickGroup(cands []*Group, members []labels.Labels) *Group {
	for _, g := range cands {
		if slices.ContainsFunc(members, func(m labels.Labels) bool { return labels.Equal(m, g.Labels) }) {
			return g
		}
	}
	best := cands[0]
	for _, g := range cands[1:] {
		if g.Labels.Len() > best.Labels.Len() {
			best = g
		}
	}
	return best
}

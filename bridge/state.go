package bridge

import (
	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushgateway-bridge/pushgateway-bridge/pushgateway"
)

// seriesState is the one owner of which series were sent in the last
// complete cycle. Comparing it with the next complete cycle yields the series
// that vanished and need a staleness marker, as Prometheus' scrape loop does
// with its series cache.
//
// Every known series carries the number of the last cycle that had it; a
// cycle marks what it has and then sweeps what it did not mark. That is one
// map update per series, without building a second set.
//
// It is not safe for concurrent use; the loop owns it.
type seriesState struct {
	cycle uint64
	// changed tells whether the last advance added or removed a series:
	// whether the state needs saving.
	changed bool
	byHash  map[uint64]stateEntry
	// collisions holds the rare second label set of an already taken hash,
	// keyed by its string form.
	collisions map[string]stateEntry
	// last is the series of the last advance, in order. A cycle with the
	// same series in the same order (the common case: no group was pushed)
	// changes nothing, and comparing with it is much cheaper than a map
	// update per series: unchanged groups share their label strings from
	// cycle to cycle, so most comparisons are of identical pointers.
	last []labels.Labels
}

type stateEntry struct {
	labels labels.Labels
	cycle  uint64
}

func newSeriesState() *seriesState {
	return &seriesState{byHash: map[uint64]stateEntry{}, collisions: map[string]stateEntry{}}
}

// advance records series as the content of a complete cycle and appends to
// stale the labels of every series of the previous one that is not in it.
func (s *seriesState) advance(series []pushgateway.Series, stale []labels.Labels) []labels.Labels {
	return s.advanceAll([][]pushgateway.Series{series}, stale)
}

// advanceAll is advance for a cycle's series given in several slices.
func (s *seriesState) advanceAll(all [][]pushgateway.Series, stale []labels.Labels) []labels.Labels {
	if s.unchanged(all) {
		s.changed = false
		return stale
	}
	s.last = s.last[:0]
	s.cycle++
	before := len(stale)
	known, n := 0, 0
	for _, series := range all {
		n += len(series)
		for i := range series {
			ls := series[i].Labels
			s.last = append(s.last, ls)
			h := series[i].LabelsHash()
			e, ok := s.byHash[h]
			if ok && !labels.Equal(e.labels, ls) {
				s.collisions[ls.String()] = stateEntry{labels: ls, cycle: s.cycle}
				continue
			}
			if ok {
				known++
			}
			s.byHash[h] = stateEntry{labels: ls, cycle: s.cycle}
		}
	}
	for h, e := range s.byHash {
		if e.cycle != s.cycle {
			stale = append(stale, e.labels)
			delete(s.byHash, h)
		}
	}
	for k, e := range s.collisions {
		if e.cycle == s.cycle {
			continue
		}
		// A collider whose hash became free moved to byHash: not stale.
		if moved, ok := s.byHash[e.labels.Hash()]; !ok || moved.cycle != s.cycle || !labels.Equal(moved.labels, e.labels) {
			stale = append(stale, e.labels)
		}
		delete(s.collisions, k)
	}
	s.changed = len(stale) > before || known+len(s.collisions) != n
	return stale
}

// unchanged tells whether the series are those of the last advance, in
// order.
func (s *seriesState) unchanged(all [][]pushgateway.Series) bool {
	n := 0
	for _, series := range all {
		n += len(series)
	}
	if n != len(s.last) || n == 0 {
		return false
	}
	last := s.last
	for _, series := range all {
		for i := range series {
			if !labels.Equal(series[i].Labels, last[i]) {
				return false
			}
		}
		last = last[len(series):]
	}
	return true
}

// load fills an empty state with series sent before a restart. They count
// as sent by the cycle before the next one.
func (s *seriesState) load(series []labels.Labels) {
	for _, ls := range series {
		h := ls.Hash()
		if e, ok := s.byHash[h]; ok && !labels.Equal(e.labels, ls) {
			s.collisions[ls.String()] = stateEntry{labels: ls, cycle: s.cycle}
			continue
		}
		s.byHash[h] = stateEntry{labels: ls, cycle: s.cycle}
	}
}

// len is the number of series the state holds.
func (s *seriesState) len() int { return len(s.byHash) + len(s.collisions) }

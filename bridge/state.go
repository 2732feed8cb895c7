package bridge

import (
	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushgateway-bridge/pushgateway-bridge/pushgateway"
)

// seriesState is the one owner of which series were sent in the last
// complete cycle. Comparing it with the next complete cycle yields the series
// that vanished and need a staleness marker, as Prometheus' scrape loop does
// with its previous/current series caches.
//
// It is not safe for concurrent use; the loop owns it.
type seriesState struct {
	prev, cur seriesSet
}

func newSeriesState() *seriesState {
	return &seriesState{prev: newSeriesSet(), cur: newSeriesSet()}
}

// advance records series as the content of a complete cycle and appends to
// stale the labels of every series of the previous one that is not in it.
func (s *seriesState) advance(series []pushgateway.Series, stale []labels.Labels) []labels.Labels {
	s.cur.clear()
	for i := range series {
		s.cur.add(series[i].Labels)
	}
	stale = s.prev.appendMissing(stale, s.cur)
	s.prev, s.cur = s.cur, s.prev
	return stale
}

// seriesSet is a set of label sets keyed by their hash. The rare second label
// set with an already taken hash goes to a map keyed by its string form.
type seriesSet struct {
	byHash     map[uint64]labels.Labels
	collisions map[string]labels.Labels
}

func newSeriesSet() seriesSet {
	return seriesSet{byHash: map[uint64]labels.Labels{}, collisions: map[string]labels.Labels{}}
}

func (s seriesSet) add(ls labels.Labels) {
	h := ls.Hash()
	if have, ok := s.byHash[h]; ok && !labels.Equal(have, ls) {
		s.collisions[ls.String()] = ls
		return
	}
	s.byHash[h] = ls
}

func (s seriesSet) has(ls labels.Labels) bool {
	if have, ok := s.byHash[ls.Hash()]; ok && labels.Equal(have, ls) {
		return true
	}
	_, ok := s.collisions[ls.String()]
	return ok
}

// appendMissing appends to dst the label sets of s that other lacks.
func (s seriesSet) appendMissing(dst []labels.Labels, other seriesSet) []labels.Labels {
	for _, ls := range s.byHash {
		if !other.has(ls) {
			dst = append(dst, ls)
		}
	}
	for _, ls := range s.collisions {
		if !other.has(ls) {
			dst = append(dst, ls)
		}
	}
	return dst
}

func (s seriesSet) clear() {
	clear(s.byHash)
	clear(s.collisions)
}

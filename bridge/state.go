package bridge

import (
	"slices"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// seriesState is the one owner of which series were sent in the last
// complete cycle. Comparing it with the next complete cycle yields the series
// that vanished and need a staleness marker, as Prometheus' scrape loop does
// with its series cache.
//
// A cycle's series come in parts that mostly stay as they are from cycle to
// cycle: one per group (a group not pushed again has exactly the series it
// had, in the very same slice), the synthesized series, a gateway's own
// metrics. The state keeps each part under the part's key: not a copy, the
// part itself, which nobody changes once made (the senders read it after
// the cycle too). A cycle costs one comparison per part that is the same
// slice as last time, else one comparison of labels per series (most often
// of the very same strings, which compares without reading them); no map
// update, no memory per series. Only the parts that differ from last time,
// and the parts that are gone, give candidates for staleness markers: their
// old series, of which those that the cycle does not have anywhere are
// stale.
//
// It is not safe for concurrent use; the loop owns it.
type seriesState struct {
	// changed tells whether the last advance found a part added, removed
	// or different: whether the state needs saving.
	changed bool
	// parts are those of the last advance, in order; index finds a part by
	// its key (the first part of a key, if several had it).
	parts []statePart
	index map[uint64]int
	// loaded holds the series sent before a restart (labels and metadata,
	// no value), until the next advance compares them with what it has.
	loaded []pipeline.Series

	// Scratch, kept between cycles.
	next    []statePart
	matched []bool
	cands   candidates
}

// Keys of the parts that are not groups; a group's part has its grouping
// key's hash. Keys only make the comparison cheap: a part matched with the
// wrong one, or with none, costs time, never a wrong staleness marker.
const (
	synthPartKey   uint64 = 0x73796e7468 // "synth"
	ownPartKeyBase uint64 = 0x6f776e0000 // "own", plus the gateway's index
)

func ownPartKey(gateway int) uint64 { return ownPartKeyBase + uint64(gateway) }

// statePart is one part of a cycle as the state keeps it.
type statePart struct {
	key    uint64
	series []pipeline.Series
}

func newSeriesState() *seriesState {
	return &seriesState{index: map[uint64]int{}}
}

// advance records series as the content of a complete cycle, in one part,
// and appends to stale every series of the previous cycle that is not in
// it (its labels and metadata; the value is the caller's to set).
func (s *seriesState) advance(series []pipeline.Series, stale []pipeline.Series) []pipeline.Series {
	return s.advanceParts([]uint64{0}, [][]pipeline.Series{series}, stale)
}

// advanceParts records the parts all, with their keys, as the content of a
// complete cycle and appends to stale every series of the previous cycle
// that is in none of them, with its metadata: a staleness marker must reach
// the series the receiver stored, and where metadata is part of a series'
// identity (Prometheus' type-and-unit labels) it takes the metadata along.
// The state keeps the parts, not copies: they must not change afterwards.
func (s *seriesState) advanceParts(keys []uint64, all [][]pipeline.Series, stale []pipeline.Series) []pipeline.Series {
	s.changed = false
	s.matched = slices.Grow(s.matched[:0], len(s.parts))[:len(s.parts)]
	clear(s.matched)
	s.cands.reset()
	next := s.next[:0]
	moved := len(all) != len(s.parts)
	for i, series := range all {
		key := keys[i]
		j, ok := s.index[key]
		if ok && !s.matched[j] {
			s.matched[j] = true
			moved = moved || i != j
			if old := s.parts[j].series; sameSeries(old, series) {
				next = append(next, statePart{key: key, series: series})
				continue
			}
			s.cands.addSeries(s.parts[j].series)
		}
		s.changed = true
		next = append(next, statePart{key: key, series: series})
	}
	for j, m := range s.matched {
		if !m {
			s.changed = true
			s.cands.addSeries(s.parts[j].series)
		}
	}
	if s.loaded != nil {
		s.changed = true
		for i := range s.loaded {
			s.cands.add(&s.loaded[i])
		}
		s.loaded = nil
	}
	if s.cands.len() > 0 {
		for _, series := range all {
			for k := range series {
				s.cands.remove(&series[k])
			}
		}
		stale = s.cands.appendLeft(stale)
	}
	clear(s.parts)
	s.parts, s.next = next, s.parts[:0]
	if s.changed || moved {
		clear(s.index)
		for i, p := range s.parts {
			if _, ok := s.index[p.key]; !ok {
				s.index[p.key] = i
			}
		}
	}
	return stale
}

// sameSeries tells whether series have the labels old has, in order: at
// once if they are the same slice.
func sameSeries(old, series []pipeline.Series) bool {
	if len(old) != len(series) {
		return false
	}
	if len(old) == 0 || &old[0] == &series[0] {
		return true
	}
	for i := range series {
		if !labels.Equal(old[i].Labels, series[i].Labels) {
			return false
		}
	}
	return true
}

// candidates are series of the last cycle that may be stale: those of parts
// that changed or vanished. A series is in the set once, however many parts
// had it.
type candidates struct {
	series  []*pipeline.Series
	present []bool           // parallel to series: seen in the cycle
	byHash  map[uint64]int32 // hash -> first index in series
	chain   []int32          // parallel to series: next index of the same hash, or -1
}

func (c *candidates) reset() {
	clear(c.series)
	c.series, c.present, c.chain = c.series[:0], c.present[:0], c.chain[:0]
	if len(c.byHash) > 0 {
		// A cycle after a large change (a restart, a gateway lost) need
		// not keep the large map.
		c.byHash = nil
	}
}

func (c *candidates) len() int { return len(c.series) }

// addSeries adds every series that is not in the set yet.
func (c *candidates) addSeries(series []pipeline.Series) {
	for i := range series {
		c.add(&series[i])
	}
}

// add adds s if it is not in the set yet. The set keeps the pointer: the
// series it points to do not change.
func (c *candidates) add(s *pipeline.Series) {
	if c.byHash == nil {
		c.byHash = map[uint64]int32{}
	}
	h := s.LabelsHash()
	if c.find(h, s.Labels) >= 0 {
		return
	}
	i := int32(len(c.series))
	first, ok := c.byHash[h]
	if !ok {
		first = -1
	}
	c.byHash[h] = i
	c.series = append(c.series, s)
	c.present = append(c.present, false)
	c.chain = append(c.chain, first)
}

// find returns the index of l, whose hash is h, or -1.
func (c *candidates) find(h uint64, l labels.Labels) int32 {
	i, ok := c.byHash[h]
	if !ok {
		return -1
	}
	for ; i >= 0; i = c.chain[i] {
		if labels.Equal(c.series[i].Labels, l) {
			return i
		}
	}
	return -1
}

// remove notes that the cycle has the series.
func (c *candidates) remove(s *pipeline.Series) {
	if i := c.find(s.LabelsHash(), s.Labels); i >= 0 {
		c.present[i] = true
	}
}

// appendLeft appends the candidates the cycle does not have, in the order
// they were added.
func (c *candidates) appendLeft(stale []pipeline.Series) []pipeline.Series {
	for i, s := range c.series {
		if !c.present[i] {
			stale = append(stale, pipeline.Series{Labels: s.Labels, Metadata: s.Metadata, Hash: s.Hash})
		}
	}
	return stale
}

// load fills an empty state with series sent before a restart. The next
// advance compares them with what it has.
func (s *seriesState) load(series []pipeline.Series) { s.loaded = series }

// reconsider hands back staleness markers that could not be sent: the next
// advance judges them again, like series loaded after a restart, so a
// series that is still gone gets its marker then, and one that came back
// gets none.
func (s *seriesState) reconsider(stale []pipeline.Series) {
	s.loaded = append(s.loaded, stale...)
}

// len is the number of series the state holds.
func (s *seriesState) len() int {
	n := len(s.loaded)
	for _, p := range s.parts {
		n += len(p.series)
	}
	return n
}

// each calls f with every series the state holds.
func (s *seriesState) each(f func(*pipeline.Series)) {
	for _, p := range s.parts {
		for i := range p.series {
			f(&p.series[i])
		}
	}
	for i := range s.loaded {
		f(&s.loaded[i])
	}
}

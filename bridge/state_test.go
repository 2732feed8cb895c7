package bridge

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// TestSeriesStateParts runs cycles of several parts through one state: a
// part that vanishes, a series that moves from one part to another or is in
// two, parts that trade places, and a state loaded after a restart.
func TestSeriesStateParts(t *testing.T) {
	a, b, c, d := series("a", 1, "job", "x"), series("b", 1, "job", "x"), series("c", 1, "job", "y"), series("d", 1, "job", "y")
	type part struct {
		key    uint64
		series []pipeline.Series
	}
	for _, tc := range []struct {
		name   string
		loaded []pipeline.Series
		cycles [][]part
		stale  [][]string // per cycle
		change []bool     // per cycle
	}{
		{
			name:   "a part vanishes",
			cycles: [][]part{{{1, []pipeline.Series{a, b}}, {2, []pipeline.Series{c}}}, {{2, []pipeline.Series{c}}}, {{2, []pipeline.Series{c}}}},
			stale:  [][]string{nil, {`{__name__="a", job="x"}`, `{__name__="b", job="x"}`}, nil},
			change: []bool{true, true, false},
		},
		{
			name:   "a series moves to another part",
			cycles: [][]part{{{1, []pipeline.Series{a, b}}, {2, []pipeline.Series{c}}}, {{1, []pipeline.Series{b}}, {2, []pipeline.Series{a, c}}}},
			stale:  [][]string{nil, nil},
			change: []bool{true, true},
		},
		{
			name:   "a series in two parts, one of which vanishes",
			cycles: [][]part{{{1, []pipeline.Series{a, b}}, {2, []pipeline.Series{a}}}, {{2, []pipeline.Series{a}}}, {}},
			stale:  [][]string{nil, {`{__name__="b", job="x"}`}, {`{__name__="a", job="x"}`}},
			change: []bool{true, true, true},
		},
		{
			name:   "parts trade places, then one changes",
			cycles: [][]part{{{1, []pipeline.Series{a}}, {2, []pipeline.Series{c}}}, {{2, []pipeline.Series{c}}, {1, []pipeline.Series{a}}}, {{2, []pipeline.Series{d}}, {1, []pipeline.Series{a}}}},
			stale:  [][]string{nil, nil, {`{__name__="c", job="y"}`}},
			change: []bool{true, false, true},
		},
		{
			name:   "two parts of one key",
			cycles: [][]part{{{1, []pipeline.Series{a}}, {1, []pipeline.Series{c}}}, {{1, []pipeline.Series{a}}, {1, []pipeline.Series{c}}}, {{1, []pipeline.Series{a}}}},
			stale:  [][]string{nil, nil, {`{__name__="c", job="y"}`}},
			change: []bool{true, true, true},
		},
		{
			name:   "loaded after a restart",
			loaded: []pipeline.Series{{Labels: a.Labels}, {Labels: b.Labels}, {Labels: c.Labels}},
			cycles: [][]part{{{1, []pipeline.Series{a}}, {2, []pipeline.Series{d}}}, {{1, []pipeline.Series{a}}, {2, []pipeline.Series{d}}}},
			stale:  [][]string{{`{__name__="b", job="x"}`, `{__name__="c", job="y"}`}, nil},
			change: []bool{true, false},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newSeriesState()
			st.load(tc.loaded)
			for i, cycle := range tc.cycles {
				var (
					keys []uint64
					all  [][]pipeline.Series
					n    int
				)
				for _, p := range cycle {
					keys, all = append(keys, p.key), append(all, p.series)
					n += len(p.series)
				}
				var got []string
				for _, ls := range st.advanceParts(keys, all, nil) {
					got = append(got, ls.Labels.String())
				}
				slices.Sort(got)
				if !slices.Equal(got, tc.stale[i]) {
					t.Errorf("cycle %d: stale %q, want %q", i, got, tc.stale[i])
				}
				if st.changed != tc.change[i] {
					t.Errorf("cycle %d: changed %v, want %v", i, st.changed, tc.change[i])
				}
				if st.len() != n {
					t.Errorf("cycle %d: state holds %d series, want %d", i, st.len(), n)
				}
			}
		})
	}
}

// TestSeriesStateAdvance runs cycles through one state and checks the
// staleness markers and whether the state changed, including cycles that
// repeat the last one (the shortcut) with the same or copied labels.
func TestSeriesStateAdvance(t *testing.T) {
	a, b, c := series("a", 1, "job", "x"), series("b", 1, "job", "x"), series("c", 1, "job", "y")
	copied := pipeline.Series{Labels: labels.FromStrings("__name__", strings.Clone("a"), "job", strings.Clone("x"))}
	st := newSeriesState()
	for i, step := range []struct {
		series  []pipeline.Series
		stale   []string
		changed bool
	}{
		{[]pipeline.Series{a, b}, nil, true},
		{[]pipeline.Series{a, b}, nil, false},
		{[]pipeline.Series{copied, b}, nil, false},
		{[]pipeline.Series{b, a}, nil, true}, // another order, same set: no marker, saved again
		{[]pipeline.Series{b}, []string{`{__name__="a", job="x"}`}, true},
		{[]pipeline.Series{b}, nil, false},
		{[]pipeline.Series{c, b}, nil, true},
		{[]pipeline.Series{a, c}, []string{`{__name__="b", job="x"}`}, true},
		{nil, []string{`{__name__="a", job="x"}`, `{__name__="c", job="y"}`}, true},
		{nil, nil, false},
		{[]pipeline.Series{a}, nil, true},
	} {
		var got []string
		for _, ls := range st.advance(step.series, nil) {
			got = append(got, ls.Labels.String())
		}
		slices.Sort(got)
		if !slices.Equal(got, step.stale) {
			t.Errorf("cycle %d: stale %q, want %q", i, got, step.stale)
		}
		if st.changed != step.changed {
			t.Errorf("cycle %d: changed %v, want %v", i, st.changed, step.changed)
		}
		if st.len() != len(step.series) {
			t.Errorf("cycle %d: state holds %d series, want %d", i, st.len(), len(step.series))
		}
	}
}

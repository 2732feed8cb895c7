package bridge

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushgateway-bridge/pushgateway-bridge/pushgateway"
)

// TestSeriesStateAdvance runs cycles through one state and checks the
// staleness markers and whether the state changed, including cycles that
// repeat the last one (the shortcut) with the same or copied labels.
func TestSeriesStateAdvance(t *testing.T) {
	a, b, c := series("a", 1, "job", "x"), series("b", 1, "job", "x"), series("c", 1, "job", "y")
	copied := pushgateway.Series{Labels: labels.FromStrings("__name__", strings.Clone("a"), "job", strings.Clone("x"))}
	st := newSeriesState()
	for i, step := range []struct {
		series  []pushgateway.Series
		stale   []string
		changed bool
	}{
		{[]pushgateway.Series{a, b}, nil, true},
		{[]pushgateway.Series{a, b}, nil, false},
		{[]pushgateway.Series{copied, b}, nil, false},
		{[]pushgateway.Series{b, a}, nil, false}, // another order, same set
		{[]pushgateway.Series{b}, []string{`{__name__="a", job="x"}`}, true},
		{[]pushgateway.Series{b}, nil, false},
		{[]pushgateway.Series{c, b}, nil, true},
		{[]pushgateway.Series{a, c}, []string{`{__name__="b", job="x"}`}, true},
		{nil, []string{`{__name__="a", job="x"}`, `{__name__="c", job="y"}`}, true},
		{nil, nil, false},
		{[]pushgateway.Series{a}, nil, true},
	} {
		var got []string
		for _, ls := range st.advance(step.series, nil) {
			got = append(got, ls.String())
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

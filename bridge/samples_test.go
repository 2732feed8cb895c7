package bridge

import (
	"strconv"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/value"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// TestCycleSamples reads a cycle of parts (empty ones included) and
// staleness markers in pieces: carrying on where the last read stopped,
// jumping back, forward and into the markers.
func TestCycleSamples(t *testing.T) {
	mk := func(names ...string) []pipeline.Series {
		var out []pipeline.Series
		for _, n := range names {
			v, _ := strconv.ParseFloat(n[1:], 64)
			out = append(out, pipeline.Series{Labels: labels.FromStrings("__name__", n), Value: v})
		}
		return out
	}
	parts := [][]pipeline.Series{nil, mk("a1", "a2"), nil, nil, mk("b3"), mk("c4", "c5", "c6")}
	counter := &metadata.Metadata{Type: model.MetricTypeCounter, Unit: "bytes"}
	stale := []pipeline.Series{{Labels: labels.FromStrings("__name__", "s7"), Metadata: counter}, {Labels: labels.FromStrings("__name__", "s8")}}
	want := []string{"a1", "a2", "b3", "c4", "c5", "c6", "s7", "s8"}

	for _, tc := range []struct {
		name   string
		ranges [][2]int
	}{
		{"whole", [][2]int{{0, 8}}},
		{"in order, by three", [][2]int{{0, 3}, {3, 6}, {6, 8}}},
		{"one at a time", [][2]int{{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 5}, {5, 6}, {6, 7}, {7, 8}}},
		{"jumps", [][2]int{{5, 7}, {0, 2}, {2, 3}, {7, 8}, {3, 5}, {6, 8}}},
		{"part boundaries and markers only", [][2]int{{2, 3}, {6, 8}, {1, 2}, {3, 3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCycleSamples(42, parts, stale)
			if c.Len() != len(want) {
				t.Fatalf("Len() = %d, want %d", c.Len(), len(want))
			}
			for _, r := range tc.ranges {
				got := c.AppendTo(nil, r[0], r[1])
				if len(got) != r[1]-r[0] {
					t.Fatalf("AppendTo(%d, %d): %d samples, want %d", r[0], r[1], len(got), r[1]-r[0])
				}
				for i, s := range got {
					name := want[r[0]+i]
					if s.Labels.Get("__name__") != name || s.T != 42 {
						t.Errorf("AppendTo(%d, %d)[%d] = %s@%d, want %s@42", r[0], r[1], i, s.Labels, s.T, name)
					}
					isStale := value.IsStaleNaN(s.V)
					if wantStale := name[0] == 's'; isStale != wantStale {
						t.Errorf("AppendTo(%d, %d)[%d] %s: staleness marker %v, want %v", r[0], r[1], i, name, isStale, wantStale)
					}
					if isStale && name == "s7" && s.Meta != counter {
						t.Errorf("AppendTo(%d, %d)[%d] %s: metadata %v, want %v", r[0], r[1], i, name, s.Meta, counter)
					}
					if v, _ := strconv.ParseFloat(name[1:], 64); !isStale && s.V != v {
						t.Errorf("AppendTo(%d, %d)[%d] %s: value %v, want %v", r[0], r[1], i, name, s.V, v)
					}
				}
			}
		})
	}
}

package bridge

import (
	"fmt"
	"testing"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushgateway-bridge/pushgateway-bridge/pushgateway"
)

// BenchmarkStalenessDiff measures one cycle's diff of 100,000 series
// against the previous cycle, 1% of which vanished.
func BenchmarkStalenessDiff(b *testing.B) {
	const n = 100_000
	mk := func(skipEvery int) []pushgateway.Series {
		out := make([]pushgateway.Series, 0, n)
		for i := range n {
			if skipEvery > 0 && i%skipEvery == 0 {
				continue
			}
			out = append(out, pushgateway.Series{Labels: labels.FromStrings("__name__", "bench_gauge",
				"instance", fmt.Sprintf("i%d", i/100), "job", "bench", "table", fmt.Sprintf("t%d", i%100))})
		}
		return out
	}
	full, fewer := mk(0), mk(100)
	st := newSeriesState()
	st.advance(full, nil)
	b.ReportAllocs()
	var stale []labels.Labels
	for i := 0; b.Loop(); i++ {
		cur := full
		if i%2 == 0 {
			cur = fewer
		}
		stale = st.advance(cur, stale[:0])
	}
}

package bridge

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

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

// BenchmarkStalenessUnchanged is BenchmarkStalenessDiff for a cycle with
// the series of the last one, the common case.
func BenchmarkStalenessUnchanged(b *testing.B) {
	const n = 100_000
	series := make([]pushgateway.Series, 0, n)
	for i := range n {
		series = append(series, pushgateway.Series{Labels: labels.FromStrings("__name__", "bench_gauge",
			"instance", fmt.Sprintf("i%d", i/100), "job", "bench", "table", fmt.Sprintf("t%d", i%100))})
	}
	st := newSeriesState()
	st.advance(series, nil)
	b.ReportAllocs()
	for b.Loop() {
		if stale := st.advance(series, nil); len(stale) > 0 {
			b.Fatal("stale series in an unchanged cycle")
		}
	}
}

// BenchmarkStateSave1M saves the state of 1,000,000 series of realistic
// shape (name, job, instance, two more labels) and reports the file size.
func BenchmarkStateSave1M(b *testing.B) {
	const n = 1_000_000
	s := newSeriesState()
	series := make([]pushgateway.Series, 0, n)
	for i := range n {
		series = append(series, pushgateway.Series{Labels: labels.FromStrings("__name__", fmt.Sprintf("batch_metric_%d", i%50),
			"instance", fmt.Sprintf("host-%d", i/100), "job", fmt.Sprintf("nightly_job_%d", i%20),
			"shard", fmt.Sprint(i%4), "table", fmt.Sprintf("t%d", i%100))})
	}
	s.advance(series, nil)
	path := filepath.Join(b.TempDir(), "state")
	b.ReportAllocs()
	for b.Loop() {
		if err := saveState(path, s, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(fi.Size()), "file-bytes")
	b.ReportMetric(float64(fi.Size())/n, "bytes/series")
}

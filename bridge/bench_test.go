package bridge

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// BenchmarkStalenessDiff measures one cycle's diff of 100,000 series
// against the previous cycle, 1% of which vanished.
func BenchmarkStalenessDiff(b *testing.B) {
	const n = 100_000
	mk := func(skipEvery int) []pipeline.Series {
		out := make([]pipeline.Series, 0, n)
		for i := range n {
			if skipEvery > 0 && i%skipEvery == 0 {
				continue
			}
			out = append(out, pipeline.Series{Labels: labels.FromStrings("__name__", "bench_gauge",
				"instance", fmt.Sprintf("i%d", i/100), "job", "bench", "table", fmt.Sprintf("t%d", i%100))})
		}
		return out
	}
	full, fewer := mk(0), mk(100)
	st := newSeriesState()
	st.advance(full, nil)
	b.ReportAllocs()
	var stale []pipeline.Series
	for i := 0; b.Loop(); i++ {
		cur := full
		if i%2 == 0 {
			cur = fewer
		}
		stale = st.advance(cur, stale[:0])
	}
}

// BenchmarkStalenessOnePush measures one cycle's diff of 1,000 groups of
// 100 series in which one group was pushed again with one series fewer, or
// back: the common cycle of a busy Pushgateway.
func BenchmarkStalenessOnePush(b *testing.B) {
	const groups, per = 1000, 100
	keys := make([]uint64, groups)
	parts := make([][]pipeline.Series, groups)
	for g := range groups {
		keys[g] = uint64(g + 1)
		for i := range per {
			ls := labels.FromStrings("__name__", fmt.Sprintf("bench_gauge_%d", i), "instance", fmt.Sprintf("i%d", g), "job", "bench")
			parts[g] = append(parts[g], pipeline.Series{Labels: ls, Hash: ls.Hash()})
		}
	}
	full, fewer := parts[500], parts[500][1:]
	st := newSeriesState()
	st.advanceParts(keys, parts, nil)
	b.ReportAllocs()
	var stale []pipeline.Series
	for i := 0; b.Loop(); i++ {
		parts[500] = full
		if i%2 == 0 {
			parts[500] = fewer
		}
		stale = st.advanceParts(keys, parts, stale[:0])
		if want := (i + 1) % 2; len(stale) != want {
			b.Fatalf("cycle %d: %d staleness markers, want %d", i, len(stale), want)
		}
	}
}

// BenchmarkStalenessUnchanged is BenchmarkStalenessDiff for a cycle with
// the series of the last one, the common case.
func BenchmarkStalenessUnchanged(b *testing.B) {
	const n = 100_000
	series := make([]pipeline.Series, 0, n)
	for i := range n {
		series = append(series, pipeline.Series{Labels: labels.FromStrings("__name__", "bench_gauge",
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
	series := make([]pipeline.Series, 0, n)
	for i := range n {
		series = append(series, pipeline.Series{Labels: labels.FromStrings("__name__", fmt.Sprintf("batch_metric_%d", i%50),
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

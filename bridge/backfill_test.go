package bridge

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushgateway-bridge/pushgateway-bridge/internal/golden"
	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
	"github.com/pushgateway-bridge/pushgateway-bridge/synth"
)

func TestBackfillTicks(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	s := func(d time.Duration) time.Time { return t0.Add(d) }
	for _, tc := range []struct {
		name      string
		last, now time.Time
		window    time.Duration
		want      []time.Time
	}{
		{"gap", t0, s(60 * time.Second), time.Hour, []time.Time{s(15 * time.Second), s(30 * time.Second), s(45 * time.Second)}},
		{"now just after a tick is not filled twice", t0, s(46 * time.Second), time.Hour, []time.Time{s(15 * time.Second), s(30 * time.Second)}},
		{"bounded by the window, on the same grid", t0, s(60 * time.Second), 20 * time.Second, []time.Time{s(45 * time.Second)}},
		{"no gap", t0, s(15 * time.Second), time.Hour, nil},
		{"off", t0, s(60 * time.Second), 0, nil},
		{"never ran", time.Time{}, s(60 * time.Second), time.Hour, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := backfillTicks(tc.last, tc.now, 15*time.Second, tc.window)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("ticks = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestBackfillAfterRestart: a restart 60s after the last cycle fills the
// three missed ticks for a group pushed long before, only the tick after
// its push for a group pushed while the bridge was down (an expected one:
// nothing, not "missing", before its push), then sends the live cycle.
func TestBackfillAfterRestart(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "state")
	old := float64(t0.Add(-100 * time.Second).Unix())
	a := group(old, []pipeline.Series{series("done", 1, "job", "a")}, "job", "a")
	start := func(now time.Time, groups ...pipeline.Group) (*Bridge, *recorder) {
		rec := &recorder{}
		br, err := New(Options{
			// b is expected: before its push it is not "missing" either.
			Synth:             synth.Options{Expected: []labels.Labels{labels.FromStrings("job", "b")}},
			Gateways:          []Gateway{{Name: "pgw", Source: &fakeSource{script: []func() (*pipeline.Snapshot, error){snap(groups...)}}}},
			Interval:          15 * time.Second,
			Senders:           []Sender{rec},
			StatePath:         path,
			BackfillMaxWindow: time.Hour,
			Now:               func() time.Time { return now },
		})
		if err != nil {
			t.Fatal(err)
		}
		return br, rec
	}
	first, _ := start(t0, a)
	first.Cycle(context.Background())

	b := group(float64(t0.Add(35*time.Second).Unix()), []pipeline.Series{series("bytes", 9, "job", "b")}, "job", "b")
	second, rec := start(t0.Add(60*time.Second), a, b)
	second.Cycle(context.Background())
	var got strings.Builder
	for _, c := range rec.cycles {
		fmt.Fprintf(&got, "# append\n%s\n", onlyInteresting(lines(c)))
	}
	golden.Check(t, filepath.Join("testdata", "backfill.golden"), []byte(got.String()))
}

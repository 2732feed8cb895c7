package bridge

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
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
		br := newBackfillBridge(t, &now, Options{
			// b is expected: before its push it is not "missing" either.
			Synth:     synth.Options{Expected: []labels.Labels{labels.FromStrings("job", "b")}},
			Senders:   []Sender{rec},
			StatePath: path,
		}, snap(groups...))
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

// TestBackfillCountsWritten: backfill_samples_total counts the samples of
// the ticks every sender wrote, not those a sender refused (an endpoint
// whose disk queue failed, say). The fill stops at a refused tick and the
// cycle is not sent (it would go out before the tick it left unfilled): the
// next cycle fills from the refused tick on, then sends itself.
func TestBackfillCountsWritten(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "state")
	a := group(float64(t0.Add(-100*time.Second).Unix()), []pipeline.Series{series("done", 1, "job", "a")}, "job", "a")
	refused := t0.Add(30 * time.Second).UnixMilli()
	now := t0
	start := func(senders ...Sender) *Bridge {
		return newBackfillBridge(t, &now, Options{Senders: senders, StatePath: path}, snap(a), snap(a))
	}
	start(&recorder{}).Cycle(context.Background())

	ok := &recorder{}
	refuse := true
	failing := &recorder{fail: func(s pipeline.Samples) bool {
		return refuse && s.AppendTo(nil, 0, 1)[0].T == refused
	}}
	now = t0.Add(60 * time.Second)
	br := start(ok, failing)
	br.Cycle(context.Background())
	// The tick at +15s, then +30s, refused by one sender: no live cycle.
	if len(ok.cycles) != 2 || len(failing.cycles) != 1 {
		t.Fatalf("senders kept %d and %d cycles, want 2 and 1 (the tick at +30s refused, the cycle held back)", len(ok.cycles), len(failing.cycles))
	}
	perTick := len(ok.cycles[0])
	if got, want := testutil.ToFloat64(br.m.backfillSamples), float64(perTick); got != want {
		t.Errorf("backfill_samples_total = %v, want %v (one tick of %d samples)", got, want, perTick)
	}
	// The disk takes samples again: +30s, +45s, +60s (the held-back
	// cycle's tick) and +75s, the live cycle.
	refuse = false
	now = t0.Add(75 * time.Second)
	br.Cycle(context.Background())
	var got []string
	for _, c := range failing.cycles[1:] {
		got = append(got, time.UnixMilli(c[0].T).UTC().Format("04:05"))
	}
	if want := []string{"00:30", "00:45", "01:00", "01:15"}; !slices.Equal(got, want) {
		t.Errorf("after the disk recovered, ticks sent %q, want %q", got, want)
	}
}

// TestSendConcurrently: the senders of a cycle get it at the same time, so
// that each one's disk write does not wait for the others'.
func TestSendConcurrently(t *testing.T) {
	var entered sync.WaitGroup
	entered.Add(2)
	s := senderFunc(func(pipeline.Samples) error {
		entered.Done()
		entered.Wait() // returns only once both are in Append
		return nil
	})
	br, err := New(Options{
		Gateways: []Gateway{{Name: "pgw", Source: &fakeSource{script: []func() (*pipeline.Snapshot, error){snap()}}}},
		Interval: time.Second,
		Senders:  []Sender{s, s},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		br.Cycle(context.Background())
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the second sender did not get the cycle while the first held it")
	}
}

// senderFunc is a Sender calling itself.
type senderFunc func(pipeline.Samples) error

func (f senderFunc) Append(s pipeline.Samples) error { return f(s) }

// TestBackfillLateCycle: a cycle that comes late (the one before took
// longer than the interval) fills the ticks missed since the last complete
// cycle, on its grid, before its own samples; after an incomplete cycle
// (an outage without hold) nothing is filled.
func TestBackfillLateCycle(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	a := group(float64(t0.Add(-time.Hour).Unix()), []pipeline.Series{series("done", 1, "job", "a")}, "job", "a")
	now := t0
	rec := &recorder{}
	br := newBackfillBridge(t, &now, Options{Senders: []Sender{rec}}, snap(a), snap(a), unreachable, snap(a))
	var stamps []string
	for _, at := range []time.Duration{0, 50 * time.Second, 65 * time.Second, 200 * time.Second} {
		now = t0.Add(at)
		from := len(rec.cycles)
		br.Cycle(context.Background())
		var got []string
		for _, c := range rec.cycles[from:] {
			for _, s := range c {
				if s.Labels.Get("__name__") == "done" {
					got = append(got, time.UnixMilli(s.T).UTC().Format("04:05"))
				}
			}
		}
		stamps = append(stamps, strings.Join(got, " "))
	}
	want := []string{
		"00:00",             // the first cycle
		"00:15 00:30 00:50", // late: 00:15 and 00:30 filled (00:45 is closer to 00:50 than half an interval)
		"",                  // incomplete: nothing of the group
		"03:20",             // after an outage without hold: nothing filled
	}
	if !slices.Equal(stamps, want) {
		t.Errorf("done's sample times per cycle = %q, want %q", stamps, want)
	}
}

// TestRefusedCycleKeepsMarkers: a cycle a sender refuses (its disk full)
// takes neither its samples nor its staleness markers with it: it is held
// and sent, as it was, before the next cycle.
func TestRefusedCycleKeepsMarkers(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	pt := float64(t0.Add(-time.Hour).Unix())
	a := group(pt, []pipeline.Series{series("done", 1, "job", "a")}, "job", "a")
	b := group(pt, []pipeline.Series{series("bytes", 5, "job", "b")}, "job", "b")
	c := group(pt, []pipeline.Series{series("rows", 7, "job", "c")}, "job", "c")
	now := t0
	refuse := false
	rec := &recorder{fail: func(pipeline.Samples) bool { return refuse }}
	br := newBackfillBridge(t, &now, Options{Senders: []Sender{rec}}, snap(a, b, c), snap(a), snap(a, c))
	br.Cycle(context.Background()) // a, b, c
	now, refuse = t0.Add(15*time.Second), true
	br.Cycle(context.Background()) // b and c gone, refused
	if got := testutil.ToFloat64(br.m.heldCycles); got != 1 {
		t.Errorf("held cycles = %v, want 1", got)
	}
	now, refuse = t0.Add(30*time.Second), false
	br.Cycle(context.Background()) // c back: the held cycle, then this one
	if len(rec.cycles) != 3 {
		t.Fatalf("%d cycles kept, want 3 (the first, the held one at +15s, the cycle at +30s)", len(rec.cycles))
	}
	held, live := lines(rec.cycles[1]), lines(rec.cycles[2])
	for _, want := range []string{`done{job="a"} 1 @10:00:15`, `bytes{job="b"} stale @10:00:15`, `up{job="b"} stale @10:00:15`, `rows{job="c"} stale @10:00:15`} {
		if !strings.Contains(held, want) {
			t.Errorf("the held cycle lacks %s:\n%s", want, held)
		}
	}
	if strings.Contains(live, "stale") || !strings.Contains(live, `rows{job="c"} 7 @10:00:30`) {
		t.Errorf("c came back: a sample and no marker at +30s, got:\n%s", live)
	}
	if got := testutil.ToFloat64(br.m.heldCycles); got != 0 {
		t.Errorf("held cycles = %v, want 0", got)
	}
}

// TestHeldCyclesBounded: while the disk refuses every cycle, at most
// maxHeld are held; the oldest beyond go, and once the disk takes samples
// again their ticks are filled like downtime, before the held cycles, in
// order, each tick once.
func TestHeldCyclesBounded(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	a := group(float64(t0.Add(-time.Hour).Unix()), []pipeline.Series{series("done", 1, "job", "a")}, "job", "a")
	now := t0
	refuse := false
	rec := &recorder{fail: func(pipeline.Samples) bool { return refuse }}
	const refused = maxHeld + 5
	script := make([]func() (*pipeline.Snapshot, error), refused+2)
	for i := range script {
		script[i] = snap(a)
	}
	br := newBackfillBridge(t, &now, Options{Senders: []Sender{rec}}, script...)
	br.Cycle(context.Background())
	refuse = true
	for i := 1; i <= refused; i++ {
		now = t0.Add(time.Duration(i) * 15 * time.Second)
		br.Cycle(context.Background())
	}
	if got := testutil.ToFloat64(br.m.heldCycles); got != maxHeld {
		t.Fatalf("held cycles = %v, want %d", got, maxHeld)
	}
	refuse = false
	now = t0.Add((refused + 1) * 15 * time.Second)
	br.Cycle(context.Background())
	var got []int64
	for _, c := range rec.cycles {
		got = append(got, (c[0].T-t0.UnixMilli())/15000)
	}
	want := make([]int64, refused+2)
	for i := range want {
		want[i] = int64(i)
	}
	if !slices.Equal(got, want) {
		t.Errorf("ticks kept, in intervals since the first: %v, want %v", got, want)
	}
	if got := testutil.ToFloat64(br.m.heldCycles); got != 0 {
		t.Errorf("held cycles = %v, want 0", got)
	}
}

// newBackfillBridge returns a bridge over one gateway that answers script
// in turn, at a 15 s interval with an hour's backfill window, whose clock
// reads *now; the other fields of o (senders, state path, synth options)
// are kept.
func newBackfillBridge(t *testing.T, now *time.Time, o Options, script ...func() (*pipeline.Snapshot, error)) *Bridge {
	t.Helper()
	o.Gateways = []Gateway{{Name: "pgw", Source: &fakeSource{script: script}}}
	o.Interval, o.BackfillMaxWindow = 15*time.Second, time.Hour
	o.Now = func() time.Time { return *now }
	br, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return br
}

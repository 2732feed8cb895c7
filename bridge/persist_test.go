package bridge

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/metadata"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
	"github.com/pushgateway-bridge/pushgateway-bridge/synth"
)

func TestStateRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	s := newSeriesState()
	b := series("b", 1, "job", "x", "path", "/var/tmp", "empty_looking", " ")
	b.Metadata = &metadata.Metadata{Type: model.MetricTypeCounter, Unit: "bytes", Help: "not kept"}
	s.advance([]pipeline.Series{series("a", 1, "job", "x"), b}, nil)
	at := time.UnixMilli(1_795_600_000_123)
	if err := saveState(path, s, at); err != nil {
		t.Fatal(err)
	}
	got, gotAt, err := loadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if !gotAt.Equal(at) || got.len() != 2 {
		t.Fatalf("loaded %d series at %v, want 2 at %v", got.len(), gotAt, at)
	}
	// What was loaded diffs against the next cycle as if it had been sent.
	stale := got.advance([]pipeline.Series{series("a", 1, "job", "x")}, nil)
	if len(stale) != 1 || stale[0].Labels.Get("__name__") != "b" {
		t.Fatalf("stale after load = %v, want b", stale)
	}
	// Its marker keeps the type and unit: where they are part of the
	// series' identity, the marker must reach the same series.
	if m := stale[0].Metadata; m == nil || m.Type != model.MetricTypeCounter || m.Unit != "bytes" {
		t.Errorf("stale after load: metadata %+v, want counter in bytes", m)
	}
}

// TestStateVersion1 reads a state file written before metadata was kept.
func TestStateVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	body := []byte(stateMagicV1)
	body = binary.AppendVarint(body, 1_795_600_000_123)
	body = binary.AppendUvarint(body, 1) // series
	body = binary.AppendUvarint(body, 2) // labels
	for _, s := range []string{"__name__", "b", "job", "x"} {
		body = binary.AppendUvarint(body, uint64(len(s)))
		body = append(body, s...)
	}
	body = binary.LittleEndian.AppendUint32(body, crc32.Checksum(body, castagnoli))
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	got, _, err := loadState(path)
	if err != nil {
		t.Fatal(err)
	}
	stale := got.advance(nil, nil)
	if len(stale) != 1 || stale[0].Labels.String() != `{__name__="b", job="x"}` || stale[0].Metadata != nil {
		t.Errorf("stale after loading version 1 = %+v, want b without metadata", stale)
	}
}

func TestStateDamaged(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	s := newSeriesState()
	s.advance([]pipeline.Series{series("a", 1, "job", "x")}, nil)
	if err := saveState(good, s, time.Now()); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(good)
	flipped := append([]byte(nil), b...)
	flipped[len(stateMagic)+3] ^= 0xff
	for name, content := range map[string][]byte{
		"truncated": b[:len(b)/2],
		"flipped":   flipped,
		"empty":     {},
		"garbage":   []byte("not a state file at all, longer than the magic string"),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, content, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, _, err := loadState(path); err == nil {
				t.Fatal("damaged state loaded without error")
			}
		})
	}
	if st, _, err := loadState(filepath.Join(dir, "missing")); err != nil || st.len() != 0 {
		t.Errorf("missing state: %v, %d series; want empty, no error", err, st.len())
	}
}

// TestStateAcrossRestart: a group deleted while the bridge was down gets its
// staleness markers in the first cycle after the restart; a corrupt state
// costs only those.
func TestStateAcrossRestart(t *testing.T) {
	pt := float64(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC).Unix())
	a := group(pt, []pipeline.Series{series("done", 1, "job", "a")}, "job", "a")
	b := group(pt, []pipeline.Series{series("bytes", 5, "job", "b")}, "job", "b")
	path := filepath.Join(t.TempDir(), "state")
	start := func(script ...func() (*pipeline.Snapshot, error)) (*Bridge, *recorder) {
		rec := &recorder{}
		br, err := New(Options{
			Gateways:  []Gateway{{Name: "pgw", Source: &fakeSource{script: script}}},
			Interval:  time.Second,
			Senders:   []Sender{rec},
			StatePath: path,
		})
		if err != nil {
			t.Fatal(err)
		}
		return br, rec
	}
	first, _ := start(snap(a, b))
	first.Cycle(context.Background()) // saved: the set changed

	// "kill -9": no shutdown save; b is deleted meanwhile.
	second, rec := start(snap(a))
	second.Cycle(context.Background())
	got := lines(rec.cycles[0])
	for _, want := range []string{`bytes{job="b"} stale`, `up{job="b"} stale`} {
		if !strings.Contains(got, want) {
			t.Errorf("first cycle after restart lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, `done{job="a"} stale`) {
		t.Errorf("a survived but was marked stale:\n%s", got)
	}

	if err := os.WriteFile(path, []byte("corrupt"), 0o644); err != nil {
		t.Fatal(err)
	}
	third, rec := start(snap(a))
	if ok := third.Cycle(context.Background()).Complete; !ok || !strings.Contains(lines(rec.cycles[0]), `done{job="a"} 1`) {
		t.Errorf("with a corrupt state the bridge must still forward:\n%s", lines(rec.cycles[0]))
	}
	if got := testutil.ToFloat64(third.m.stateLoadFailures); got != 1 {
		t.Errorf("state load failures = %v, want 1", got)
	}
}

// TestStateSaveThrottled: a change whose save the throttle skipped is saved
// in a later cycle even if that cycle changes nothing, so that a kill -9
// after it still knows what was sent.
func TestStateSaveThrottled(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	pt := float64(t0.Unix())
	a := group(pt, []pipeline.Series{series("done", 1, "job", "a")}, "job", "a")
	b := group(pt, []pipeline.Series{series("bytes", 5, "job", "b")}, "job", "b")
	path := filepath.Join(t.TempDir(), "state")
	now := t0
	br, err := New(Options{
		Gateways:  []Gateway{{Name: "pgw", Source: &fakeSource{script: []func() (*pipeline.Snapshot, error){snap(a), snap(a, b), snap(a, b)}}}},
		Interval:  time.Second,
		StatePath: path,
		Now:       func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	br.Cycle(context.Background()) // saved: a
	br.Cycle(context.Background()) // b added; on the same clock the throttle skips the save
	savedB := func() bool {
		st, _, err := loadState(path)
		if err != nil {
			t.Fatal(err)
		}
		var saved []string
		st.each(func(s *pipeline.Series) { saved = append(saved, s.Labels.String()) })
		return slices.Contains(saved, `{__name__="bytes", job="b"}`)
	}
	if savedB() {
		t.Fatal("the throttle did not skip the second save; the test needs it to")
	}
	now = now.Add(time.Hour)
	br.Cycle(context.Background()) // nothing changes, but b is unsaved
	if !savedB() {
		t.Error("state after a later cycle lacks b's series")
	}
}

// TestKindSwitchedOff: a kind of synthesized series switched off, by a
// reload (SetSynthOptions) or across a restart with other flags (the state
// file), gets its series' staleness markers once; up and age stay.
func TestKindSwitchedOff(t *testing.T) {
	pt := float64(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC).Unix())
	a := group(pt, []pipeline.Series{series("done", 1, "job", "a")}, "job", "a")
	rules := []synth.Rule{{Name: "r", MaxAge: time.Hour}}
	all := synth.Options{Rules: rules, Series: synth.KindsOf(synth.KindStatus, synth.KindMaxAge)}
	def := synth.Options{Rules: rules}
	var wantStale []string
	for _, st := range synth.Statuses() {
		wantStale = append(wantStale, fmt.Sprintf(`pushgateway_group_status{job="a", status="%s"} stale`, st))
	}
	wantStale = append(wantStale, `pushgateway_group_max_age_seconds{job="a"} stale`)
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state")
			start := func(o synth.Options) (*Bridge, *recorder) {
				rec := &recorder{}
				br, err := New(Options{
					Gateways:  []Gateway{{Name: "pgw", Source: &fakeSource{script: []func() (*pipeline.Snapshot, error){snap(a), snap(a), snap(a)}}}},
					Interval:  time.Second,
					Senders:   []Sender{rec},
					StatePath: path,
					Synth:     o,
				})
				if err != nil {
					t.Fatal(err)
				}
				return br, rec
			}
			br, rec := start(all)
			br.Cycle(context.Background())
			if got := lines(rec.cycles[0]); !strings.Contains(got, `pushgateway_group_status{job="a", status="ok"}`) {
				t.Fatalf("no status series with status on:\n%s", got)
			}
			if restart {
				br, rec = start(def)
			} else {
				br.SetSynthOptions(def)
			}
			br.Cycle(context.Background())
			got := lines(rec.cycles[len(rec.cycles)-1])
			var stale []string
			for l := range strings.Lines(got + "\n") {
				if before, _, ok := strings.Cut(strings.TrimSpace(l), " @"); ok && strings.HasSuffix(before, " stale") {
					stale = append(stale, before)
				}
			}
			slices.Sort(wantStale)
			if !slices.Equal(stale, wantStale) {
				t.Errorf("stale after switching status and max_age off:\n%s\nwant\n%s", strings.Join(stale, "\n"), strings.Join(wantStale, "\n"))
			}
			if !strings.Contains(got, `up{job="a"} `) || !strings.Contains(got, `pushgateway_group_age_seconds{job="a"}`) {
				t.Errorf("up or age missing:\n%s", got)
			}
			br.Cycle(context.Background())
			if got := lines(rec.cycles[len(rec.cycles)-1]); strings.Contains(got, " stale") {
				t.Errorf("marked stale again:\n%s", got)
			}
		})
	}
}

package main

import (
	"log/slog"
	"runtime/debug"
	"testing"

	"github.com/pushgateway-bridge/pushgateway-bridge/synth"
)

// TestSynthSeriesFlag parses --synth.series, repeated or as a list, into
// the kinds every group gets besides the default ones.
func TestSynthSeriesFlag(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		want    synth.Kinds
		wantErr string
	}{
		{"none: the default only", nil, 0, ""},
		{"repeated", []string{"--synth.series=status", "--synth.series=max_age"}, synth.KindsOf(synth.KindStatus, synth.KindMaxAge), ""},
		{"a list", []string{"--synth.series=status, pushes"}, synth.KindsOf(synth.KindStatus, synth.KindPushes), ""},
		{"unknown", []string{"--synth.series=status,stauts"}, 0, `--synth.series: unknown series kind "stauts" (one of up, age, status, max_age, pushes)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseFlags(append([]string{"--remote-write.url=http://receiver.invalid/"}, tc.args...))
			if err != nil {
				t.Fatal(err)
			}
			s, err := validate(f)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.synthKinds != tc.want {
				t.Errorf("kinds %s, want %s", s.synthKinds, tc.want)
			}
		})
	}
}

func TestSetGCPercent(t *testing.T) {
	t.Setenv("GOGC", "") // unset for setGCPercent, as Go reads it at start only
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	logger := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		gogc  int
		first bool
		want  int
	}{
		{gogc: 30, first: true, want: firstCycleGOGC},
		{gogc: 30, first: false, want: 30},
		{gogc: 5, first: true, want: 5}, // lower already
		{gogc: 200, first: false, want: 200},
	} {
		setGCPercent(tc.gogc, tc.first, logger)
		if got := debug.SetGCPercent(100); got != tc.want {
			t.Errorf("setGCPercent(%d, first %v): GOGC %d, want %d", tc.gogc, tc.first, got, tc.want)
		}
	}
}

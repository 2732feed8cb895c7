package pipeline

import (
	"testing"
	"unsafe"

	"github.com/prometheus/prometheus/model/histogram"
)

// TestSeriesSize keeps a Series at 48 bytes: the bridge holds one per series
// it forwards, and at a million series every 16 bytes more are 16 MB.
func TestSeriesSize(t *testing.T) {
	if n := unsafe.Sizeof(Series{}); n > 48 {
		t.Errorf("Series is %d bytes, want at most 48", n)
	}
}

func TestWithHistogram(t *testing.T) {
	h := &histogram.Histogram{Count: 1}
	fh := &histogram.FloatHistogram{Count: 2}
	shared := &Extra{StartTimestamp: 5}
	for _, tc := range []struct {
		name  string
		x     *Extra
		h     *histogram.Histogram
		fh    *histogram.FloatHistogram
		want  Extra
		isNil bool
		same  bool // the same pointer as x
	}{
		{name: "nothing on nil", isNil: true},
		{name: "nothing on shared", x: shared, want: *shared, same: true},
		{name: "histogram on nil", h: h, want: Extra{Histogram: h}},
		{name: "float histogram on shared: a copy", x: shared, fh: fh, want: Extra{StartTimestamp: 5, FloatHistogram: fh}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.x.WithHistogram(tc.h, tc.fh)
			if tc.isNil {
				if got != nil {
					t.Fatalf("got %+v, want nil", got)
				}
				return
			}
			if (got == tc.x) != tc.same {
				t.Errorf("same pointer as the input: %v, want %v", got == tc.x, tc.same)
			}
			if got.StartTimestamp != tc.want.StartTimestamp || got.Histogram != tc.want.Histogram || got.FloatHistogram != tc.want.FloatHistogram {
				t.Errorf("got %+v, want %+v", *got, tc.want)
			}
			s := Series{Extra: got}
			if s.Histogram() != tc.want.Histogram || s.FloatHistogram() != tc.want.FloatHistogram {
				t.Errorf("Series accessors: %v %v", s.Histogram(), s.FloatHistogram())
			}
		})
	}
	if shared.FloatHistogram != nil {
		t.Error("the shared Extra was modified")
	}
}

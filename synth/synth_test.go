package synth

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushgateway-bridge/pushgateway-bridge/pushgateway"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestSeries(t *testing.T) {
	now := time.Unix(1_800_000_000, 500_000_000)
	pushed := float64(now.Add(-90*time.Second).UnixNano()) / 1e9
	group := func(pushTime, failureTime float64, kv ...string) pushgateway.Group {
		return pushgateway.Group{Labels: labels.FromStrings(kv...), PushTime: pushTime, PushFailureTime: failureTime}
	}
	for _, tc := range []struct {
		name string
		in   Input
		opts Options
	}{
		{
			name: "ok",
			in: Input{
				Gateways: []Gateway{{Name: "pgw:9091", Up: true}},
				Groups:   []pushgateway.Group{group(pushed, 0, "job", "backup", "instance", "db-7")},
			},
		},
		{
			name: "failed",
			in: Input{
				Gateways: []Gateway{{Name: "pgw:9091", Up: true}},
				// An earlier push succeeded; the last one failed.
				Groups: []pushgateway.Group{group(pushed, pushed+30, "job", "backup")},
			},
		},
		{
			name: "never_pushed_ok",
			in: Input{
				Gateways: []Gateway{{Name: "pgw:9091", Up: true}},
				// A push that failed creates the group with push_time 0.
				Groups: []pushgateway.Group{group(0, pushed, "job", "x", "foo", "bar")},
			},
		},
		{
			name: "recovered",
			in: Input{
				Gateways: []Gateway{{Name: "pgw:9091", Up: true}},
				// A failed push followed by a good one.
				Groups: []pushgateway.Group{group(pushed, pushed-60, "job", "backup")},
			},
		},
		{
			name: "gateway_down",
			in:   Input{Gateways: []Gateway{{Name: "pgw:9091", Up: false}}},
		},
		{
			name: "up_metric_renamed",
			in: Input{
				Gateways: []Gateway{{Name: "a", Up: true}, {Name: "b", Up: false}},
				Groups: []pushgateway.Group{
					group(pushed, 0, "job", "a"),
					group(pushed, 0, "job", "b", "path", "/var/tmp"),
				},
			},
			opts: Options{UpMetric: "pushgateway_group_up"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			for _, s := range Series(nil, tc.in, now, tc.opts) {
				fmt.Fprintln(&buf, s)
			}
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("got\n%s\nwant (%s)\n%s", buf.Bytes(), path, want)
			}
		})
	}
}

func TestSeriesAppendsAndDoesNotMutate(t *testing.T) {
	g := pushgateway.Group{Labels: labels.FromStrings("job", "a"), PushTime: 100}
	in := Input{Groups: []pushgateway.Group{g}}
	dst := []pushgateway.Series{{Labels: labels.FromStrings("__name__", "x")}}
	out := Series(dst, in, time.Unix(110, 0), Options{})
	if len(out) != 3 || !labels.Equal(out[0].Labels, dst[0].Labels) {
		t.Fatalf("want dst kept and 2 series appended, got %v", out)
	}
	if !labels.Equal(in.Groups[0].Labels, labels.FromStrings("job", "a")) {
		t.Errorf("grouping key changed: %s", in.Groups[0].Labels)
	}
	if got := out[2].Value; got != 10 {
		t.Errorf("age = %v, want 10", got)
	}
}

// BenchmarkSeries measures synthesizing the series of 10,000 groups.
func BenchmarkSeries(b *testing.B) {
	in := Input{Gateways: []Gateway{{Name: "pgw", Up: true}}}
	for i := range 10_000 {
		in.Groups = append(in.Groups, pushgateway.Group{
			Labels:   labels.FromStrings("instance", fmt.Sprintf("i%d", i), "job", "bench"),
			PushTime: 1.7e9,
		})
	}
	now := time.Unix(1_800_000_000, 0)
	b.ReportAllocs()
	var out []pushgateway.Series
	for b.Loop() {
		out = Series(out[:0], in, now, Options{})
	}
}

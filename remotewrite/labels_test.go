package remotewrite

import (
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
)

func TestAppendLabels(t *testing.T) {
	for _, ls := range []labels.Labels{
		labels.EmptyLabels(),
		labels.FromStrings("__name__", "up"),
		labels.FromStrings("__name__", "push_time_seconds", "instance", "host-1", "job", "nightly"),
		labels.FromStrings("a", strings.Repeat("v", 254), "b", strings.Repeat("w", 255), strings.Repeat("n", 70000), "x"),
		labels.FromStrings("empty", "", "unicode", "ünïcødé"),
	} {
		want, err := (&prompb.TimeSeries{Labels: prompb.FromLabels(ls, nil)}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if got := appendLabels(nil, ls); string(got) != string(want) {
			t.Errorf("%s: appendLabels differs from gogo's marshalling", ls)
		}
	}
}

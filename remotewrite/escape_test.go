package remotewrite

import (
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

func TestEscapeNames(t *testing.T) {
	utf8 := labels.FromStrings("__name__", "my.dotted.metric", "service.name", "checkout", "job", "x")
	legacy := labels.FromStrings("__name__", "jobs_total", "job", "x")
	for _, tc := range []struct {
		scheme      model.EscapingScheme
		ls          labels.Labels
		want        string
		unallocated bool // ls returned as is
	}{
		{model.NoEscaping, utf8, `{"my.dotted.metric", job="x", "service.name"="checkout"}`, true},
		{model.UnderscoreEscaping, utf8, `my_dotted_metric{job="x", service_name="checkout"}`, false},
		{model.UnderscoreEscaping, legacy, `jobs_total{job="x"}`, true},
		{model.DotsEscaping, utf8, `my_dot_dotted_dot_metric{job="x", service_dot_name="checkout"}`, false},
		{model.DotsEscaping, legacy, `jobs__total{job="x"}`, false},
		{model.ValueEncodingEscaping, utf8, `U__my_2e_dotted_2e_metric{U__service_2e_name="checkout", job="x"}`, false},
		{model.ValueEncodingEscaping, legacy, `jobs_total{job="x"}`, true},
	} {
		t.Run(tc.scheme.String()+"/"+tc.ls.Get("__name__"), func(t *testing.T) {
			e := escaper{scheme: tc.scheme}
			got := e.labels(tc.ls)
			if s := pipeline.FormatLabels(got); s != tc.want {
				t.Errorf("got %s, want %s", s, tc.want)
			}
			if !labels.Equal(got, labels.New(labelSlice(got)...)) {
				t.Errorf("labels %s not sorted", got)
			}
			if tc.unallocated {
				if n := testing.AllocsPerRun(10, func() { e.labels(tc.ls) }); n != 0 {
					t.Errorf("%g allocations for names left alone", n)
				}
			}
		})
	}
}

func labelSlice(ls labels.Labels) []labels.Label {
	var out []labels.Label
	ls.Range(func(l labels.Label) { out = append(out, l) })
	return out
}

// TestEncodeEscaped checks that both encoders send escaped names when asked
// to, exemplar labels included, and the names as they are by default.
func TestEncodeEscaped(t *testing.T) {
	ls := labels.FromStrings("__name__", "my.dotted.metric", "service.name", "checkout")
	batch := []pipeline.Sample{{Labels: ls, T: 1, V: 1}}
	for _, tc := range []struct {
		scheme model.EscapingScheme
		want   string
	}{
		{model.NoEscaping, `{"my.dotted.metric", "service.name"="checkout"}`},
		{model.UnderscoreEscaping, `my_dotted_metric{service_name="checkout"}`},
	} {
		t.Run(tc.scheme.String(), func(t *testing.T) {
			o := encodeOptions{escaping: tc.scheme}
			body, _, err := newEncoder(o).encode(batch)
			if err != nil {
				t.Fatal(err)
			}
			if got := pipeline.FormatLabels(labels.New(rwtestLabels(decode(t, body).Timeseries[0].Labels)...)); got != tc.want {
				t.Errorf("1.0: %s, want %s", got, tc.want)
			}
			body, _, err = newEncoderV2(o).encode(batch)
			if err != nil {
				t.Fatal(err)
			}
			req := decodeReqV2(t, body)
			got, err := req.Timeseries[0].ToLabels(&labels.ScratchBuilder{}, req.Symbols)
			if err != nil {
				t.Fatal(err)
			}
			if s := pipeline.FormatLabels(got); s != tc.want {
				t.Errorf("2.0: %s, want %s", s, tc.want)
			}
		})
	}
}

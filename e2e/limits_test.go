package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestLabelLimitsOversizedValue pushes to a real Pushgateway, which accepts
// it, a series with a 16 MB label value: more than the labels library can
// hold (it used to crash the bridge, at every restart). Next to it, in the
// same group and in another one, normal series. The bridge keeps running,
// forwards everything else and counts the drop.
func TestLabelLimitsOversizedValue(t *testing.T) {
	g, r, b := setup(t)
	mustPush(t, g.URL, http.MethodPut, groupPath("limits_ok"), "e2e_limits_ok 1\n")
	huge := strings.Repeat("x", 16<<20)
	mustPush(t, g.URL, http.MethodPut, groupPath("limits_bad"),
		"e2e_limits_kept 2\ne2e_limits_huge{v=\""+huge+"\"} 3\n")

	eventually(t, arrive, func() error {
		return expectMetrics(r.URL, `{__name__=~"e2e_limits_.*"}`,
			`e2e_limits_ok{job="limits_ok"}`,
			`e2e_limits_kept{job="limits_bad"}`)
	})
	eventually(t, arrive, func() error {
		v, _, err := b.Metric("pushgateway_bridge_scrape_series_dropped_total", "gateway", g.Addr, "reason", "label_value_length_limit")
		if err != nil {
			return err
		}
		if v < 1 {
			return fmt.Errorf("pushgateway_bridge_scrape_series_dropped_total{reason=\"label_value_length_limit\"} = %v, want at least 1", v)
		}
		return nil
	})
	if out := b.Output(); !strings.Contains(out, "series over a label limit dropped") || !strings.Contains(out, `group="{job=\"limits_bad\"}"`) {
		t.Errorf("no warning naming the drop and the group in the log")
	}
	// Still running: a later push arrives.
	mustPush(t, g.URL, http.MethodPut, groupPath("limits_later"), "e2e_limits_later 4\n")
	eventually(t, arrive, func() error {
		return expectMetrics(r.URL, `e2e_limits_later`, `e2e_limits_later{job="limits_later"}`)
	})
	if b.proc.exited() {
		t.Fatal("bridge exited")
	}
}

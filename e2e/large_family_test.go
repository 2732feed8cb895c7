package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestLargeFamilyStreamed checks a metric family larger than the 1 MiB the
// scrape cache reads whole: two groups push one family of 6,000 series with
// long label values (about 1.8 MB in protobuf), which the bridge reads a
// metric at a time. Every series arrives with its value, and a PUT with
// one series fewer marks exactly that one stale.
func TestLargeFamilyStreamed(t *testing.T) {
	g, r, _ := setup(t)
	const perGroup = 6000
	body := func(group string, n int) string {
		var b strings.Builder
		b.WriteString("# TYPE e2e_big gauge\n")
		for k := range n {
			fmt.Fprintf(&b, "e2e_big{path=\"/data/exports/%s/part-%05d-3f2a9c1e-7b4d-4e8a-9f1c.snappy.parquet\",owner=\"team-data-platform-batch-exports\"} %d\n", group, k, k)
		}
		return b.String()
	}
	mustPush(t, g.URL, http.MethodPut, groupPath("big_a"), body("a", perGroup))
	mustPush(t, g.URL, http.MethodPut, groupPath("big_b"), body("b", perGroup))
	eventually(t, arrive, func() error {
		return expectVector(r.URL, `count by (job) (e2e_big)`, fmt.Sprintf(`
{job="big_a"} %d
{job="big_b"} %d
`, perGroup, perGroup))
	})
	if err := expectVector(r.URL, `e2e_big{job="big_b",path="/data/exports/b/part-04321-3f2a9c1e-7b4d-4e8a-9f1c.snappy.parquet"}`,
		`e2e_big{job="big_b",owner="team-data-platform-batch-exports",path="/data/exports/b/part-04321-3f2a9c1e-7b4d-4e8a-9f1c.snappy.parquet"} 4321`); err != nil {
		t.Error(err)
	}

	mustPush(t, g.URL, http.MethodPut, groupPath("big_a"), body("a", perGroup-1))
	eventually(t, vanish, func() error {
		return expectVector(r.URL, `count by (job) (e2e_big)`, fmt.Sprintf(`
{job="big_a"} %d
{job="big_b"} %d
`, perGroup-1, perGroup))
	})
}

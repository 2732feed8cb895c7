// Command pgwload fills a Pushgateway with G groups of S series each, of the
// shape batch jobs push, for the side-by-side benchmark.
//
// Group g has the grouping key {job="bench_<g%10>", instance="i<g>"} and is
// pushed once with PUT in the text format. What it holds is -shape's:
//
//   - mixed (the default): one classic histogram bench_batch_duration_seconds
//     with 10 bucket bounds (11 _bucket series, _sum and _count: 13 series),
//     one counter bench_batch_records_processed_total{status="ok"}, and S-14
//     gauges with 3 or 4 labels (stage, table, status, and region on every
//     other family), 10 per metric name; S must be at least 15;
//   - onefamily: one gauge family of S series (labels item and kind);
//   - smallfamilies: S gauge families of one series each;
//   - batch: what most batch jobs push, 5 to S series (5 + g%(S-4)), one or
//     two (status ok/failed) per family;
//   - longlabels: one gauge family of S series with 4 labels whose values
//     are 60-120 bytes long (file paths, URLs, error messages).
//
// Native histograms are not among the shapes: the Pushgateway takes them
// only in protobuf pushes, and the runner's expected counts come from the
// gateway's text exposition, where a native histogram shows as no bucket.
//
// The Pushgateway then exposes the pushed series plus push_time_seconds and
// push_failure_time_seconds per group (G*(S+2) for every shape but batch),
// next to its own go_*, process_* and pushgateway_* series.
// A forwarder delivers per cycle:
//
//   - pushgateway-bridge: the group series + 2*G + 1: the synthesized up and
//     pushgateway_group_age_seconds per group (its default series), and
//     pushgateway_up;
//   - a scraper with honor_labels (vmagent, Prometheus): every exposed
//     series, the gateway's own included, plus the series it adds about the
//     scrape itself (Prometheus: up and 4 scrape_*; vmagent: up and 6 scrape_*).
//
// Usage:
//
//	pgwload -url http://127.0.0.1:9091 -groups 1000 -series 100 [-shape mixed] [-workers 8]
//
// It waits until the gateway exposes every pushed series (with
// --push.disable-consistency-check it applies pushes after answering them),
// then prints the time taken and the counts above, and on its last line the same
// as JSON (see result).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Shape of a group; see the package comment.
const (
	histogramSeries = 13 // 10 bounds + +Inf, _sum, _count
	counterSeries   = 1
	minSeries       = histogramSeries + counterSeries + 1
	gaugesPerName   = 10
)

var bucketBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

var gaugeNames = []string{
	"bench_batch_stage_duration_seconds",
	"bench_batch_rows_written",
	"bench_batch_last_success_timestamp_seconds",
	"bench_batch_bytes_read",
	"bench_batch_queue_depth",
	"bench_batch_memory_peak_bytes",
	"bench_batch_retries",
	"bench_batch_partitions",
	"bench_batch_lag_seconds",
}

// result is the summary printed as JSON on the last line.
type result struct {
	Groups          int     `json:"groups"`
	SeriesPerGroup  int     `json:"series_per_group"`
	PushedSeries    int     `json:"pushed_series"`
	GroupSeries     int     `json:"group_series"`
	OwnSeries       int     `json:"gateway_own_series"`
	ExposedSeries   int     `json:"exposed_series"`
	ExpectedBridge  int     `json:"expected_bridge"`
	ExpectedProm    int     `json:"expected_prometheus"`
	ExpectedVMAgent int     `json:"expected_vmagent"`
	Seconds         float64 `json:"seconds"`
}

// shapes are the load shapes of -shape: what one group's push looks like.
// n is the series of group g at -series S (the pushed series, without the
// gateway's push_time_seconds and push_failure_time_seconds).
var shapes = map[string]struct {
	min  int // smallest -series
	doc  string
	n    func(g, s int) int
	body func(buf *bytes.Buffer, g, s int)
}{
	"mixed": {minSeries, "gauge families of 10 series with 3-4 labels, a counter, a classic histogram (13 series)",
		func(_, s int) int { return s }, bodyMixed},
	"onefamily": {1, "one gauge family of S series per group, labels item and kind",
		func(_, s int) int { return s }, bodyOneFamily},
	"smallfamilies": {1, "S families of one gauge series each, no labels beyond the group's",
		func(_, s int) int { return s }, bodySmallFamilies},
	"batch": {5, "what batch jobs push: 5 to S series per group (varying by group), one or two per family",
		batchSeries, bodyBatch},
	"longlabels": {1, "one gauge family of S series, 4 labels with values of 60-120 bytes (paths, URLs, messages)",
		func(_, s int) int { return s }, bodyLongLabels},
}

// val differs per group and series so that compression sees realistic data.
func val(g, k int) float64 { return float64((g*7919+k*104729)%100000) / 100 }

// bodyMixed renders group g's push in the text exposition format: the
// "mixed" shape of the package comment.
func bodyMixed(buf *bytes.Buffer, g, series int) {
	gauges := series - histogramSeries - counterSeries
	v := func(k int) float64 { return val(g, k) }
	for k := 0; k < gauges; k++ {
		f := k / gaugesPerName
		name := gaugeNames[f%len(gaugeNames)]
		if f >= len(gaugeNames) {
			name = fmt.Sprintf("%s_%d", name, f/len(gaugeNames))
		}
		if k%gaugesPerName == 0 {
			fmt.Fprintf(buf, "# HELP %s Benchmark gauge.\n# TYPE %s gauge\n", name, name)
		}
		status := "ok"
		if k%7 == 3 {
			status = "retry"
		}
		if f%2 == 0 {
			fmt.Fprintf(buf, "%s{stage=\"stage%d\",table=\"t%d\",status=%q,region=\"eu-west-1\"} %g\n", name, k%gaugesPerName, g%50, status, v(k))
		} else {
			fmt.Fprintf(buf, "%s{stage=\"stage%d\",table=\"t%d\",status=%q} %g\n", name, k%gaugesPerName, g%50, status, v(k))
		}
	}
	buf.WriteString("# HELP bench_batch_records_processed_total Records processed.\n# TYPE bench_batch_records_processed_total counter\n")
	fmt.Fprintf(buf, "bench_batch_records_processed_total{status=\"ok\"} %d\n", 1000+g*13)
	buf.WriteString("# HELP bench_batch_duration_seconds Duration of one batch.\n# TYPE bench_batch_duration_seconds histogram\n")
	count := 100 + g%100
	for i, le := range bucketBounds {
		fmt.Fprintf(buf, "bench_batch_duration_seconds_bucket{le=\"%g\"} %d\n", le, count*(i+1)/(len(bucketBounds)+1))
	}
	fmt.Fprintf(buf, "bench_batch_duration_seconds_bucket{le=\"+Inf\"} %d\n", count)
	fmt.Fprintf(buf, "bench_batch_duration_seconds_sum %g\n", float64(count)*0.37)
	fmt.Fprintf(buf, "bench_batch_duration_seconds_count %d\n", count)
}

func bodyOneFamily(buf *bytes.Buffer, g, series int) {
	buf.WriteString("# HELP bench_job_item_value One value per item the job handled.\n# TYPE bench_job_item_value gauge\n")
	for k := 0; k < series; k++ {
		fmt.Fprintf(buf, "bench_job_item_value{item=\"item%d\",kind=\"k%d\"} %g\n", k, k%5, val(g, k))
	}
}

func bodySmallFamilies(buf *bytes.Buffer, g, series int) {
	for k := 0; k < series; k++ {
		fmt.Fprintf(buf, "# HELP bench_job_metric_%d Benchmark gauge.\n# TYPE bench_job_metric_%d gauge\nbench_job_metric_%d %g\n", k, k, k, val(g, k))
	}
}

// batchMetrics are the families a batch job pushes, in order; the first
// ones have one series, the later ones two (status ok and failed).
var batchMetrics = []string{
	"bench_batch_last_success_timestamp_seconds",
	"bench_batch_duration_seconds",
	"bench_batch_records_processed_total",
	"bench_batch_bytes_written_total",
	"bench_batch_last_run_timestamp_seconds",
	"bench_batch_items",
	"bench_batch_errors_total",
	"bench_batch_retries_total",
	"bench_batch_partitions",
	"bench_batch_lag_seconds",
	"bench_batch_input_files",
	"bench_batch_output_files",
	"bench_batch_memory_peak_bytes",
	"bench_batch_cpu_seconds_total",
	"bench_batch_exit_code",
	"bench_batch_queue_depth",
}

// batchSeries is the series of group g in the batch shape: 5 to s.
func batchSeries(g, s int) int { return 5 + g%(s-4) }

func bodyBatch(buf *bytes.Buffer, g, series int) {
	n := batchSeries(g, series)
	for k, f := 0, 0; k < n; f++ {
		name := batchMetrics[f%len(batchMetrics)]
		if f >= len(batchMetrics) {
			name = fmt.Sprintf("%s_%d", name, f/len(batchMetrics))
		}
		fmt.Fprintf(buf, "# HELP %s Batch job metric.\n# TYPE %s gauge\n", name, name)
		if f < 5 || k == n-1 {
			fmt.Fprintf(buf, "%s %g\n", name, val(g, k))
			k++
			continue
		}
		fmt.Fprintf(buf, "%s{status=\"ok\"} %g\n%s{status=\"failed\"} %g\n", name, val(g, k), name, val(g, k+1))
		k += 2
	}
}

func bodyLongLabels(buf *bytes.Buffer, g, series int) {
	buf.WriteString("# HELP bench_job_file_bytes Bytes of each file the job wrote.\n# TYPE bench_job_file_bytes gauge\n")
	for k := 0; k < series; k++ {
		fmt.Fprintf(buf, "bench_job_file_bytes{path=\"/data/warehouse/exports/tenant-%04d/year=2026/month=12/part-%05d-3f2a9c1e-7b4d-4e8a-9f1c-%012d.snappy.parquet\","+
			"source=\"https://storage.example.com/buckets/ingest-eu-west-1/objects/%d/%d?version=7\","+
			"message=\"completed after retry: upstream returned 503 Service Unavailable for shard %d\","+
			"owner=\"team-data-platform-batch-exports-%d\"} %g\n", g%1000, k, g*1000+k, g, k, k%16, g%20, val(g, k))
	}
}

func push(ctx context.Context, c *http.Client, base string, g int, b []byte) error {
	url := fmt.Sprintf("%s/metrics/job/bench_%d/instance/i%d", base, g%10, g)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain; version=0.0.4")
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("push group %d: %w", g, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("push group %d: %s: %s", g, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// countExposition counts the series lines of the gateway's text /metrics:
// those with a job label (pushed, and push_time/push_failure) and the rest
// (the gateway's own).
func countExposition(ctx context.Context, c *http.Client, base string) (group, own int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := c.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("get /metrics: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if strings.Contains(line, `job="`) {
			group++
		} else {
			own++
		}
	}
	return group, own, sc.Err()
}

func main() { os.Exit(run()) }

func run() int {
	url := flag.String("url", "http://127.0.0.1:9091", "Pushgateway base URL.")
	groups := flag.Int("groups", 1000, "Groups to push.")
	series := flag.Int("series", 100, "Series per group (the most per group with -shape batch; see the package comment).")
	shapeName := flag.String("shape", "mixed", "Shape of a group's push: mixed, onefamily, smallfamilies, batch, longlabels (see the package comment).")
	workers := flag.Int("workers", 8, "Concurrent pushes.")
	timeout := flag.Duration("timeout", 10*time.Minute, "Give up after this long.")
	flag.Parse()
	shape, ok := shapes[*shapeName]
	if !ok {
		fmt.Fprintf(os.Stderr, "pgwload: -shape %q: unknown (mixed, onefamily, smallfamilies, batch, longlabels)\n", *shapeName)
		return 2
	}
	if *series < shape.min || (*shapeName == "batch" && *series < 6) {
		fmt.Fprintf(os.Stderr, "pgwload: -series %d: shape %s needs more (%s)\n", *series, *shapeName, shape.doc)
		return 2
	}
	if *groups < 1 || *workers < 1 {
		fmt.Fprintln(os.Stderr, "pgwload: -groups and -workers must be positive")
		return 2
	}
	base := strings.TrimSuffix(*url, "/")

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, *timeout)
	defer cancelT()
	client := &http.Client{Timeout: 60 * time.Second}

	start := time.Now()
	next := make(chan int)
	errc := make(chan error, *workers)
	var wg sync.WaitGroup
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			for g := range next {
				buf.Reset()
				shape.body(&buf, g, *series)
				if err := push(ctx, client, base, g, buf.Bytes()); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	var err error
feed:
	for g := 0; g < *groups; g++ {
		select {
		case next <- g:
		case err = <-errc:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgwload:", err)
		return 1
	}
	// With the consistency check disabled the gateway applies pushes
	// asynchronously: it answers before the series are exposed. Wait until
	// they are, so that the counts below (and the runner's) are exact.
	want, pushed := 0, 0
	for g := 0; g < *groups; g++ {
		pushed += shape.n(g, *series)
	}
	want = pushed + 2**groups
	var group, own int
	for {
		group, own, err = countExposition(ctx, client, base)
		if err != nil {
			fmt.Fprintln(os.Stderr, "pgwload:", err)
			return 1
		}
		if group >= want || ctx.Err() != nil || time.Since(start) > *timeout {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	took := time.Since(start)
	r := result{
		Groups:         *groups,
		SeriesPerGroup: *series,
		PushedSeries:   pushed,
		GroupSeries:    group,
		OwnSeries:      own,
		ExposedSeries:  group + own,
		// Per group: up and the age, the bridge's default series.
		ExpectedBridge: group + 2**groups + 1,
		ExpectedProm:   group + own + 5,
		// vmagent: up, scrape_duration_seconds, scrape_response_size_bytes,
		// scrape_samples_scraped, scrape_samples_post_metric_relabeling,
		// scrape_series_added, scrape_timeout_seconds.
		ExpectedVMAgent: group + own + 7,
		Seconds:         took.Seconds(),
	}
	if group != want {
		err = errors.New("the gateway exposes a different number of group series than pushed (other groups present?)")
		fmt.Fprintf(os.Stderr, "pgwload: %d group series exposed, want %d: %v\n", group, want, err)
	}
	fmt.Printf("pushed %d groups x %d series (shape %s) = %d series in %.2fs (%.0f series/s, %d workers)\n",
		*groups, *series, *shapeName, r.PushedSeries, took.Seconds(), float64(r.PushedSeries)/took.Seconds(), *workers)
	fmt.Printf("exposed: %d group series (pushed + push_time_seconds + push_failure_time_seconds), %d of the gateway's own\n", group, own)
	fmt.Printf("expected per cycle: bridge %d, prometheus agent %d, vmagent %d\n", r.ExpectedBridge, r.ExpectedProm, r.ExpectedVMAgent)
	j, _ := json.Marshal(r)
	fmt.Println(string(j))
	if err != nil {
		return 1
	}
	return 0
}

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// env is what a forwarder run is given.
type env struct {
	bins     bins
	gateway  string // host:port
	sinkURL  string // remote-write URL
	interval time.Duration
	dir      string // fresh, for the forwarder's storage and config
	logDir   string
}

// bins are the programs the runner starts.
type bins struct {
	bridge, vmagent, prometheus, pushgateway, pgwload string
	// bridgeFlags are added to the bridge's flags (-bridge-flags).
	bridgeFlags []string
}

// forwarder is one of the compared programs.
type forwarder struct {
	name string
	// selfSeries is how many series the forwarder adds about the scrape
	// itself; see expected.
	selfSeries int
	// pending names the self-metric that is 0 when nothing waits to be sent.
	pending string
	start   func(ps *procs, e env) (*proc, string, error) // also returns its listen address
}

var forwarders = map[string]forwarder{
	"bridge":           {name: "bridge", pending: "pushgateway_bridge_remote_write_pending_samples", start: startBridge},
	"vmagent":          {name: "vmagent", selfSeries: 7, pending: "vmagent_remotewrite_pending_data_bytes", start: startVMAgent},
	"prometheus-agent": {name: "prometheus-agent", selfSeries: 5, pending: "prometheus_remote_storage_samples_pending", start: startPrometheus},
}

func scrapeTimeout(interval time.Duration) time.Duration {
	return min(interval, 10*time.Second)
}

func startBridge(ps *procs, e env) (*proc, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	p, err := ps.start(e.logDir, "bridge", e.bins.bridge, append([]string{
		"--pushgateway.url=http://" + e.gateway,
		"--remote-write.url=" + e.sinkURL,
		"--storage.path=" + filepath.Join(e.dir, "data"),
		"--scrape.interval=" + e.interval.String(),
		"--web.listen-address=" + addr,
	}, e.bins.bridgeFlags...)...)
	return p, addr, err
}

// scrapeConfig is the job a user writes to scrape a Pushgateway.
func scrapeConfig(e env) string {
	return fmt.Sprintf(`global:
  scrape_interval: %s
  scrape_timeout: %s
scrape_configs:
- job_name: pushgateway
  honor_labels: true
  static_configs:
  - targets: [%q]
`, e.interval, scrapeTimeout(e.interval), e.gateway)
}

func startVMAgent(ps *procs, e env) (*proc, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	cfg := filepath.Join(e.dir, "scrape.yml")
	if err := os.WriteFile(cfg, []byte(scrapeConfig(e)), 0o644); err != nil {
		return nil, "", err
	}
	p, err := ps.start(e.logDir, "vmagent", e.bins.vmagent,
		"-promscrape.config="+cfg,
		"-remoteWrite.url="+e.sinkURL,
		"-remoteWrite.tmpDataPath="+filepath.Join(e.dir, "vmagent-data"),
		// vmagent refuses a scrape over 16 MB by default; a Pushgateway of
		// 1M series answers ~120 MB of text.
		"-promscrape.maxScrapeSize=512MiB",
		"-httpListenAddr="+addr,
	)
	return p, addr, err
}

func startPrometheus(ps *procs, e env) (*proc, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	cfg := filepath.Join(e.dir, "prometheus.yml")
	body := scrapeConfig(e) + fmt.Sprintf("remote_write:\n- url: %q\n", e.sinkURL)
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		return nil, "", err
	}
	p, err := ps.start(e.logDir, "prometheus-agent", e.bins.prometheus,
		"--agent",
		"--config.file="+cfg,
		"--storage.agent.path="+filepath.Join(e.dir, "agent-data"),
		"--web.listen-address="+addr,
	)
	return p, addr, err
}

// startGateway starts Debian's Pushgateway in memory on a free port and
// waits until it is ready.
func startGateway(ctx context.Context, ps *procs, e env, hc *http.Client) (*proc, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	p, err := ps.start(e.logDir, "pushgateway-"+strings.ReplaceAll(addr, ":", "-"), e.bins.pushgateway,
		"--web.listen-address="+addr,
		"--persistence.file=",
		"--push.disable-consistency-check",
	)
	if err != nil {
		return nil, "", err
	}
	if err := waitReady(ctx, hc, p, "http://"+addr+"/-/ready"); err != nil {
		p.stop(10 * time.Second)
		return nil, "", err
	}
	return p, addr, nil
}

func startSink(ctx context.Context, ps *procs, bin string, logDir string, hc *http.Client) (*proc, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	p, err := ps.start(logDir, "rwsink", bin, "-listen="+addr)
	if err != nil {
		return nil, "", err
	}
	if err := waitReady(ctx, hc, p, "http://"+addr+"/stats"); err != nil {
		p.stop(10 * time.Second)
		return nil, "", err
	}
	return p, addr, nil
}

func waitReady(ctx context.Context, hc *http.Client, p *proc, url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited (see %s)", p.name, p.log)
		}
		if code, _, err := get(ctx, hc, url, ""); err == nil && code == http.StatusOK {
			return nil
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("%s not ready at %s after 30s (see %s)", p.name, url, p.log)
}

func get(ctx context.Context, hc *http.Client, url, accept string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
		req.Header.Set("Accept-Encoding", "identity")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func post(ctx context.Context, hc *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s", url, resp.Status)
	}
	return nil
}

// sinkStats mirrors rwsink's /stats.
type sinkStats struct {
	Requests         int64 `json:"requests"`
	Rejected         int64 `json:"rejected_outage"`
	Unsupported      int64 `json:"rejected_unsupported"`
	BadRequests      int64 `json:"rejected_bad"`
	Bytes            int64 `json:"bytes"`
	Samples          int64 `json:"samples"`
	Stale            int64 `json:"stale"`
	Histograms       int64 `json:"histograms"`
	LastRequestNanos int64 `json:"last_request_unix_nano"`
	Cycles           []struct {
		TimestampMs int64 `json:"timestamp_ms"`
		Samples     int64 `json:"samples"`
		Stale       int64 `json:"stale"`
		UpOrScrape  int64 `json:"up_or_scrape"`
	} `json:"cycles"`
}

func readStats(ctx context.Context, hc *http.Client, sink string) (*sinkStats, error) {
	code, b, err := get(ctx, hc, "http://"+sink+"/stats", "")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("sink /stats: %d", code)
	}
	var st sinkStats
	return &st, json.Unmarshal(b, &st)
}

// windowSamples sums the samples whose timestamp is in [from, to).
func (st *sinkStats) window(from, to time.Time) (cycles []int64) {
	for _, c := range st.Cycles {
		if c.TimestampMs >= from.UnixMilli() && c.TimestampMs < to.UnixMilli() {
			cycles = append(cycles, c.Samples)
		}
	}
	return cycles
}

// spacingError is the largest difference, in milliseconds, between the
// interval and the time between two consecutive cycles (timestamps) from
// from on: how far a forwarder's cycle starts drift or jitter.
func (st *sinkStats) spacingError(from time.Time, interval time.Duration) int64 {
	var worst, prev int64
	for _, c := range st.Cycles {
		if c.TimestampMs < from.UnixMilli() {
			continue
		}
		if prev != 0 {
			d := c.TimestampMs - prev - interval.Milliseconds()
			worst = max(worst, d, -d)
		}
		prev = c.TimestampMs
	}
	return worst
}

// exposition counts the Pushgateway's series: those of groups (with a job
// label), the gateway's own, and the groups (push_time_seconds series).
type exposition struct {
	groupSeries, ownSeries, groups int
}

func countExposition(ctx context.Context, hc *http.Client, gateway string) (exposition, error) {
	var ex exposition
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+gateway+"/metrics", nil)
	if err != nil {
		return ex, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := hc.Do(req)
	if err != nil {
		return ex, err
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
			ex.groupSeries++
			if strings.HasPrefix(line, "push_time_seconds{") {
				ex.groups++
			}
		} else {
			ex.ownSeries++
		}
	}
	return ex, sc.Err()
}

// expected is the series a forwarder should deliver per cycle: the bridge
// sends the groups' series, bridgePerGroup synthesized series per group and
// pushgateway_up; a scraper sends everything exposed plus its own scrape
// series.
func (f forwarder) expected(ex exposition, bridgePerGroup int) int {
	if f.name == "bridge" {
		return ex.groupSeries + bridgePerGroup*ex.groups + 1
	}
	return ex.groupSeries + ex.ownSeries + f.selfSeries
}

// selfMetric sums the samples of a metric on a forwarder's /metrics; -1 if
// it cannot be read.
func selfMetric(ctx context.Context, hc *http.Client, addr, name string) float64 {
	code, b, err := get(ctx, hc, "http://"+addr+"/metrics", "")
	if err != nil || code != http.StatusOK {
		return -1
	}
	sum, found := 0.0, false
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest != "" && rest[0] != ' ' && rest[0] != '{' {
			continue
		}
		fs := strings.Fields(line)
		if v, err := strconv.ParseFloat(fs[len(fs)-1], 64); err == nil {
			sum += v
			found = true
		}
	}
	if !found {
		return -1
	}
	return sum
}

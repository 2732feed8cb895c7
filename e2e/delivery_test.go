package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/pushgateway-bridge/pushgateway-bridge/internal/rwtest"
)

// The delivery engine end to end: receiver outages, kill -9, 429 storms,
// remote write 2.0 and its fallback, several endpoints, external labels and
// shutdown, each against real receivers. The tests run in parallel; the
// receiver outage (E2E_OUTAGE, 10m by default) dominates the package's wall
// time.

// Self-metrics of one remote-write endpoint, labelled remote_name.
const (
	mPending            = "pushgateway_bridge_remote_write_pending_samples"
	mSent               = "pushgateway_bridge_remote_write_samples_sent_total"
	mHistSent           = "pushgateway_bridge_remote_write_histograms_sent_total"
	mDropped            = "pushgateway_bridge_remote_write_samples_dropped_total"
	mFailed             = "pushgateway_bridge_remote_write_samples_failed_total"
	mRetried            = "pushgateway_bridge_remote_write_samples_retried_total"
	mRequests           = "pushgateway_bridge_remote_write_requests_total"
	mFallbacks          = "pushgateway_bridge_remote_write_protocol_fallbacks_total"
	mExemplarsUnwritten = "pushgateway_bridge_remote_write_exemplars_unwritten_total"
	mDiskBytes          = "pushgateway_bridge_remote_write_queue_disk_bytes"
	mCyclesDone         = "pushgateway_bridge_cycles_total"
)

const (
	// tick is the --scrape.interval of the tests below but the outage's.
	tick = time.Second
	// tickSlack is how much later than one tick the next sample may be:
	// a missing cycle makes a gap of two ticks, above tick+tickSlack.
	tickSlack = 500 * time.Millisecond
	// drainTimeout bounds how long a backlog may take to reach a receiver
	// that came back (the retry backoff is capped at 5s).
	drainTimeout = 60 * time.Second
	// defaultOutage is the receiver outage of TestReceiverOutageLosesNothing
	// unless E2E_OUTAGE says otherwise.
	defaultOutage = 10 * time.Minute
)

// remoteNameOf returns the remote_name the bridge gives --remote-write.url:
// the URL's host.
func remoteNameOf(t testing.TB, writeURL string) string {
	t.Helper()
	u, err := url.Parse(writeURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// deliveryArgs are the flags of a bridge scraping gatewayURL every interval
// and sending as --config.file says.
func deliveryArgs(gatewayURL, configFile string, interval time.Duration) []string {
	return []string{
		"--pushgateway.url=" + gatewayURL,
		"--config.file=" + configFile,
		"--scrape.interval=" + model.Duration(interval).String(),
		"--log.level=debug",
	}
}

// waitDrained waits until the bridge's pending_samples of remote is 0 and
// returns how long that took. If it is not 0 within timeout, the test fails
// with what the bridge's metrics say, and waitDrained waits (as long again)
// until the bridge has at least acknowledged a sample of the last second,
// so that the caller can go on to show what did arrive.
func waitDrained(t testing.TB, b *bridge, remote string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last error
	for deadline := start.Add(timeout); time.Now().Before(deadline); time.Sleep(pollInterval) {
		v, n, err := b.Metric(mPending, "remote_name", remote)
		switch {
		case err != nil:
			last = err
		case n == 0:
			last = fmt.Errorf("%s{remote_name=%q} not exposed", mPending, remote)
		case v != 0:
			last = fmt.Errorf("%s{remote_name=%q} = %v, want 0", mPending, remote, v)
		default:
			return time.Since(start)
		}
	}
	highest, _, _ := b.Metric("pushgateway_bridge_remote_write_highest_sent_timestamp_seconds", "remote_name", remote)
	t.Errorf("queue of %s not drained within %v: %v; meanwhile samples_sent_total %v, highest_sent_timestamp_seconds %s (%v ago), requests_total:\n%s",
		remote, timeout, last, b.MustMetric(mSent, "remote_name", remote),
		fmtT(time.UnixMilli(int64(highest*1000))), time.Since(time.UnixMilli(int64(highest*1000))).Round(time.Millisecond),
		indent(strings.TrimSpace(grepLines(b.MetricsText(), mRequests))))
	eventually(t, timeout, func() error {
		h, _, err := b.Metric("pushgateway_bridge_remote_write_highest_sent_timestamp_seconds", "remote_name", remote)
		if err != nil {
			return err
		}
		if lag := time.Since(time.UnixMilli(int64(h * 1000))); lag > 2*time.Second {
			return fmt.Errorf("newest sample acknowledged by %s is %v old", remote, lag)
		}
		return nil
	})
	return time.Since(start)
}

// expectNoDrops returns an error unless the bridge dropped no sample for
// remote, whatever the reason.
func expectNoDrops(b *bridge, remote string) error {
	v, _, err := b.Metric(mDropped, "remote_name", remote)
	if err != nil {
		return err
	}
	if v != 0 {
		return fmt.Errorf("%s{remote_name=%q}: %v samples dropped, want 0:\n%s",
			mDropped, remote, v, indent(strings.TrimSpace(grepLines(b.MetricsText(), mDropped))))
	}
	return nil
}

// within returns the times of ts in [from, to].
func within(ts []time.Time, from, to time.Time) []time.Time {
	var out []time.Time
	for _, x := range ts {
		if !x.Before(from) && !x.After(to) {
			out = append(out, x)
		}
	}
	return out
}

// cyclesBetween is the number of cycles interval apart from first to last,
// both included.
func cyclesBetween(first, last time.Time, interval time.Duration) int {
	return int(math.Round(float64(last.Sub(first))/float64(interval))) + 1
}

// gaps returns the holes in [from, to] longer than maxGap without a sample
// of ts (oldest first): before the first sample, between two, after the
// last.
func gaps(ts []time.Time, from, to time.Time, maxGap time.Duration) []string {
	in := within(ts, from, to)
	if len(in) == 0 {
		return []string{fmt.Sprintf("no sample at all in [%s, %s]", fmtT(from), fmtT(to))}
	}
	var out []string
	hole := func(a, b time.Time, what string) {
		if b.Sub(a) > maxGap {
			out = append(out, fmt.Sprintf("%s: %s to %s (%v)", what, fmtT(a), fmtT(b), b.Sub(a).Round(time.Millisecond)))
		}
	}
	hole(from, in[0], "before the first sample")
	for i := 1; i < len(in); i++ {
		hole(in[i-1], in[i], "between samples")
	}
	hole(in[len(in)-1], to, "after the last sample")
	return out
}

// fmtT renders a time to the millisecond, as the receivers store it.
func fmtT(t time.Time) string { return t.UTC().Format("15:04:05.000") }

// countOverTime evaluates count_over_time(selector[to-from]) at to on the
// receiver and returns its one value.
func countOverTime(promURL, selector string, from, to time.Time) (int, error) {
	expr := fmt.Sprintf("count_over_time(%s[%dms])", selector, to.Sub(from).Milliseconds())
	v, err := queryVectorAt(promURL, expr, to)
	if err != nil {
		return 0, err
	}
	if len(v) != 1 {
		return 0, fmt.Errorf("query %s at %s: want 1 sample, got %d:\n%s", expr, fmtT(to), len(v), indent(formatVector(v)))
	}
	return int(v[0].Value), nil
}

// outageDuration is E2E_OUTAGE, or defaultOutage.
func outageDuration(t testing.TB) time.Duration {
	t.Helper()
	s := os.Getenv("E2E_OUTAGE")
	if s == "" {
		return defaultOutage
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		t.Fatalf("E2E_OUTAGE=%q: want a positive duration such as 10m", s)
	}
	return d
}

// TestReceiverOutageLosesNothing stops the receiver for E2E_OUTAGE (10m by
// default) under a bridge at the default 15s interval, and checks that
// every cycle of the outage reaches the receiver once it is back.
func TestReceiverOutageLosesNothing(t *testing.T) {
	t.Parallel()
	outage := outageDuration(t)
	const interval = 15 * time.Second // the default --scrape.interval

	g := startPushgateway(t)
	r := startPrometheusReceiver(t, 0)
	mustPush(t, g.URL, http.MethodPut, groupPath("outage"), "# TYPE e2e_outage gauge\ne2e_outage 1\n")
	b := startBridge(t, "--pushgateway.url="+g.URL, "--remote-write.url="+r.WriteURL, "--log.level=debug")
	remote := remoteNameOf(t, r.WriteURL)

	eventually(t, arrive, func() error { return expectVector(r.URL, `e2e_outage`, `e2e_outage{job="outage"} 1`) })
	firstTS, err := scalarOf(r.URL, `timestamp(e2e_outage)`)
	if err != nil {
		t.Fatal(err)
	}
	first := time.UnixMilli(int64(math.Round(firstTS * 1000)))

	stopAt := time.Now()
	r.Stop()
	t.Logf("receiver stopped at %s for %v; first sample at %s", fmtT(stopAt), outage, fmtT(first))
	for end := stopAt.Add(outage); time.Now().Before(end); {
		time.Sleep(min(time.Until(end), 30*time.Second))
		if b.proc.exited() {
			t.Fatalf("bridge exited during the receiver outage: %v", b.proc.err)
		}
	}
	pending := b.MustMetric(mPending, "remote_name", remote)
	disk := b.MustMetric(mDiskBytes, "remote_name", remote)
	if pending == 0 {
		t.Errorf("%s{remote_name=%q} = 0 after a %v receiver outage, want the backlog", mPending, remote, outage)
	}

	restartAt := time.Now()
	r.Start()
	drain := waitDrained(t, b, remote, drainTimeout)
	t.Logf("receiver back at %s with %v pending samples (%v bytes on disk); drained %v after it was ready",
		fmtT(restartAt), pending, disk, drain.Round(time.Millisecond))
	if err := expectNoDrops(b, remote); err != nil {
		t.Error(err)
	}

	// Every series of the group, and the gateway's pushgateway_up, has one
	// sample per 15s cycle from the first one on, outage included.
	end := time.Now()
	for _, sel := range []string{
		`e2e_outage{job="outage"}`,
		`up{job="outage"}`,
		`pushgateway_group_age_seconds{job="outage"}`,
		`push_time_seconds{job="outage"}`,
		`push_failure_time_seconds{job="outage"}`,
		`pushgateway_up`,
	} {
		ts, err := rawTimestamps(r.URL, sel, first, end)
		if err != nil {
			t.Error(err)
			continue
		}
		if hs := gaps(ts, first, end, interval+time.Second); len(hs) > 0 {
			t.Errorf("%s: holes of more than %v between %s and %s (receiver down %s to %s):\n%s",
				sel, interval+time.Second, fmtT(first), fmtT(end), fmtT(stopAt), fmtT(restartAt), indent(strings.Join(hs, "\n")))
		}
		in := within(ts, stopAt, restartAt)
		if len(in) == 0 {
			t.Errorf("%s: no sample of the outage %s to %s arrived", sel, fmtT(stopAt), fmtT(restartAt))
			continue
		}
		want := cyclesBetween(in[0], in[len(in)-1], interval)
		got, err := countOverTime(r.URL, sel, stopAt, restartAt)
		if err != nil {
			t.Error(err)
			continue
		}
		t.Logf("%s: %d samples in the %v outage window (%s to %s), %d cycles (first %s, last %s): %d lost",
			sel, got, restartAt.Sub(stopAt).Round(time.Second), fmtT(stopAt), fmtT(restartAt), want,
			fmtT(in[0]), fmtT(in[len(in)-1]), want-got)
		if got != want {
			t.Errorf("%s: count_over_time over the outage = %d, want %d (one per %v cycle from %s to %s)",
				sel, got, want, interval, fmtT(in[0]), fmtT(in[len(in)-1]))
		}
		if lo := int(restartAt.Sub(stopAt) / interval); want < lo {
			t.Errorf("%s: %d cycles in the outage window of %v, want at least %d", sel, want, restartAt.Sub(stopAt), lo)
		}
	}
}

// TestKill9DuringOutage kills the bridge with SIGKILL while the receiver is
// down, restarts it on the same --storage.path, then brings the receiver
// back: every cycle of both runs arrives, the queue drains.
func TestKill9DuringOutage(t *testing.T) {
	t.Parallel()
	g := startPushgateway(t)
	r := startPrometheusReceiver(t, 0)
	mustPush(t, g.URL, http.MethodPut, groupPath("kill9"), "e2e_kill9 1\n")
	dir := t.TempDir()
	args := append(bridgeArgs(g.URL, r.WriteURL), "--storage.path="+dir)
	remote := remoteNameOf(t, r.WriteURL)

	b1 := startBridge(t, args...)
	eventually(t, arrive, func() error { return expectVector(r.URL, `e2e_kill9`, `e2e_kill9{job="kill9"} 1`) })
	firstTS, err := scalarOf(r.URL, `timestamp(e2e_kill9)`)
	if err != nil {
		t.Fatal(err)
	}
	first := time.UnixMilli(int64(math.Round(firstTS * 1000)))

	stopAt := time.Now()
	r.Stop()
	time.Sleep(10 * time.Second)
	pending := b1.MustMetric(mPending, "remote_name", remote)
	killAt := time.Now()
	b1.Kill()
	t.Logf("receiver stopped at %s; bridge killed at %s with %v samples pending", fmtT(stopAt), fmtT(killAt), pending)

	b2 := startBridge(t, args...)
	b2Up := time.Now()
	if p := b2.MustMetric(mPending, "remote_name", remote); p == 0 {
		t.Errorf("restarted bridge: %s{remote_name=%q} = 0, want the killed bridge's backlog", mPending, remote)
	} else {
		t.Logf("restarted bridge healthy at %s with %v samples pending", fmtT(b2Up), p)
	}
	time.Sleep(5 * time.Second)
	if b2.proc.exited() {
		t.Fatalf("restarted bridge exited: %v", b2.proc.err)
	}
	restartAt := time.Now()
	r.Start()
	drain := waitDrained(t, b2, remote, drainTimeout)
	drainedAt := time.Now()
	t.Logf("receiver back at %s; queue drained %v later", fmtT(restartAt), drain.Round(time.Millisecond))
	if err := expectNoDrops(b2, remote); err != nil {
		t.Error(err)
	}

	// One sample per second from the first on, but for the seconds the
	// bridge was not running: from the kill to the restarted bridge's
	// first cycle (at start, before /-/healthy answered).
	maxGap := tick + tickSlack
	for _, sel := range []string{`e2e_kill9{job="kill9"}`, `up{job="kill9"}`, `pushgateway_up`} {
		ts, err := rawTimestamps(r.URL, sel, first, drainedAt)
		if err != nil {
			t.Error(err)
			continue
		}
		before := within(ts, first, killAt)
		after := within(ts, killAt, drainedAt)
		if hs := gaps(ts, first, killAt, maxGap); len(hs) > 0 {
			t.Errorf("%s: holes before the kill (receiver down from %s, kill at %s):\n%s",
				sel, fmtT(stopAt), fmtT(killAt), indent(strings.Join(hs, "\n")))
		}
		if hs := gaps(ts, b2Up, drainedAt, maxGap); len(hs) > 0 {
			t.Errorf("%s: holes after the restart (bridge healthy at %s, receiver back at %s):\n%s",
				sel, fmtT(b2Up), fmtT(restartAt), indent(strings.Join(hs, "\n")))
		}
		for _, part := range []struct {
			name string
			ts   []time.Time
		}{{"before the kill", before}, {"after the restart", after}} {
			if len(part.ts) == 0 {
				t.Errorf("%s: no sample %s", sel, part.name)
				continue
			}
			if want := cyclesBetween(part.ts[0], part.ts[len(part.ts)-1], tick); len(part.ts) != want {
				t.Errorf("%s: %d samples %s (%s to %s), want %d, one per second",
					sel, len(part.ts), part.name, fmtT(part.ts[0]), fmtT(part.ts[len(part.ts)-1]), want)
			}
		}
		if len(before) > 0 && len(after) > 0 {
			t.Logf("%s: %d samples before the kill (%d during the outage), %d after; down from %s to %s",
				sel, len(before), len(within(before, stopAt, killAt)), len(after), fmtT(before[len(before)-1]), fmtT(after[0]))
		}
	}
}

// stormProxy answers 429 with Retry-After: 1 to every remote-write request
// during a storm, and forwards them to the receiver otherwise.
type stormProxy struct {
	// URL is the remote-write URL to give the bridge.
	URL string

	mu          sync.Mutex
	from, until time.Time
	refused     []time.Time // when each 429 was answered
}

func startStormProxy(t testing.TB, writeURL string) *stormProxy {
	t.Helper()
	p := &stormProxy{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		now := time.Now()
		p.mu.Lock()
		storm := !now.Before(p.from) && now.Before(p.until)
		if storm {
			p.refused = append(p.refused, now)
		}
		p.mu.Unlock()
		if storm {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "too many requests", http.StatusTooManyRequests)
			return
		}
		rwtest.Forward(w, r, body, httpClient, writeURL)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL + "/api/v1/write"
	return p
}

// storm refuses every request for d from now on; it returns the storm's
// start and end.
func (p *stormProxy) storm(d time.Duration) (time.Time, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.from = time.Now()
	p.until = p.from.Add(d)
	return p.from, p.until
}

func (p *stormProxy) refusals() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.refused)
}

// Test429StormRetried puts the receiver behind a proxy answering 429 with
// Retry-After: 1 for 10s: the bridge retries, honouring the header, and
// loses nothing.
func Test429StormRetried(t *testing.T) {
	t.Parallel()
	g := startPushgateway(t)
	r := startPrometheusReceiver(t, 0)
	p := startStormProxy(t, r.WriteURL)
	mustPush(t, g.URL, http.MethodPut, groupPath("storm"), "e2e_storm 1\n")
	b := startBridge(t, bridgeArgs(g.URL, p.URL)...)
	remote := remoteNameOf(t, p.URL)

	eventually(t, arrive, func() error { return expectVector(r.URL, `e2e_storm`, `e2e_storm{job="storm"} 1`) })
	firstTS, err := scalarOf(r.URL, `timestamp(e2e_storm)`)
	if err != nil {
		t.Fatal(err)
	}
	first := time.UnixMilli(int64(math.Round(firstTS * 1000)))

	from, until := p.storm(10 * time.Second)
	time.Sleep(time.Until(until))
	drain := waitDrained(t, b, remote, drainTimeout)
	drainedAt := time.Now()
	refused := p.refusals()
	t.Logf("storm %s to %s: %d requests answered 429; drained %v after it ended",
		fmtT(from), fmtT(until), len(refused), drain.Round(time.Millisecond))

	maxGap := tick + tickSlack
	ts, err := rawTimestamps(r.URL, `e2e_storm{job="storm"}`, first, drainedAt)
	if err != nil {
		t.Fatal(err)
	}
	if hs := gaps(ts, first, drainedAt, maxGap); len(hs) > 0 {
		t.Errorf("e2e_storm: holes (storm %s to %s):\n%s", fmtT(from), fmtT(until), indent(strings.Join(hs, "\n")))
	}
	in := within(ts, from, until)
	if len(in) == 0 {
		t.Fatalf("e2e_storm: no sample of the storm %s to %s arrived", fmtT(from), fmtT(until))
	}
	want := cyclesBetween(in[0], in[len(in)-1], tick)
	got, err := countOverTime(r.URL, `e2e_storm{job="storm"}`, from, until)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("e2e_storm: %d samples in the storm, %d cycles (%s to %s)", got, want, fmtT(in[0]), fmtT(in[len(in)-1]))
	if got != want {
		t.Errorf("e2e_storm: count_over_time over the storm = %d, want %d, one per second from %s to %s",
			got, want, fmtT(in[0]), fmtT(in[len(in)-1]))
	}

	if len(refused) < 5 {
		t.Errorf("proxy answered %d requests 429 during the 10s storm, want at least 5 (one per Retry-After second)", len(refused))
	}
	// Retry-After: 1 is honoured: one shard, one request at a time, each
	// retried a second after its 429, not after the 30ms minimum backoff.
	for i := 1; i < len(refused); i++ {
		if d := refused[i].Sub(refused[i-1]); d < 900*time.Millisecond {
			t.Errorf("429 answers %d and %d only %v apart, want at least the 1s Retry-After asks for", i, i+1, d.Round(time.Millisecond))
		}
	}
	if v := b.MustMetric(mRequests, "remote_name", remote, "code", "429"); int(v) != len(refused) {
		t.Errorf(`%s{code="429"} = %v, want %d (the proxy's 429 answers)`, mRequests, v, len(refused))
	}
	for _, m := range []string{mFailed, mRetried} {
		if v := b.MustMetric(m, "remote_name", remote); v <= 0 {
			t.Errorf("%s = %v, want > 0", m, v)
		}
	}
	if v, n, err := b.Metric(mDropped, "remote_name", remote, "reason", "http_429"); err != nil || n != 0 {
		t.Errorf(`%s{reason="http_429"}: %v (%d series, err %v), want no such series`, mDropped, v, n, err)
	}
	if err := expectNoDrops(b, remote); err != nil {
		t.Error(err)
	}
}

// vmExport returns the raw values of the series matching selector through
// VictoriaMetrics' /api/v1/export: one line per series, a staleness marker
// as nil.
func vmExport(vmURL, selector string) (map[string][]*float64, error) {
	code, body, err := httpGet(vmURL + "/api/v1/export?" + url.Values{"match[]": {selector}}.Encode())
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("export %s: status %d: %s", selector, code, body)
	}
	out := map[string][]*float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var line struct {
			Metric model.Metric `json:"metric"`
			Values []*float64   `json:"values"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return nil, fmt.Errorf("export %s: decode %q: %w", selector, sc.Text(), err)
		}
		out[formatMetric(line.Metric)] = line.Values
	}
	return out, sc.Err()
}

// TestVictoriaMetricsReceiver sends to VictoriaMetrics 1.79 (remote write
// 1.0): every classic metric type arrives, and a deleted group vanishes at
// once through its staleness markers.
//
// VictoriaMetrics supports Prometheus staleness markers since 1.64: it
// stores them (its export shows them as null) and a series whose last
// sample is one answers no instant query. Without a marker, a series
// sampled every second kept answering instant queries for more than a
// minute after its last sample (measured with 1.79), so vanishing within
// seconds shows the markers at work.
func TestVictoriaMetricsReceiver(t *testing.T) {
	t.Parallel()
	g := startPushgateway(t)
	vm := startVictoriaMetrics(t)
	mustPush(t, g.URL, http.MethodPut, groupPath("types", "env", "test"), `
# TYPE e2e_gauge gauge
e2e_gauge{color="blue"} 42.5
# TYPE e2e_requests_total counter
e2e_requests_total 7
# TYPE e2e_hist histogram
e2e_hist_bucket{le="0.5"} 1
e2e_hist_bucket{le="+Inf"} 4
e2e_hist_sum 5.5
e2e_hist_count 4
# TYPE e2e_summary summary
e2e_summary{quantile="0.5"} 0.2
e2e_summary_sum 3.3
e2e_summary_count 6
e2e_untyped 13
`)
	mustPush(t, g.URL, http.MethodPut, groupPath("gone"), "e2e_gone 1\n")
	b := startBridge(t, bridgeArgs(g.URL, vm.WriteURL)...)
	remote := remoteNameOf(t, vm.WriteURL)

	took := eventually(t, vmVisible+arrive, func() error {
		return expectVector(vm.URL, `{job="types",__name__=~"e2e_.*"}`, `
e2e_gauge{color="blue",env="test",job="types"} 42.5
e2e_requests_total{env="test",job="types"} 7
e2e_hist_bucket{env="test",job="types",le="0.5"} 1
e2e_hist_bucket{env="test",job="types",le="+Inf"} 4
e2e_hist_sum{env="test",job="types"} 5.5
e2e_hist_count{env="test",job="types"} 4
e2e_summary{env="test",job="types",quantile="0.5"} 0.2
e2e_summary_sum{env="test",job="types"} 3.3
e2e_summary_count{env="test",job="types"} 6
e2e_untyped{env="test",job="types"} 13
`)
	})
	t.Logf("all types visible in VictoriaMetrics %v after the bridge started", took.Round(time.Millisecond))
	// Every series of the group, the synthesized ones included, whatever
	// they are.
	var goneSeries []string
	eventually(t, vmVisible, func() error {
		v, err := queryVector(vm.URL, `{job="gone"}`)
		if err != nil {
			return err
		}
		goneSeries = goneSeries[:0]
		for _, s := range v {
			goneSeries = append(goneSeries, formatMetric(s.Metric))
		}
		slices.Sort(goneSeries)
		for _, want := range []string{`e2e_gone{job="gone"}`, `up{job="gone"}`, `pushgateway_group_age_seconds{job="gone"}`} {
			if !slices.Contains(goneSeries, want) {
				return fmt.Errorf("query {job=\"gone\"}: no %s in:\n%s", want, indent(strings.Join(goneSeries, "\n")))
			}
		}
		return nil
	})
	if err := expectVector(vm.URL, `up{job=~"types|gone"}`, "up{env=\"test\",job=\"types\"} 1\nup{job=\"gone\"} 1"); err != nil {
		t.Error(err)
	}

	mustPush(t, g.URL, http.MethodDelete, groupPath("gone"), "")
	took = eventually(t, 10*time.Second, func() error { return expectEmpty(vm.URL, `{job="gone"}`) })
	t.Logf("deleted group vanished from VictoriaMetrics %v after the DELETE", took.Round(time.Millisecond))
	// The markers are stored: each series of the group ends with one.
	eventually(t, 10*time.Second, func() error {
		exp, err := vmExport(vm.URL, `{job="gone"}`)
		if err != nil {
			return err
		}
		var got []string
		for s, vs := range exp {
			if len(vs) > 0 && vs[len(vs)-1] == nil {
				got = append(got, s)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, goneSeries) {
			return fmt.Errorf("series of the deleted group ending with a staleness marker in /api/v1/export:\n got:\n%s\nwant:\n%s",
				indent(strings.Join(got, "\n")), indent(strings.Join(goneSeries, "\n")))
		}
		return nil
	})
	if err := expectMetrics(vm.URL, `{job="types",__name__=~"e2e_gauge|up"}`,
		`e2e_gauge{color="blue",env="test",job="types"}`, `up{env="test",job="types"}`); err != nil {
		t.Errorf("the other group after the DELETE: %v", err)
	}
	if err := expectNoDrops(b, remote); err != nil {
		t.Error(err)
	}
}

// TestRemoteWrite2Prometheus3 sends remote write 2.0 to a Prometheus 3
// accepting nothing else: samples, metadata and native histograms arrive,
// and the bridge never falls back.
//
// Prometheus' /api/v1/metadata answers only from the metadata of its scrape
// targets (web/api/v1 metricMetadata reads TargetsActive), never from remote
// write, so it cannot show what the bridge sent. The metadata is checked
// instead on the wire, in the 2.0 requests a recorder decodes, and at the
// receiver through --enable-feature=type-and-unit-labels, with which
// Prometheus turns each series' TYPE from the request into a __type__
// label.
func TestRemoteWrite2Prometheus3(t *testing.T) {
	t.Parallel()
	g := startPushgateway(t)
	r := startPrometheusBin(t, "prometheus3", prometheus3Bin, 0,
		"--web.remote-write-receiver.accepted-protobuf-messages="+rw2Message,
		"--enable-feature=type-and-unit-labels")
	rec := startWriteRecorder(t, r.WriteURL)
	const help = "A gauge pushed with HELP, sent over remote write 2.0."
	mustPush(t, g.URL, http.MethodPut, groupPath("rw2"), "# HELP e2e_rw2_gauge "+help+"\n# TYPE e2e_rw2_gauge gauge\ne2e_rw2_gauge 3\n")
	pushNativeHistogram(t, g.URL, "rw2native", "e2e_rw2_native", nil, 1, 2, 3, 10)
	cfg := writeConfig(t, fmt.Sprintf(`
remote_write:
- url: %s
  name: p3
  protobuf_message: %s
`, rec.URL, rw2Message))
	b := startBridge(t, deliveryArgs(g.URL, cfg, tick)...)

	took := eventually(t, arrive, func() error {
		return expectVector(r.URL, `e2e_rw2_gauge`, `e2e_rw2_gauge{__type__="gauge",job="rw2"} 3`)
	})
	t.Logf("gauge arrived with its type %v after the bridge started", took.Round(time.Millisecond))
	eventually(t, arrive, func() error {
		if v, err := scalarOf(r.URL, `histogram_count(e2e_rw2_native)`); err != nil || v != 4 {
			return fmt.Errorf("histogram_count(e2e_rw2_native) = %v (%v), want 4", v, err)
		}
		if v, err := scalarOf(r.URL, `histogram_sum(e2e_rw2_native)`); err != nil || v != 16 {
			return fmt.Errorf("histogram_sum(e2e_rw2_native) = %v (%v), want 16", v, err)
		}
		return nil
	})
	if err := expectMetrics(r.URL, `e2e_rw2_native`, `e2e_rw2_native{__type__="histogram",job="rw2native"}`); err != nil {
		t.Error(err)
	}

	wantMeta := []metadata.Metadata{{Type: model.MetricTypeGauge, Help: help}}
	if got := rec.metadataOf("e2e_rw2_gauge"); !slices.Equal(got, wantMeta) {
		t.Errorf("metadata of e2e_rw2_gauge in the 2.0 requests: %+v, want %+v", got, wantMeta)
	}
	if got := rec.metadataOf("e2e_rw2_native"); len(got) != 1 || got[0].Type != model.MetricTypeHistogram || got[0].Help != "A native histogram pushed by the e2e tests." {
		t.Errorf("metadata of e2e_rw2_native in the 2.0 requests: %+v, want one histogram with the pushed HELP", got)
	}
	if _, _, errs := rec.seen(); len(errs) > 0 {
		t.Errorf("undecodable requests:\n%s", indent(strings.Join(errs, "\n")))
	}

	consistently(t, 3*time.Second, func() error {
		if n := rec.requestsOf(rw1Message); n != 0 {
			return fmt.Errorf("%d remote write 1.0 requests sent to a 2.0 receiver", n)
		}
		if v := b.MustMetric(mFallbacks, "remote_name", "p3"); v != 0 {
			return fmt.Errorf("%s = %v, want 0", mFallbacks, v)
		}
		return nil
	})
	t.Logf("%d remote write 2.0 requests, none 1.0", rec.requestsOf(rw2Message))
	if v := b.MustMetric(mHistSent, "remote_name", "p3"); v <= 0 {
		t.Errorf("%s = %v, want > 0", mHistSent, v)
	}
	if err := expectNoDrops(b, "p3"); err != nil {
		t.Error(err)
	}
}

// fallbackLine matches the bridge's log line saying it falls back to 1.0.
var fallbackLine = regexp.MustCompile(`(?i)fall(s|ing)? ?back`)

// TestRemoteWrite2FallsBack configures remote write 2.0 towards receivers
// that do not take it: the bridge falls back to 1.0 once and loses nothing,
// not even the first requests, which were refused or silently discarded.
func TestRemoteWrite2FallsBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		start   func(t testing.TB) *receiver
		visible time.Duration
		extra   string // labels the receiver adds, as `,name="value"`
	}{
		{
			// Answers 415 to 2.0.
			name:    "prometheus3-rw1-only",
			start:   func(t testing.TB) *receiver { return startPrometheus3Receiver(t, 0, rw1Message) },
			visible: arrive,
		},
		{
			// Answers 204 to 2.0 without written headers, storing nothing.
			name:    "victoria-metrics",
			start:   startVictoriaMetrics,
			visible: vmVisible + arrive,
		},
		{
			// Thanos receive before 0.42 reads a 2.0 body as a 1.0 one
			// holding nothing and answers 200 without written headers.
			name: "thanos-receive",
			start: func(t testing.TB) *receiver {
				th := startThanos(t)
				return &receiver{URL: th.URL, WriteURL: th.WriteURL}
			},
			visible: thanosArrive,
			extra:   `,tenant_id="default-tenant"`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// A 5s interval tells the first cycle, the one whose requests
			// the receiver refused or discarded, from the second.
			const interval = 5 * time.Second
			g := startPushgateway(t)
			r := tc.start(t)
			mustPush(t, g.URL, http.MethodPut, groupPath("fb"), "e2e_fb 1\n")
			cfg := writeConfig(t, fmt.Sprintf(`
remote_write:
- url: %s
  name: fb
  protobuf_message: %s
`, r.WriteURL, rw2Message))
			startAt := time.Now()
			b := startBridge(t, deliveryArgs(g.URL, cfg, interval)...)

			took := eventually(t, tc.visible, func() error { return expectVector(r.URL, `e2e_fb`, `e2e_fb{job="fb"`+tc.extra+`} 1`) })
			t.Logf("arrived %v after the bridge started", took.Round(time.Millisecond))
			time.Sleep(2 * interval)
			waitDrained(t, b, "fb", drainTimeout)
			end := time.Now()
			ts, err := rawTimestamps(r.URL, `e2e_fb{job="fb"}`, startAt, end)
			if err != nil {
				t.Fatal(err)
			}
			if len(ts) == 0 || ts[0].Sub(startAt) > interval/2 {
				t.Errorf("e2e_fb: want the first cycle's sample, within %v of the bridge's start at %s; got samples %s",
					interval/2, fmtT(startAt), fmtTimes(ts))
			}
			if hs := gaps(ts, startAt, end, interval+time.Second); len(hs) > 0 {
				t.Errorf("e2e_fb: holes:\n%s", indent(strings.Join(hs, "\n")))
			}
			if len(ts) > 0 {
				if want := cyclesBetween(ts[0], ts[len(ts)-1], interval); len(ts) != want {
					t.Errorf("e2e_fb: %d samples, want %d (samples %s)", len(ts), want, fmtTimes(ts))
				}
			}
			if v := b.MustMetric(mFallbacks, "remote_name", "fb"); v != 1 {
				t.Errorf("%s = %v, want 1", mFallbacks, v)
			}
			var lines []string
			for l := range strings.Lines(b.Output()) {
				// Log lines only, not the command lines startProcess writes.
				if !strings.HasPrefix(l, "===") && fallbackLine.MatchString(l) {
					lines = append(lines, strings.TrimSpace(l))
				}
			}
			if len(lines) != 1 {
				t.Errorf("bridge log: %d lines about falling back, want 1:\n%s", len(lines), indent(strings.Join(lines, "\n")))
			} else {
				t.Logf("bridge log: %s", lines[0])
			}
			if err := expectNoDrops(b, "fb"); err != nil {
				t.Error(err)
			}
		})
	}
}

// fmtTimes renders times with fmtT.
func fmtTimes(ts []time.Time) string {
	s := make([]string, len(ts))
	for i, x := range ts {
		s[i] = fmtT(x)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// TestEndpointsIndependent sends to two endpoints, one of them down: the
// other gets every cycle on time, the down one's backlog grows and arrives
// whole once it is up.
func TestEndpointsIndependent(t *testing.T) {
	t.Parallel()
	g := startPushgateway(t)
	ra := startPrometheusReceiver(t, 0)
	rb := startPrometheusReceiver(t, 0)
	rb.Stop() // nothing listens on its port until Start
	mustPush(t, g.URL, http.MethodPut, groupPath("ind"), "e2e_ind 1\n")
	cfg := writeConfig(t, fmt.Sprintf(`
remote_write:
- url: %s
  name: a
- url: %s
  name: b
`, ra.WriteURL, rb.WriteURL))
	startAt := time.Now()
	b := startBridge(t, deliveryArgs(g.URL, cfg, tick)...)

	eventually(t, arrive, func() error { return expectVector(ra.URL, `e2e_ind`, `e2e_ind{job="ind"} 1`) })
	pending1 := b.MustMetric(mPending, "remote_name", "b")
	var worstLag time.Duration
	consistently(t, 20*time.Second, func() error {
		v, err := scalarOf(ra.URL, `timestamp(e2e_ind)`)
		if err != nil {
			return err
		}
		lag := time.Since(time.UnixMilli(int64(math.Round(v * 1000))))
		worstLag = max(worstLag, lag)
		if lag > 2*tick+tickSlack {
			return fmt.Errorf("endpoint a: newest e2e_ind sample %v old, want at most %v while b is down", lag.Round(time.Millisecond), 2*tick+tickSlack)
		}
		return nil
	})
	pending2 := b.MustMetric(mPending, "remote_name", "b")
	t.Logf("while b was down: a's newest sample at most %v old; b's pending %v, 20s later %v",
		worstLag.Round(time.Millisecond), pending1, pending2)
	if pending2 <= pending1 {
		t.Errorf("%s{remote_name=\"b\"} went from %v to %v over 20s with b down, want growth", mPending, pending1, pending2)
	}

	bUpAt := time.Now()
	rb.Start()
	drain := waitDrained(t, b, "b", drainTimeout)
	t.Logf("b up at %s, drained %v later", fmtT(bUpAt), drain.Round(time.Millisecond))

	// Both have the same samples, one per second, from the bridge's first
	// cycle to b's return.
	var got [2][]time.Time
	for i, r := range []*receiver{ra, rb} {
		ts, err := rawTimestamps(r.URL, `e2e_ind{job="ind"}`, startAt, bUpAt)
		if err != nil {
			t.Fatal(err)
		}
		got[i] = ts
		name := []string{"a", "b"}[i]
		if hs := gaps(ts, startAt, bUpAt, tick+tickSlack); len(hs) > 0 {
			t.Errorf("endpoint %s: holes from the bridge's start at %s to b's return at %s:\n%s",
				name, fmtT(startAt), fmtT(bUpAt), indent(strings.Join(hs, "\n")))
		}
		for j := 1; j < len(ts); j++ {
			if d := ts[j].Sub(ts[j-1]); d < tick-tickSlack || d > tick+tickSlack {
				t.Errorf("endpoint %s: samples at %s and %s are %v apart, want %v", name, fmtT(ts[j-1]), fmtT(ts[j]), d, tick)
			}
		}
	}
	t.Logf("samples from the bridge's start to b's return: a %d, b %d", len(got[0]), len(got[1]))
	if !slices.Equal(got[0], got[1]) {
		t.Errorf("endpoints a and b got different samples:\n a: %s\n b: %s", fmtTimes(got[0]), fmtTimes(got[1]))
	}
	for _, name := range []string{"a", "b"} {
		if err := expectNoDrops(b, name); err != nil {
			t.Error(err)
		}
	}
}

// TestExternalLabelsOnEverySeries checks global.external_labels on every
// series of every request, Mimir's HA tracker reading only the first, and
// write_relabel_configs dropping a metric.
func TestExternalLabelsOnEverySeries(t *testing.T) {
	t.Parallel()
	g := startPushgateway(t)
	r := startPrometheusReceiver(t, 0)
	rec := startWriteRecorder(t, r.WriteURL)
	mustPush(t, g.URL, http.MethodPut, groupPath("ext"), `
e2e_kept{a="1"} 1
e2e_kept{a="2"} 2
e2e_dropped 3
e2e_own_cluster{cluster="mine"} 4
`)
	pushNativeHistogram(t, g.URL, "extnative", "e2e_ext_native", nil, 1)
	cfg := writeConfig(t, fmt.Sprintf(`
global:
  external_labels:
    cluster: e2e
    __replica__: r1
remote_write:
- url: %s
  name: rec
  write_relabel_configs:
  - source_labels: [__name__]
    regex: e2e_dropped
    action: drop
`, rec.URL))
	b := startBridge(t, deliveryArgs(g.URL, cfg, tick)...)

	eventually(t, arrive, func() error {
		return expectVector(r.URL, `{__name__=~"e2e_kept|e2e_own_cluster"}`, `
e2e_kept{__replica__="r1",a="1",cluster="e2e",job="ext"} 1
e2e_kept{__replica__="r1",a="2",cluster="e2e",job="ext"} 2
e2e_own_cluster{__replica__="r1",cluster="mine",job="ext"} 4
`)
	})
	// A few more cycles, several requests.
	eventually(t, arrive, func() error {
		if _, n, _ := rec.seen(); n < 5 {
			return fmt.Errorf("%d requests recorded, want 5", n)
		}
		return nil
	})

	series, requests, errs := rec.seen()
	if len(errs) > 0 {
		t.Errorf("undecodable requests:\n%s", indent(strings.Join(errs, "\n")))
	}
	var bad []string
	for _, m := range series {
		wantCluster := model.LabelValue("e2e")
		if m[model.MetricNameLabel] == "e2e_own_cluster" {
			wantCluster = "mine" // external labels do not override
		}
		if m["cluster"] != wantCluster || m["__replica__"] != "r1" {
			bad = append(bad, formatMetric(m))
		}
		if m[model.MetricNameLabel] == "e2e_dropped" {
			t.Errorf("write_relabel_configs dropped e2e_dropped, yet it was sent: %s", formatMetric(m))
		}
	}
	if len(bad) > 0 {
		t.Errorf("series sent without cluster=\"e2e\" (own cluster kept) and __replica__=\"r1\":\n%s", indent(strings.Join(bad, "\n")))
	}
	t.Logf("%d requests, %d distinct series, every one with both external labels", requests, len(series))
	if len(series) < 10 {
		t.Errorf("only %d distinct series recorded, want the group's, its synthesized ones and pushgateway_up", len(series))
	}

	// Through PromQL: every series carries both, the dropped metric is absent.
	if err := expectEmpty(r.URL, `{__name__=~".+",cluster=""} or {__name__=~".+",__replica__!="r1"}`); err != nil {
		t.Error(err)
	}
	if err := expectEmpty(r.URL, `e2e_dropped`); err != nil {
		t.Error(err)
	}
	if err := expectVector(r.URL, `pushgateway_up{cluster="e2e",__replica__="r1"}`,
		fmt.Sprintf(`pushgateway_up{__replica__="r1",cluster="e2e",gateway=%q} 1`, g.Addr)); err != nil {
		t.Error(err)
	}
	if v, err := scalarOf(r.URL, `histogram_count(e2e_ext_native{cluster="e2e",__replica__="r1"})`); err != nil || v != 1 {
		t.Errorf("histogram_count(e2e_ext_native) with the external labels = %v (%v), want 1", v, err)
	}
	if err := expectNoDrops(b, "rec"); err != nil {
		t.Error(err)
	}
}

// TestShutdownFlushesAndKeepsRest stops the bridge with SIGTERM while the
// receiver is down: it gives up after --remote-write.flush-deadline, exits
// 0, and the next bridge on the same --storage.path sends the backlog.
func TestShutdownFlushesAndKeepsRest(t *testing.T) {
	t.Parallel()
	const flushDeadline = 2 * time.Second
	g := startPushgateway(t)
	r := startPrometheusReceiver(t, 0)
	r.Stop()
	mustPush(t, g.URL, http.MethodPut, groupPath("shutdown"), "e2e_shutdown 1\n")
	dir := t.TempDir()
	args := append(bridgeArgs(g.URL, r.WriteURL),
		"--storage.path="+dir,
		"--remote-write.flush-deadline="+model.Duration(flushDeadline).String())
	remote := remoteNameOf(t, r.WriteURL)

	startAt := time.Now()
	b1 := startBridge(t, args...)
	time.Sleep(6 * time.Second)
	pending := b1.MustMetric(mPending, "remote_name", remote)
	cycles := b1.MustMetric(mCyclesDone)
	if pending == 0 {
		t.Errorf("%s = 0 with the receiver down, want a backlog", mPending)
	}

	termAt := time.Now()
	err := b1.proc.stop()
	took := time.Since(termAt)
	t.Logf("SIGTERM with %v samples pending after %v cycles: exit %v after %v", pending, cycles, err, took.Round(time.Millisecond))
	if err != nil {
		t.Errorf("bridge exit after SIGTERM: %v, want exit status 0", err)
	}
	if limit := flushDeadline + 3*time.Second; took > limit {
		t.Errorf("bridge took %v to exit after SIGTERM with --remote-write.flush-deadline=%v, want at most %v", took, flushDeadline, limit)
	}
	if !strings.Contains(b1.Output(), "left unsent") {
		t.Errorf("bridge log does not say samples were left unsent at shutdown")
	}

	r.Start()
	b2 := startBridge(t, args...)
	drain := waitDrained(t, b2, remote, drainTimeout)
	drainedAt := time.Now()
	t.Logf("restarted bridge drained the backlog %v after it started", drain.Round(time.Millisecond))

	// The first run's cycles all arrived: one sample per second from its
	// start to the SIGTERM.
	maxGap := tick + tickSlack
	ts, err := rawTimestamps(r.URL, `e2e_shutdown{job="shutdown"}`, startAt, drainedAt)
	if err != nil {
		t.Fatal(err)
	}
	first := within(ts, startAt, termAt)
	if hs := gaps(ts, startAt, termAt, maxGap); len(hs) > 0 {
		t.Errorf("e2e_shutdown: holes in the first run (started %s, SIGTERM at %s):\n%s",
			fmtT(startAt), fmtT(termAt), indent(strings.Join(hs, "\n")))
	}
	if len(first) > 0 {
		want := cyclesBetween(first[0], first[len(first)-1], tick)
		t.Logf("first run: %d samples arrived of %d cycles (%s to %s), bridge counted %v cycles before SIGTERM",
			len(first), want, fmtT(first[0]), fmtT(first[len(first)-1]), cycles)
		if len(first) != want || float64(len(first)) < cycles {
			t.Errorf("e2e_shutdown: %d samples of the first run, want %d, one per cycle, and at least the %v cycles counted before SIGTERM",
				len(first), want, cycles)
		}
	}
	if err := expectNoDrops(b2, remote); err != nil {
		t.Error(err)
	}
}

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/pushgateway-bridge/pushgateway-bridge/internal/rwtest"
)

const (
	// startTimeout bounds how long a peer or the bridge may take to answer
	// its readiness endpoint after being started.
	startTimeout = 30 * time.Second
	// stopTimeout bounds how long a process may take to exit after SIGTERM
	// before it is killed.
	stopTimeout = 10 * time.Second
	// pollInterval is how often eventually and consistently re-check.
	pollInterval = 200 * time.Millisecond
)

// httpClient is used for every request the tests make; each request is
// short, so a small timeout turns a hung peer into a clear error.
var httpClient = &http.Client{Timeout: 5 * time.Second}

// freePort returns a TCP port on 127.0.0.1 that nothing listened on a moment
// ago. The kernel hands out ephemeral ports round-robin, so the port is very
// unlikely to be taken again before the caller binds it.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pick free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// listening reports whether something accepts TCP connections on addr.
func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// syncBuffer is a bytes buffer safe for a process writing into it while a
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// process is one run of an external binary. Its stdout and stderr go to
// output, which is shared across restarts of the same peer so that a failing
// test prints the whole story.
type process struct {
	name   string
	cmd    *exec.Cmd
	output *syncBuffer
	done   chan struct{} // closed once Wait returned
	err    error         // Wait's result, valid once done is closed
}

// startProcess starts bin with args, writing its output to out. It does not
// register cleanups: the owning handle does.
func startProcess(t testing.TB, name string, out *syncBuffer, bin string, args ...string) *process {
	t.Helper()
	return startCmd(t, name, out, exec.Command(bin, args...))
}

// startCmd is startProcess for a command prepared by the caller (its
// directory, environment or SysProcAttr set).
func startCmd(t testing.TB, name string, out *syncBuffer, cmd *exec.Cmd) *process {
	t.Helper()
	fmt.Fprintf(out, "=== %s %s\n", name, strings.Join(cmd.Args[1:], " "))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, output: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits for the exit, killing the process if it
// takes longer than stopTimeout. It returns Wait's error, nil for exit 0.
func (p *process) stop() error {
	if p.exited() {
		return p.err
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(stopTimeout):
		p.kill()
		return fmt.Errorf("%s did not exit within %v of SIGTERM; killed", p.name, stopTimeout)
	}
}

// kill sends SIGKILL and waits for the exit.
func (p *process) kill() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// waitHTTP200 polls url until it answers 200, failing the test if the
// process exits first or startTimeout passes.
func waitHTTP200(t testing.TB, p *process, url string) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		if p.exited() {
			t.Fatalf("%s exited before %s answered 200 (%v); output:\n%s", p.name, url, p.err, p.output)
		}
		code, _, err := httpGet(url)
		if err == nil && code == http.StatusOK {
			return
		}
		if err == nil {
			err = fmt.Errorf("status %d", code)
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: %s did not answer 200 within %v: %v; output:\n%s", p.name, url, startTimeout, last, p.output)
}

// logOnFailure prints a process' output when the test failed.
func logOnFailure(t testing.TB, name string, out *syncBuffer) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("---- %s output ----\n%s---- end of %s output ----", name, out, name)
		}
	})
}

// httpGet fetches url and returns status code and body.
func httpGet(url string) (int, string, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// pushgateway is a running (or stopped) Pushgateway on a fixed port.
type pushgateway struct {
	t        testing.TB
	port     int
	bin      string
	extra    []string // flags beyond the usual ones
	dataFile string
	output   *syncBuffer
	proc     *process
	// URL is the gateway's base URL, e.g. http://127.0.0.1:PORT.
	URL string
	// Addr is host:port, the value of the bridge's gateway label.
	Addr string
}

// startPushgateway starts a Pushgateway on a free port with a persistence
// file in a temp dir, so that Stop and Start keep the pushed groups, and
// waits until /-/ready answers 200. It is stopped when the test ends.
func startPushgateway(t testing.TB) *pushgateway {
	t.Helper()
	return startPushgatewayOn(t, freePort(t))
}

// startPushgatewayOn is startPushgateway on a given port.
func startPushgatewayOn(t testing.TB, port int) *pushgateway {
	t.Helper()
	return startPushgatewayBin(t, port, pushgatewayBin)
}

// startPushgatewayBin is startPushgateway running the Pushgateway binary
// bin on port (0: a free one) with flags added to the usual ones: e.g.
// pushgateway1115Bin and --push.enable-utf8-names.
func startPushgatewayBin(t testing.TB, port int, bin string, extra ...string) *pushgateway {
	t.Helper()
	if port == 0 {
		port = freePort(t)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	g := &pushgateway{
		t:        t,
		port:     port,
		bin:      bin,
		extra:    extra,
		dataFile: filepath.Join(t.TempDir(), "pushgateway.data"),
		output:   &syncBuffer{},
		URL:      "http://" + addr,
		Addr:     addr,
	}
	logOnFailure(t, "pushgateway "+addr, g.output)
	t.Cleanup(func() {
		if g.proc != nil {
			g.proc.kill()
		}
	})
	g.Start()
	return g
}

// gatewayVersions are the Pushgateways the tests of the gateway's API (its
// scrape formats, the push times of /api/v1/metrics, DELETE) run against:
// Debian's 1.5.1 and 1.11.5, the newest, that scripts/peers.sh builds.
var gatewayVersions = []struct {
	name  string
	start func(t testing.TB) *pushgateway
}{
	{"pushgateway-1.5.1", startPushgateway},
	{"pushgateway-1.11.5", func(t testing.TB) *pushgateway { return startPushgatewayBin(t, 0, pushgateway1115Bin) }},
}

// forEachGateway runs test once per gatewayVersions entry, as parallel
// subtests named after the version, each with its own gateway.
func forEachGateway(t *testing.T, test func(t *testing.T, g *pushgateway)) {
	t.Helper()
	forEachGatewayVersion(t, func(t *testing.T, start func(testing.TB) *pushgateway) { test(t, start(t)) })
}

// forEachGatewayVersion is forEachGateway for tests that start gateways
// themselves, with start.
func forEachGatewayVersion(t *testing.T, test func(t *testing.T, start func(testing.TB) *pushgateway)) {
	t.Helper()
	for _, gv := range gatewayVersions {
		t.Run(gv.name, func(t *testing.T) {
			t.Parallel()
			test(t, gv.start)
		})
	}
}

// Start (re)starts the gateway on its port and waits until it is ready.
func (g *pushgateway) Start() {
	g.t.Helper()
	if g.proc != nil && !g.proc.exited() {
		g.t.Fatalf("pushgateway %s: Start while running", g.Addr)
	}
	g.proc = startProcess(g.t, "pushgateway", g.output, g.bin, append([]string{
		"--web.listen-address=" + g.Addr,
		"--persistence.file=" + g.dataFile,
		"--log.level=debug",
	}, g.extra...)...)
	waitHTTP200(g.t, g.proc, g.URL+"/-/ready")
}

// Stop sends SIGTERM and waits; the gateway writes its persistence file on
// the way out.
func (g *pushgateway) Stop() {
	g.t.Helper()
	if err := g.proc.stop(); err != nil {
		g.t.Fatalf("stop pushgateway %s: %v", g.Addr, err)
	}
	if listening(g.Addr) {
		g.t.Fatalf("pushgateway %s still listening after stop", g.Addr)
	}
}

// receiver is a remote-write receiver with a PromQL HTTP API: Prometheus
// 2 or 3, or VictoriaMetrics. Stop and Start restart it on the same address
// with the same data folder, as a receiver outage does.
type receiver struct {
	// URL is the base URL of the PromQL HTTP API, e.g. http://127.0.0.1:PORT.
	URL string
	// WriteURL is the remote-write endpoint.
	WriteURL string
	// Addr is host:port.
	Addr string

	t        testing.TB
	name     string
	bin      string
	args     []string
	readyURL string
	output   *syncBuffer
	proc     *process
}

// startReceiverProcess runs bin with args as the receiver listening on addr,
// writing to writePath and ready once readyPath answers 200. It is killed
// when the test ends: call it after creating the temp dirs it writes to, so
// that it is killed before they are removed.
func startReceiverProcess(t testing.TB, name, bin, addr, writePath, readyPath string, args ...string) *receiver {
	t.Helper()
	r := &receiver{
		URL:      "http://" + addr,
		WriteURL: "http://" + addr + writePath,
		Addr:     addr,
		t:        t,
		name:     name,
		bin:      bin,
		args:     args,
		readyURL: "http://" + addr + readyPath,
		output:   &syncBuffer{},
	}
	logOnFailure(t, name+" "+addr, r.output)
	t.Cleanup(func() {
		if r.proc != nil {
			r.proc.kill()
		}
	})
	r.Start()
	return r
}

// Start (re)starts the receiver with its flags, on its address and data
// folder, and waits until it is ready.
func (r *receiver) Start() {
	r.t.Helper()
	if r.proc != nil && !r.proc.exited() {
		r.t.Fatalf("%s %s: Start while running", r.name, r.Addr)
	}
	r.proc = startProcess(r.t, r.name, r.output, r.bin, r.args...)
	waitHTTP200(r.t, r.proc, r.readyURL)
}

// Stop sends SIGTERM and waits for a clean exit; the receiver's data stays
// for Start.
func (r *receiver) Stop() {
	r.t.Helper()
	if err := r.proc.stop(); err != nil {
		r.t.Fatalf("stop %s %s: %v", r.name, r.Addr, err)
	}
	if listening(r.Addr) {
		r.t.Fatalf("%s %s still listening after stop", r.name, r.Addr)
	}
}

// startPrometheusReceiver starts Prometheus with the remote-write receiver
// and native histograms enabled, an empty scrape config and the given
// query lookback delta (0 means Prometheus' default, 5m), and waits until
// /-/ready answers 200. It is stopped when the test ends.
func startPrometheusReceiver(t testing.TB, lookback time.Duration) *receiver {
	t.Helper()
	return startPrometheusBin(t, "prometheus", prometheusBin, lookback, "--enable-feature=native-histograms")
}

// startPrometheusBin runs the Prometheus binary bin as a remote-write
// receiver with an empty scrape config, the given query lookback delta (0
// means Prometheus' default, 5m) and extra flags, and waits until /-/ready
// answers 200. It is stopped when the test ends.
func startPrometheusBin(t testing.TB, name, bin string, lookback time.Duration, extra ...string) *receiver {
	t.Helper()
	if lookback == 0 {
		lookback = 5 * time.Minute
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("scrape_configs: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	args := append([]string{
		"--web.enable-remote-write-receiver",
		"--storage.tsdb.path=" + filepath.Join(dir, "tsdb"),
		"--config.file=" + cfg,
		"--web.listen-address=" + addr,
		"--query.lookback-delta=" + model.Duration(lookback).String(),
	}, extra...)
	return startReceiverProcess(t, name, bin, addr, "/api/v1/write", "/-/ready", args...)
}

// bridge is a running pushgateway-bridge.
type bridge struct {
	t    testing.TB
	proc *process
	// URL is the bridge's base URL, e.g. http://127.0.0.1:PORT.
	URL string
}

// bridgeArgs returns the usual flags pointing a bridge from g to r with a
// 1s scrape interval and debug logs.
func bridgeArgs(gatewayURL, writeURL string) []string {
	return []string{
		"--pushgateway.url=" + gatewayURL,
		"--remote-write.url=" + writeURL,
		"--scrape.interval=1s",
		"--log.level=debug",
	}
}

// startBridge runs the built bridge with --web.listen-address on a free
// port plus args and waits until /-/healthy answers 200. Unless args name
// one, it gets a --storage.path of its own: the default, data/ under the
// working directory, would leave queues behind in e2e/ and share them
// between tests. The bridge is stopped when the test ends; if the test
// failed, its output and its own metrics are printed.
func startBridge(t testing.TB, args ...string) *bridge {
	t.Helper()
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--storage.path=") }) {
		// Created before the stop cleanup is registered, so removed after it.
		args = append([]string{"--storage.path=" + t.TempDir()}, args...)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	out := &syncBuffer{}
	b := &bridge{t: t, URL: "http://" + addr}
	logOnFailure(t, "bridge "+addr, out)
	// Cleanups run last-registered first: dump metrics, then stop.
	t.Cleanup(func() {
		if b.proc == nil {
			return
		}
		if err := b.proc.stop(); err != nil && !isSignalExit(err) {
			t.Errorf("bridge exit: %v", err)
		}
	})
	t.Cleanup(func() {
		if t.Failed() && b.proc != nil && !b.proc.exited() {
			t.Logf("---- bridge /metrics (pushgateway_bridge_*) ----\n%s", grepLines(b.MetricsText(), "pushgateway_bridge_"))
		}
	})
	b.proc = startProcess(t, "bridge", out, bridgeBin, append([]string{"--web.listen-address=" + addr}, args...)...)
	waitHTTP200(t, b.proc, b.URL+"/-/healthy")
	return b
}

// isSignalExit reports whether err is an exit caused by a signal the tests
// sent on purpose (Kill).
func isSignalExit(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && ee.ExitCode() == -1
}

// Stop sends SIGTERM and waits for a clean exit.
func (b *bridge) Stop() {
	b.t.Helper()
	if err := b.proc.stop(); err != nil {
		b.t.Errorf("stop bridge: %v", err)
	}
}

// Kill sends SIGKILL and waits.
func (b *bridge) Kill() { b.proc.kill() }

// MetricsText returns the bridge's /metrics body, or the error text.
func (b *bridge) MetricsText() string {
	code, body, err := httpGet(b.URL + "/metrics")
	if err != nil {
		return "GET /metrics: " + err.Error()
	}
	if code != http.StatusOK {
		return fmt.Sprintf("GET /metrics: status %d\n%s", code, body)
	}
	return body
}

// Ready reports whether /-/ready answers 200.
func (b *bridge) Ready() bool {
	code, _, err := httpGet(b.URL + "/-/ready")
	return err == nil && code == http.StatusOK
}

// Output returns what the bridge logged so far.
func (b *bridge) Output() string { return b.proc.output.String() }

// Metric returns the sum of the bridge's own samples of the metric family
// name whose labels include the name/value pairs lv, and how many samples
// matched; a family the bridge does not expose (yet) matches none.
func (b *bridge) Metric(name string, lv ...string) (float64, int, error) {
	return metricAt(b.URL+"/metrics", name, lv...)
}

// metricAt is bridge.Metric for the Prometheus exposition at metricsURL,
// e.g. a receiver's own /metrics.
func metricAt(metricsURL, name string, lv ...string) (float64, int, error) {
	if len(lv)%2 != 0 {
		panic("metricAt: labels must be name/value pairs")
	}
	code, body, err := httpGet(metricsURL)
	if err != nil {
		return 0, 0, fmt.Errorf("GET /metrics: %w", err)
	}
	if code != http.StatusOK {
		return 0, 0, fmt.Errorf("GET /metrics: status %d", code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		return 0, 0, fmt.Errorf("parse /metrics: %w", err)
	}
	var (
		sum float64
		n   int
	)
	fam, ok := fams[name]
	if !ok {
		return 0, 0, nil
	}
next:
	for _, m := range fam.GetMetric() {
		for i := 0; i < len(lv); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == lv[i] && l.GetValue() == lv[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		default:
			return 0, 0, fmt.Errorf("%s: not a counter, gauge or untyped metric", name)
		}
		n++
	}
	return sum, n, nil
}

// MustMetric is Metric failing the test on error or when no sample matched.
func (b *bridge) MustMetric(name string, lv ...string) float64 {
	b.t.Helper()
	v, n, err := b.Metric(name, lv...)
	if err != nil {
		b.t.Fatal(err)
	}
	if n == 0 {
		b.t.Fatalf("bridge /metrics: no sample of %s with labels %q", name, lv)
	}
	return v
}

// writeConfig writes a --config.file for the bridge into a temp dir and
// returns its path.
func writeConfig(t testing.TB, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bridge.yml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func grepLines(text, prefix string) string {
	var sb strings.Builder
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, prefix) {
			sb.WriteString(line)
		}
	}
	return sb.String()
}

// queryVector runs an instant PromQL query at the current time through
// /api/v1/query and returns the vector result.
func queryVector(promURL, expr string) (model.Vector, error) {
	return queryVectorParams(promURL, expr, url.Values{})
}

// queryVectorParams is queryVector with further query parameters.
func queryVectorParams(promURL, expr string, params url.Values) (model.Vector, error) {
	params.Set("query", expr)
	var v model.Vector
	err := apiQuery(promURL, expr, params, "vector", &v)
	return v, err
}

// apiQuery runs /api/v1/query with params and decodes a result of type
// want into result.
func apiQuery(promURL, expr string, params url.Values, want string, result any) error {
	code, body, err := httpGet(promURL + "/api/v1/query?" + params.Encode())
	if err != nil {
		return fmt.Errorf("query %s: %w", expr, err)
	}
	var resp struct {
		Status string `json:"status"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		return fmt.Errorf("query %s: status %d: decode %q: %w", expr, code, body, err)
	}
	if resp.Status != "success" {
		return fmt.Errorf("query %s: %s: %s", expr, resp.ErrorType, resp.Error)
	}
	if resp.Data.ResultType != want {
		return fmt.Errorf("query %s: result type %q, want %s", expr, resp.Data.ResultType, want)
	}
	if err := json.Unmarshal(resp.Data.Result, result); err != nil {
		return fmt.Errorf("query %s: decode result: %w", expr, err)
	}
	return nil
}

// apiTime formats t for the time parameter of /api/v1/query, to the
// millisecond.
func apiTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

// queryMatrixAt runs an instant query (a range selector, typically) at time
// at through /api/v1/query and returns the matrix result.
func queryMatrixAt(promURL, expr string, at time.Time) (model.Matrix, error) {
	var m model.Matrix
	err := apiQuery(promURL, expr, url.Values{"query": {expr}, "time": {apiTime(at)}}, "matrix", &m)
	return m, err
}

// rawTimestamps returns the timestamps of the raw samples of the one series
// selector matches in the window [from, to] (as the receiver bounds a range
// selector), oldest first.
func rawTimestamps(promURL, selector string, from, to time.Time) ([]time.Time, error) {
	expr := fmt.Sprintf("%s[%dms]", selector, to.Sub(from).Milliseconds())
	m, err := queryMatrixAt(promURL, expr, to)
	if err != nil {
		return nil, err
	}
	if len(m) != 1 {
		var names []string
		for _, ss := range m {
			names = append(names, formatMetric(ss.Metric))
		}
		return nil, fmt.Errorf("query %s at %s: want 1 series, got %d: %q", expr, apiTime(to), len(m), names)
	}
	ts := make([]time.Time, 0, len(m[0].Values)+len(m[0].Histograms))
	for _, v := range m[0].Values {
		ts = append(ts, v.Timestamp.Time())
	}
	for _, h := range m[0].Histograms {
		ts = append(ts, h.Timestamp.Time())
	}
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	return ts, nil
}

// queryVectorAt is queryVector evaluated at time at.
func queryVectorAt(promURL, expr string, at time.Time) (model.Vector, error) {
	return queryVectorParams(promURL, expr, url.Values{"time": {apiTime(at)}})
}

// query is queryVector failing the test on error.
func query(t testing.TB, promURL, expr string) model.Vector {
	t.Helper()
	v, err := queryVector(promURL, expr)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// formatVector renders a vector as sorted exposition-like lines,
// `name{a="b",c="d"} value`, so that tests can compare whole results
// against expected text.
func formatVector(v model.Vector) string {
	lines := make([]string, 0, len(v))
	for _, s := range v {
		val := strconv.FormatFloat(float64(s.Value), 'g', -1, 64)
		if s.Histogram != nil {
			val = s.Histogram.String()
		}
		lines = append(lines, formatMetric(s.Metric)+" "+val)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// formatMetric renders a label set as `name{a="b",c="d"}`, labels sorted;
// an empty label value is kept so that it shows.
func formatMetric(m model.Metric) string {
	names := make([]string, 0, len(m))
	for n := range m {
		if n != model.MetricNameLabel {
			names = append(names, string(n))
		}
	}
	slices.Sort(names)
	pairs := make([]string, 0, len(names))
	for _, n := range names {
		pairs = append(pairs, fmt.Sprintf("%s=%q", n, m[model.LabelName(n)]))
	}
	return string(m[model.MetricNameLabel]) + "{" + strings.Join(pairs, ",") + "}"
}

// expectVector returns an error unless expr's result, formatted by
// formatVector, equals want (lines in any order, surrounding blanks
// ignored).
func expectVector(promURL, expr, want string) error {
	v, err := queryVector(promURL, expr)
	if err != nil {
		return err
	}
	wantLines := strings.Split(strings.TrimSpace(want), "\n")
	for i := range wantLines {
		wantLines[i] = strings.TrimSpace(wantLines[i])
	}
	slices.Sort(wantLines)
	if want == "" {
		wantLines = nil
	}
	got := formatVector(v)
	if got != strings.Join(wantLines, "\n") {
		return fmt.Errorf("query %s:\n got:\n%s\nwant:\n%s", expr, indent(got), indent(strings.Join(wantLines, "\n")))
	}
	return nil
}

// expectEmpty returns an error unless expr's result is empty.
func expectEmpty(promURL, expr string) error {
	v, err := queryVector(promURL, expr)
	if err != nil {
		return err
	}
	if len(v) != 0 {
		return fmt.Errorf("query %s: want empty result, got:\n%s", expr, indent(formatVector(v)))
	}
	return nil
}

// scalarOf returns the value of expr's single-sample result.
func scalarOf(promURL, expr string) (float64, error) {
	v, err := queryVector(promURL, expr)
	if err != nil {
		return 0, err
	}
	if len(v) != 1 {
		return 0, fmt.Errorf("query %s: want 1 sample, got %d:\n%s", expr, len(v), indent(formatVector(v)))
	}
	return float64(v[0].Value), nil
}

func indent(s string) string {
	if s == "" {
		return "    (empty)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// eventually calls f every pollInterval until it returns nil, failing the
// test with f's last error if that does not happen within timeout. It
// returns how long it took.
func eventually(t testing.TB, timeout time.Duration, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		err := f()
		if err == nil {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true within %v: %v", timeout, err)
		}
		time.Sleep(pollInterval)
	}
}

// consistently calls f every pollInterval for d, failing the test at the
// first error.
func consistently(t testing.TB, d time.Duration, f func() error) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(d)
	for time.Now().Before(deadline) {
		if err := f(); err != nil {
			t.Fatalf("after %v of %v: %v", time.Since(start).Round(time.Millisecond), d, err)
		}
		time.Sleep(pollInterval)
	}
}

// groupPath returns the Pushgateway API path of a group,
// /metrics/job/<job>/<name>/<value>..., for job and name/value pairs.
// Values holding a '/' or empty are written as <name>@base64/<base64url>,
// which the gateway decodes.
func groupPath(job string, labels ...string) string {
	if len(labels)%2 != 0 {
		panic("groupPath: labels must be name/value pairs")
	}
	var sb strings.Builder
	sb.WriteString("/metrics")
	seg := func(name, value string) {
		switch {
		case value == "":
			sb.WriteString("/" + name + "@base64/=")
		case strings.Contains(value, "/"):
			sb.WriteString("/" + name + "@base64/" + base64.RawURLEncoding.EncodeToString([]byte(value)))
		default:
			sb.WriteString("/" + name + "/" + url.PathEscape(value))
		}
	}
	seg("job", job)
	for i := 0; i < len(labels); i += 2 {
		seg(labels[i], labels[i+1])
	}
	return sb.String()
}

// pushText sends body (text exposition format) to the group at path with
// method POST (merge by metric name), PUT (replace the group) or DELETE
// (body ignored) and returns the status code and response body.
func pushText(t testing.TB, gatewayURL, method, path, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if method != http.MethodDelete {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, gatewayURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "text/plain; version=0.0.4")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// mustPush is pushText failing the test unless the gateway answers 2xx.
func mustPush(t testing.TB, gatewayURL, method, path, body string) {
	t.Helper()
	code, resp := pushText(t, gatewayURL, method, path, body)
	if code/100 != 2 {
		t.Fatalf("%s %s: status %d: %s", method, path, code, resp)
	}
}

// pushExemplarCounter pushes, as client_golang's push package does in
// protobuf, a counter name of value 42 with an exemplar {trace_id=traceID}
// as group {job=job}, and returns when it was created.
func pushExemplarCounter(t testing.TB, gatewayURL, job, name, traceID string) time.Time {
	t.Helper()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: "A counter pushed with an exemplar."})
	created := time.Now()
	c.(prometheus.ExemplarAdder).AddWithExemplar(42, prometheus.Labels{"trace_id": traceID})
	if err := push.New(gatewayURL, job).Collector(c).Format(expfmt.NewFormat(expfmt.TypeProtoDelim)).Push(); err != nil {
		t.Fatalf("push %s with client_golang: %v", name, err)
	}
	return created
}

// expectExemplar returns an error unless /api/v1/query_exemplars of expr
// over the last minute holds the trace_id exemplar of value 42 that
// pushExemplarCounter pushed, and the answer otherwise.
func expectExemplar(promURL, expr, traceID string) (string, error) {
	got, err := queryExemplars(promURL, expr, time.Now().Add(-time.Minute), time.Now().Add(time.Minute))
	if err != nil {
		return "", err
	}
	if !strings.Contains(got, `"trace_id":"`+traceID+`"`) || !strings.Contains(got, `"value":"42"`) {
		return got, fmt.Errorf("/api/v1/query_exemplars?query=%s: %s, want the trace_id exemplar of value 42", expr, got)
	}
	return got, nil
}

// pushNativeHistogram PUTs (replaces) the group {job=job, labels...} with
// one histogram named name having native buckets (bucket factor 1.1, no
// classic buckets) that observed values. client_golang's push sends
// protobuf, so the native part survives into the gateway.
func pushNativeHistogram(t testing.TB, gatewayURL, job, name string, labels []string, values ...float64) {
	t.Helper()
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:                        name,
		Help:                        "A native histogram pushed by the e2e tests.",
		NativeHistogramBucketFactor: 1.1,
	})
	for _, v := range values {
		h.Observe(v)
	}
	p := push.New(gatewayURL, job).Collector(h).Client(httpClient)
	for i := 0; i+1 < len(labels); i += 2 {
		p = p.Grouping(labels[i], labels[i+1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.PushContext(ctx); err != nil {
		t.Fatalf("push native histogram %s: %v", name, err)
	}
}

// expectMetrics returns an error unless expr's result has exactly the label
// sets want (each as formatMetric renders it), whatever the values.
func expectMetrics(promURL, expr string, want ...string) error {
	v, err := queryVector(promURL, expr)
	if err != nil {
		return err
	}
	got := make([]string, 0, len(v))
	for _, s := range v {
		got = append(got, formatMetric(s.Metric))
	}
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		return fmt.Errorf("query %s: series\n got:\n%s\nwant:\n%s", expr, indent(strings.Join(got, "\n")), indent(strings.Join(want, "\n")))
	}
	return nil
}

// writeRecorder is a remote-write proxy that records the label sets of the
// series it sees, and their metadata, and forwards every request unchanged
// to the receiver. It shows what the bridge sends before the receiver
// normalizes it: Prometheus drops empty-valued labels on ingestion, so an
// instance="" forwarded by the bridge cannot be seen through PromQL. It
// decodes remote write 1.0 and 2.0.
type writeRecorder struct {
	// URL is the remote-write URL to give the bridge.
	URL string

	mu       sync.Mutex
	series   map[string]model.Metric        // by formatMetric, every series seen
	meta     map[string][]metadata.Metadata // by metric family, distinct metadata seen
	requests int                            // requests holding at least one series
	messages map[string]int                 // requests by protobuf message (rw1Message, rw2Message)
	errs     []string                       // requests that could not be decoded
}

// startWriteRecorder starts a writeRecorder forwarding to writeURL; it is
// closed when the test ends.
func startWriteRecorder(t testing.TB, writeURL string) *writeRecorder {
	t.Helper()
	rec := &writeRecorder{
		series:   map[string]model.Metric{},
		meta:     map[string][]metadata.Metadata{},
		messages: map[string]int{},
	}
	srv := httptest.NewServer(rwtest.Tee(httpClient, writeURL, func(r *http.Request, body []byte) {
		rec.record(r.Header.Get("Content-Type"), body)
	}))
	t.Cleanup(srv.Close)
	rec.URL = srv.URL + "/api/v1/write"
	return rec
}

func (rec *writeRecorder) record(contentType string, body []byte) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rwtest.IsV2(contentType) {
		rec.messages[rw2Message]++
		req, err := rwtest.DecodeV2(body)
		if err != nil {
			rec.errs = append(rec.errs, fmt.Sprintf("Content-Type %q: %v", contentType, err))
			return
		}
		rec.recordV2(req)
		return
	}
	rec.messages[rw1Message]++
	wr, err := rwtest.DecodeV1(body)
	if err != nil {
		rec.errs = append(rec.errs, fmt.Sprintf("Content-Type %q: %v", contentType, err))
		return
	}
	if len(wr.Timeseries) > 0 {
		rec.requests++
	}
	for _, ts := range wr.Timeseries {
		m := model.Metric{}
		for _, l := range ts.Labels {
			m[model.LabelName(l.Name)] = model.LabelValue(l.Value)
		}
		rec.series[formatMetric(m)] = m
	}
	for _, md := range wr.Metadata {
		rec.addMeta(md.MetricFamilyName, metadata.Metadata{
			Type: model.MetricType(strings.ToLower(md.Type.String())),
			Help: md.Help,
			Unit: md.Unit,
		})
	}
}

func (rec *writeRecorder) recordV2(req *writev2.Request) {
	if len(req.Timeseries) > 0 {
		rec.requests++
	}
	b := labels.NewScratchBuilder(0)
	for _, ts := range req.Timeseries {
		ls, err := ts.ToLabels(&b, req.Symbols)
		if err != nil {
			rec.errs = append(rec.errs, fmt.Sprintf("writev2.Request labels: %v", err))
			continue
		}
		m := model.Metric{}
		ls.Range(func(l labels.Label) { m[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
		rec.series[formatMetric(m)] = m
		md, err := ts.ToMetadata(req.Symbols)
		if err != nil {
			rec.errs = append(rec.errs, fmt.Sprintf("writev2.Request metadata of %s: %v", formatMetric(m), err))
			continue
		}
		rec.addMeta(ls.Get(model.MetricNameLabel), md)
	}
}

func (rec *writeRecorder) addMeta(family string, md metadata.Metadata) {
	if !slices.Contains(rec.meta[family], md) {
		rec.meta[family] = append(rec.meta[family], md)
	}
}

// emptyLabels returns the recorded series that carry an empty-valued label,
// and the errors of requests that could not be decoded.
func (rec *writeRecorder) emptyLabels() (series, errs []string) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for s := range rec.series {
		if strings.Contains(s, `=""`) {
			series = append(series, s)
		}
	}
	slices.Sort(series)
	return series, slices.Clone(rec.errs)
}

// seen returns every series recorded, how many requests held series, and
// the errors of requests that could not be decoded.
func (rec *writeRecorder) seen() (series []model.Metric, requests int, errs []string) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, m := range rec.series {
		series = append(series, m)
	}
	slices.SortFunc(series, func(a, b model.Metric) int { return strings.Compare(formatMetric(a), formatMetric(b)) })
	return series, rec.requests, slices.Clone(rec.errs)
}

// requestsOf returns how many requests of the protobuf message msg
// (rw1Message, rw2Message) were recorded.
func (rec *writeRecorder) requestsOf(msg string) int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.messages[msg]
}

// metadataOf returns the distinct metadata recorded for a metric family, as
// 2.0 requests carry it on each series, or 1.0 metadata requests list it.
func (rec *writeRecorder) metadataOf(family string) []metadata.Metadata {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.meta[family])
}

package e2e

// The operator's view end to end: --dry-run against a real Pushgateway
// (golden file), the status page in a real headless Chromium driven over
// the DevTools protocol, and the metric names of examples/ against what the
// real binary exports.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/pushgateway-bridge/pushgateway-bridge/internal/golden"
	"github.com/pushgateway-bridge/pushgateway-bridge/runs"
	"github.com/pushgateway-bridge/pushgateway-bridge/synth"
	"go.yaml.in/yaml/v2"
)

// hostileValue is a label value that must show as text on the page and
// stay one quoted value in the dry run.
const hostileValue = `<script>alert("x")</script>`

// pushUIGroups pushes the groups the operator's view tests show: two ok,
// one whose last push failed, one under a 1s max_age (too_old once a
// second has passed), one that a write_relabel_config drops. uiConfig
// expects a fifth, absent one.
func pushUIGroups(t *testing.T, gatewayURL string) {
	t.Helper()
	mustPush(t, gatewayURL, http.MethodPut, groupPath("nightly_backup", "instance", "db-7"),
		"# TYPE backup_size_bytes gauge\nbackup_size_bytes 1.2e+09\n# TYPE backup_duration_seconds gauge\nbackup_duration_seconds 312\n")
	mustPush(t, gatewayURL, http.MethodPut, groupPath("etl", "instance", "warehouse"),
		"# TYPE etl_rows_loaded gauge\netl_rows_loaded 52000\n")
	mustPush(t, gatewayURL, http.MethodPut, groupPath("hourly_sync", "instance", "crm"),
		"# TYPE sync_records gauge\nsync_records 4200\n")
	mustPush(t, gatewayURL, http.MethodPut, groupPath("report", "instance", "web-1"),
		"# TYPE report_rows gauge\nreport_rows 5\n")
	mustPush(t, gatewayURL, http.MethodPut, groupPath("scratch"), "# TYPE scratch_value gauge\nscratch_value 1\n")
	// A type clash with nightly_backup's gauge: the gateway records a
	// failed push for report and keeps its series.
	code, body := pushText(t, gatewayURL, http.MethodPut, groupPath("report", "instance", "web-1"),
		"# TYPE backup_size_bytes counter\nbackup_size_bytes 1\n")
	if code != http.StatusBadRequest {
		t.Fatalf("conflicting push to report: status %d %q, want 400", code, body)
	}
}

// uiConfig is the --config.file of the operator's view tests; endpoints
// holds its remote_write items.
func uiConfig(endpoints string) string {
	return `global:
  external_labels: {cluster: eu-1}
remote_write:
` + endpoints + `
group_rules:
- match: {job: nightly_.*}
  max_age: 26h
- match: {job: hourly_.*}
  max_age: 1s
expected_groups:
- {job: nightly_backup, instance: db-8}
`
}

// dryRunEndpoints are three endpoints nothing listens on: a dry run sends
// nothing. The first URL holds credentials the output must not show; the
// first routes series to tenants by job, the third has one tenant by its
// header.
const dryRunEndpoints = `- url: http://bridge:s3cret@receiver-a.invalid:8080/api/v1/push?token=t0ken
  name: mimir
  protobuf_message: io.prometheus.write.v2.Request
  tenant_label: job
  default_tenant: bridge
- url: http://receiver-b.invalid:8428/api/v1/write
  name: vm
  write_relabel_configs:
  - {source_labels: [job], regex: scratch, action: drop}
  - {regex: instance, action: labelmap, replacement: host}
- url: http://receiver-c.invalid/api/v1/push
  name: cortex
  headers: {X-Scope-OrgID: team-a}
  write_relabel_configs:
  - {source_labels: [__name__], regex: up, action: keep}`

// runBridgeOnce runs the bridge binary with args to its end and returns
// its output and exit code.
func runBridgeOnce(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var o, e bytes.Buffer
	cmd := exec.CommandContext(ctx, bridgeBin, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run bridge %s: %v", strings.Join(args, " "), err)
	}
	return o.String(), e.String(), code
}

// The dry run's volatile parts: times, durations and the gateway's port.
var (
	maskCycleTime = regexp.MustCompile(`one cycle at [^;]+;`)
	maskScrape    = regexp.MustCompile(`scraped in \S+`)
	maskStamp     = regexp.MustCompile(`stamped \d+`)
	maskSample    = regexp.MustCompile(`^((?:push_time_seconds|push_failure_time_seconds|pushgateway_group_age_seconds)\{.*\}) (\S+)$`)
)

// maskDryRun replaces what changes from run to run in a dry run's output
// by placeholders: the cycle's time, scrape duration, the gateway's
// address, push times and ages (a 0 push time, never, stays).
func maskDryRun(out, gatewayAddr string) string {
	out = strings.ReplaceAll(out, gatewayAddr, "PUSHGATEWAY")
	out = maskCycleTime.ReplaceAllString(out, "one cycle at TIME;")
	out = maskScrape.ReplaceAllString(out, "scraped in DURATION")
	out = maskStamp.ReplaceAllString(out, "stamped TIMESTAMP")
	var sb strings.Builder
	for line := range strings.Lines(out) {
		line = strings.TrimSuffix(line, "\n")
		if m := maskSample.FindStringSubmatch(line); m != nil && m[2] != "0" {
			line = m[1] + " VOLATILE"
		}
		sb.WriteString(line + "\n")
	}
	return sb.String()
}

// TestDryRun runs --dry-run against a real Pushgateway and compares what it
// prints, volatile values masked, with testdata/dryrun.golden: the groups'
// series and the synthesized ones per endpoint, after relabeling and
// external labels. It checks that nothing else happens: no storage, no
// credentials in the output; and that a gateway it cannot scrape exits 1
// with one line.
func TestDryRun(t *testing.T) {
	t.Parallel()
	g := startPushgateway(t)
	pushUIGroups(t, g.URL)
	mustPush(t, g.URL, http.MethodPut, groupPath("evil", "instance", hostileValue), "# TYPE evil_value gauge\nevil_value 1\n")
	time.Sleep(1100 * time.Millisecond) // hourly_sync is too_old after 1s
	cfg := writeConfig(t, uiConfig(dryRunEndpoints))
	storage := filepath.Join(t.TempDir(), "data")

	stdout, stderr, code := runBridgeOnce(t, "--dry-run", "--pushgateway.url="+g.URL, "--config.file="+cfg, "--storage.path="+storage)
	if code != 0 || stderr != "" {
		t.Fatalf("--dry-run: exit %d, stderr:\n%s", code, stderr)
	}
	for _, secret := range []string{"s3cret", "t0ken", "bridge@"} {
		if strings.Contains(stdout, secret) {
			t.Errorf("output shows %q from an endpoint's URL", secret)
		}
	}
	if _, err := os.Stat(storage); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--storage.path %s: %v, want it not created", storage, err)
	}
	got := maskDryRun(stdout, g.Addr)
	// Masked: addresses and times vary from run to run.
	golden.Check(t, filepath.Join("testdata", "dryrun.golden"), []byte(got))
	// The gateway still holds every group: a dry run deletes nothing.
	if code, body, err := httpGet(g.URL + "/api/v1/metrics"); err != nil || code != http.StatusOK || strings.Count(body, `"push_time_seconds"`) != 6 {
		t.Errorf("gateway after the dry run: %d %v, want its 6 groups", code, err)
	}

	t.Run("unreachable gateway", func(t *testing.T) {
		dead := "http://" + net.JoinHostPort("127.0.0.1", fmt.Sprint(freePort(t)))
		stdout, stderr, code := runBridgeOnce(t, "--dry-run", "--pushgateway.url="+dead, "--config.file="+cfg, "--storage.path="+storage)
		if code != 1 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "pushgateway-bridge: error: dry run: scrape http://127.0.0.1:") {
			t.Errorf("exit %d, stdout %q, stderr %q: want 1, nothing, one line naming the gateway", code, stdout, stderr)
		}
	})
	t.Run("bad configuration", func(t *testing.T) {
		bad := writeConfig(t, "group_rules:\n- match: {job: x}\n  max_age: 0s\n")
		stdout, stderr, code := runBridgeOnce(t, "--dry-run", "--pushgateway.url="+g.URL, "--config.file="+bad, "--remote-write.url=http://127.0.0.1:1/w")
		if code != 2 || stdout != "" || strings.Count(stderr, "\n") != 1 {
			t.Errorf("exit %d, stdout %q, stderr %q: want 2, nothing, one line", code, stdout, stderr)
		}
	})
}

// pageRow is a row of the status page's groups table as the browser
// renders it.
type pageRow struct {
	Class string `json:"class"`
	Text  string `json:"text"`
}

const rowsJS = `JSON.stringify(Array.from(document.querySelectorAll("table.groups tbody tr")).map(tr => ({class: tr.className, text: tr.innerText})))`

// rows returns the groups table of the page loaded in tab.
func (tab *devtoolsTab) rows() []pageRow {
	tab.t.Helper()
	var rows []pageRow
	if err := json.Unmarshal([]byte(tab.evalString(rowsJS)), &rows); err != nil {
		tab.t.Fatalf("decode rows: %v", err)
	}
	return rows
}

// rowWith returns the row whose text holds every one of texts.
func rowWith(rows []pageRow, texts ...string) (pageRow, bool) {
	for _, r := range rows {
		if !slices.ContainsFunc(texts, func(s string) bool { return !strings.Contains(r.Text, s) }) {
			return r, true
		}
	}
	return pageRow{}, false
}

// TestStatusPageInChromium loads the status page of a bridge between a real
// Pushgateway and a real Prometheus in headless Chromium: no console
// error or failed request, the failed and the missing expected group
// marked, the filter link and form working, a phone layout without
// horizontal scrolling, a hostile label value shown as text. It saves
// screenshots as test artifacts (-artifacts), and with -update the laptop
// one as docs/status-page.png for the README.
func TestStatusPageInChromium(t *testing.T) {
	t.Parallel()
	g := startPushgateway(t)
	r := startPrometheusReceiver(t, 0)
	pushUIGroups(t, g.URL)
	cfg := writeConfig(t, uiConfig("- url: "+r.WriteURL+"\n  name: prometheus"))
	b := startBridge(t, "--pushgateway.url="+g.URL, "--config.file="+cfg, "--scrape.interval=1s")
	eventually(t, 30*time.Second, func() error {
		if v, _, err := b.Metric("pushgateway_bridge_remote_write_samples_sent_total"); err != nil || v == 0 {
			return fmt.Errorf("no sample acknowledged yet (%v)", err)
		}
		_, body, err := httpGet(b.URL + "/api/v1/groups")
		if err != nil || !strings.Contains(body, `"too_old"`) {
			return fmt.Errorf("groups API: %v %s: want hourly_sync too_old", err, body)
		}
		return nil
	})

	tab := startChromium(t).newTab()
	tab.navigate(b.URL + "/")
	rows := tab.rows()
	if len(rows) != 6 {
		t.Errorf("%d group rows, want 6: %+v", len(rows), rows)
	}
	for _, want := range []struct {
		texts []string
		class string
	}{
		{[]string{"missing", "expected", "instance=db-8", "never pushed"}, "problem s-missing"},
		{[]string{"failed", "job=report"}, "problem s-failed"},
		{[]string{"too_old", "job=hourly_sync"}, "problem s-too_old"},
		{[]string{"ok", "job=nightly_backup", "instance=db-7", "group_rules[0]"}, "s-ok"},
		{[]string{"ok", "job=scratch"}, "s-ok"},
	} {
		if row, ok := rowWith(rows, want.texts...); !ok || row.Class != want.class {
			t.Errorf("row with %q: %+v (found %v), want class %q", want.texts, row, ok, want.class)
		}
	}
	if got := tab.evalString(`document.querySelector("ul.counts").innerText`); !strings.Contains(got, "1 failed") || !strings.Contains(got, "1 missing") {
		t.Errorf("status counts %q, want 1 failed and 1 missing", got)
	}
	if got := tab.evalString(`document.querySelector("#endpoints tbody").innerText`); !strings.Contains(got, "prometheus") || strings.Contains(got, "never") {
		t.Errorf("endpoints %q, want prometheus with a last success", got)
	}
	tab.screenshot(1280, false, "status-page.png")
	if golden.Update() {
		if err := os.MkdirAll(filepath.Join("..", "docs"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "docs", "status-page.png"), tab.lastPNG, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The label chip of report is a link to the page filtered by it.
	tab.do(`document.querySelector('a.chip[href="?job=report"]').click()`)
	if got := tab.evalString("location.search"); got != "?job=report" {
		t.Errorf("after clicking job=report: location.search %q", got)
	}
	if rows := tab.rows(); len(rows) != 1 || !strings.Contains(rows[0].Text, "job=report") {
		t.Errorf("filtered by job=report: %+v", rows)
	}
	// A shared link with two labels.
	tab.navigate(b.URL + "/?job=nightly_backup&sort=labels")
	if rows := tab.rows(); len(rows) != 2 || !strings.Contains(rows[0].Text, "db-7") || !strings.Contains(rows[1].Text, "db-8") {
		t.Errorf("/?job=nightly_backup&sort=labels: %+v, want db-7 then db-8", rows)
	}
	// The form redirects to the plain link.
	tab.do(`document.querySelector("#match").value = 'job="hourly_sync"'; document.querySelector("form.filter").submit()`)
	if got := tab.evalString("location.search"); got != "?job=hourly_sync&sort=labels" {
		t.Errorf("after the form: location.search %q", got)
	}
	if rows := tab.rows(); len(rows) != 1 || !strings.Contains(rows[0].Text, "too_old") {
		t.Errorf("filtered by the form: %+v", rows)
	}

	// A phone: each group a card, nothing wider than the screen.
	tab.navigate(b.URL + "/")
	tab.screenshot(390, true, "status-page-phone.png")
	if got := tab.evalString(`getComputedStyle(document.querySelector("table.groups thead")).display + " " + (document.documentElement.scrollWidth <= innerWidth)`); got != "none true" {
		t.Errorf("phone layout: thead display, no horizontal scroll = %q, want \"none true\"", got)
	}

	// A hostile label value is text, never markup.
	mustPush(t, g.URL, http.MethodPut, groupPath("evil", "instance", hostileValue), "# TYPE evil_value gauge\nevil_value 1\n")
	eventually(t, 10*time.Second, func() error {
		if _, body, _ := httpGet(b.URL + "/api/v1/groups?job=evil"); !strings.Contains(body, `"job":"evil"`) {
			return errors.New("group evil not in the API yet")
		}
		return nil
	})
	tab.navigate(b.URL + "/?job=evil")
	if rows := tab.rows(); len(rows) != 1 || !strings.Contains(rows[0].Text, "instance="+hostileValue) {
		t.Errorf("hostile value: rows %+v, want its text", rows)
	}
	if got := tab.evalString(`String(document.scripts.length)`); got != "0" {
		t.Errorf("%s scripts in the page, want 0", got)
	}
	tab.checkNoProblems()
}

// TestExampleMetricsExported checks that every metric name the PromQL
// expressions of examples/ use is one the bridge exports: in what a cycle
// sends (--dry-run) or on its own /metrics. A use needs the series it reads
// with the default series, unless its place says otherwise: those of
// examples/alerts-status.yml need --synth.series=status, those of
// examples/alerts-runs.yml --synth.series=pushes, and a dashboard panel
// whose title says "--synth.series=KIND" that kind; each is checked against
// a dry run with those kinds, and only those, switched on. Metric vectors
// appear on /metrics only once a child exists, so the test makes each
// happen: a rejecting endpoint (drops), a gateway outage (scrape failures),
// a gateway restart without its data (lost groups), and a push over the
// gateway's sample_limit (scrape failures for that reason).
func TestExampleMetricsExported(t *testing.T) {
	t.Parallel()
	used := exampleMetricNames(t)
	if len(used) < 10 {
		t.Fatalf("only %d metric names found in examples/: %v", len(used), used)
	}

	g := startPushgateway(t)
	r := startPrometheusReceiver(t, 0)
	reject := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "rejected by the test", http.StatusBadRequest)
	}))
	t.Cleanup(reject.Close)
	pushUIGroups(t, g.URL)
	// The gateway's own series and the groups above stay well under the
	// sample_limit; the push of overLimit series at the end breaks it.
	const sampleLimit, overLimit = 5000, 6000
	cfg := writeConfig(t, uiConfig("- {url: "+r.WriteURL+", name: prometheus}\n- {url: "+reject.URL+"/api/v1/write, name: reject}")+
		fmt.Sprintf("pushgateways:\n- {name: pgw, url: %s, sample_limit: %d}\n", g.URL, sampleLimit))

	// dryRuns holds the names a dry run sends, by the kinds switched on
	// ("" for the default series).
	dryRuns := map[string]map[string]bool{}
	dryRun := func(kinds string) map[string]bool {
		if names, ok := dryRuns[kinds]; ok {
			return names
		}
		args := []string{"--dry-run", "--config.file=" + cfg}
		if kinds != "" {
			args = append(args, "--synth.series="+kinds)
		}
		stdout, stderr, code := runBridgeOnce(t, args...)
		if code != 0 {
			t.Fatalf("--dry-run --synth.series=%s: exit %d: %s", kinds, code, stderr)
		}
		names := map[string]bool{}
		for line := range strings.Lines(stdout) {
			if line == "\n" || strings.HasPrefix(line, "#") {
				continue
			}
			names[line[:strings.IndexAny(line, "{ ")]] = true
		}
		dryRuns[kinds] = names
		return names
	}
	for _, c := range []struct {
		kinds string
		names []string
	}{
		{"status", []string{synth.StatusMetric}},
		{"pushes", []string{runs.PushesMetric, runs.FailedPushesMetric}},
	} {
		for _, name := range c.names {
			if def, on := dryRun("")[name], dryRun(c.kinds)[name]; def || !on {
				t.Errorf("%s sent by default: %v, with --synth.series=%s: %v; want false, true", name, def, c.kinds, on)
			}
		}
	}
	for _, uses := range used {
		for _, u := range uses {
			dryRun(u.needs)
		}
	}

	b := startBridge(t, "--config.file="+cfg, "--scrape.interval=1s")
	eventually(t, 30*time.Second, func() error {
		if v, _, err := b.Metric("pushgateway_bridge_remote_write_samples_dropped_total", "remote_name", "reject"); err != nil || v == 0 {
			return fmt.Errorf("no drop counted for the rejecting endpoint yet (%v)", err)
		}
		return nil
	})
	g.Stop()
	if err := os.Remove(g.dataFile); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() error {
		if v, _, err := b.Metric("pushgateway_bridge_scrape_failures_total", "reason", "error"); err != nil || v == 0 {
			return fmt.Errorf("no scrape failure counted yet (%v)", err)
		}
		return nil
	})
	g.Start()
	eventually(t, 30*time.Second, func() error {
		if v, _, err := b.Metric("pushgateway_bridge_groups_lost_total"); err != nil || v == 0 {
			return fmt.Errorf("no lost group counted yet (%v)", err)
		}
		return nil
	})
	var many strings.Builder
	many.WriteString("# TYPE e2e_many gauge\n")
	for i := range overLimit {
		fmt.Fprintf(&many, "e2e_many{i=\"%d\"} 1\n", i)
	}
	mustPush(t, g.URL, http.MethodPut, groupPath("too_many"), many.String())
	eventually(t, 30*time.Second, func() error {
		if v, _, err := b.Metric("pushgateway_bridge_scrape_failures_total", "gateway", "pgw", "reason", "sample_limit"); err != nil || v == 0 {
			return fmt.Errorf("no scrape over sample_limit counted yet (%v)", err)
		}
		return nil
	})

	exported := map[string]bool{}
	tp := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := tp.TextToMetricFamilies(strings.NewReader(b.MetricsText()))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	for name, f := range fams {
		exported[name] = true
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			exported[name+"_bucket"], exported[name+"_sum"], exported[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			exported[name+"_sum"], exported[name+"_count"] = true, true
		}
	}

	for _, name := range slices.Sorted(maps.Keys(used)) {
		for _, u := range used[name] {
			if exported[name] || dryRuns[u.needs][name] {
				continue
			}
			if u.needs == "" {
				t.Errorf("%s, used by %s, is neither in a dry run with the default series nor on the bridge's /metrics", name, u.where)
			} else {
				t.Errorf("%s, used by %s, is neither in a dry run with --synth.series=%s nor on the bridge's /metrics", name, u.where, u.needs)
			}
		}
	}
}

// exampleUse is where an example uses a metric name, and the kinds of
// series (as --synth.series takes them; "" for the default series) its
// place says it needs.
type exampleUse struct{ where, needs string }

// exampleRuleFiles are the rule files of examples/, with the kinds of
// series each needs.
var exampleRuleFiles = []struct{ file, needs string }{
	{"alerts.yml", ""},
	{"alerts-status.yml", "status"},
	{"alerts-runs.yml", "pushes"},
}

// panelNeeds matches a dashboard panel title that says which kinds of
// series it needs, e.g. "(needs --synth.series=pushes)".
var panelNeeds = regexp.MustCompile(`--synth\.series=([a-z_]+(?:,[a-z_]+)*)`)

// exampleMetricNames returns the metric names of every PromQL expression in
// the rule files of examples/ and examples/dashboard.json, each with its
// uses.
func exampleMetricNames(t *testing.T) map[string][]exampleUse {
	t.Helper()
	type expr struct {
		use  exampleUse
		expr string
	}
	var exprs []expr

	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert, Record, Expr string
			}
		}
	}
	for _, f := range exampleRuleFiles {
		rules.Groups = nil
		readFileInto(t, filepath.Join("..", "examples", f.file), func(b []byte) error { return yaml.Unmarshal(b, &rules) })
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				exprs = append(exprs, expr{exampleUse{f.file + " " + r.Alert + r.Record, f.needs}, r.Expr})
			}
		}
	}

	type panel struct {
		Title   string
		Targets []struct{ Expr string }
		Panels  []json.RawMessage
	}
	var dash struct {
		Panels     []panel
		Templating struct {
			List []struct {
				Name  string
				Query json.RawMessage // {"query": ...} for a query variable
			}
		}
	}
	readFileInto(t, filepath.Join("..", "examples", "dashboard.json"), func(b []byte) error { return json.Unmarshal(b, &dash) })
	vars := strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")
	for _, p := range dash.Panels {
		needs := ""
		if m := panelNeeds.FindStringSubmatch(p.Title); m != nil {
			needs = m[1]
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, expr{exampleUse{fmt.Sprintf("dashboard.json %q", p.Title), needs}, vars.Replace(tg.Expr)})
		}
		if len(p.Panels) > 0 {
			t.Errorf("dashboard.json: collapsed row %q: panels inside rows are not read here", p.Title)
		}
	}
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*\w+\)$`)
	for _, v := range dash.Templating.List {
		var q struct{ Query string }
		_ = json.Unmarshal(v.Query, &q)
		if m := labelValues.FindStringSubmatch(q.Query); m != nil {
			exprs = append(exprs, expr{exampleUse{"dashboard.json variable " + v.Name, ""}, m[1]})
		}
	}

	names := map[string][]exampleUse{}
	p := parser.NewParser(parser.Options{})
	for _, e := range exprs {
		pe, err := p.ParseExpr(e.expr)
		if err != nil {
			t.Errorf("%s: %q: %v", e.use.where, e.expr, err)
			continue
		}
		for _, sel := range parser.ExtractSelectors(pe) {
			for _, m := range sel {
				if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual && !slices.Contains(names[m.Value], e.use) {
					names[m.Value] = append(names[m.Value], e.use)
				}
			}
		}
	}
	return names
}

func readFileInto(t *testing.T, path string, decode func([]byte) error) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := decode(b); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// chromiumBin returns Debian's chromium as scripts/peers.sh links it next
// to the other peers.
func chromiumBin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(filepath.Dir(pushgatewayBin), "chromium")
	if err := checkExecutable(bin); err != nil {
		t.Fatalf("chromium: %v (scripts/peers.sh installs it)", err)
	}
	return bin
}

// devtools is a headless Chromium and its DevTools endpoint.
type devtools struct {
	t    *testing.T
	addr string // host:port of the DevTools HTTP and websocket endpoint
}

// startChromium starts headless Chromium with a fresh profile and the
// DevTools protocol on a port of its choosing; it is stopped when the test
// ends.
func startChromium(t *testing.T) *devtools {
	t.Helper()
	profile := t.TempDir()
	out := &syncBuffer{}
	logOnFailure(t, "chromium", out)
	p := startProcess(t, "chromium", out, chromiumBin(t),
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--hide-scrollbars", "--user-data-dir="+profile,
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		"about:blank",
	)
	t.Cleanup(func() { _ = p.stop() })
	// Chromium writes the port it took, and the browser's path, there.
	portFile := filepath.Join(profile, "DevToolsActivePort")
	deadline := time.Now().Add(startTimeout)
	for {
		if b, err := os.ReadFile(portFile); err == nil {
			if port, _, ok := strings.Cut(string(b), "\n"); ok && port != "" {
				return &devtools{t: t, addr: net.JoinHostPort("127.0.0.1", port)}
			}
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("chromium wrote no %s within %v (exited: %v)", portFile, startTimeout, p.exited())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// devtoolsTab is one page of the browser, driven over its own DevTools
// websocket. Every console message of level error, uncaught exception,
// failed request and HTTP error response of the page is kept as a
// problem.
type devtoolsTab struct {
	t        *testing.T
	ws       *wsConn
	nextID   int
	problems []string
	loaded   bool // a Page.loadEventFired arrived since the last navigation began
	lastPNG  []byte
}

// newTab opens a blank page and enables the events the tab watches.
func (d *devtools) newTab() *devtoolsTab {
	d.t.Helper()
	// A target is created through the browser's endpoint, /json/new.
	req, err := http.NewRequest(http.MethodPut, "http://"+d.addr+"/json/new?about:blank", nil)
	if err != nil {
		d.t.Fatal(err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		d.t.Fatalf("devtools /json/new: %v", err)
	}
	defer resp.Body.Close()
	var target struct {
		WebSocketDebuggerURL string `json:"webSocketDebuggerUrl"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&target); err != nil || target.WebSocketDebuggerURL == "" {
		d.t.Fatalf("devtools /json/new: status %d, %v", resp.StatusCode, err)
	}
	ws, err := dialWebsocket(target.WebSocketDebuggerURL)
	if err != nil {
		d.t.Fatalf("devtools websocket: %v", err)
	}
	d.t.Cleanup(func() { ws.Close() })
	tab := &devtoolsTab{t: d.t, ws: ws}
	for _, m := range []string{"Page.enable", "Runtime.enable", "Log.enable", "Network.enable"} {
		tab.call(m, nil)
	}
	return tab
}

// call sends a DevTools command and returns its result, keeping the
// events that arrive meanwhile.
func (tab *devtoolsTab) call(method string, params any) json.RawMessage {
	tab.t.Helper()
	tab.nextID++
	id := tab.nextID
	msg, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		tab.t.Fatal(err)
	}
	if err := tab.ws.WriteText(msg); err != nil {
		tab.t.Fatalf("devtools %s: %v", method, err)
	}
	for {
		var m struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		raw := tab.read(30 * time.Second)
		if err := json.Unmarshal(raw, &m); err != nil {
			tab.t.Fatalf("devtools: decode %s: %v", raw, err)
		}
		if m.ID != id {
			continue // an event, handled by read
		}
		if m.Error != nil {
			tab.t.Fatalf("devtools %s: %s", method, m.Error.Message)
		}
		return m.Result
	}
}

// read returns the next message, noting what events say.
func (tab *devtoolsTab) read(timeout time.Duration) []byte {
	tab.t.Helper()
	raw, err := tab.ws.ReadMessage(time.Now().Add(timeout))
	if err != nil {
		tab.t.Fatalf("devtools: read: %v", err)
	}
	var ev struct {
		Method string `json:"method"`
		Params struct {
			Type string `json:"type"` // Runtime.consoleAPICalled
			Args []struct {
				Value       any    `json:"value"`
				Description string `json:"description"`
			} `json:"args"`
			ExceptionDetails struct { // Runtime.exceptionThrown
				Text      string `json:"text"`
				Exception struct {
					Description string `json:"description"`
				} `json:"exception"`
			} `json:"exceptionDetails"`
			Entry struct { // Log.entryAdded
				Level, Text, URL string
			} `json:"entry"`
			Response struct { // Network.responseReceived
				URL    string `json:"url"`
				Status int    `json:"status"`
			} `json:"response"`
			ErrorText string `json:"errorText"` // Network.loadingFailed
		} `json:"params"`
	}
	_ = json.Unmarshal(raw, &ev)
	p := ev.Params
	switch ev.Method {
	case "Page.loadEventFired":
		tab.loaded = true
	case "Runtime.consoleAPICalled":
		if p.Type == "error" || p.Type == "assert" || p.Type == "warning" {
			tab.problems = append(tab.problems, fmt.Sprintf("console.%s %v", p.Type, p.Args))
		}
	case "Runtime.exceptionThrown":
		tab.problems = append(tab.problems, "exception: "+p.ExceptionDetails.Text+" "+p.ExceptionDetails.Exception.Description)
	case "Log.entryAdded":
		if p.Entry.Level == "error" || p.Entry.Level == "warning" {
			tab.problems = append(tab.problems, fmt.Sprintf("log %s: %s %s", p.Entry.Level, p.Entry.Text, p.Entry.URL))
		}
	case "Network.responseReceived":
		if p.Response.Status >= 400 {
			tab.problems = append(tab.problems, fmt.Sprintf("HTTP %d for %s", p.Response.Status, p.Response.URL))
		}
	case "Network.loadingFailed":
		tab.problems = append(tab.problems, "request failed: "+p.ErrorText)
	}
	return raw
}

// navigate loads url and waits for its load event.
func (tab *devtoolsTab) navigate(url string) {
	tab.t.Helper()
	tab.loaded = false
	var res struct {
		ErrorText string `json:"errorText"`
	}
	if err := json.Unmarshal(tab.call("Page.navigate", map[string]any{"url": url}), &res); err != nil || res.ErrorText != "" {
		tab.t.Fatalf("navigate %s: %v %s", url, err, res.ErrorText)
	}
	tab.waitLoad()
}

// do runs JavaScript that navigates (a click, a form submission) and waits
// for the new page's load event.
func (tab *devtoolsTab) do(js string) {
	tab.t.Helper()
	tab.loaded = false
	tab.eval(js)
	tab.waitLoad()
}

func (tab *devtoolsTab) waitLoad() {
	tab.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !tab.loaded {
		tab.read(time.Until(deadline))
	}
}

// eval evaluates a JavaScript expression in the page and returns its
// value as JSON.
func (tab *devtoolsTab) eval(js string) json.RawMessage {
	tab.t.Helper()
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(tab.call("Runtime.evaluate", map[string]any{"expression": js, "returnByValue": true}), &res); err != nil {
		tab.t.Fatal(err)
	}
	if res.ExceptionDetails != nil {
		tab.t.Fatalf("evaluate %s: %s", js, res.ExceptionDetails.Text)
	}
	return res.Result.Value
}

func (tab *devtoolsTab) evalString(js string) string {
	tab.t.Helper()
	var s string
	if err := json.Unmarshal(tab.eval(js), &s); err != nil {
		tab.t.Fatalf("evaluate %s: not a string: %v", js, err)
	}
	return s
}

// screenshot renders the page at width CSS pixels, as a phone if mobile,
// whole (as tall as its content), and saves it as the test artifact name;
// lastPNG keeps it.
func (tab *devtoolsTab) screenshot(width int, mobile bool, name string) {
	tab.t.Helper()
	metrics := func(height int) {
		tab.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})
	}
	metrics(800)
	var height int
	if err := json.Unmarshal(tab.eval("document.documentElement.scrollHeight"), &height); err != nil {
		tab.t.Fatal(err)
	}
	metrics(height)
	var shot struct {
		Data []byte `json:"data"` // base64 in JSON
	}
	if err := json.Unmarshal(tab.call("Page.captureScreenshot", map[string]any{"format": "png"}), &shot); err != nil || len(shot.Data) == 0 {
		tab.t.Fatalf("screenshot: %v", err)
	}
	tab.lastPNG = shot.Data
	path := filepath.Join(tab.t.ArtifactDir(), name)
	if err := os.WriteFile(path, shot.Data, 0o644); err != nil {
		tab.t.Fatal(err)
	}
	tab.t.Logf("screenshot %dx%d: %s", width, height, path)
}

// checkNoProblems fails the test with every console error, exception and
// failed request seen so far.
func (tab *devtoolsTab) checkNoProblems() {
	tab.t.Helper()
	for _, p := range tab.problems {
		tab.t.Errorf("browser: %s", p)
	}
}

// wsConn is the client side of a websocket (RFC 6455), as much of it as
// the DevTools protocol needs: text messages, fragments, ping, close.
type wsConn struct {
	conn net.Conn
	br   *bufio.Reader
}

// dialWebsocket opens a websocket to a ws:// URL.
func dialWebsocket(rawURL string) (*wsConn, error) {
	req, err := http.NewRequest(http.MethodGet, strings.Replace(rawURL, "ws://", "http://", 1), nil)
	if err != nil {
		return nil, err
	}
	conn, err := net.DialTimeout("tcp", req.URL.Host, 5*time.Second)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	key := base64.StdEncoding.EncodeToString(nonce)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", key)
	req.Header.Set("Sec-WebSocket-Version", "13")
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, err
	}
	resp.Body.Close()
	accept := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(accept[:]) {
		conn.Close()
		return nil, fmt.Errorf("websocket handshake with %s: %s", rawURL, resp.Status)
	}
	_ = conn.SetDeadline(time.Time{})
	return &wsConn{conn: conn, br: br}, nil
}

const (
	wsContinuation = 0x0
	wsText         = 0x1
	wsBinary       = 0x2
	wsClose        = 0x8
	wsPing         = 0x9
	wsPong         = 0xA
)

// WriteText sends one text message in one frame, masked as a client must.
func (c *wsConn) WriteText(p []byte) error { return c.writeFrame(wsText, p) }

func (c *wsConn) writeFrame(opcode byte, p []byte) error {
	hdr := []byte{0x80 | opcode}
	switch n := len(p); {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n <= 0xFFFF:
		hdr = binary.BigEndian.AppendUint16(append(hdr, 0x80|126), uint16(n))
	default:
		hdr = binary.BigEndian.AppendUint64(append(hdr, 0x80|127), uint64(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	hdr = append(hdr, mask[:]...)
	masked := make([]byte, len(p))
	for i := range p {
		masked[i] = p[i] ^ mask[i%4]
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.conn.Write(append(hdr, masked...))
	return err
}

// ReadMessage returns the next text or binary message, answering pings on
// the way, by deadline.
func (c *wsConn) ReadMessage(deadline time.Time) ([]byte, error) {
	_ = c.conn.SetReadDeadline(deadline)
	var msg []byte
	for {
		var h [2]byte
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			return nil, err
		}
		fin, opcode := h[0]&0x80 != 0, h[0]&0x0F
		n := uint64(h[1] & 0x7F)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(c.br, b[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(c.br, b[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		if h[1]&0x80 != 0 || n > 64<<20 {
			return nil, fmt.Errorf("websocket: masked or oversized (%d bytes) frame from the server", n)
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(c.br, p); err != nil {
			return nil, err
		}
		switch opcode {
		case wsPing:
			if err := c.writeFrame(wsPong, p); err != nil {
				return nil, err
			}
		case wsPong:
		case wsClose:
			return nil, errors.New("websocket closed by the server")
		case wsText, wsBinary, wsContinuation:
			msg = append(msg, p...)
			if fin {
				return msg, nil
			}
		default:
			return nil, fmt.Errorf("websocket: unknown opcode %d", opcode)
		}
	}
}

// Close sends a close frame and closes the connection.
func (c *wsConn) Close() {
	_ = c.writeFrame(wsClose, nil)
	c.conn.Close()
}

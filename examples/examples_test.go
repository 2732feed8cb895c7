// Package examples tests the example files in this folder: alerts.yml, the
// alerting rules for batch jobs behind the bridge and for the bridge itself,
// alerts-status.yml, the optional ones on the status series, and
// alerts-runs.yml, those on the pushes counters, with promtool (`promtool
// check rules` and `promtool test rules` on alerts_test.yml), and that every
// alert there has a unit test; and dashboard.json, the Grafana dashboard,
// for its structure and that every PromQL expression in these files parses
// and reads a series of an optional kind only where it says it needs that
// kind. That every metric name they use is one the bridge exports is
// checked end to end, against the real binary, by TestExampleMetricsExported
// in e2e.
//
// promtool is $PEERS_BIN/promtool, or promtool in the folder
// scripts/peers.sh prints on its last line (Debian's, fetched into a cache).
// The tests fail, never skip, when it cannot be found or run: an example
// nobody checks drifts from what the bridge sends.
//
// The folder holds no Go code besides this test; it lives here, and not in
// synth, because the rules also cover self-metrics of other packages.
package examples

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v2"

	"github.com/pushgateway-bridge/pushgateway-bridge/runs"
	"github.com/pushgateway-bridge/pushgateway-bridge/synth"
)

const (
	rulesFile       = "alerts.yml"
	statusRulesFile = "alerts-status.yml"
	runsRulesFile   = "alerts-runs.yml"
	testsFile       = "alerts_test.yml"
	dashboardFile   = "dashboard.json"
)

// rulesFiles are the alerting rules: those for the default series, and the
// optional ones that need the status series or the pushes counters.
var rulesFiles = []string{rulesFile, statusRulesFile, runsRulesFile}

func TestPromtoolCheckRules(t *testing.T) {
	promtool(t, append([]string{"check", "rules"}, rulesFiles...)...)
}

func TestPromtoolTestRules(t *testing.T) {
	promtool(t, "test", "rules", testsFile)
}

// promtool runs promtool with args in this folder and fails the test,
// with promtool's output, unless it succeeds.
func promtool(t *testing.T, args ...string) {
	t.Helper()
	bin, err := locatePromtool()
	if err != nil {
		t.Fatalf("locate promtool: %v", err)
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
}

// locatePromtool returns $PEERS_BIN/promtool if PEERS_BIN is set, else
// promtool in the folder scripts/peers.sh prints last, and checks it runs.
func locatePromtool() (string, error) {
	dir := os.Getenv("PEERS_BIN")
	if dir == "" {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(filepath.Join("..", "scripts", "peers.sh"))
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("scripts/peers.sh: %w\n%s", err, stderr.String())
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		dir = strings.TrimSpace(lines[len(lines)-1])
		if dir == "" {
			return "", errors.New("scripts/peers.sh printed no bin folder")
		}
	}
	bin := filepath.Join(dir, "promtool")
	if out, err := exec.Command(bin, "--version").CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s --version: %w\n%s", bin, err, out)
	}
	return bin, nil
}

// TestEveryAlertTested checks that alerts_test.yml has, for every alert of
// alerts.yml, a case where it fires and one where it does not.
func TestEveryAlertTested(t *testing.T) {
	type ruleFile struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	var rules ruleFile
	for _, f := range rulesFiles {
		var r ruleFile
		readYAML(t, f, &r)
		rules.Groups = append(rules.Groups, r.Groups...)
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, testsFile, &tests)

	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, at := range tc.AlertRuleTest {
			if len(at.ExpAlerts) > 0 {
				fires[at.Alertname] = true
			} else {
				silent[at.Alertname] = true
			}
		}
	}
	var alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts = append(alerts, r.Alert)
			if !fires[r.Alert] {
				t.Errorf("%s: no case in %s where it fires", r.Alert, testsFile)
			}
			if !silent[r.Alert] {
				t.Errorf("%s: no case in %s where it does not fire", r.Alert, testsFile)
			}
		}
	}
	for name := range fires {
		if !slices.Contains(alerts, name) {
			t.Errorf("%s tests alert %s, which %v do not have", testsFile, name, rulesFiles)
		}
	}
}

// TestStatusesCovered checks that the batch-job alerts read the series synth
// writes: by default the pseudo-up, and with the status series one alert
// for every status but ok.
func TestStatusesCovered(t *testing.T) {
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, expr := range []string{synth.DefaultUpMetric + " == 0 ", synth.GatewayUpMetric + " == 0\n"} {
		if !bytes.Contains(b, []byte("expr: "+expr)) {
			t.Errorf("%s has no alert on %s", rulesFile, strings.TrimSpace(expr))
		}
	}
	if bytes.Contains(b, []byte(synth.StatusMetric)) {
		t.Errorf("%s reads %s, which the bridge does not send by default", rulesFile, synth.StatusMetric)
	}
	b, err = os.ReadFile(statusRulesFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range synth.Statuses() {
		if s == synth.StatusOK {
			continue
		}
		expr := fmt.Sprintf("%s{%s=%q} == 1", synth.StatusMetric, synth.StatusLabel, s)
		if !bytes.Contains(b, []byte("expr: "+expr+"\n")) {
			t.Errorf("%s has no alert on %s", statusRulesFile, expr)
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	UID        string           `json:"uid"`
	Title      string           `json:"title"`
	Panels     []dashboardPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"` // a string, or {"query": ...}
		} `json:"list"`
	} `json:"templating"`
}

type dashboardPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"` // of a collapsed row
}

// grafanaVars replaces Grafana's interval variables with durations so
// that an expression parses as PromQL; other variables must stand inside
// label matcher strings, where PromQL takes them as text.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// labelValues matches a template variable query label_values(selector, label).
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)

// expression is a PromQL expression of one of the example files, and the
// optional kinds of series its place says it needs.
type expression struct {
	where, expr string
	needs       synth.Kinds
}

// fileNeeds are the kinds of series the optional rule files need.
var fileNeeds = map[string]synth.Kinds{
	statusRulesFile: synth.KindsOf(synth.KindStatus),
	runsRulesFile:   synth.KindsOf(synth.KindPushes),
}

// titleNeeds matches a panel title that says which kinds of series it
// needs, e.g. "(needs --synth.series=pushes)".
var titleNeeds = regexp.MustCompile(`--synth\.series=([a-z_]+(?:,[a-z_]+)*)`)

// kindOf is the optional kind of each series name the bridge sends only
// where that kind is switched on.
var kindOf = map[string]synth.Kind{
	synth.StatusMetric:      synth.KindStatus,
	synth.MaxAgeMetric:      synth.KindMaxAge,
	runs.PushesMetric:       synth.KindPushes,
	runs.FailedPushesMetric: synth.KindPushes,
}

// expressions returns every PromQL expression of alerts.yml and
// dashboard.json, template variable queries included.
func expressions(t *testing.T) []expression {
	t.Helper()
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert  string `yaml:"alert"`
				Record string `yaml:"record"`
				Expr   string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	var out []expression
	for _, f := range rulesFiles {
		rules.Groups = nil
		readYAML(t, f, &rules)
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				out = append(out, expression{f + ": " + r.Alert + r.Record, r.Expr, fileNeeds[f]})
			}
		}
	}
	d := readDashboard(t)
	for _, p := range allPanels(d.Panels) {
		var needs synth.Kinds
		if m := titleNeeds.FindStringSubmatch(p.Title); m != nil {
			for _, name := range strings.Split(m[1], ",") {
				k, err := synth.ParseKind(name)
				if err != nil {
					t.Errorf("%s: panel %q: %v", dashboardFile, p.Title, err)
				}
				needs |= synth.KindsOf(k)
			}
		}
		for _, tg := range p.Targets {
			out = append(out, expression{fmt.Sprintf("%s: panel %q, query %s", dashboardFile, p.Title, tg.RefID), grafanaVars.Replace(tg.Expr), needs})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		if m, ok := v.Query.(map[string]any); ok {
			q, _ = m["query"].(string)
		}
		sel := labelValues.FindStringSubmatch(q)
		if sel == nil {
			t.Errorf("%s: variable %s: query %q is not label_values(selector, label)", dashboardFile, v.Name, q)
			continue
		}
		out = append(out, expression{fmt.Sprintf("%s: variable %s", dashboardFile, v.Name), sel[1], 0})
	}
	return out
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// allPanels flattens rows.
func allPanels(ps []dashboardPanel) []dashboardPanel {
	var out []dashboardPanel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// TestExpressionsParse parses every PromQL expression of the example files
// and checks that each selector names its metric exactly, so that the end
// to end test can check the name against what the bridge exports, and that
// a series of an optional kind is read only where its file or panel title
// says it needs that kind.
func TestExpressionsParse(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	exprs := expressions(t)
	if len(exprs) < 20 {
		t.Errorf("only %d expressions found", len(exprs))
	}
	for _, e := range exprs {
		expr, err := p.ParseExpr(e.expr)
		if err != nil {
			t.Errorf("%s: %q: %v", e.where, e.expr, err)
			continue
		}
		for _, sel := range parser.ExtractSelectors(expr) {
			i := slices.IndexFunc(sel, func(m *labels.Matcher) bool {
				return m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual
			})
			if i < 0 {
				t.Errorf("%s: %q: a selector without an exact metric name", e.where, e.expr)
				continue
			}
			if k, ok := kindOf[sel[i].Value]; ok && !e.needs.Has(k) {
				t.Errorf("%s: reads %s, which needs --synth.series=%s, and does not say so", e.where, sel[i].Value, k)
			}
		}
	}
}

// TestDashboard checks the dashboard's structure: a uid, unique panel ids,
// panels within the 24 columns without overlapping, every query panel on
// the datasource variable and with queries.
func TestDashboard(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q: want both", d.UID, d.Title)
	}
	ids := map[int]string{}
	type cell struct{ x, y int }
	taken := map[cell]string{}
	for _, p := range allPanels(d.Panels) {
		if other, ok := ids[p.ID]; ok {
			t.Errorf("panels %q and %q share id %d", other, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24 columns", p.Title, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := taken[cell{x, y}]; ok {
					t.Errorf("panels %q and %q overlap at x=%d y=%d", other, p.Title, x, y)
				}
				taken[cell{x, y}] = p.Title
			}
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %v, want uid ${datasource}", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
	}
}

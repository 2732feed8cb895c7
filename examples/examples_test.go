// Package examples tests the example files in this folder: alerts.yml, the
// alerting rules for batch jobs behind the bridge and for the bridge itself,
// with promtool (`promtool check rules` and `promtool test rules` on
// alerts_test.yml), and that every alert there has a unit test.
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
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v2"

	"github.com/pushgateway-bridge/pushgateway-bridge/synth"
)

const (
	rulesFile = "alerts.yml"
	testsFile = "alerts_test.yml"
)

func TestPromtoolCheckRules(t *testing.T) {
	promtool(t, "check", "rules", rulesFile)
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
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, rulesFile, &rules)
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
			t.Errorf("%s tests alert %s, which %s does not have", testsFile, name, rulesFile)
		}
	}
}

// TestStatusesCovered checks that the batch-job alerts read the series synth
// writes, one alert for every status but ok.
func TestStatusesCovered(t *testing.T) {
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []synth.Status{synth.StatusFailed, synth.StatusTooOld, synth.StatusMissing, synth.StatusExpired} {
		expr := fmt.Sprintf("%s{%s=%q} == 1", synth.StatusMetric, synth.StatusLabel, s)
		if !bytes.Contains(b, []byte("expr: "+expr+"\n")) {
			t.Errorf("%s has no alert on %s", rulesFile, expr)
		}
	}
	if !bytes.Contains(b, []byte("expr: "+synth.GatewayUpMetric+" == 0\n")) {
		t.Errorf("%s has no alert on %s == 0", rulesFile, synth.GatewayUpMetric)
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

package e2e

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Paths set once by TestMain and only read by the tests afterwards.
var (
	// pushgatewayBin is the Pushgateway binary the tests run.
	pushgatewayBin string
	// prometheusBin is the Prometheus 2 binary (Debian's) the tests run as
	// receiver.
	prometheusBin string
	// prometheus3Bin is the Prometheus 3 binary scripts/peers.sh builds,
	// run as a remote-write 2.0 receiver.
	prometheus3Bin string
	// pushgateway1115Bin is Pushgateway 1.11.5, which scripts/peers.sh
	// builds: UTF-8 names with --push.enable-utf8-names.
	pushgateway1115Bin string
	// victoriaMetricsBin is the single-node VictoriaMetrics binary (Debian's)
	// run as receiver.
	victoriaMetricsBin string
	// thanosBin is Thanos (receive and query), which scripts/peers.sh
	// builds: a remote-write receiver with tenants from THANOS-TENANT.
	thanosBin string
	// cortexBin is Cortex, which scripts/peers.sh builds: a remote-write
	// receiver with X-Scope-OrgID tenants and the HA tracker.
	cortexBin string
	// bridgeBin is the pushgateway-bridge binary built for this run.
	bridgeBin string
)

// TestMain locates the peers and builds the bridge once. Any failure there
// exits with status 1: an end-to-end suite that silently skips would let CI
// pass without testing anything.
func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	bin, err := locatePeers()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: FAIL: locate peers: %v\n", err)
		return 1
	}
	pushgatewayBin = filepath.Join(bin, "prometheus-pushgateway")
	prometheusBin = filepath.Join(bin, "prometheus")
	prometheus3Bin = filepath.Join(bin, "prometheus3")
	victoriaMetricsBin = filepath.Join(bin, "victoria-metrics")
	pushgateway1115Bin = filepath.Join(bin, "pushgateway-1.11.5")
	thanosBin = filepath.Join(bin, "thanos")
	cortexBin = filepath.Join(bin, "cortex")
	for _, b := range []string{pushgatewayBin, prometheusBin, prometheus3Bin, victoriaMetricsBin, pushgateway1115Bin, thanosBin, cortexBin} {
		if err := checkExecutable(b); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: FAIL: peer: %v\n", err)
			return 1
		}
	}
	// bin/prometheus3 is a link into a cache a stale PEERS_BIN may hold an
	// older build in; the 2.0 receiver tests need a 3.x.
	if err := checkVersion(prometheus3Bin, "prometheus, version 3."); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: FAIL: peer: %v\n", err)
		return 1
	}
	// The versions the README's table of receivers names.
	for _, c := range []struct{ bin, prefix string }{
		{pushgateway1115Bin, "pushgateway, version 1.11.5 "},
		{thanosBin, "thanos, version 0.41.0 "},
		{cortexBin, "Cortex, version 1.21.1 "},
	} {
		if err := checkVersion(c.bin, c.prefix); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: FAIL: peer: %v\n", err)
			return 1
		}
	}

	tmp, err := os.MkdirTemp("", "pushgateway-bridge-e2e-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: FAIL: %v\n", err)
		return 1
	}
	defer os.RemoveAll(tmp)

	bridgeBin = filepath.Join(tmp, "pushgateway-bridge")
	build := exec.Command("go", "build", "-o", bridgeBin, "../cmd/pushgateway-bridge")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: FAIL: build bridge: %v\n%s", err, out)
		return 1
	}
	// The tests mostly wait on peers and on the bridge's cycles rather
	// than use the CPU, and the receiver outage alone takes over ten
	// minutes: run the parallel ones together unless -parallel says
	// otherwise, rather than GOMAXPROCS at a time.
	flag.Parse()
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		if err := flag.Set("test.parallel", strconv.Itoa(max(runtime.GOMAXPROCS(0), parallelTests))); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: FAIL: set -test.parallel: %v\n", err)
			return 1
		}
	}
	return m.Run()
}

// parallelTests is how many tests run in parallel unless -parallel is given.
const parallelTests = 12

// locatePeers returns the folder holding the peer binaries: $PEERS_BIN if
// set, else the last line scripts/peers.sh prints.
func locatePeers() (string, error) {
	if dir := os.Getenv("PEERS_BIN"); dir != "" {
		return dir, nil
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("../scripts/peers.sh")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("scripts/peers.sh: %w\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	dir := strings.TrimSpace(lines[len(lines)-1])
	if dir == "" {
		return "", errors.New("scripts/peers.sh printed no bin folder")
	}
	return dir, nil
}

func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// checkVersion runs bin --version and fails unless a line of its output
// starts with prefix: some print the version on stdout, some on stderr,
// and Cortex logs a line of its own on stderr, so both are read and any
// line may be it.
func checkVersion(bin, prefix string) error {
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s --version: %w\n%s", bin, err, out)
	}
	if !slices.ContainsFunc(strings.Split(string(out), "\n"), func(l string) bool { return strings.HasPrefix(l, prefix) }) {
		first, _, _ := strings.Cut(string(out), "\n")
		return fmt.Errorf("%s --version: %q, want %q...", bin, first, prefix)
	}
	return nil
}

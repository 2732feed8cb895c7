// Package e2e holds the end-to-end tests of pushgateway-bridge: they run the
// built bridge between a real Prometheus Pushgateway and a real
// remote-write receiver (Prometheus 2 or 3, VictoriaMetrics, Thanos, Cortex), push groups to the gateway and assert what
// the receiver answers through its PromQL HTTP API.
//
// The peers come from scripts/peers.sh (Debian's prometheus-pushgateway,
// prometheus and promtool, victoria-metrics, chromium and podman,
// Prometheus 3 and Pushgateway 1.11.5 built with go install, and Thanos and
// Cortex built from their modules), or from the folder named by the
// PEERS_BIN environment variable. The tests of the Pushgateway's API run
// against both Pushgateways (forEachGateway); Thanos receive and Cortex are
// receivers with tenants, and Cortex's HA tracker takes two bridges. TestImage builds the container image with
// podman and runs it in a chroot, which needs root.
// A missing peer or a bridge that does not build fails the whole package: the
// tests never skip, so CI cannot pass without having run them.
//
// Run them with:
//
//	go test ./e2e/ -count=1 -v
//
// TestReceiverOutageLosesNothing stops the receiver for 10 minutes, which
// CI runs; E2E_OUTAGE=1m shortens that for a local run. The tests run in
// parallel, 12 at a time unless -parallel says otherwise.
//
// TestSoak is the fault soak: -soak.duration (2m), -soak.seed (0: a new one,
// printed), -soak.faults (by default those the bridge survives today; all
// for every kind) and -soak.groups; scripts/soak.sh runs it for 30 minutes.
// It mounts a tmpfs, so it runs as root. -soak.dump keeps a run, and
// TestSoakReplay with -soak.replay checks it again.
//
// Every process the tests start listens on 127.0.0.1 on a free port and is
// stopped when its test ends; its output is printed when the test fails.
package e2e

// Command benchrun runs pushgateway-bridge, vmagent and Prometheus in agent
// mode one at a time against the same Pushgateway and the same counting
// remote-write sink, and reports what forwarding costs each of them.
//
// For every size GxS (of a pgwload shape: -shape, or GxS:shape) it starts Debian's Pushgateway on a free 127.0.0.1
// port, fills it with pgwload, starts rwsink, measures the floor (the
// gateway's CPU to render /metrics once as uncompressed protobuf), then for
// -rounds rounds runs each forwarder in turn (the order rotates per round):
// start, wait for two delivered cycles (warm-up), measure for -cycles
// intervals, stop. A window of exactly n intervals holds n cycles' worth of a
// periodic process's CPU whatever its phase, so CPU per cycle is the CPU delta
// over the window divided by its length in intervals; samples per cycle are
// counted by the sink per timestamp for the timestamps inside the window.
//
// With -catchup it also puts the sink in outage (503) for -outage at
// -catchup-size, then measures how long each of -catchup-forwarders takes to
// deliver every sample of the cycles scraped during the outage, and the CPU
// that costs.
//
// With -perf, one more bridge run per size is sampled by perf record, and
// the hottest symbols go into the report.
//
// The report is markdown, on stdout and in -out. Everything it starts runs in
// its own process group and is stopped on every way out; the whole run is
// bounded by -timeout.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type config struct {
	bins       bins
	rwsink     string
	sizes      []size
	interval   time.Duration
	rounds     int
	cycles     int
	forwarders []forwarder
	floorN     int
	catchup    bool
	perf       bool
	// bridgePerGroup is how many series the bridge synthesizes per group.
	bridgePerGroup int
	catchupSize    size
	outage         time.Duration
	catchupFwd     []forwarder
	work           string
	out            string
	commandLine    string
	bridgeCommit   string
}

// size is one load: groups × series of a pgwload shape.
type size struct {
	groups, series int
	shape          string // pgwload -shape
}

func (s size) String() string {
	if s.shape == "" || s.shape == "mixed" {
		return fmt.Sprintf("%dx%d", s.groups, s.series)
	}
	return fmt.Sprintf("%dx%d:%s", s.groups, s.series, s.shape)
}

// shapes are pgwload's -shape values.
var shapes = []string{"mixed", "onefamily", "smallfamilies", "batch", "longlabels"}

// parseSize reads GROUPSxSERIES[:SHAPE]; without a shape, defShape.
func parseSize(s, defShape string) (size, error) {
	s, shape, _ := strings.Cut(strings.TrimSpace(s), ":")
	if shape == "" {
		shape = defShape
	}
	if !slices.Contains(shapes, shape) {
		return size{}, fmt.Errorf("size %q: unknown shape %q (%s)", s, shape, strings.Join(shapes, ", "))
	}
	g, se, ok := strings.Cut(s, "x")
	if !ok {
		return size{}, fmt.Errorf("size %q: want GROUPSxSERIES[:SHAPE]", s)
	}
	gi, err1 := strconv.Atoi(g)
	si, err2 := strconv.Atoi(se)
	least := 1
	switch shape {
	case "mixed":
		least = 15
	case "batch":
		least = 6
	}
	if err1 != nil || err2 != nil || gi < 1 || si < least {
		return size{}, fmt.Errorf("size %q: want GROUPSxSERIES with SERIES >= %d for shape %s", s, least, shape)
	}
	return size{gi, si, shape}, nil
}

func parseForwarders(s string) ([]forwarder, error) {
	var out []forwarder
	for _, n := range strings.Split(s, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		f, ok := forwarders[n]
		if !ok {
			return nil, fmt.Errorf("unknown forwarder %q (bridge, vmagent, prometheus-agent)", n)
		}
		out = append(out, f)
	}
	return out, nil
}

func main() { os.Exit(run()) }

func run() int {
	var (
		cfg                                        config
		sizes, fwds, catchupFwds, catchSize, shape string
		quick                                      bool
		timeout                                    time.Duration
		binDir                                     string
	)
	flag.StringVar(&binDir, "bin-dir", "", "Folder of vmagent, prometheus-agent and prometheus-pushgateway (bench/peers.sh prints it).")
	flag.StringVar(&cfg.bins.bridge, "bridge", "", "The pushgateway-bridge binary.")
	flag.StringVar(&cfg.bins.pgwload, "pgwload", "", "The pgwload binary.")
	flag.StringVar(&cfg.rwsink, "rwsink", "", "The rwsink binary.")
	flag.StringVar(&sizes, "sizes", "1000x100,10000x100", "Comma-separated GROUPSxSERIES[:SHAPE] sizes; empty for none.")
	flag.StringVar(&shape, "shape", "mixed", "Load shape of the sizes that name none (pgwload -shape): "+strings.Join(shapes, ", ")+".")
	flag.DurationVar(&cfg.interval, "interval", 15*time.Second, "Scrape interval of every forwarder.")
	flag.IntVar(&cfg.rounds, "rounds", 3, "Rounds; each runs every forwarder once.")
	flag.IntVar(&cfg.cycles, "cycles", 4, "Cycles measured per run, after two warm-up cycles.")
	flag.StringVar(&fwds, "forwarders", "bridge,vmagent,prometheus-agent", "Forwarders to compare.")
	flag.IntVar(&cfg.floorN, "floor-n", 5, "Renders of /metrics for the floor measurement.")
	flag.BoolVar(&cfg.catchup, "catchup", false, "Also run the catch-up scenario.")
	flag.IntVar(&cfg.bridgePerGroup, "bridge-synth-per-group", 2, "Series the bridge synthesizes per group, for its expected count: up and pushgateway_group_age_seconds by default (7 with the 5 pushgateway_group_status series the bridge sent by default between the status series and --synth.series; 8 with --synth.series=status now).")
	flag.Func("bridge-flags", "Flags added to the bridge's, separated by spaces (e.g. --config.file=accumulate.yml --synth.series=pushes); count its added series in -bridge-synth-per-group.", func(s string) error {
		cfg.bins.bridgeFlags = strings.Fields(s)
		return nil
	})
	flag.BoolVar(&cfg.perf, "perf", false, "After the rounds of each size, profile one more bridge run with perf record (needs perf).")
	flag.StringVar(&catchSize, "catchup-size", "1000x100", "Size of the catch-up scenario.")
	flag.DurationVar(&cfg.outage, "outage", 10*time.Minute, "Receiver outage of the catch-up scenario.")
	flag.StringVar(&catchupFwds, "catchup-forwarders", "bridge,vmagent", "Forwarders of the catch-up scenario.")
	flag.BoolVar(&quick, "quick", false, "Smoke mode: 100x100, 2s interval, 1 round, 2 cycles (and a 20s outage with -catchup, at 100x100).")
	flag.StringVar(&cfg.work, "work", "", "Work folder for logs and data (default: a new temporary folder, kept).")
	flag.StringVar(&cfg.out, "out", "", "Also write the report to this file.")
	flag.StringVar(&cfg.bridgeCommit, "bridge-version", "", "How the bridge was built (printed in the report).")
	flag.DurationVar(&timeout, "timeout", 3*time.Hour, "Stop everything after this long.")
	flag.Parse()

	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if quick {
		if !set["sizes"] {
			sizes = "100x100"
		}
		if !set["interval"] {
			cfg.interval = 2 * time.Second
		}
		if !set["rounds"] {
			cfg.rounds = 1
		}
		if !set["cycles"] {
			cfg.cycles = 2
		}
		if !set["outage"] {
			cfg.outage = 20 * time.Second
		}
		if !set["catchup-size"] {
			catchSize = "100x100"
		}
	}
	cfg.commandLine = strings.Join(os.Args[1:], " ")
	var err error
	for _, s := range strings.Split(sizes, ",") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		sz, err := parseSize(s, shape)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchrun:", err)
			return 2
		}
		cfg.sizes = append(cfg.sizes, sz)
	}
	if cfg.catchupSize, err = parseSize(catchSize, shape); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		return 2
	}
	if cfg.forwarders, err = parseForwarders(fwds); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		return 2
	}
	if cfg.catchupFwd, err = parseForwarders(catchupFwds); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		return 2
	}
	if binDir == "" || cfg.bins.bridge == "" || cfg.bins.pgwload == "" || cfg.rwsink == "" {
		fmt.Fprintln(os.Stderr, "benchrun: -bin-dir, -bridge, -pgwload and -rwsink are required (bench/run.sh sets them)")
		return 2
	}
	if cfg.interval <= 0 || cfg.rounds < 1 || cfg.cycles < 1 {
		fmt.Fprintln(os.Stderr, "benchrun: -interval, -rounds and -cycles must be positive")
		return 2
	}
	cfg.bins.vmagent = filepath.Join(binDir, "vmagent")
	cfg.bins.prometheus = filepath.Join(binDir, "prometheus-agent")
	cfg.bins.pushgateway = filepath.Join(binDir, "prometheus-pushgateway")
	if cfg.work == "" {
		if cfg.work, err = os.MkdirTemp("", "pgw-bench-"); err != nil {
			fmt.Fprintln(os.Stderr, "benchrun:", err)
			return 1
		}
	}
	if err := os.MkdirAll(cfg.work, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	ps := &procs{}
	defer ps.stopAll()
	r := &runner{cfg: cfg, ps: ps, hc: &http.Client{Timeout: 2 * time.Minute}, logf: func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
	}}
	report, err := r.runAll(ctx)
	var w io.Writer = os.Stdout
	fmt.Fprint(w, report)
	if cfg.out != "" {
		if werr := os.WriteFile(cfg.out, []byte(report), 0o644); werr != nil {
			fmt.Fprintln(os.Stderr, "benchrun:", werr)
			return 1
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		return 1
	}
	return 0
}

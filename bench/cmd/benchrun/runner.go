package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

type runner struct {
	cfg  config
	ps   *procs
	hc   *http.Client
	logf func(format string, a ...any)
	// perfHook, when set, is called as a run's window opens with the
	// forwarder's pid; what it returns is called as the run ends.
	perfHook func(pid int, dir string) func()
}

// result is one forwarder's run.
type result struct {
	fwd          string
	err          error
	expected     int
	perCycle     []int64 // samples per timestamp inside the window
	cpu          float64 // forwarder CPU seconds in the window
	windowCycles float64 // window length in intervals
	bytes        int64   // wire bytes received in the window
	samples      int64   // samples received in the window (by arrival)
	peakRSS      int64
	gatewayCPU   float64 // gateway CPU seconds in the window
	stale        int64
	rejected     int64 // 415s (vmagent's zstd probe) and 400s
	spacingMs    int64 // largest deviation of cycle spacing from the interval
}

func (r result) medianDelivered() float64 { return medianInt(r.perCycle) }

// cpuPerMillion is CPU seconds per million samples delivered.
func (r result) cpuPerMillion() float64 {
	d := r.medianDelivered()
	if d == 0 || r.windowCycles == 0 {
		return 0
	}
	return r.cpu / r.windowCycles / d * 1e6
}

func (r result) bytesPerSample() float64 {
	if r.samples == 0 {
		return 0
	}
	return float64(r.bytes) / float64(r.samples)
}

func (r result) gatewayMsPerCycle() float64 {
	if r.windowCycles == 0 {
		return 0
	}
	return r.gatewayCPU / r.windowCycles * 1000
}

// sizeReport is everything measured at one size.
type sizeReport struct {
	size       size
	load       string
	exposition exposition
	floorMs    float64
	floorWall  time.Duration
	results    map[string][]result
	perf       string // markdown, with -perf
}

func (r *runner) runAll(ctx context.Context) (string, error) {
	started := time.Now()
	var reports []sizeReport
	var errs []error
	for _, sz := range r.cfg.sizes {
		rep, err := r.runSize(ctx, sz)
		reports = append(reports, rep)
		if err != nil {
			errs = append(errs, fmt.Errorf("size %s: %w", sz, err))
			if ctx.Err() != nil {
				break
			}
		}
	}
	var catch []catchResult
	if r.cfg.catchup && ctx.Err() == nil {
		var err error
		catch, err = r.runCatchup(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("catch-up: %w", err))
		}
	}
	return r.render(started, reports, catch), errors.Join(errs...)
}

// withGateway starts a Pushgateway, loads it with sz and a sink, and calls fn.
func (r *runner) withGateway(ctx context.Context, sz size, fn func(gw *proc, gateway string, sink string, load string) error) error {
	logDir := filepath.Join(r.cfg.work, "logs-"+sz.String())
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	gw, gateway, err := startGateway(ctx, r.ps, env{bins: r.cfg.bins, logDir: logDir}, r.hc)
	if err != nil {
		return err
	}
	defer gw.stop(30 * time.Second)
	r.logf("size %s: pushgateway on %s, loading", sz, gateway)
	out, err := exec.CommandContext(ctx, r.cfg.bins.pgwload, "-url=http://"+gateway,
		"-groups="+strconv.Itoa(sz.groups), "-series="+strconv.Itoa(sz.series), "-shape="+sz.shape).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgwload: %w: %s", err, out)
	}
	load := strings.SplitN(string(out), "\n", 2)[0]
	r.logf("size %s: %s", sz, load)
	sinkP, sink, err := startSink(ctx, r.ps, r.cfg.rwsink, logDir, r.hc)
	if err != nil {
		return err
	}
	defer sinkP.stop(10 * time.Second)
	return fn(gw, gateway, sink, load)
}

func (r *runner) runSize(ctx context.Context, sz size) (sizeReport, error) {
	rep := sizeReport{size: sz, results: map[string][]result{}}
	err := r.withGateway(ctx, sz, func(gw *proc, gateway, sink, load string) error {
		rep.load = load
		var err error
		if rep.exposition, err = countExposition(ctx, r.hc, gateway); err != nil {
			return err
		}
		if rep.floorMs, rep.floorWall, err = r.floor(ctx, gw, gateway); err != nil {
			return err
		}
		r.logf("size %s: floor %.1f ms CPU per render (%s wall)", sz, rep.floorMs, rep.floorWall.Round(time.Millisecond))
		n := len(r.cfg.forwarders)
		for round := 0; round < r.cfg.rounds; round++ {
			for i := 0; i < n; i++ {
				f := r.cfg.forwarders[(i+round)%n]
				res := r.runOnce(ctx, sz, f, gw, gateway, sink, round)
				if res.err != nil {
					r.logf("size %s round %d %s: %v", sz, round+1, f.name, res.err)
				} else {
					r.logf("size %s round %d %s: %.3f CPU s/1M, %d/%d per cycle, %.0f MiB, %.2f B/sample, gateway %.0f ms/cycle",
						sz, round+1, f.name, res.cpuPerMillion(), int64(res.medianDelivered()), res.expected,
						float64(res.peakRSS)/(1<<20), res.bytesPerSample(), res.gatewayMsPerCycle())
				}
				rep.results[f.name] = append(rep.results[f.name], res)
				if ctx.Err() != nil {
					return ctx.Err()
				}
			}
		}
		if r.cfg.perf {
			// One more bridge run, under perf, outside the measured rounds:
			// sampling costs the profiled process CPU.
			rep.perf, err = r.profileBridge(ctx, sz, gw, gateway, sink)
			if err != nil {
				r.logf("size %s: perf: %v", sz, err)
			}
		}
		return nil
	})
	return rep, err
}

// profileBridge runs the bridge once with perf record sampling it over the
// measurement window, and returns the hottest symbols of perf report.
func (r *runner) profileBridge(ctx context.Context, sz size, gw *proc, gateway, sink string) (string, error) {
	out := filepath.Join(r.cfg.work, fmt.Sprintf("perf-%s.data", sz))
	var perfErr error
	r.perfHook = func(pid int, dir string) func() {
		p, err := r.ps.start(dir, "perf", "perf", "record", "-F", "499", "-g", "-o", out, "-p", strconv.Itoa(pid),
			"--", "sleep", strconv.Itoa(int((time.Duration(r.cfg.cycles) * r.cfg.interval).Seconds())))
		if err != nil {
			perfErr = err
			return func() {}
		}
		return func() {
			select {
			case <-p.done:
			case <-time.After(time.Minute):
				p.stop(10 * time.Second)
			}
		}
	}
	defer func() { r.perfHook = nil }()
	res := r.runOnce(ctx, sz, forwarders["bridge"], gw, gateway, sink, -1)
	if err := errors.Join(res.err, perfErr); err != nil {
		return "", err
	}
	self, err := perfReport(ctx, out, "--no-children")
	if err != nil {
		return "", err
	}
	incl, err := perfReport(ctx, out, "--children")
	if err != nil {
		return "", err
	}
	txt := filepath.Join(r.cfg.work, fmt.Sprintf("perf-%s.txt", sz))
	_ = os.WriteFile(txt, []byte(strings.Join(self, "\n")+"\n\n"+strings.Join(incl, "\n")+"\n"), 0o644)
	// The phases: the bridge's own frames and the garbage collector's,
	// inclusive of what they call.
	var phases []string
	for _, l := range incl {
		if strings.Contains(l, "pushgateway-bridge/") || strings.Contains(l, "runtime.gcBgMarkWorker") ||
			strings.Contains(l, "runtime.mallocgc ") || strings.Contains(l, "syscall.Syscall") {
			phases = append(phases, l)
		}
	}
	r.logf("size %s: perf profile of the bridge in %s (%.3f CPU s/1M under perf)", sz, txt, res.cpuPerMillion())
	return fmt.Sprintf("perf record -F 499 -g of the bridge over %d cycles (an extra run, %.3f CPU s/1M under perf; full report in %s).\n\n"+
		"Hottest functions (self):\n\n```\n%s\n```\n\nPhases (children included; the bridge's frames, the GC's, syscalls):\n\n```\n%s\n```\n",
		r.cfg.cycles, res.cpuPerMillion(), txt, strings.Join(head(self, 15), "\n"), strings.Join(head(phases, 25), "\n")), nil
}

// perfReport runs perf report on file by symbol and returns its lines of
// at least 1%, without comments and the empty IPC columns.
func perfReport(ctx context.Context, file, mode string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "perf", "report", "-i", file, "--stdio", mode,
		"--sort", "symbol", "-g", "none", "--percent-limit", "1").Output()
	if err != nil {
		return nil, fmt.Errorf("perf report %s: %w", mode, err)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			continue
		}
		l = strings.TrimRight(l, " ")
		l = strings.TrimRight(strings.TrimSuffix(l, "-      -"), " ")
		lines = append(lines, l)
	}
	return lines, nil
}

func head(l []string, n int) []string { return l[:min(n, len(l))] }

// floor is the gateway's CPU to render /metrics once as uncompressed
// protobuf, the cheapest exposition it has: the median of floorN renders.
func (r *runner) floor(ctx context.Context, gw *proc, gateway string) (float64, time.Duration, error) {
	const accept = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
	var cpus []float64
	var walls []int64
	for i := 0; i < r.cfg.floorN; i++ {
		c0, err := cpuSeconds(gw.pid())
		if err != nil {
			return 0, 0, err
		}
		t0 := time.Now()
		code, _, err := get(ctx, r.hc, "http://"+gateway+"/metrics", accept)
		if err != nil || code != http.StatusOK {
			return 0, 0, fmt.Errorf("floor: GET /metrics: %d %v", code, err)
		}
		walls = append(walls, int64(time.Since(t0)))
		c1, err := cpuSeconds(gw.pid())
		if err != nil {
			return 0, 0, err
		}
		cpus = append(cpus, (c1-c0)*1000)
	}
	return median(cpus), time.Duration(medianInt(walls)), nil
}

// runOnce runs one forwarder: warm-up, a window of cfg.cycles intervals, stop.
func (r *runner) runOnce(ctx context.Context, sz size, f forwarder, gw *proc, gateway, sink string, round int) result {
	res := result{fwd: f.name}
	dir := filepath.Join(r.cfg.work, fmt.Sprintf("%s-r%d-%s", sz, round+1, f.name))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		res.err = err
		return res
	}
	e := env{bins: r.cfg.bins, gateway: gateway, sinkURL: "http://" + sink + "/api/v1/write",
		interval: r.cfg.interval, dir: dir, logDir: dir}
	if err := post(ctx, r.hc, "http://"+sink+"/reset"); err != nil {
		res.err = err
		return res
	}
	ex, err := countExposition(ctx, r.hc, gateway)
	if err != nil {
		res.err = err
		return res
	}
	res.expected = f.expected(ex, r.cfg.bridgePerGroup)
	p, _, err := f.start(r.ps, e)
	if err != nil {
		res.err = err
		return res
	}
	defer p.stop(90 * time.Second)

	// Warm-up: the first cycle delivered and the second begun.
	iv := r.cfg.interval
	if _, err := r.waitCycles(ctx, p, sink, 2, time.Now().Add(3*iv+2*time.Minute)); err != nil {
		res.err = fmt.Errorf("warm-up: %w (see %s)", err, p.log)
		return res
	}
	if r.perfHook != nil {
		defer r.perfHook(p.pid(), dir)()
	}
	t0 := time.Now()
	c0, err1 := cpuSeconds(p.pid())
	g0, err2 := cpuSeconds(gw.pid())
	s0, err3 := readStats(ctx, r.hc, sink)
	if err := errors.Join(err1, err2, err3); err != nil {
		res.err = err
		return res
	}
	if err := sleepCtx(ctx, time.Duration(r.cfg.cycles)*iv); err != nil {
		res.err = err
		return res
	}
	t1 := time.Now()
	c1, err1 := cpuSeconds(p.pid())
	g1, err2 := cpuSeconds(gw.pid())
	s1, err3 := readStats(ctx, r.hc, sink)
	if err := errors.Join(err1, err2, err3); err != nil {
		res.err = err
		return res
	}
	res.cpu, res.gatewayCPU = c1-c0, g1-g0
	res.windowCycles = float64(t1.Sub(t0)) / float64(iv)
	res.bytes, res.samples = s1.Bytes-s0.Bytes, s1.Samples-s0.Samples
	res.stale = s1.Stale - s0.Stale
	res.rejected = s1.Unsupported + s1.BadRequests

	// Let the window's last cycle arrive: until its counts stop changing
	// and a later cycle has begun, at most an interval and a half later.
	deadline := t1.Add(iv + iv/2 + 30*time.Second)
	var last int64 = -1
	stableSince := time.Now()
	for {
		st, err := readStats(ctx, r.hc, sink)
		if err != nil {
			res.err = err
			return res
		}
		res.perCycle = st.window(t0, t1)
		res.spacingMs = st.spacingError(t0, iv)
		sum := sumInt(res.perCycle)
		if sum != last {
			last, stableSince = sum, time.Now()
		}
		later := len(st.Cycles) > 0 && st.Cycles[len(st.Cycles)-1].TimestampMs >= t1.UnixMilli()
		if (later && time.Since(stableSince) > 2*time.Second) || time.Now().After(deadline) {
			break
		}
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			res.err = err
			return res
		}
	}
	if res.peakRSS, err = peakRSS(p.pid()); err != nil {
		res.err = err
	}
	if len(res.perCycle) == 0 {
		res.err = errors.New("no cycle delivered in the window")
	}
	return res
}

// waitCycles waits until the sink has seen n distinct timestamps; it returns
// the newest.
func (r *runner) waitCycles(ctx context.Context, p *proc, sink string, n int, deadline time.Time) (int64, error) {
	for {
		if p.exited() {
			return 0, fmt.Errorf("%s exited: %v", p.name, p.err)
		}
		st, err := readStats(ctx, r.hc, sink)
		if err != nil {
			return 0, err
		}
		if len(st.Cycles) >= n {
			return st.Cycles[len(st.Cycles)-1].TimestampMs, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%d of %d cycles delivered by the deadline", len(st.Cycles), n)
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return 0, err
		}
	}
}

// catchResult is one forwarder's catch-up after a receiver outage.
type catchResult struct {
	fwd            string
	err            error
	expected       int
	backlogCycles  int
	backlogSamples int64
	delivered      int64 // of the backlog cycles, by the end
	drain          time.Duration
	drainCPU       float64
	baselineCPU    float64 // CPU per second before the outage
	outageCPU      float64
	peakRSS        int64
	drained        bool
	pendingAtEnd   float64
}

func (r *runner) runCatchup(ctx context.Context) ([]catchResult, error) {
	var out []catchResult
	sz := r.cfg.catchupSize
	err := r.withGateway(ctx, sz, func(gw *proc, gateway, sink, _ string) error {
		for _, f := range r.cfg.catchupFwd {
			res := r.catchupOnce(ctx, sz, f, gateway, sink)
			if res.err != nil {
				r.logf("catch-up %s: %v", f.name, res.err)
			} else {
				r.logf("catch-up %s: %d cycles (%d samples) drained in %s, %.2f CPU s", f.name,
					res.backlogCycles, res.backlogSamples, res.drain.Round(100*time.Millisecond), res.drainCPU)
			}
			out = append(out, res)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
		return nil
	})
	return out, err
}

func (r *runner) catchupOnce(ctx context.Context, sz size, f forwarder, gateway, sink string) catchResult {
	res := catchResult{fwd: f.name}
	iv := r.cfg.interval
	dir := filepath.Join(r.cfg.work, fmt.Sprintf("catchup-%s-%s", sz, f.name))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		res.err = err
		return res
	}
	e := env{bins: r.cfg.bins, gateway: gateway, sinkURL: "http://" + sink + "/api/v1/write",
		interval: iv, dir: dir, logDir: dir}
	if err := post(ctx, r.hc, "http://"+sink+"/reset"); err != nil {
		res.err = err
		return res
	}
	ex, err := countExposition(ctx, r.hc, gateway)
	if err != nil {
		res.err = err
		return res
	}
	res.expected = f.expected(ex, r.cfg.bridgePerGroup)
	p, addr, err := f.start(r.ps, e)
	if err != nil {
		res.err = err
		return res
	}
	defer p.stop(90 * time.Second)
	if _, err := r.waitCycles(ctx, p, sink, 2, time.Now().Add(3*iv+2*time.Minute)); err != nil {
		res.err = fmt.Errorf("warm-up: %w (see %s)", err, p.log)
		return res
	}
	// Baseline CPU rate over two intervals of normal operation.
	b0, _ := cpuSeconds(p.pid())
	tb := time.Now()
	if err := sleepCtx(ctx, 2*iv); err != nil {
		res.err = err
		return res
	}
	b1, _ := cpuSeconds(p.pid())
	res.baselineCPU = (b1 - b0) / time.Since(tb).Seconds()

	st, err := readStats(ctx, r.hc, sink)
	if err != nil {
		res.err = err
		return res
	}
	lastTs := st.Cycles[len(st.Cycles)-1].TimestampMs
	if err := post(ctx, r.hc, "http://"+sink+"/outage?on=1"); err != nil {
		res.err = err
		return res
	}
	o0, _ := cpuSeconds(p.pid())
	r.logf("catch-up %s: outage for %s", f.name, r.cfg.outage)
	if err := sleepCtx(ctx, r.cfg.outage); err != nil {
		_ = post(context.Background(), r.hc, "http://"+sink+"/outage?on=0")
		res.err = err
		return res
	}
	if err := post(ctx, r.hc, "http://"+sink+"/outage?on=0"); err != nil {
		res.err = err
		return res
	}
	tRec := time.Now()
	cRec, _ := cpuSeconds(p.pid())
	res.outageCPU = cRec - o0

	// The backlog: the cycles due after the last one delivered before the
	// outage and at least a second before recovery (one begun in the last
	// second may or may not have met the outage).
	ivMs := iv.Milliseconds()
	res.backlogCycles = int((tRec.UnixMilli() - 1000 - lastTs) / ivMs)
	res.backlogSamples = int64(res.backlogCycles) * int64(res.expected)
	endMs := lastTs + int64(res.backlogCycles)*ivMs + ivMs/2
	deadline := tRec.Add(max(10*time.Minute, 2*r.cfg.outage))
	for {
		st, err := readStats(ctx, r.hc, sink)
		if err != nil {
			res.err = err
			return res
		}
		res.delivered = 0
		for _, c := range st.Cycles {
			if c.TimestampMs > lastTs && c.TimestampMs < endMs {
				res.delivered += c.Samples
			}
		}
		if res.delivered >= res.backlogSamples {
			res.drained = true
			break
		}
		if time.Now().After(deadline) || p.exited() {
			break
		}
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			res.err = err
			return res
		}
	}
	res.drain = time.Since(tRec)
	cEnd, _ := cpuSeconds(p.pid())
	res.drainCPU = cEnd - cRec
	// The forwarders update their pending gauges about every second.
	_ = sleepCtx(ctx, 3*time.Second)
	res.pendingAtEnd = selfMetric(ctx, r.hc, addr, f.pending)
	res.peakRSS, _ = peakRSS(p.pid())
	if !res.drained {
		res.err = fmt.Errorf("not drained after %s: %d of %d backlog samples (see %s)", res.drain.Round(time.Second), res.delivered, res.backlogSamples, p.log)
	}
	return res
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianInt(v []int64) float64 {
	f := make([]float64, len(v))
	for i, x := range v {
		f[i] = float64(x)
	}
	return median(f)
}

func sumInt(v []int64) int64 {
	var s int64
	for _, x := range v {
		s += x
	}
	return s
}

// jsonLine is the report's machine-readable summary of one forwarder at one
// size, for later comparison.
type jsonLine struct {
	Size           string  `json:"size"`
	Forwarder      string  `json:"forwarder"`
	CPUPerMillion  float64 `json:"cpu_s_per_1m_samples"`
	PeakRSSMiB     float64 `json:"peak_rss_mib"`
	Delivered      float64 `json:"delivered_per_cycle"`
	Expected       int     `json:"expected_per_cycle"`
	BytesPerSample float64 `json:"bytes_per_sample"`
	GatewayMs      float64 `json:"gateway_cpu_ms_per_cycle"`
	Runs           int     `json:"runs"`
}

func (l jsonLine) String() string {
	b, _ := json.Marshal(l)
	return string(b)
}

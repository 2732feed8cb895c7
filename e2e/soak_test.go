package e2e

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
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

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/value"
)

// The fault soak (issue 19): the real bridge between a real Pushgateway
// and a counting receiver, while a driver pushes, PUTs and DELETEs groups
// and injects faults chosen from a seed; then the oracle (soak_oracle_test.go)
// checks what arrived against the driver's log. scripts/soak.sh runs the
// long version.
var (
	soakDuration = flag.Duration("soak.duration", 2*time.Minute, "how long TestSoak runs, its quiet end included")
	soakSeed     = flag.Uint64("soak.seed", 0, "seed of TestSoak's choices; 0 picks one (printed)")
	soakFaults   = flag.String("soak.faults", soakCIFaults, "comma-separated faults TestSoak injects: "+strings.Join(soakAllFaults, ",")+"; all for every one; none for none")
	soakGroups   = flag.Int("soak.groups", 6, "groups TestSoak's driver pushes to")
	soakDump     = flag.String("soak.dump", "", "file TestSoak writes the driver's log and the samples received to, as JSON, for TestSoakReplay")
	soakReplay   = flag.String("soak.replay", "", "file of -soak.dump TestSoakReplay checks again")
)

// Fault kinds.
const (
	faultKill     = "kill"      // SIGKILL the bridge, restart it a few intervals later
	faultRWDown   = "rw-down"   // the receiver's listener closed
	faultRW503    = "rw-503"    // the receiver answers 503
	faultRW429    = "rw-429"    // the receiver answers 429 with Retry-After
	faultRWSlow   = "rw-slow"   // the receiver answers after seconds
	faultGWDown   = "gw-down"   // the Pushgateway stopped, then started on its persistence file
	faultDiskFull = "disk-full" // the bridge's storage filesystem filled, then freed
)

// soakAllFaults is every fault kind, in the order the seed picks from.
var soakAllFaults = []string{faultKill, faultRWDown, faultRW503, faultRW429, faultRWSlow, faultGWDown, faultDiskFull}

// soakCIFaults are the faults of the default (CI) run: all but disk-full,
// which stops the disk queue for good today (issue 19, point 1); add it
// (-soak.faults=all) once that is fixed. The losses a 30-minute run with
// every fault showed right before 2 of 26 kills came from a queue a
// disk-full had stopped earlier; 19 kills in 25 minutes without disk-full
// lost nothing.
const soakCIFaults = "kill,rw-down,rw-503,rw-429,rw-slow,gw-down"

const (
	soakInterval = time.Second            // the bridge's --scrape.interval
	soakSlack    = 500 * time.Millisecond // a cycle's lateness the oracle allows
	soakJitter   = 250 * time.Millisecond // a tick's distance from its grid the oracle allows
	soakQuiet    = 20 * time.Second       // no fault and no push at the end, so everything drains
	soakTmpfs    = "64m"                  // size of the bridge's storage filesystem
)

// TestSoak runs the fault soak for -soak.duration and fails for each class
// of violation the oracle finds, printing the seed that reproduces the
// run's choices.
func TestSoak(t *testing.T) {
	seed := *soakSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	faults, err := parseSoakFaults(*soakFaults)
	if err != nil {
		t.Fatal(err)
	}
	reproduce := fmt.Sprintf("go test -count=1 -run 'TestSoak$' -v ./e2e/ -soak.duration=%v -soak.seed=%d -soak.faults=%s -soak.groups=%d",
		*soakDuration, seed, strings.Join(faults, ","), *soakGroups)
	t.Logf("seed %d; reproduce with: %s", seed, reproduce)
	if *soakDuration < 2*soakQuiet {
		t.Fatalf("-soak.duration=%v: want at least %v", *soakDuration, 2*soakQuiet)
	}

	storage := mountTmpfs(t, soakTmpfs)
	g := startPushgateway(t)
	recv := startSoakReceiver(t)
	args := []string{
		"--pushgateway.url=" + g.URL,
		"--remote-write.url=" + recv.URL + "/api/v1/write",
		"--scrape.interval=" + model.Duration(soakInterval).String(),
		"--storage.path=" + filepath.Join(storage, "data"),
		"--log.level=info",
	}
	d := &soakDriver{
		t: t, rng: rand.New(rand.NewPCG(seed, 1)), faults: faults,
		gw: g, recv: recv, storage: storage, bridgeArgs: args,
		present: make([]bool, *soakGroups),
	}
	d.startBridge()
	d.run(rand.New(rand.NewPCG(seed, 2)), *soakDuration-soakQuiet)
	until := time.Now().Add(soakQuiet - 3*soakInterval)
	time.Sleep(soakQuiet)

	got, errs := recv.samples()
	for _, e := range errs {
		t.Errorf("undecodable request: %s", e)
	}
	run := soakRun{Seed: seed, Faults: faults, Until: until, Ops: d.log}
	if *soakDump != "" {
		if err := run.write(*soakDump, got); err != nil {
			t.Errorf("-soak.dump: %v", err)
		}
	}
	reportSoak(t, run, got)
	if t.Failed() {
		t.Logf("reproduce with: %s", reproduce)
	}
}

// TestSoakReplay runs the oracle again over a run -soak.dump wrote, named
// by -soak.replay: to look at a failing run again, or at an old run with a
// newer oracle. Without -soak.replay it checks that a dump reads back.
func TestSoakReplay(t *testing.T) {
	path := *soakReplay
	if path == "" {
		path = filepath.Join(t.TempDir(), "run.json")
		want := []soakSample{{Key: "a", T: 1, V: 2}, {Key: "a", T: 2, V: math.Float64frombits(value.StaleNaN)}}
		if err := (&soakRun{Seed: 1, Ops: []soakOp{{Kind: opPut}}}).write(path, want); err != nil {
			t.Fatal(err)
		}
		run, got, err := readSoakRun(path)
		if err != nil {
			t.Fatal(err)
		}
		if run.Seed != 1 || len(run.Ops) != 1 || len(got) != 2 || got[0] != want[0] || !value.IsStaleNaN(got[1].V) {
			t.Errorf("read back %+v, %v; want seed 1, one op, samples %v", run, got, want)
		}
		return
	}
	run, got, err := readSoakRun(path)
	if err != nil {
		t.Fatal(err)
	}
	reportSoak(t, *run, got)
}

// reportSoak runs the oracle over a run and reports its figures and each
// class of violation.
func reportSoak(t *testing.T, run soakRun, got []soakSample) {
	t.Helper()
	rep := checkSoak(run.Ops, got, soakParams{Interval: soakInterval, Slack: soakSlack, Jitter: soakJitter, Until: run.Until, GroupSeries: soakGroupSeries})
	t.Logf("seed %d, faults %s:\n%s", run.Seed, strings.Join(run.Faults, ","), indent(rep.String()))
	for _, class := range soakViolations {
		if n := rep.count(class); n > 0 {
			t.Errorf("%s: %d, e.g.:\n%s", class, n, indent(strings.Join(rep.Examples[class], "\n")))
		}
	}
}

// soakRun is what -soak.dump writes: the driver's log and the end of the
// checks, next to the samples received.
type soakRun struct {
	Seed   uint64
	Faults []string
	Until  time.Time
	Ops    []soakOp
}

// dumpedSample is a soakSample with its value as bits: JSON has no NaN,
// and a staleness marker is one NaN among others.
type dumpedSample struct {
	Key  string
	T    int64
	Bits uint64
}

func (r *soakRun) write(path string, got []soakSample) error {
	samples := make([]dumpedSample, 0, len(got))
	for _, s := range got {
		samples = append(samples, dumpedSample{s.Key, s.T, math.Float64bits(s.V)})
	}
	b, err := json.Marshal(struct {
		*soakRun
		Samples []dumpedSample
	}{r, samples})
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func readSoakRun(path string) (*soakRun, []soakSample, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var d struct {
		soakRun
		Samples []dumpedSample
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if d.Until.IsZero() { // a dump from before Until was kept
		for _, op := range d.Ops {
			d.Until = later(d.Until, op.End)
		}
		d.Until = d.Until.Add(soakQuiet - 3*soakInterval)
	}
	got := make([]soakSample, 0, len(d.Samples))
	for _, s := range d.Samples {
		got = append(got, soakSample{s.Key, s.T, math.Float64frombits(s.Bits)})
	}
	return &d.soakRun, got, nil
}

// parseSoakFaults parses -soak.faults.
func parseSoakFaults(s string) ([]string, error) {
	switch s {
	case "all":
		return slices.Clone(soakAllFaults), nil
	case "none", "":
		return nil, nil
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		if !slices.Contains(soakAllFaults, f) {
			return nil, fmt.Errorf("-soak.faults: unknown fault %q, want some of %s", f, strings.Join(soakAllFaults, ","))
		}
		out = append(out, f)
	}
	return out, nil
}

// soakGroupSeries returns the series the bridge adds to a group the soak
// pushes (no rules, the default series kinds): push times, up, age; NaN
// where the value is not checked.
func soakGroupSeries(group string) map[string]float64 {
	out := map[string]float64{
		"push_time_seconds{" + group + "}":             math.NaN(),
		"push_failure_time_seconds{" + group + "}":     0,
		"up{" + group + "}":                            1,
		"pushgateway_group_age_seconds{" + group + "}": math.NaN(),
	}
	return out
}

// soakDriver pushes and injects faults from its seeded rng, logging each
// action with when it began and returned.
type soakDriver struct {
	t          *testing.T
	rng        *rand.Rand
	faults     []string
	gw         *pushgateway
	recv       *soakReceiver
	storage    string
	bridgeArgs []string
	bridge     *bridge
	present    []bool // by group: pushed and not deleted
	pushes     int
	log        []soakOp
}

func (d *soakDriver) record(op soakOp) { d.log = append(d.log, op) }

func (d *soakDriver) startBridge() {
	start := time.Now()
	d.bridge = startBridge(d.t, d.bridgeArgs...)
	d.record(soakOp{Kind: opBridgeStart, Start: start, End: time.Now()})
}

// plannedFault is a fault of the plan: its kind and when it begins and
// ends, from the start of the run.
type plannedFault struct {
	kind     string
	from, to time.Duration
}

// planFaults draws the faults of a run of length d: one at a time, each
// held for 2 to 8 intervals, 3 to 10s apart.
func planFaults(rng *rand.Rand, kinds []string, d time.Duration) []plannedFault {
	var plan []plannedFault
	if len(kinds) == 0 {
		return nil
	}
	at := time.Duration(0)
	for {
		at += time.Duration(3000+rng.IntN(7000)) * time.Millisecond
		f := plannedFault{kind: kinds[rng.IntN(len(kinds))], from: at}
		at += time.Duration(2+rng.IntN(7)) * soakInterval
		f.to = at
		if at >= d {
			return plan
		}
		plan = append(plan, f)
	}
}

// run drives for d: the faults of the plan drawn from faultRng, and every
// 0.2 to 1.2s one group op drawn from the driver's rng (not sent while the
// gateway is down). A seed replays the same faults and the same ops in the
// same order; only their timing is the machine's.
func (d *soakDriver) run(faultRng *rand.Rand, dur time.Duration) {
	start := time.Now()
	plan := planFaults(faultRng, d.faults, dur)
	fault := ""
	for time.Since(start) < dur {
		time.Sleep(time.Duration(200+d.rng.IntN(1000)) * time.Millisecond)
		switch el := time.Since(start); {
		case fault != "" && el >= plan[0].to:
			d.recover(fault)
			fault, plan = "", plan[1:]
		case fault == "" && len(plan) > 0 && el >= plan[0].from:
			fault = plan[0].kind
			d.inject(fault)
		}
		d.groupOp(fault != faultGWDown)
	}
	if fault != "" {
		d.recover(fault)
	}
}

// groupOp draws one push, PUT or DELETE of a random group and sends it
// unless the gateway is down (the draw happens anyway, so that the rng
// stays on the same sequence).
func (d *soakDriver) groupOp(send bool) {
	g := d.rng.IntN(len(d.present))
	group := fmt.Sprintf(`instance="g%d",job="soak"`, g)
	path := groupPath("soak", "instance", fmt.Sprintf("g%d", g))
	kind := opPost
	switch x := d.rng.IntN(10); {
	case x < 2 && d.present[g]:
		kind = opDelete
	case x < 5:
		kind = opPut
	}
	d.pushes++
	// A PUT sends both families, a POST one of them; each series in with
	// probability 0.7, at least one; values unique to the push.
	fams := []string{"soak_a", "soak_b"}
	if kind == opPost {
		fams = fams[d.rng.IntN(2):][:1]
	}
	var picked []string // family/s pairs
	for _, f := range fams {
		for s := range 4 {
			if d.rng.IntN(10) < 7 {
				picked = append(picked, fmt.Sprintf("%s/%d", f, s))
			}
		}
	}
	if len(picked) == 0 {
		picked = append(picked, fams[0]+"/0")
	}
	series := map[string]float64{}
	var body strings.Builder
	typed := map[string]bool{}
	for i, p := range picked {
		f, s, _ := strings.Cut(p, "/")
		if !typed[f] {
			fmt.Fprintf(&body, "# TYPE %s gauge\n", f)
			typed[f] = true
		}
		v := float64(d.pushes*100 + i)
		fmt.Fprintf(&body, "%s{s=%q} %v\n", f, s, v)
		series[fmt.Sprintf(`%s{%s,s=%q}`, f, group, s)] = v
	}
	if !send {
		return
	}
	op := soakOp{Kind: kind, Group: group, Start: time.Now()}
	if kind == opDelete {
		mustPush(d.t, d.gw.URL, http.MethodDelete, path, "")
		d.present[g] = false
	} else {
		mustPush(d.t, d.gw.URL, kind, path, body.String())
		op.Series = series
		d.present[g] = true
	}
	op.End = time.Now()
	d.record(op)
}

// inject starts a fault.
func (d *soakDriver) inject(fault string) {
	op := soakOp{Kind: opFault, Fault: fault, Start: time.Now()}
	switch fault {
	case faultKill:
		kill := time.Now()
		d.bridge.Kill()
		d.record(soakOp{Kind: opBridgeKill, Start: kill, End: time.Now()})
	case faultRWDown, faultRW503, faultRW429, faultRWSlow:
		d.recv.setMode(fault)
	case faultGWDown:
		d.gw.Stop()
	case faultDiskFull:
		if err := fillDisk(filepath.Join(d.storage, "ballast")); err != nil {
			d.t.Fatalf("fill %s: %v", d.storage, err)
		}
	}
	op.End = time.Now()
	d.record(op)
	d.t.Logf("%s fault %s", fmtT(op.Start), fault)
}

// recover ends a fault.
func (d *soakDriver) recover(fault string) {
	op := soakOp{Kind: opRecover, Fault: fault, Start: time.Now()}
	switch fault {
	case faultKill:
		d.startBridge()
	case faultRWDown, faultRW503, faultRW429, faultRWSlow:
		d.recv.setMode("")
	case faultGWDown:
		d.gw.Start()
	case faultDiskFull:
		if err := os.Remove(filepath.Join(d.storage, "ballast")); err != nil {
			d.t.Fatal(err)
		}
	}
	op.End = time.Now()
	d.record(op)
	d.t.Logf("%s recovered %s", fmtT(op.End), fault)
}

// fillDisk writes path until its filesystem is full.
func fillDisk(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return nil
			}
			return err
		}
	}
}

// mountTmpfs mounts a tmpfs of size on a temp dir, unmounted when the test
// ends, and returns the dir. The soak needs a filesystem it can fill; it
// fails (never skips) where it cannot mount one.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a %s tmpfs on %s for the bridge's storage (the soak runs as root): %v\n%s", size, dir, err, out)
	}
	// Registered after TempDir's removal and before the bridges' stop, so
	// it runs after every bridge stopped and before the removal.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
	return dir
}

// soakReceiver is the counting receiver: it decodes remote write 1.0 with
// sampleRecorder and keeps every sample in arrival order, unless a fault
// mode is set: rw-down closes its listener, rw-503 and rw-429 refuse
// (429 with Retry-After: 1), rw-slow answers after 2s.
type soakReceiver struct {
	// URL is the base URL; the bridge writes to URL/api/v1/write.
	URL string

	t    testing.TB
	addr string
	rec  sampleRecorder

	mu   sync.Mutex
	mode string
	srv  *http.Server
}

func startSoakReceiver(t testing.TB) *soakReceiver {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	r := &soakReceiver{URL: "http://" + addr, t: t, addr: addr}
	r.listen()
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.srv != nil {
			r.srv.Close()
		}
	})
	return r
}

// listen serves on the receiver's address; the caller holds mu or is the
// only user.
func (r *soakReceiver) listen() {
	l, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatalf("soak receiver: listen on %s: %v", r.addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(r.serve)}
	r.srv = srv
	go func() { _ = srv.Serve(l) }()
}

func (r *soakReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	mode := r.mode
	r.mu.Unlock()
	switch mode {
	case faultRW503:
		http.Error(w, "soak: unavailable", http.StatusServiceUnavailable)
		return
	case faultRW429:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "soak: too many requests", http.StatusTooManyRequests)
		return
	case faultRWSlow:
		time.Sleep(2 * time.Second)
	}
	r.rec.record(req.URL.Path, req.Header.Get("Content-Type"), body)
	w.WriteHeader(http.StatusNoContent)
}

// setMode switches the fault mode; "" is healthy.
func (r *soakReceiver) setMode(mode string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case mode == faultRWDown && r.mode != faultRWDown:
		r.srv.Close()
	case mode != faultRWDown && r.mode == faultRWDown:
		r.listen()
	}
	r.mode = mode
}

// samples returns every sample received, in arrival order, and the errors
// of requests that could not be decoded.
func (r *soakReceiver) samples() ([]soakSample, []string) {
	reqs, errs := r.rec.requests()
	var out []soakSample
	for _, req := range reqs {
		for _, s := range req.series {
			for _, smp := range s.samples {
				out = append(out, soakSample{Key: s.key, T: smp.Timestamp, V: smp.Value})
			}
		}
	}
	return out, errs
}

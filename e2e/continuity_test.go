package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	"github.com/pushgateway-bridge/pushgateway-bridge/internal/rwtest"
)

// Continuity end to end (README "When the Pushgateway cannot be scraped" and
// "When the bridge was down: filling the gap"): a stopped Pushgateway under
// the outage hold, the hold running out, and the gap a kill -9 of the bridge
// leaves, filled by the restarted bridge. The receiver's lookback delta is
// contLookback, so a cycle that does not forward a series shows within
// seconds, not after 5 minutes.
const (
	// contInterval is the bridge's --scrape.interval.
	contInterval = time.Second
	// contLookback is the receiver's --query.lookback-delta.
	contLookback = 5 * time.Second
	// contPoll is how often the tests below query the receiver while a
	// peer is down.
	contPoll = 250 * time.Millisecond
	// contSlack is what the bounds allow on top of whole cycles for
	// remote write, the receiver's ingestion and the polling.
	contSlack = 500 * time.Millisecond
	// contJitter is how late a cycle may start after its tick.
	contJitter = 250 * time.Millisecond
)

// contArgs are the flags of a bridge scraping gatewayURL every
// contInterval and writing to writeURL.
func contArgs(gatewayURL, writeURL string, extra ...string) []string {
	return append([]string{
		"--pushgateway.url=" + gatewayURL,
		"--remote-write.url=" + writeURL,
		"--scrape.interval=" + model.Duration(contInterval).String(),
		"--log.level=debug",
	}, extra...)
}

// sampleRecorder is a remote-write 1.0 proxy that keeps every sample of
// every request, and forwards each request unchanged to the receiver.
// Unlike writeRecorder it keeps values and timestamps, so that staleness
// markers and the content of one cycle can be counted, and the request
// path, so that several bridges writing through it can be told apart.
type sampleRecorder struct {
	// URL is the proxy's base URL; the bridge may write to any path
	// under it, which is recorded.
	URL string

	mu   sync.Mutex
	reqs []recordedRequest
	errs []string
}

// recordedRequest is one remote-write request as the recorder saw it.
type recordedRequest struct {
	path   string
	series []recordedSeries
}

// recordedSeries is one series of a request and its float samples.
type recordedSeries struct {
	metric  model.Metric
	key     string // formatMetric(metric)
	samples []prompb.Sample
}

// startSampleRecorder starts a sampleRecorder forwarding every request to
// writeURL; it is closed when the test ends.
func startSampleRecorder(t testing.TB, writeURL string) *sampleRecorder {
	t.Helper()
	rec := &sampleRecorder{}
	srv := httptest.NewServer(rwtest.Tee(httpClient, writeURL, func(r *http.Request, body []byte) {
		rec.record(r.URL.Path, r.Header.Get("Content-Type"), body)
	}))
	t.Cleanup(srv.Close)
	rec.URL = srv.URL
	return rec
}

func (rec *sampleRecorder) record(path, contentType string, body []byte) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	wr, err := rwtest.DecodeV1(body)
	if err != nil {
		rec.errs = append(rec.errs, fmt.Sprintf("%s (Content-Type %q): %v", path, contentType, err))
		return
	}
	if len(wr.Timeseries) == 0 {
		return // metadata only
	}
	req := recordedRequest{path: path}
	for _, ts := range wr.Timeseries {
		m := model.Metric{}
		for _, l := range ts.Labels {
			m[model.LabelName(l.Name)] = model.LabelValue(l.Value)
		}
		req.series = append(req.series, recordedSeries{metric: m, key: formatMetric(m), samples: slices.Clone(ts.Samples)})
	}
	rec.reqs = append(rec.reqs, req)
}

// requests returns the requests recorded so far, and the errors of those
// that could not be decoded.
func (rec *sampleRecorder) requests() ([]recordedRequest, []string) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.reqs), slices.Clone(rec.errs)
}

// samples returns, for every series whose labels match, its distinct
// samples by timestamp (a request retried counts once).
func (rec *sampleRecorder) samples(match func(model.Metric) bool) map[string]map[int64]float64 {
	reqs, _ := rec.requests()
	out := map[string]map[int64]float64{}
	for _, r := range reqs {
		for _, s := range r.series {
			if !match(s.metric) {
				continue
			}
			if out[s.key] == nil {
				out[s.key] = map[int64]float64{}
			}
			for _, smp := range s.samples {
				out[s.key][smp.Timestamp] = smp.Value
			}
		}
	}
	return out
}

// staleMarkers returns, for every series that got staleness markers, their
// distinct timestamps, oldest first.
func (rec *sampleRecorder) staleMarkers() map[string][]int64 {
	out := map[string][]int64{}
	for key, byT := range rec.samples(func(model.Metric) bool { return true }) {
		for ts, v := range byT {
			if value.IsStaleNaN(v) {
				out[key] = append(out[key], ts)
			}
		}
		slices.Sort(out[key])
	}
	return out
}

// sortedTimes returns the timestamps of byT, oldest first.
func sortedTimes(byT map[int64]float64) []int64 {
	ts := make([]int64, 0, len(byT))
	for t := range byT {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

// hasLabels returns a matcher of the metrics carrying every name/value
// pair of lv.
func hasLabels(lv ...string) func(model.Metric) bool {
	return func(m model.Metric) bool {
		for i := 0; i+1 < len(lv); i += 2 {
			if m[model.LabelName(lv[i])] != model.LabelValue(lv[i+1]) {
				return false
			}
		}
		return true
	}
}

// contQuery runs the instant query expr at time at and returns its vector
// or matrix result.
func contQuery(promURL, expr string, at time.Time) (model.Vector, model.Matrix, error) {
	u := promURL + "/api/v1/query?" + url.Values{"query": {expr}, "time": {fmt.Sprintf("%.3f", float64(at.UnixMilli())/1000)}}.Encode()
	code, body, err := httpGet(u)
	if err != nil {
		return nil, nil, fmt.Errorf("query %s: %w", expr, err)
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
		return nil, nil, fmt.Errorf("query %s: status %d: decode %q: %w", expr, code, body, err)
	}
	if resp.Status != "success" {
		return nil, nil, fmt.Errorf("query %s: %s: %s", expr, resp.ErrorType, resp.Error)
	}
	switch resp.Data.ResultType {
	case "vector":
		var v model.Vector
		err = json.Unmarshal(resp.Data.Result, &v)
		return v, nil, err
	case "matrix":
		var m model.Matrix
		err = json.Unmarshal(resp.Data.Result, &m)
		return nil, m, err
	}
	return nil, nil, fmt.Errorf("query %s: result type %q", expr, resp.Data.ResultType)
}

// contRange returns the raw samples of the one series selector matches in
// [from, to], oldest first (staleness markers are not among them).
func contRange(promURL, selector string, from, to time.Time) ([]model.SamplePair, error) {
	expr := fmt.Sprintf("%s[%dms]", selector, to.Sub(from).Milliseconds())
	_, m, err := contQuery(promURL, expr, to)
	if err != nil {
		return nil, err
	}
	if len(m) != 1 {
		return nil, fmt.Errorf("query %s at %s: want 1 series, got %d", expr, fmtMs(to.UnixMilli()), len(m))
	}
	return m[0].Values, nil
}

// fmtMs renders a millisecond timestamp as the receivers store it.
func fmtMs(ms int64) string { return time.UnixMilli(ms).UTC().Format("15:04:05.000") }

// fmtMsList renders millisecond timestamps with fmtMs, space-separated.
func fmtMsList(ts []int64) string {
	parts := make([]string, 0, len(ts))
	for _, x := range ts {
		parts = append(parts, fmtMs(x))
	}
	return strings.Join(parts, " ")
}

// fmtPairs renders samples as "hh:mm:ss.mmm=value" for failure messages.
func fmtPairs(ps []model.SamplePair) string {
	parts := make([]string, 0, len(ps))
	for _, p := range ps {
		parts = append(parts, fmt.Sprintf("%s=%v", fmtMs(int64(p.Timestamp)), p.Value))
	}
	return strings.Join(parts, " ")
}

// TestGatewayOutageHeld stops the Pushgateway for 15s under the default
// outage hold: every series of the pushed group stays queryable with its
// values at every poll (the lookback is 5s, so a single cycle that did not
// forward it would show), its age keeps growing, pushgateway_up is 0, no
// staleness marker is written; after the restart pushgateway_up is 1.
func TestGatewayOutageHeld(t *testing.T) {
	t.Parallel()
	const outage = 15 * time.Second
	g := startPushgateway(t)
	r := startPrometheusReceiver(t, contLookback)
	rec := startSampleRecorder(t, r.WriteURL)
	startBridge(t, contArgs(g.URL, rec.URL+"/api/v1/write")...)

	key := `instance="x",job="held"`
	mustPush(t, g.URL, http.MethodPut, groupPath("held", "instance", "x"), `
# TYPE e2e_held_gauge gauge
e2e_held_gauge{a="1"} 1
e2e_held_gauge{a="2"} 2
# TYPE e2e_held_total counter
e2e_held_total 5
`)
	want := append(rulesGroupSeries(key, `e2e_held_gauge`, false, false)[1:],
		`e2e_held_gauge{a="1",`+key+`}`, `e2e_held_gauge{a="2",`+key+`}`, `e2e_held_total{`+key+`}`)
	upSel := fmt.Sprintf(`pushgateway_up{gateway=%q}`, g.Addr)
	eventually(t, arrive, func() error {
		if err := expectVector(r.URL, upSel, upSel+" 1"); err != nil {
			return err
		}
		return expectMetrics(r.URL, `{job="held"}`, want...)
	})
	fixed := `{job="held",__name__!="pushgateway_group_age_seconds"}`
	before := formatVector(query(t, r.URL, fixed))
	ageSel := `pushgateway_group_age_seconds{` + key + `}`
	ageBefore, err := scalarOf(r.URL, ageSel)
	if err != nil {
		t.Fatal(err)
	}

	// Poll the receiver every contPoll for the whole outage.
	stopAt := time.Now()
	g.Stop()
	polls, age := 0, ageBefore
	firstUp0 := time.Duration(-1) // since the stop; -1: not yet
	for time.Since(stopAt) < outage {
		polls++
		since := time.Since(stopAt).Round(time.Millisecond)
		if err := expectMetrics(r.URL, `{job="held"}`, want...); err != nil {
			t.Fatalf("stop+%v: group series while the gateway is down: %v", since, err)
		}
		if got := formatVector(query(t, r.URL, fixed)); got != before {
			t.Fatalf("stop+%v: query %s while the gateway is down:\n got:\n%s\nwant (as before the stop):\n%s", since, fixed, indent(got), indent(before))
		}
		a, err := scalarOf(r.URL, ageSel)
		if err != nil {
			t.Fatalf("stop+%v: %v", since, err)
		}
		if a < age {
			t.Fatalf("stop+%v: %s went down from %v to %v", since, ageSel, age, a)
		}
		age = a
		up, err := scalarOf(r.URL, upSel)
		if err != nil {
			t.Fatalf("stop+%v: %v", since, err)
		}
		switch {
		case up == 0 && firstUp0 < 0:
			firstUp0 = since
		case up != 0 && firstUp0 >= 0:
			t.Fatalf("stop+%v: %s = %v after it was 0 at stop+%v, with the gateway still down", since, upSel, up, firstUp0)
		case up != 0 && since > 2*contInterval+contSlack:
			t.Fatalf("stop+%v: %s = %v, want 0 within %v of the stop", since, upSel, up, 2*contInterval+contSlack)
		}
		time.Sleep(contPoll)
	}
	if grown := age - ageBefore; grown < (outage - 2*contInterval).Seconds() {
		t.Errorf("%s grew by %.3fs during the %v outage (from %v to %v), want at least %v", ageSel, grown, outage, ageBefore, age, outage-2*contInterval)
	}
	t.Logf("gateway down %v: %d polls, group whole at each, %s 0 from stop+%v, age %v -> %v", outage, polls, upSel, firstUp0, ageBefore, age)

	restartAt := time.Now()
	g.Start()
	eventually(t, arrive, func() error { return expectVector(r.URL, upSel, upSel+" 1") })
	backAfter := time.Since(restartAt)
	if err := expectMetrics(r.URL, `{job="held"}`, want...); err != nil {
		t.Error(err)
	}
	if got := formatVector(query(t, r.URL, fixed)); got != before {
		t.Errorf("query %s after the restart:\n got:\n%s\nwant (as before the stop):\n%s", fixed, indent(got), indent(before))
	}
	t.Logf("gateway back: %s 1 %v after the restart began", upSel, backAfter.Round(time.Millisecond))

	// What was sent: no staleness marker at all, and in every cycle that
	// reported the gateway down, the whole group.
	if m := rec.staleMarkers(); len(m) > 0 {
		t.Errorf("staleness markers written, want none:\n%s", indent(fmt.Sprint(m)))
	}
	ups := rec.samples(hasLabels("__name__", "pushgateway_up", "gateway", g.Addr))[formatMetric(model.Metric{"__name__": "pushgateway_up", "gateway": model.LabelValue(g.Addr)})]
	group := rec.samples(hasLabels("job", "held"))
	var downCycles int
	for _, ts := range sortedTimes(ups) {
		if ups[ts] != 0 {
			continue
		}
		downCycles++
		for _, s := range want {
			if _, ok := group[s][ts]; !ok {
				t.Errorf("cycle %s (pushgateway_up 0) sent no sample of %s", fmtMs(ts), s)
			}
		}
	}
	if min := int((outage - 2*contInterval) / contInterval); downCycles < min {
		t.Errorf("%d cycles sent pushgateway_up 0 during the %v outage, want at least %d", downCycles, outage, min)
	}
	t.Logf("%d cycles with pushgateway_up 0, each with all %d series of the group; no staleness marker", downCycles, len(want))
	if _, errs := rec.requests(); len(errs) > 0 {
		t.Errorf("undecodable requests:\n%s", indent(strings.Join(errs, "\n")))
	}
}

// TestOutageHoldRunsOut stops the Pushgateway under
// --pushgateway.outage-hold=5s: the group's series are held for 5s, then
// get exactly one staleness marker each and vanish at once (the lookback
// alone would keep them 5s longer), and the expected group reports missing.
func TestOutageHoldRunsOut(t *testing.T) {
	t.Parallel()
	const hold = 5 * time.Second
	g := startPushgateway(t)
	r := startPrometheusReceiver(t, contLookback)
	rec := startSampleRecorder(t, r.WriteURL)
	cfg := writeConfig(t, `
group_rules:
- match: {job: hold}
  synthesize: [status]
expected_groups:
- {job: hold, instance: x}
`)
	startBridge(t, contArgs(g.URL, rec.URL+"/api/v1/write",
		"--pushgateway.outage-hold="+model.Duration(hold).String(), "--config.file="+cfg)...)

	key := `instance="x",job="hold"`
	mustPush(t, g.URL, http.MethodPut, groupPath("hold", "instance", "x"), "e2e_hold_gauge 1\ne2e_hold_other 2\n")
	// The series that go with the group: pushed, push times, age. up and
	// the status series stay, as the group is expected.
	goneSeries := []string{
		`e2e_hold_gauge{` + key + `}`,
		`e2e_hold_other{` + key + `}`,
		`push_time_seconds{` + key + `}`,
		`push_failure_time_seconds{` + key + `}`,
		`pushgateway_group_age_seconds{` + key + `}`,
	}
	goneSel := `{job="hold",__name__=~"e2e_hold_.*|push_time_seconds|push_failure_time_seconds|pushgateway_group_age_seconds"}`
	statusSel := `pushgateway_group_status{` + key + `}`
	upSel := fmt.Sprintf(`pushgateway_up{gateway=%q}`, g.Addr)
	eventually(t, arrive, func() error {
		if err := expectMetrics(r.URL, goneSel, goneSeries...); err != nil {
			return err
		}
		return expectVector(r.URL, statusSel, rulesStatus(key, "ok"))
	})

	stopAt := time.Now()
	g.Stop()
	stopped := time.Now()
	bound := hold + 2*contInterval + contSlack
	var vanished, missing time.Duration = -1, -1
	for deadline := stopAt.Add(bound + 3*time.Second); time.Now().Before(deadline); time.Sleep(contPoll) {
		since := time.Since(stopAt).Round(time.Millisecond)
		v, err := queryVector(r.URL, goneSel)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case len(v) == 0:
			if vanished < 0 {
				vanished = since
			}
		case vanished >= 0:
			t.Fatalf("stop+%v: group series back after they vanished at stop+%v:\n%s", since, vanished, indent(formatVector(v)))
		case len(v) != len(goneSeries):
			t.Fatalf("stop+%v: %d of the group's %d series, want all or none:\n%s", since, len(v), len(goneSeries), indent(formatVector(v)))
		case since > bound:
			t.Fatalf("stop+%v: group series still queryable, want them gone within %v (hold %v + 2 intervals + %v):\n%s",
				since, bound, hold, 2*contInterval, indent(formatVector(v)))
		}
		if vanished >= 0 && vanished < hold-contInterval {
			t.Fatalf("group series vanished at stop+%v, before the hold of %v ran out", vanished, hold)
		}
		if missing < 0 && expectVector(r.URL, statusSel, rulesStatus(key, "missing")) == nil && expectVector(r.URL, `up{`+key+`}`, `up{`+key+`} 0`) == nil {
			missing = since
		}
		if vanished >= 0 && missing >= 0 && since > max(vanished, missing)+2*contInterval {
			break
		}
	}
	if missing < 0 || missing > bound {
		t.Errorf("expected group missing (status missing, up 0) at stop+%v, want within %v; now:\n%s", missing, bound, indent(formatVector(query(t, r.URL, `{job="hold"}`))))
	}
	if err := expectVector(r.URL, upSel, upSel+" 0"); err != nil {
		t.Error(err)
	}
	t.Logf("hold %v: group series vanished at stop+%v, status missing at stop+%v (bound %v)", hold, vanished, missing, bound)

	// Exactly one marker per series of the group, in the first cycle after
	// the hold ran out (counted from the last cycle that scraped), and none
	// for anything else.
	ups := rec.samples(hasLabels("__name__", "pushgateway_up"))[upSel]
	var lastOK int64
	for _, ts := range sortedTimes(ups) {
		if ups[ts] == 1 && ts <= stopped.UnixMilli() {
			lastOK = ts
		}
	}
	markers := rec.staleMarkers()
	var gotKeys []string
	for k := range markers {
		gotKeys = append(gotKeys, k)
	}
	slices.Sort(gotKeys)
	wantKeys := slices.Sorted(slices.Values(goneSeries))
	if !slices.Equal(gotKeys, wantKeys) {
		t.Errorf("series with staleness markers:\n%s\nwant:\n%s", indent(strings.Join(gotKeys, "\n")), indent(strings.Join(wantKeys, "\n")))
	}
	from, to := lastOK+hold.Milliseconds(), lastOK+(hold+contInterval+contJitter).Milliseconds()
	for _, k := range gotKeys {
		ts := markers[k]
		if len(ts) != 1 {
			t.Errorf("%s: %d staleness markers (%v), want exactly 1", k, len(ts), ts)
			continue
		}
		// Timestamps are in milliseconds: the first cycle more than the
		// hold after the last scrape may show exactly the hold after it.
		if ts[0] < from || ts[0] > to {
			t.Errorf("%s: staleness marker at %s, want once the hold ran out (last scrape %s + %v) and in the next cycle: [%s, %s]",
				k, fmtMs(ts[0]), fmtMs(lastOK), hold, fmtMs(from), fmtMs(to))
		}
	}
	if len(gotKeys) > 0 {
		t.Logf("one staleness marker for each of %d series, at %s (last successful scrape %s, +%v)",
			len(gotKeys), fmtMs(markers[gotKeys[0]][0]), fmtMs(lastOK), time.Duration(markers[gotKeys[0]][0]-lastOK)*time.Millisecond)
	}

	// The gateway comes back with its persisted group: it is forwarded
	// again, without any further marker.
	g.Start()
	eventually(t, arrive, func() error {
		if err := expectMetrics(r.URL, goneSel, goneSeries...); err != nil {
			return err
		}
		return expectVector(r.URL, statusSel, rulesStatus(key, "ok"))
	})
	for k, ts := range rec.staleMarkers() {
		if len(ts) != 1 {
			t.Errorf("after the gateway came back: %s has %d staleness markers, want 1", k, len(ts))
		}
	}
}

// TestBackfillAfterKill kills the bridge with SIGKILL for 10s and restarts
// it on the same --storage.path: the ticks it missed are filled, one sample
// per tick, for a group left unchanged; a group pushed again meanwhile is
// filled from its new push time on only, with its new value.
func TestBackfillAfterKill(t *testing.T) {
	t.Parallel()
	const down = 10 * time.Second
	g := startPushgateway(t)
	r := startPrometheusReceiver(t, contLookback)
	rec := startSampleRecorder(t, r.WriteURL)
	// The status series too: backfill fills every kind switched on.
	args := contArgs(g.URL, rec.URL+"/api/v1/write", "--storage.path="+t.TempDir(), "--synth.series=status")

	mustPush(t, g.URL, http.MethodPut, groupPath("steady"), "e2e_steady 1\n")
	mustPush(t, g.URL, http.MethodPut, groupPath("changed"), "e2e_changed 1\n")
	upSel := fmt.Sprintf(`pushgateway_up{gateway=%q}`, g.Addr)
	b1 := startBridge(t, args...)
	eventually(t, arrive, func() error {
		if err := expectVector(r.URL, upSel, upSel+" 1"); err != nil {
			return err
		}
		return expectVector(r.URL, `{__name__=~"e2e_steady|e2e_changed"}`, "e2e_steady{job=\"steady\"} 1\ne2e_changed{job=\"changed\"} 1")
	})
	time.Sleep(3 * contInterval) // the state and the last cycle's time on disk

	killAt := time.Now()
	b1.Kill()
	time.Sleep(4 * time.Second)
	mustPush(t, g.URL, http.MethodPut, groupPath("changed"), "e2e_changed 2\n")
	pushedAt := time.Now()
	time.Sleep(time.Until(killAt.Add(down)))
	b2 := startBridge(t, args...)
	eventually(t, arrive, func() error {
		return expectVector(r.URL, `e2e_changed`, `e2e_changed{job="changed"} 2`)
	})
	time.Sleep(2 * contInterval)
	now := time.Now()

	// The last cycle of the killed bridge and the first of the new one:
	// pushgateway_up is not filled, so its samples are the live cycles.
	live, err := contRange(r.URL, upSel, killAt.Add(-5*time.Second), now)
	if err != nil {
		t.Fatal(err)
	}
	var lastT, liveT int64
	for _, p := range live {
		switch ms := int64(p.Timestamp); {
		case ms <= killAt.UnixMilli():
			lastT = ms
		case liveT == 0:
			liveT = ms
		}
	}
	if lastT == 0 || liveT == 0 {
		t.Fatalf("%s around the kill at %s: %s; want samples before and after", upSel, fmtMs(killAt.UnixMilli()), fmtPairs(live))
	}
	t.Logf("last cycle before the kill %s, first live cycle after the restart %s (%v later)", fmtMs(lastT), fmtMs(liveT), time.Duration(liveT-lastT)*time.Millisecond)

	// The ticks the restarted bridge should fill: last+k*interval before
	// its first cycle minus half an interval.
	var ticks []int64
	for ts := lastT + contInterval.Milliseconds(); ts < liveT-contInterval.Milliseconds()/2; ts += contInterval.Milliseconds() {
		ticks = append(ticks, ts)
	}
	pushV, err := scalarOf(r.URL, `push_time_seconds{job="changed"}`)
	if err != nil {
		t.Fatal(err)
	}
	pushT := rulesUnix(pushV)
	if pushT.Before(killAt) || pushT.After(pushedAt) {
		t.Fatalf("push_time_seconds{job=\"changed\"} = %s, want the push during the downtime (%s to %s)", fmtMs(pushT.UnixMilli()), fmtMs(killAt.UnixMilli()), fmtMs(pushedAt.UnixMilli()))
	}
	var changedTicks []int64
	for _, ts := range ticks {
		if float64(ts)/1000 >= pushV {
			changedTicks = append(changedTicks, ts)
		}
	}
	steadyPush, err := scalarOf(r.URL, `push_time_seconds{job="steady"}`)
	if err != nil {
		t.Fatal(err)
	}
	// The age at each filled tick is the tick minus the push time.
	agePushTime := map[string]float64{
		`pushgateway_group_age_seconds{job="steady"}`:  steadyPush,
		`pushgateway_group_age_seconds{job="changed"}`: pushV,
	}
	window := time.Duration(liveT-lastT)*time.Millisecond + contInterval/2
	at := time.UnixMilli(liveT)
	for _, c := range []struct {
		sel   string
		ticks []int64
		value float64 // of every sample filled, NaN: not checked
	}{
		{`e2e_steady{job="steady"}`, ticks, 1},
		{`up{job="steady"}`, ticks, 1},
		{`push_time_seconds{job="steady"}`, ticks, math.NaN()},
		{`pushgateway_group_status{job="steady",status="ok"}`, ticks, 1},
		{`pushgateway_group_age_seconds{job="steady"}`, ticks, math.NaN()},
		{`e2e_changed{job="changed"}`, changedTicks, 2},
		{`up{job="changed"}`, changedTicks, 1},
		{`push_time_seconds{job="changed"}`, changedTicks, pushV},
		{`pushgateway_group_age_seconds{job="changed"}`, changedTicks, math.NaN()},
	} {
		// count_over_time over [last, live]: the last cycle, the filled
		// ticks, the first live cycle.
		expr := fmt.Sprintf("count_over_time(%s[%dms])", c.sel, window.Milliseconds())
		v, _, err := contQuery(r.URL, expr, at)
		if err != nil {
			t.Error(err)
			continue
		}
		wantCount := len(c.ticks) + 2
		gotCount := 0
		if len(v) == 1 {
			gotCount = int(v[0].Value)
		}
		samples, err := contRange(r.URL, c.sel, time.UnixMilli(lastT+1), at.Add(-time.Millisecond))
		if err != nil && len(c.ticks) > 0 {
			t.Errorf("%s: %v", c.sel, err)
			continue
		}
		var gotTicks []int64
		for _, p := range samples {
			gotTicks = append(gotTicks, int64(p.Timestamp))
			if !math.IsNaN(c.value) && float64(p.Value) != c.value {
				t.Errorf("%s: filled sample %s = %v, want %v", c.sel, fmtMs(int64(p.Timestamp)), p.Value, c.value)
			}
			if pt, ok := agePushTime[c.sel]; ok {
				if want := float64(p.Timestamp)/1000 - pt; math.Abs(float64(p.Value)-want) > 0.002 {
					t.Errorf("%s: filled sample %s = %v, want the tick minus the push time, %.3f", c.sel, fmtMs(int64(p.Timestamp)), p.Value, want)
				}
			}
		}
		if gotCount != wantCount || !slices.Equal(gotTicks, c.ticks) {
			// What the bridge sent for the gap, to tell a tick it did not
			// fill from one the receiver did not keep.
			var sent []int64
			for _, ts := range sortedTimes(rec.samples(func(m model.Metric) bool { return formatMetric(m) == c.sel })[c.sel]) {
				if ts > lastT && ts < liveT {
					sent = append(sent, ts)
				}
			}
			t.Errorf("%s: count_over_time over [%s, %s] = %d, want %d; samples between: [%s], want one per tick [%s]; the bridge sent [%s]",
				c.sel, fmtMs(lastT), fmtMs(liveT), gotCount, wantCount, fmtMsList(gotTicks), fmtMsList(c.ticks), fmtMsList(sent))
			continue
		}
		t.Logf("%s: %d samples over [%s, %s], %d of them filled", c.sel, gotCount, fmtMs(lastT), fmtMs(liveT), len(c.ticks))
	}
	// Nothing of the changed group before its new push.
	if before, err := contRange(r.URL, `e2e_changed{job="changed"}`, time.UnixMilli(lastT+1), pushT); err == nil && len(before) > 0 {
		t.Errorf("e2e_changed: samples between the last cycle (%s) and the push (%s): %s, want none", fmtMs(lastT), fmtMs(pushT.UnixMilli()), fmtPairs(before))
	}

	// The counter: one sample per series of a group per tick it is filled
	// at; pushgateway_up not filled.
	steadyN, err := scalarOf(r.URL, `count({job="steady"})`)
	if err != nil {
		t.Fatal(err)
	}
	changedN, err := scalarOf(r.URL, `count({job="changed"})`)
	if err != nil {
		t.Fatal(err)
	}
	filled := b2.MustMetric("pushgateway_bridge_backfill_samples_total")
	wantFilled := float64(len(ticks))*steadyN + float64(len(changedTicks))*changedN
	if filled <= 0 || filled != wantFilled {
		t.Errorf("pushgateway_bridge_backfill_samples_total = %v, want %v (%d ticks x %v series + %d ticks x %v series)",
			filled, wantFilled, len(ticks), steadyN, len(changedTicks), changedN)
	}
	t.Logf("pushgateway_bridge_backfill_samples_total = %v (%d ticks, %d after the push at %s); log: %s",
		filled, len(ticks), len(changedTicks), fmtMs(pushT.UnixMilli()), strings.TrimSpace(grepContaining(b2.Output(), "filled the gap")))
}

// grepContaining returns the lines of text that contain s.
func grepContaining(text, s string) string {
	var sb strings.Builder
	for line := range strings.Lines(text) {
		if strings.Contains(line, s) {
			sb.WriteString(line)
		}
	}
	return sb.String()
}

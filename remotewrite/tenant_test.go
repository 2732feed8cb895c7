package remotewrite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

func mustTenants(t *testing.T, o Options, to TenantOptions) *Tenants {
	t.Helper()
	tn, err := NewTenants(o, to)
	if err != nil {
		t.Fatalf("NewTenants: %v", err)
	}
	return tn
}

// teamCycle returns, at time ts, one sample of each of n series per team,
// the teams' series interleaved; team "" is a series without the label.
func teamCycle(teams []string, n int, ts int64) pipeline.SampleSlice {
	var out []pipeline.Sample
	for i := range n {
		for _, team := range teams {
			b := labels.NewBuilder(labels.FromStrings("__name__", "m", "i", fmt.Sprint(i)))
			if team != "" {
				b.Set("team", team)
			}
			out = append(out, pipeline.Sample{Labels: b.Labels(), T: ts, V: float64(ts)})
		}
	}
	return out
}

// byTenant answers each request as its tenant header says: with
// responses[tenant], or 204.
func byTenant(header string, responses map[string]response) response {
	return func(w http.ResponseWriter, r *http.Request) {
		if resp, ok := responses[r.Header.Get(header)]; ok {
			resp(w, r)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// allGot returns every request the receiver decoded, answered 2xx or not.
func (rc *receiver) allGot() []*gotRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.all)
}

// checkOneTenant checks that every request the receiver got names one
// tenant in header and holds only series of that tenant, by their team
// label, def for those without; it returns the tenants seen, with the
// series of each delivered: name -> timestamps in order of delivery.
func checkOneTenant(t *testing.T, rc *receiver, header, def string) map[string]map[string][]int64 {
	t.Helper()
	for _, g := range rc.allGot() {
		tenants := g.header.Values(header)
		if len(tenants) != 1 {
			t.Fatalf("request with %s %q, want one", header, tenants)
		}
		for _, ts := range g.v1.Timeseries {
			want := def
			for _, l := range ts.Labels {
				if l.Name == "team" {
					want = l.Value
				}
			}
			if want != tenants[0] {
				t.Fatalf("request for tenant %q holds series %v of tenant %q", tenants[0], ts.Labels, want)
			}
		}
	}
	out := map[string]map[string][]int64{}
	for _, g := range rc.deliveredGot() {
		tenant := g.header.Get(header)
		if out[tenant] == nil {
			out[tenant] = map[string][]int64{}
		}
		for _, ts := range g.v1.Timeseries {
			k := ts.ToLabels(&labels.ScratchBuilder{}, nil).String()
			for _, s := range ts.Samples {
				out[tenant][k] = append(out[tenant][k], s.Timestamp)
			}
		}
	}
	return out
}

func TestNewTenantsValidation(t *testing.T) {
	rc := newReceiver(t)
	for _, tc := range []struct {
		name    string
		mod     func(*Options, *TenantOptions)
		wantErr string
	}{
		{"defaults", func(*Options, *TenantOptions) {}, ""},
		{"options checked", func(o *Options, _ *TenantOptions) { o.Dir = "" }, `remote write options for "test": Dir is required`},
		{"no label", func(_ *Options, to *TenantOptions) { to.Label = "" }, `remote write tenant options for "test": Label is required`},
		{"bad header", func(_ *Options, to *TenantOptions) { to.Header = "X Org" }, `Header "X Org" is not a valid header name`},
		{"header in Headers", func(o *Options, _ *TenantOptions) { o.Headers = map[string]string{"x-scope-orgid": "a"} },
			`Headers set "x-scope-orgid", the tenant header`},
		{"bad default", func(_ *Options, to *TenantOptions) { to.Default = "a\nb" }, `Default "a\nb" is not a valid tenant`},
		{"default with spaces", func(_ *Options, to *TenantOptions) { to.Default = " a" }, `Default " a" is not a valid tenant`},
		{"negative max", func(_ *Options, to *TenantOptions) { to.MaxTenants = -1 }, "MaxTenants must not be negative, got -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions(t, rc)
			to := TenantOptions{Label: "team"}
			tc.mod(&o, &to)
			tn, err := NewTenants(o, to)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("NewTenants error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := TenantOptions{Label: "team", Header: "X-Scope-OrgID", Default: "anonymous", MaxTenants: 100}
			if tn.to != want {
				t.Errorf("defaults: got %+v, want %+v", tn.to, want)
			}
			if err := tn.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTenantsRouting sends several tenants' series, and series without the
// label, to one receiver: each request holds one tenant, named in the
// header; every series arrives whole and in order, with its label.
func TestTenantsRouting(t *testing.T) {
	for _, msg := range []Message{MessageV1, MessageV2} {
		t.Run(string(msg), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				const nseries, cycles = 8, 4
				rc := newReceiver(t)
				rc.setWritten(true)
				o := testOptions(t, rc)
				o.Message = msg
				o.MinShards, o.MaxShards, o.MaxSamplesPerSend = 2, 2, 5
				o.Headers = map[string]string{"X-Other": "kept"}
				reg := prometheus.NewRegistry()
				o.Registerer = reg
				tn := mustTenants(t, o, TenantOptions{Label: "team"})
				teams := []string{"a", "b", "", "c"}

				tn.Append(teamCycle(teams, nseries, 0)) // before Run: a queue made, started by Run
				stop := run(t, tn)
				for c := 1; c < cycles; c++ {
					tn.Append(teamCycle(teams, nseries, int64(c)))
				}
				tn.Append(teamCycle([]string{"d"}, nseries, 0)) // one tenant: handed on whole
				waitFor(t, "all sent", func() bool { return tn.Pending() == 0 && rc.deliveredSamples() == (len(teams)*cycles+1)*nseries })
				stop()
				if err := tn.Flush(context.Background()); err != nil {
					t.Fatal(err)
				}

				got := checkOneTenant(t, rc, "X-Scope-OrgID", "anonymous")
				if want := []string{"a", "anonymous", "b", "c", "d"}; !slices.Equal(slices.Sorted(maps.Keys(got)), want) {
					t.Fatalf("tenants delivered %v, want %v", slices.Sorted(maps.Keys(got)), want)
				}
				for _, tenant := range []string{"a", "b", "c", "anonymous"} {
					checkDelivered(t, got[tenant], nseries, span(0, cycles, 1), false)
					for k := range got[tenant] {
						if tenant != "anonymous" && !strings.Contains(k, `team="`+tenant+`"`) {
							t.Errorf("series %s lost its tenant label", k)
						}
					}
				}
				checkDelivered(t, got["d"], nseries, []int64{0}, false)
				for _, g := range rc.allGot() {
					if h := g.header.Get("X-Other"); h != "kept" {
						t.Fatalf("X-Other = %q, want the endpoint's header on every tenant's requests", h)
					}
				}

				st := tn.Status()
				var names []string
				for _, ts := range st.Tenants {
					names = append(names, ts.Tenant)
					if ts.Name != "test" {
						t.Errorf("tenant %s: Name = %q, want the endpoint's", ts.Tenant, ts.Name)
					}
				}
				if want := []string{"a", "anonymous", "b", "c", "d"}; !slices.Equal(names, want) {
					t.Errorf("Status tenants = %v, want %v", names, want)
				}
				if st.Name != "test" || st.Tenant != "" || st.Pending != 0 || st.LastSuccess.IsZero() || st.Shards != 10 || st.Message != msg {
					t.Errorf("Status = %+v", st)
				}
				if got := testutil.ToFloat64(tn.tenants); got != 5 {
					t.Errorf("tenants gauge = %v, want 5", got)
				}
				want := fmt.Sprintf(`
	# HELP pushgateway_bridge_remote_write_samples_sent_total Samples (floats, staleness markers and native histograms) acknowledged by the remote endpoint.
	# TYPE pushgateway_bridge_remote_write_samples_sent_total counter
	pushgateway_bridge_remote_write_samples_sent_total{remote_name="test",tenant="a"} %[1]d
	pushgateway_bridge_remote_write_samples_sent_total{remote_name="test",tenant="anonymous"} %[1]d
	pushgateway_bridge_remote_write_samples_sent_total{remote_name="test",tenant="b"} %[1]d
	pushgateway_bridge_remote_write_samples_sent_total{remote_name="test",tenant="c"} %[1]d
	pushgateway_bridge_remote_write_samples_sent_total{remote_name="test",tenant="d"} %[2]d
	`, nseries*cycles, nseries)
				if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "pushgateway_bridge_remote_write_samples_sent_total"); err != nil {
					t.Error(err)
				}
				b, err := os.ReadFile(filepath.Join(o.Dir, "tenants", tenantDirName("anonymous"), "tenant"))
				if err != nil || string(b) != "anonymous" {
					t.Errorf("tenant file: %q, %v", b, err)
				}
			})
		})
	}
}

// TestTenantsIsolation rejects one tenant's requests and checks that the
// other's are neither lost nor delayed.
func TestTenantsIsolation(t *testing.T) {
	t.Run("400 drops only its own tenant's samples", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			rc := newReceiver(t)
			rc.setFallback(byTenant("X-Scope-OrgID", map[string]response{"bad": status(http.StatusBadRequest)}))
			o := testOptions(t, rc)
			o.MaxSamplesPerSend = 4
			tn := mustTenants(t, o, TenantOptions{Label: "team"})
			run(t, tn)
			for c := range 3 {
				tn.Append(teamCycle([]string{"bad", "good"}, 10, int64(c)))
			}
			waitFor(t, "all sent or dropped", func() bool { return tn.Pending() == 0 && rc.deliveredSamples() == 30 })
			got := checkOneTenant(t, rc, "X-Scope-OrgID", "anonymous")
			checkDelivered(t, got["good"], 10, span(0, 3, 1), false)
			if len(got["bad"]) != 0 {
				t.Errorf("tenant bad delivered %v", got["bad"])
			}
			st := tn.Status()
			if len(st.Tenants) != 2 || st.Tenants[0].Tenant != "bad" {
				t.Fatalf("Status tenants = %+v", st.Tenants)
			}
			if d := st.Tenants[0].Dropped; !maps.Equal(d, map[string]int{"http_400": 30}) {
				t.Errorf("tenant bad dropped %v, want 30 as http_400", d)
			}
			if d := st.Tenants[1].Dropped; len(d) != 0 {
				t.Errorf("tenant good dropped %v, want none", d)
			}
			if !maps.Equal(st.Dropped, map[string]int{"http_400": 30}) {
				t.Errorf("endpoint dropped %v, want 30 as http_400", st.Dropped)
			}
		})
	})

	t.Run("429 storm delays only its own tenant", func(t *testing.T) {
		t.Parallel()
		// In a bubble: the storm and its Retry-After run on fake time.
		synctest.Test(t, func(t *testing.T) {
			const (
				storm = 3 * time.Second
				every = 100 * time.Millisecond
				// Far above the few milliseconds a cycle takes, far below
				// the second a Retry-After of the stuck tenant makes it wait.
				maxDelay = 300 * time.Millisecond
			)
			var (
				mu       sync.Mutex
				arrived  = map[int64]time.Time{} // fast's cycles
				storming atomic.Bool
			)
			storming.Store(true)
			rc := newReceiver(t)
			rc.setFallback(byTenant("X-Scope-OrgID", map[string]response{
				"slow": func(w http.ResponseWriter, r *http.Request) {
					if storming.Load() {
						status(http.StatusTooManyRequests, "Retry-After", "1")(w, r)
						return
					}
					w.WriteHeader(http.StatusNoContent)
				},
				"fast": func(w http.ResponseWriter, r *http.Request) {
					now := time.Now()
					mu.Lock()
					for _, ts := range gotFrom(r).v1.Timeseries {
						for _, s := range ts.Samples {
							if _, ok := arrived[s.Timestamp]; !ok {
								arrived[s.Timestamp] = now
							}
						}
					}
					mu.Unlock()
					w.WriteHeader(http.StatusNoContent)
				},
			}))
			o := testOptions(t, rc)
			o.MaxBackoff = time.Second
			tn := mustTenants(t, o, TenantOptions{Label: "team"})
			run(t, tn)

			var appended []time.Time
			start := time.Now()
			for c := int64(0); time.Since(start) < storm; c++ {
				appended = append(appended, time.Now())
				tn.Append(teamCycle([]string{"slow", "fast"}, 20, c))
				time.Sleep(every)
			}
			cycles := int64(len(appended))
			mu.Lock()
			var worst time.Duration
			for c, at := range appended {
				got, ok := arrived[int64(c)]
				if !ok {
					t.Errorf("fast's cycle %d had not arrived when the storm ended", c)
					continue
				}
				worst = max(worst, got.Sub(at))
			}
			mu.Unlock()
			t.Logf("%d cycles: fast's arrived at most %s after being appended", cycles, worst)
			if worst > maxDelay {
				t.Errorf("fast's cycles arrived up to %s after being appended, want at most %s", worst, maxDelay)
			}
			got := checkOneTenant(t, rc, "X-Scope-OrgID", "anonymous")
			if len(got["slow"]) != 0 {
				t.Fatalf("slow delivered during the storm: %v", got["slow"])
			}
			if n := rc.requests(); n < 3+int(cycles) {
				t.Errorf("%d requests, want %d of fast's and at least 3 429s of slow's", n, cycles)
			}
			if st := tn.Status(); st.Tenants[1].Tenant != "slow" || st.Tenants[1].Pending != int(cycles)*20 {
				t.Errorf("slow's status during the storm: %+v, want all %d samples pending", st.Tenants[1], cycles*20)
			}

			// After the storm, slow's backlog goes out, in order.
			storming.Store(false)
			waitFor(t, "slow's backlog sent", func() bool { return tn.Pending() == 0 })
			got = checkOneTenant(t, rc, "X-Scope-OrgID", "anonymous")
			checkDelivered(t, got["slow"], 20, span(0, cycles, 1), false)
			checkDelivered(t, got["fast"], 20, span(0, cycles, 1), false)
		})
	})
}

// TestTenantsRestart stops with one tenant's samples left on disk and
// checks that the next start resumes that tenant, which pushes nothing new,
// and removes the queues of tenants with nothing left.
func TestTenantsRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rc := newReceiver(t)
		down := byTenant("X-Scope-OrgID", map[string]response{"x": status(http.StatusServiceUnavailable)})
		rc.setFallback(down)
		o := testOptions(t, rc)
		o.MaxSamplesPerSend = 4
		logs := &syncBuffer{}
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
		tn := mustTenants(t, o, TenantOptions{Label: "team"})
		stop := run(t, tn)
		for c := range 3 {
			tn.Append(teamCycle([]string{"x", "y"}, 5, int64(c)))
		}
		waitFor(t, "y sent and x tried", func() bool { return tn.Pending() == 15 && rc.requests() > 4 })
		stop()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err := tn.Flush(ctx)
		if err == nil || !strings.Contains(err.Error(), `tenant "x": flush remote write queue "test": 15 samples left unsent on disk`) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Flush error = %v, want x's 15 samples left", err)
		}
		// A folder this code did not write is left alone.
		junk := filepath.Join(o.Dir, "tenants", "junk")
		if err := os.MkdirAll(junk, 0o755); err != nil {
			t.Fatal(err)
		}

		rc.setFallback(status(http.StatusNoContent))
		for restart := range 2 {
			o.Registerer = prometheus.NewRegistry()
			tn := mustTenants(t, o, TenantOptions{Label: "team"})
			var tenants []string
			for _, st := range tn.Status().Tenants {
				tenants = append(tenants, st.Tenant)
			}
			var want []string
			if restart == 0 {
				want = []string{"x"}
			}
			if !slices.Equal(tenants, want) {
				t.Fatalf("restart %d: tenants %v, want %v", restart, tenants, want)
			}
			stop := run(t, tn)
			waitFor(t, "backlog sent", func() bool { return tn.Pending() == 0 })
			stop()
			if err := tn.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			entries, err := os.ReadDir(filepath.Join(o.Dir, "tenants"))
			if err != nil {
				t.Fatal(err)
			}
			var dirs []string
			for _, e := range entries {
				dirs = append(dirs, e.Name())
			}
			want = []string{"junk", tenantDirName("x")}
			if restart == 1 {
				want = want[:1]
			}
			if !slices.Equal(dirs, want) {
				t.Errorf("restart %d: tenant folders %v, want %v", restart, dirs, want)
			}
		}
		got := checkOneTenant(t, rc, "X-Scope-OrgID", "anonymous")
		checkDelivered(t, got["x"], 5, span(0, 3, 1), false)
		checkDelivered(t, got["y"], 5, span(0, 3, 1), false)
		if n := strings.Count(logs.String(), "remote write tenant queue directory without a valid tenant file, skipped"); n != 2 {
			t.Errorf("logged the junk folder %d times, want once a start:\n%s", n, logs)
		}
	})
}

// TestTenantsUntenantedLog starts tenants on the folder of a queue that
// left samples unsent: they are left there, and said so.
func TestTenantsUntenantedLog(t *testing.T) {
	rc := newReceiver(t)
	rc.setFallback(status(http.StatusServiceUnavailable))
	o := testOptions(t, rc)
	q := mustQueue(t, o)
	q.Append(floats(3, 1, 0))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := q.Flush(ctx); err == nil {
		t.Fatal("Flush sent to a receiver that is down")
	}
	logs := &syncBuffer{}
	o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	o.Registerer = prometheus.NewRegistry()
	tn := mustTenants(t, o, TenantOptions{Label: "team"})
	if err := tn.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "remote write queue from before tenant_label was set left unsent on disk") || !strings.Contains(logs.String(), "samples=3") {
		t.Errorf("log does not tell of the 3 samples left:\n%s", logs)
	}
}

// TestTenantsUnrouted checks what reaches no tenant's queue: tenants beyond
// the limit, tenants no header can carry, and new tenants after Flush.
func TestTenantsUnrouted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rc := newReceiver(t)
		o := testOptions(t, rc)
		reg := prometheus.NewRegistry()
		o.Registerer = reg
		tn := mustTenants(t, o, TenantOptions{Label: "team", Header: "THANOS-TENANT", Default: "default-tenant", MaxTenants: 2})
		stop := run(t, tn)
		tn.Append(teamCycle([]string{"a", "", "c", "bad\ntenant", " spaced"}, 3, 0))
		waitFor(t, "a and the default sent", func() bool { return tn.Pending() == 0 && rc.deliveredSamples() == 6 })
		stop()
		// Made after Run: Flush sends it.
		tn.Append(teamCycle([]string{"a"}, 3, 1))
		if err := tn.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		tn.Append(teamCycle([]string{"a", "late"}, 3, 2)) // after Flush: not sent, a queue not made

		got := checkOneTenant(t, rc, "Thanos-Tenant", "default-tenant")
		checkDelivered(t, got["a"], 3, span(0, 2, 1), false)
		checkDelivered(t, got["default-tenant"], 3, []int64{0}, false)
		if len(got) != 2 {
			t.Errorf("tenants delivered: %v", slices.Sorted(maps.Keys(got)))
		}
		want := map[string]int{"tenant_limit": 3, "invalid_tenant": 6, "tenant_open_error": 3}
		if st := tn.Status(); !maps.Equal(st.Dropped, want) || len(st.Tenants) != 2 {
			t.Errorf("Status = %+v, want dropped %v and 2 tenants", st, want)
		}
		exp := `
	# HELP pushgateway_bridge_remote_write_samples_dropped_total ` + samplesDroppedHelp + `
	# TYPE pushgateway_bridge_remote_write_samples_dropped_total counter
	pushgateway_bridge_remote_write_samples_dropped_total{reason="invalid_tenant",remote_name="test",tenant=""} 6
	pushgateway_bridge_remote_write_samples_dropped_total{reason="tenant_limit",remote_name="test",tenant=""} 3
	pushgateway_bridge_remote_write_samples_dropped_total{reason="tenant_open_error",remote_name="test",tenant=""} 3
	# HELP pushgateway_bridge_remote_write_tenants Tenants of the endpoint with a queue of their own.
	# TYPE pushgateway_bridge_remote_write_tenants gauge
	pushgateway_bridge_remote_write_tenants{remote_name="test"} 2
	`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(exp),
			"pushgateway_bridge_remote_write_samples_dropped_total", "pushgateway_bridge_remote_write_tenants"); err != nil {
			t.Error(err)
		}
	})
}

// TestTenantsMetrics registers an endpoint with tenants next to one
// without on one registry: same metric names, no conflict, lint clean.
func TestTenantsMetrics(t *testing.T) {
	rc := newReceiver(t)
	reg := prometheus.NewRegistry()
	o := testOptions(t, rc)
	o.Name, o.Registerer = "plain", reg
	q := mustQueue(t, o)
	o = testOptions(t, rc)
	o.Name, o.Registerer = "mt", reg
	tn := mustTenants(t, o, TenantOptions{Label: "team"})
	if _, err := NewTenants(o, TenantOptions{Label: "team"}); err == nil || !strings.Contains(err.Error(), `remote_name "mt"`) {
		t.Errorf("second endpoint named mt: err = %v, want a registration error", err)
	}
	q.Append(floats(2, 1, 0))
	tn.Append(teamCycle([]string{"a", "b"}, 2, 0))
	if err := q.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := tn.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
	want := `
# HELP pushgateway_bridge_remote_write_samples_sent_total Samples (floats, staleness markers and native histograms) acknowledged by the remote endpoint.
# TYPE pushgateway_bridge_remote_write_samples_sent_total counter
pushgateway_bridge_remote_write_samples_sent_total{remote_name="mt",tenant="a"} 2
pushgateway_bridge_remote_write_samples_sent_total{remote_name="mt",tenant="b"} 2
pushgateway_bridge_remote_write_samples_sent_total{remote_name="plain",tenant=""} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "pushgateway_bridge_remote_write_samples_sent_total"); err != nil {
		t.Error(err)
	}
}

// TestDirName pins the directory names of endpoint queues: a change would
// strand what an older bridge left on disk.
func TestDirName(t *testing.T) {
	long := strings.Repeat("x", 100)
	for name, want := range map[string]string{
		"prometheus":     "prometheus-579d3a7b",
		"remote write/1": "remote_write_1-be13ba21",
		long:             long + "-5e0e5d8f", // not cut, unlike a tenant's
	} {
		if got := DirName(name); got != want {
			t.Errorf("DirName(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestTenantDirName(t *testing.T) {
	long := strings.Repeat("x", 200)
	for _, tc := range []struct {
		tenant, prefix string
	}{
		{"team-a", "team-a-"},
		{"Team_A.1", "Team_A.1-"},
		{"a/b", "a_b-"},
		{"a_b", "a_b-"},
		{"..", "..-"},
		{"équipe", "_quipe-"},
		{long, long[:maxSafeLen] + "-"},
	} {
		got := tenantDirName(tc.tenant)
		if !strings.HasPrefix(got, tc.prefix) || len(got) != len(tc.prefix)+8 {
			t.Errorf("tenantDirName(%q) = %q, want %q and 8 hex digits", tc.tenant, got, tc.prefix)
		}
	}
	if tenantDirName("a/b") == tenantDirName("a_b") {
		t.Error("a/b and a_b share a folder")
	}
}

func TestValidTenant(t *testing.T) {
	for s, want := range map[string]bool{
		"team-a": true, "a b": true, "équipe": true, "a\tb": true,
		"": false, " a": false, "a ": false, "\ta": false, "a\nb": false, "a\rb": false, "a\x00": false, "a\x7f": false,
	} {
		if got := ValidTenant(s); got != want {
			t.Errorf("ValidTenant(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestSplitByTenant(t *testing.T) {
	s := func(team string, ts int64) pipeline.Sample {
		if team == "" {
			return pipeline.Sample{Labels: labels.FromStrings("__name__", "m"), T: ts}
		}
		return pipeline.Sample{Labels: labels.FromStrings("__name__", "m", "team", team), T: ts}
	}
	// show renders parts as "tenant:t,t tenant:t".
	show := func(parts []TenantSamples) string {
		var b strings.Builder
		for _, p := range parts {
			fmt.Fprintf(&b, "%s:", p.Tenant)
			for i, x := range p.Samples {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprint(&b, x.T)
			}
			b.WriteByte(' ')
		}
		return strings.TrimSpace(b.String())
	}
	for _, tc := range []struct {
		name    string
		samples []pipeline.Sample
		want    string
	}{
		{"none", nil, ""},
		{"one tenant", []pipeline.Sample{s("a", 0), s("a", 1)}, "a:0,1"},
		{"without the label", []pipeline.Sample{s("", 0), s("a", 1), s("", 2)}, "anon:0,2 a:1"},
		{"interleaved, in order of appearance", []pipeline.Sample{s("b", 0), s("a", 1), s("b", 2), s("c", 3), s("a", 4), s("b", 5)}, "b:0,2,5 a:1,4 c:3"},
		{"first tenant past its run", []pipeline.Sample{s("a", 0), s("a", 1), s("b", 2), s("a", 3), s("a", 4)}, "a:0,1,3,4 b:2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.samples)
			parts := SplitByTenant(tc.samples, "team", "anon")
			if got := show(parts); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
			// Splitting reads samples to the end before anything writes
			// to their array.
			for i := range in {
				if tc.samples[i].T != in[i].T {
					t.Fatalf("samples overwritten: %v, was %v", tc.samples, in)
				}
			}
			if len(parts) == 1 && &parts[0].Samples[0] != &tc.samples[0] {
				t.Error("one tenant: samples copied, want handed on whole")
			}
		})
	}
}

// TestTenantsDiskHealthy: Tenants reports a disk failing while any
// tenant's queue does, naming the tenant, and healthy again after.
func TestTenantsDiskHealthy(t *testing.T) {
	rc := newReceiver(t)
	tn := mustTenants(t, testOptions(t, rc), TenantOptions{Label: "team"})
	if err := tn.Append(teamCycle([]string{"a", "b"}, 2, 0)); err != nil {
		t.Fatal(err)
	}
	if err := tn.DiskHealthy(); err != nil {
		t.Fatalf("DiskHealthy = %v, want nil", err)
	}
	l := tn.snapshot()[1].log // tenant b's
	l.mu.Lock()
	l.werr = errors.New("no space left on device")
	l.mu.Unlock()
	if err := tn.DiskHealthy(); err == nil || !strings.Contains(err.Error(), `tenant "b": no space left on device`) || strings.Contains(err.Error(), `"a"`) {
		t.Errorf("DiskHealthy = %v, want tenant b's error alone", err)
	}
	l.mu.Lock()
	l.werr = nil
	l.mu.Unlock()
	if err := tn.DiskHealthy(); err != nil {
		t.Errorf("DiskHealthy after recovery = %v, want nil", err)
	}
	if err := tn.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

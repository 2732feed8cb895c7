package remotewrite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"golang.org/x/net/http/httpguts"

	"github.com/pushgateway-bridge/pushgateway-bridge/internal/atomicfile"
	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// Defaults of TenantOptions.
const (
	// DefaultTenantHeader is the header Mimir, Cortex and Loki read the
	// tenant from; Thanos receive reads THANOS-TENANT.
	DefaultTenantHeader = "X-Scope-OrgID"
	// DefaultTenant is the tenant of series without the tenant label.
	DefaultTenant = "anonymous"
	// DefaultMaxTenants bounds the tenants with a queue of their own.
	DefaultMaxTenants = 100
)

const (
	// tenantsDir is the folder, under Options.Dir, of the tenants' queues.
	tenantsDir = "tenants"
	// tenantFile, in a tenant's folder, holds the tenant's name: the
	// folder's name is not reversible.
	tenantFile = "tenant"
	// maxSafeLen bounds the readable part of a tenant's folder name, so
	// that long tenant names stay below file name limits.
	maxSafeLen = 64
)

// TenantOptions say how Tenants tells the tenant of a series and names it
// to the endpoint.
type TenantOptions struct {
	// Label is the label whose value names the tenant of a series.
	// Required. It is read from the series as appended, before
	// RelabelConfigs and ExternalLabels, and stays on the series.
	Label string
	// Header carries the tenant in every request. Default
	// DefaultTenantHeader. Options.Headers must not set it.
	Header string
	// Default is the tenant of series without Label, or with it empty.
	// Default DefaultTenant.
	Default string
	// MaxTenants bounds the tenants with a queue, and so the goroutines,
	// files, disk (Options.MaxDiskBytes each) and metric series of the
	// endpoint. Samples of further tenants are dropped under reason
	// "tenant_limit". Tenants with a backlog found on disk at start are
	// resumed even beyond it. Default 100.
	MaxTenants int
}

// Tenants sends samples to one remote write endpoint that keeps tenants
// apart, such as Mimir, Cortex or Thanos receive: each request holds the
// series of one tenant, named in TenantOptions.Header. The tenant of a
// series is its value of TenantOptions.Label.
//
// Append splits every cycle by tenant and hands each part to that tenant's
// own Queue, made on first use: its own on-disk log under
// <Options.Dir>/tenants/<tenant, made safe>-<hash>, shards, retries and
// backoff. A tenant whose requests are rejected (a 400, or a storm of 429
// from per-tenant limits) holds up no other tenant. A series always has the
// same tenant, so its samples stay in order. The label stays on the series,
// as Mimir and Cortex keep it; write_relabel_configs, applied after the
// split, can drop it. Metadata requests and the fallback from 2.0 to 1.0
// are per tenant too.
//
// Metrics: each tenant's queue has the metrics of a Queue, labelled
// remote_name and tenant; samples that reach no tenant's queue are counted
// in samples_dropped_total with tenant "" and reason "tenant_limit",
// "invalid_tenant" or "tenant_open_error"; the tenants gauge counts the
// tenants' queues. MaxTenants bounds the series.
//
// At start, the queues of tenants with samples left on disk are resumed,
// whether or not those tenants push again; those with none are removed, so
// tenants that stopped pushing do not count against MaxTenants for ever.
// The log of a Queue used on Options.Dir before tenants were configured is
// left there untouched, and logged.
//
// Append, Pending, Status and DiskHealthy are safe for concurrent use; Run
// and then Flush are called once each, as for a Queue.
type Tenants struct {
	o      Options // defaults filled in; each tenant's queue's, but Dir, Headers, Logger
	to     TenantOptions
	logger *slog.Logger

	tenants prometheus.Gauge
	dropped *prometheus.CounterVec
	dropLog throttle

	mu      sync.Mutex
	queues  map[string]*Queue
	drops   map[string]int // samples dropped by reason, for Status
	runCtx  context.Context
	stopped bool // Run returned or is returning: start no more queues
	closed  bool // Flush was called: open no more queues
	wg      sync.WaitGroup
}

// NewTenants validates o and to, fills in defaults, registers the
// endpoint's metrics and opens the queues of the tenants that have samples
// on disk. It starts nothing; call Run. o is what each tenant's queue is
// made with, but that each has its own folder under o.Dir, the tenant
// header added to o.Headers, and the tenant in its log lines and metrics.
func NewTenants(o Options, to TenantOptions) (*Tenants, error) {
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	if err := to.setDefaults(o.Name, o.Headers); err != nil {
		return nil, err
	}
	t := &Tenants{
		o:       o,
		to:      to,
		logger:  o.Logger,
		dropLog: throttle{interval: logInterval},
		queues:  map[string]*Queue{},
		drops:   map[string]int{},
	}
	if err := t.registerMetrics(); err != nil {
		return nil, err
	}
	if err := t.openFromDisk(); err != nil {
		for _, q := range t.queues {
			t.closeQueue(q)
		}
		t.unregisterMetrics()
		return nil, err
	}
	t.tenants.Set(float64(len(t.queues)))
	t.warnUntenantedLog()
	return t, nil
}

func (to *TenantOptions) setDefaults(name string, headers map[string]string) error {
	if to.Label == "" {
		return fmt.Errorf("remote write tenant options for %q: Label is required", name)
	}
	if to.Header == "" {
		to.Header = DefaultTenantHeader
	}
	if !httpguts.ValidHeaderFieldName(to.Header) {
		return fmt.Errorf("remote write tenant options for %q: Header %q is not a valid header name", name, to.Header)
	}
	for h := range headers {
		if strings.EqualFold(h, to.Header) {
			return fmt.Errorf("remote write tenant options for %q: Headers set %q, the tenant header", name, h)
		}
	}
	if to.Default == "" {
		to.Default = DefaultTenant
	}
	if !ValidTenant(to.Default) {
		return fmt.Errorf("remote write tenant options for %q: Default %q is not a valid tenant", name, to.Default)
	}
	if to.MaxTenants < 0 {
		return fmt.Errorf("remote write tenant options for %q: MaxTenants must not be negative, got %d", name, to.MaxTenants)
	}
	if to.MaxTenants == 0 {
		to.MaxTenants = DefaultMaxTenants
	}
	return nil
}

func (t *Tenants) registerMetrics() error {
	f := promauto.With(nil)
	t.tenants = f.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: subsystem, Name: "tenants",
		ConstLabels: prometheus.Labels{"remote_name": t.o.Name},
		Help:        "Tenants of the endpoint with a queue of their own.",
	})
	t.dropped = f.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: subsystem, Name: "samples_dropped_total",
		ConstLabels: constLabels(t.o.Name, ""), Help: samplesDroppedHelp,
	}, []string{"reason"})
	if t.o.Registerer == nil {
		return nil
	}
	if err := register(t.o.Registerer, []prometheus.Collector{t.tenants, t.dropped}); err != nil {
		return fmt.Errorf("register metrics for remote_name %q: %w", t.o.Name, err)
	}
	return nil
}

func (t *Tenants) unregisterMetrics() {
	if t.o.Registerer != nil {
		t.o.Registerer.Unregister(t.tenants)
		t.o.Registerer.Unregister(t.dropped)
	}
}

// openFromDisk opens the queues of the tenants found under Dir with samples
// left to send, and removes the folders of the others.
func (t *Tenants) openFromDisk() error {
	root := filepath.Join(t.o.Dir, tenantsDir)
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remote write queue %q: read tenants directory: %w", t.o.Name, err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, tenantFile))
		tenant := string(b)
		if err != nil || !ValidTenant(tenant) || tenantDirName(tenant) != e.Name() {
			// Not a folder this code wrote whole; keep it for a human.
			t.logger.Warn("remote write tenant queue directory without a valid tenant file, skipped",
				"dir", dir, "err", err)
			continue
		}
		q, err := t.newQueue(tenant, dir)
		if err != nil {
			return err
		}
		if q.Pending() > 0 {
			t.queues[tenant] = q
			continue
		}
		t.closeQueue(q)
		if err := os.RemoveAll(dir); err != nil {
			t.logger.Warn("remove idle remote write tenant queue", "tenant", tenant, "err", err)
		}
	}
	if len(t.queues) > 0 {
		t.logger.Info("remote write tenant queues resumed with samples on disk", "tenants", len(t.queues))
	}
	return nil
}

// warnUntenantedLog logs samples left in Dir by a Queue, before tenants
// were configured: they stay there, neither sent nor deleted.
func (t *Tenants) warnUntenantedLog() {
	segs, _ := filepath.Glob(filepath.Join(t.o.Dir, "*"+segmentSuffix))
	if len(segs) == 0 {
		return
	}
	l, err := openLog(t.o.Dir, t.o.MaxDiskBytes)
	if err != nil {
		return
	}
	if n := l.pendingUnread(); n > 0 {
		t.logger.Warn("remote write queue from before tenant_label was set left unsent on disk", "dir", t.o.Dir, "samples", n)
	}
	_ = l.close()
}

// newQueue makes the queue of tenant in dir.
func (t *Tenants) newQueue(tenant, dir string) (*Queue, error) {
	o := t.o
	o.tenant = tenant
	o.Dir = dir
	o.Headers = maps.Clone(t.o.Headers)
	if o.Headers == nil {
		o.Headers = map[string]string{}
	}
	o.Headers[t.to.Header] = tenant
	o.Logger = t.logger.With("tenant", tenant)
	q, err := NewQueue(o)
	if err != nil {
		return nil, fmt.Errorf("tenant %q: %w", tenant, err)
	}
	return q, nil
}

// closeQueue closes a queue that never ran and removes its metrics.
func (t *Tenants) closeQueue(q *Queue) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = q.Flush(ctx)
	q.m.unregister(t.o.Registerer)
}

// Append splits samples by tenant and writes each tenant's part to that
// tenant's queue, as Queue.Append does, one tenant after the other; making
// a tenant's queue writes folders and a file too. Like Queue.Append it
// blocks on the disk, never on the network, and returns once every part is
// on disk. It reads the samples into a copy of the cycle split by tenant.
// Samples that reach no tenant's queue are dropped and counted; the error
// joins what each tenant's Append returned and says how many reached no
// queue, nil if every sample was written.
func (t *Tenants) Append(samples pipeline.Samples) error {
	n := samples.Len()
	if n == 0 {
		return nil
	}
	parts := SplitByTenant(samples.AppendTo(make([]pipeline.Sample, 0, n), 0, n), t.to.Label, t.to.Default)
	type delivery struct {
		tenant  string
		q       *Queue
		samples []pipeline.Sample
	}
	var (
		out  []delivery
		errs []error
	)
	t.mu.Lock()
	for _, p := range parts {
		q, reason, err := t.queueLocked(p.Tenant)
		if q == nil {
			t.dropLocked(reason, p.Tenant, len(p.Samples), err)
			errs = append(errs, fmt.Errorf("tenant %q: %d samples dropped (%s): %w", p.Tenant, len(p.Samples), reason, err))
			continue
		}
		out = append(out, delivery{p.Tenant, q, p.Samples})
	}
	t.mu.Unlock()
	for _, d := range out {
		if err := d.q.Append(pipeline.SampleSlice(d.samples)); err != nil {
			errs = append(errs, fmt.Errorf("tenant %q: %w", d.tenant, err))
		}
	}
	return errors.Join(errs...)
}

// DiskHealthy returns nil while every tenant's on-disk queue can be written
// and read, and otherwise the errors of those that cannot, by tenant (see
// Queue.DiskHealthy). Safe for concurrent use.
func (t *Tenants) DiskHealthy() error {
	t.mu.Lock()
	tenants := slices.Sorted(maps.Keys(t.queues))
	qs := make([]*Queue, len(tenants))
	for i, tenant := range tenants {
		qs[i] = t.queues[tenant]
	}
	t.mu.Unlock()
	var errs []error
	for i, q := range qs {
		if err := q.DiskHealthy(); err != nil {
			errs = append(errs, fmt.Errorf("tenant %q: %w", tenants[i], err))
		}
	}
	return errors.Join(errs...)
}

// TenantSamples are the samples of one tenant.
type TenantSamples struct {
	Tenant  string
	Samples []pipeline.Sample
}

// SplitByTenant splits samples by tenant as Tenants.Append does, for a
// caller that wants to show what each tenant would receive: the tenant of
// a sample is its value of label, def if it has none or "". Tenants come in
// the order they first appear in samples, each sample in its order. It
// takes ownership of samples: a part may share its array.
func SplitByTenant(samples []pipeline.Sample, label, def string) []TenantSamples {
	tenantOf := func(s pipeline.Sample) string {
		if v := s.Labels.Get(label); v != "" {
			return v
		}
		return def
	}
	if len(samples) == 0 {
		return nil
	}
	// Most cycles, or endpoints, hold one tenant: hand samples on whole.
	out := []TenantSamples{{Tenant: tenantOf(samples[0])}}
	var index map[string]int // tenant -> place in out, once there are two
	for i, s := range samples {
		tenant := tenantOf(s)
		switch {
		case index == nil && tenant == out[0].Tenant:
			continue
		case index == nil:
			// Capped, so that appending copies rather than overwrite
			// what is still to be read.
			out[0].Samples = samples[:i:i]
			index = map[string]int{out[0].Tenant: 0}
		}
		j, ok := index[tenant]
		if !ok {
			j = len(out)
			index[tenant] = j
			out = append(out, TenantSamples{Tenant: tenant})
		}
		out[j].Samples = append(out[j].Samples, s)
	}
	if index == nil {
		out[0].Samples = samples
	}
	return out
}

// queueLocked returns the queue of tenant, made and started if new, or the
// reason why there is none. t.mu is held.
func (t *Tenants) queueLocked(tenant string) (*Queue, string, error) {
	if q, ok := t.queues[tenant]; ok {
		return q, "", nil
	}
	if t.closed {
		return nil, reasonTenantOpen, errors.New("flushed already")
	}
	if !ValidTenant(tenant) {
		return nil, reasonInvalidTenant, errors.New("tenant has characters no header can carry, or leading or trailing spaces")
	}
	if len(t.queues) >= t.to.MaxTenants {
		return nil, reasonTenantLimit, fmt.Errorf("endpoint has %d tenants, the most allowed", len(t.queues))
	}
	dir := filepath.Join(t.o.Dir, tenantsDir, tenantDirName(tenant))
	if err := writeTenantFile(dir, tenant); err != nil {
		return nil, reasonTenantOpen, err
	}
	q, err := t.newQueue(tenant, dir)
	if err != nil {
		return nil, reasonTenantOpen, err
	}
	t.queues[tenant] = q
	t.tenants.Set(float64(len(t.queues)))
	t.startLocked(q)
	return q, "", nil
}

// startLocked runs q if Run is running. t.mu is held.
func (t *Tenants) startLocked(q *Queue) {
	if t.runCtx == nil || t.stopped {
		return
	}
	ctx := t.runCtx
	t.wg.Go(func() { _ = q.Run(ctx) })
}

func (t *Tenants) dropLocked(reason, tenant string, n int, err error) {
	t.dropped.WithLabelValues(reason).Add(float64(n))
	t.drops[reason] += n
	if ok, suppressed := t.dropLog.allow(t.o.Now()); ok {
		t.logger.Error("remote write dropped samples of a tenant without a queue",
			"reason", reason, "tenant", tenant, "samples", n, "err", err, "suppressed_logs", suppressed)
	}
}

// Run runs every tenant's queue, and those made while it runs, until ctx
// ends; then it returns nil once they have all returned.
func (t *Tenants) Run(ctx context.Context) error {
	t.mu.Lock()
	t.runCtx = ctx
	for _, q := range t.queues {
		t.startLocked(q)
	}
	t.mu.Unlock()
	<-ctx.Done()
	t.mu.Lock()
	t.stopped = true
	t.mu.Unlock()
	t.wg.Wait()
	return nil
}

// Flush flushes every tenant's queue at once, as Queue.Flush does, and
// returns their errors joined. Call it once, after Run returned.
func (t *Tenants) Flush(ctx context.Context) error {
	t.mu.Lock()
	t.closed = true
	tenants := slices.Sorted(maps.Keys(t.queues))
	qs := make([]*Queue, len(tenants))
	for i, tenant := range tenants {
		qs[i] = t.queues[tenant]
	}
	t.mu.Unlock()
	errs := make([]error, len(qs))
	var wg sync.WaitGroup
	for i, q := range qs {
		wg.Go(func() {
			if err := q.Flush(ctx); err != nil {
				errs[i] = fmt.Errorf("tenant %q: %w", tenants[i], err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Pending returns the samples of all tenants not yet acknowledged or
// dropped.
func (t *Tenants) Pending() int {
	n := 0
	for _, q := range t.snapshot() {
		n += q.Pending()
	}
	return n
}

// Status sums up the tenants' queues: Pending, DiskBytes, Shards and
// Dropped (with the samples that reached no tenant's queue) are totals,
// LastSuccess is the latest, Message is MessageV1 once any tenant fell back
// to it. Tenants holds each tenant's status, by tenant.
func (t *Tenants) Status() QueueStatus {
	st := QueueStatus{
		Name:    t.o.Name,
		Message: t.o.Message,
		Tenants: []QueueStatus{},
	}
	t.mu.Lock()
	st.Dropped = maps.Clone(t.drops)
	t.mu.Unlock()
	for _, q := range t.snapshot() {
		qs := q.Status()
		st.Tenants = append(st.Tenants, qs)
		st.Pending += qs.Pending
		st.DiskBytes += qs.DiskBytes
		st.Shards += qs.Shards
		if qs.LastSuccess.After(st.LastSuccess) {
			st.LastSuccess = qs.LastSuccess
		}
		if qs.Message == MessageV1 {
			st.Message = MessageV1
		}
		for r, n := range qs.Dropped {
			st.Dropped[r] += n
		}
	}
	return st
}

// snapshot returns the tenants' queues, by tenant.
func (t *Tenants) snapshot() []*Queue {
	t.mu.Lock()
	defer t.mu.Unlock()
	qs := make([]*Queue, 0, len(t.queues))
	for _, tenant := range slices.Sorted(maps.Keys(t.queues)) {
		qs = append(qs, t.queues[tenant])
	}
	return qs
}

// tenantDirName is the folder name of a tenant's queue: its safe
// characters, at most maxSafeLen of them, and a hash of the whole name, so
// that two tenants never share a folder but by a hash collision, which the
// tenant file detects.
func tenantDirName(tenant string) string {
	return safeDirName(tenant, maxSafeLen)
}

// writeTenantFile creates dir with the tenant file naming tenant, durably,
// before the queue writes anything there; or checks the file of a folder
// that exists.
func writeTenantFile(dir, tenant string) error {
	path := filepath.Join(dir, tenantFile)
	b, err := os.ReadFile(path)
	if err == nil {
		if string(b) != tenant {
			return fmt.Errorf("tenant queue directory %s belongs to tenant %q", dir, b)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read tenant file: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create tenant queue directory: %w", err)
	}
	if err := atomicfile.WriteBytes(path, true, []byte(tenant)); err != nil {
		return fmt.Errorf("write tenant file: %w", err)
	}
	return nil
}

// ValidTenant tells whether s can name a tenant in a request header as it
// is: not empty, no control characters, no spaces at either end (the HTTP
// client would trim them). Receivers may restrict it further (Mimir allows
// letters, digits and !-_.*'() up to 150 bytes) and reject the requests of
// other tenants, which are then dropped and counted as for any 4xx.
func ValidTenant(s string) bool {
	if s == "" || s[0] == ' ' || s[0] == '\t' || s[len(s)-1] == ' ' || s[len(s)-1] == '\t' {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// Package remotewrite delivers samples to a Prometheus remote-write
// endpoint: relabeling, encoding, batching, the on-disk queue, sharded
// sending and retries.
//
// One Queue serves one endpoint. Append hands it a cycle's samples and
// returns at once; a writer goroutine reads them a request's worth at a
// time, without copying the cycle, relabels them, adds the external labels,
// spreads the series over shards by their hash, encodes each shard's part
// into requests of at most MaxSamplesPerSend samples (remote write 1.0, or
// 2.0 when asked for) and appends the requests to a bounded on-disk log.
// Senders take requests from the log in order and acknowledge them; what
// cannot be sent waits there, survives kill -9 and restarts, and is replayed
// oldest first. When the log is full, its oldest requests are dropped and
// counted.
//
// Order: a series always maps to the same shard, and one shard's requests
// are sent one at a time in log order, so a series' samples leave in the
// order they were appended. Requests of one Append hold disjoint series and
// go out in parallel. When the number of shards changes, requests encoded
// for the old number finish before those for the new number start.
//
// Failures are handled as Prometheus does (storage/remote client.go and
// queue_manager.go): network errors, timeouts, 5xx and 429 are retried with
// doubling backoff, honouring Retry-After, until they succeed or the queue
// stops; any other status drops the request and counts it by reason. A 2.0
// endpoint that answers 415, or a 2xx without the written-samples headers,
// does not speak 2.0: the queue falls back to 1.0 for it, says so once, and
// re-encodes what it had queued as 2.0.
//
// An endpoint that keeps tenants apart (Mimir, Cortex, Thanos receive) is
// served by Tenants instead: it splits each Append by a tenant label and
// hands each tenant's part to a Queue of its own, with the tenant in a
// header, so that one tenant's rejections or rate limits hold up no other.
package remotewrite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/prometheus/prometheus/prompb"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// Message names a remote-write protobuf message.
type Message string

// The remote-write messages a Queue can send.
const (
	MessageV1 Message = "prometheus.WriteRequest"
	MessageV2 Message = "io.prometheus.write.v2.Request"
)

// Options configure a Queue. Zero durations and sizes take the documented
// defaults; negative ones are errors.
type Options struct {
	// URL is the remote write endpoint. It is logged only redacted and
	// never used as a metric label: it may hold credentials.
	URL *url.URL
	// Name is the remote_name label value of the queue's metrics and log
	// lines. Required; queues sharing a Registerer need distinct names.
	Name string
	// Dir holds the on-disk queue. Required; one directory per queue.
	Dir string
	// MaxDiskBytes bounds the on-disk queue. Default 1 GiB.
	MaxDiskBytes int64
	// Client sends the requests. Required; the caller builds it (TLS,
	// auth, proxy). Per-attempt timeouts come from Timeout, not the client.
	Client *http.Client
	// Headers are added to every request (e.g. X-Scope-OrgID).
	Headers map[string]string
	// Message is the protobuf message to send; MessageV1 if empty.
	Message Message
	// ExternalLabels are added to every series that lacks them, after
	// RelabelConfigs are applied.
	ExternalLabels labels.Labels
	// RelabelConfigs are applied to every series before it is queued, as
	// Prometheus' write_relabel_configs.
	RelabelConfigs []*relabel.Config
	// Timeout bounds one attempt, response included. Default 30s.
	Timeout time.Duration
	// MaxSamplesPerSend bounds the samples in one request. Default 10000.
	MaxSamplesPerSend int
	// Capacity bounds, per shard, the samples appended but not yet written
	// to disk; beyond Capacity*MaxShards, Append drops the cycle and counts
	// it under reason "append_backlog". Default 10000.
	Capacity int
	// MinShards and MaxShards bound the number of requests in flight; the
	// queue adapts between them to keep up. Defaults 1 and 50.
	MinShards, MaxShards int
	// MinBackoff is the first wait after a recoverable failure; it doubles
	// on each further failure of the same request up to MaxBackoff.
	// Defaults 30ms and 5s.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// RetryOnHTTP429 retries requests rejected with 429 Too Many Requests
	// instead of dropping them.
	RetryOnHTTP429 bool
	// Metadata configures sending metric metadata with remote write 1.0;
	// 2.0 carries it in every request.
	Metadata MetadataOptions
	// UserAgent is sent with every request, e.g. "pushgateway-bridge/0.1.0".
	UserAgent string
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Registerer receives the queue's metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Now is the clock that HTTP-date Retry-After values are measured
	// against, and that paces throttled logs. Default time.Now.
	Now func() time.Time

	// tenant is the tenant label value of the queue's metrics: set by
	// Tenants for the queues it makes, "" otherwise.
	tenant string
}

// MetadataOptions configure metadata requests of remote write 1.0.
type MetadataOptions struct {
	// Send enables them.
	Send bool
	// Interval between two rounds. Default 1m.
	Interval time.Duration
	// MaxPerSend bounds the metadata entries in one request. Default 2000.
	MaxPerSend int
}

// Defaults for zero Options fields, as documented there.
const (
	defaultTimeout           = 30 * time.Second
	defaultMaxSamplesPerSend = 10000
	defaultCapacity          = 10000
	defaultMinShards         = 1
	defaultMaxShards         = 50
	defaultMaxDiskBytes      = 1 << 30
	defaultMinBackoff        = 30 * time.Millisecond
	defaultMaxBackoff        = 5 * time.Second
	defaultMetadataInterval  = time.Minute
	defaultMetadataPerSend   = 2000
)

// maxRetryAfter caps the wait a Retry-After header can ask for (unless
// MaxBackoff is longer). Prometheus honours the header uncapped; a cap keeps
// a bogus far-future date from parking the queue for hours while still
// respecting ordinary rate-limit windows.
const maxRetryAfter = 5 * time.Minute

// logInterval is the least time between two log lines of one kind per queue.
const logInterval = 10 * time.Second

// shardUpdateInterval is how often the number of shards is reconsidered.
const shardUpdateInterval = 10 * time.Second

// Queue sends samples to one remote write endpoint. Append and Pending are
// safe for concurrent use; Run and then Flush are called once each.
type Queue struct {
	o      Options
	m      *metrics
	logger *slog.Logger
	log    *diskLog

	retryLog, dropLog, fullLog throttle

	// in carries appended cycles to the writer; inSamples counts the
	// samples in it, bounded by Capacity*MaxShards.
	in        chan pipeline.Samples
	inSamples atomic.Int64
	// wmu serializes writing to the log (the writer loop and Flush).
	wmu       sync.Mutex
	appendSeq uint64
	enc       *encoder
	encV2     *encoderV2
	// cache holds, by position in the last cycle written, what relabeling
	// made of each series (see prepare).
	cache []seriesCache
	lb    labels.Builder
	// chunk and pending are the writer's buffers: the piece of the cycle
	// being read, and per shard the samples of the next request.
	chunk   []pipeline.Sample
	pending [][]pipeline.Sample

	// v1 is set once a 2.0 endpoint turned out not to speak 2.0.
	v1 atomic.Bool
	// shards is the current number of shards: the spread of new requests
	// and the requests in flight at most.
	shards atomic.Int32

	// Rates for the shard calculation.
	samplesIn, samplesOut, busyNanos atomic.Int64

	mu       sync.Mutex
	inflight []*flight // read from the log, in log order, not yet committed
	cond     *sync.Cond
	sending  int   // flights started and not done
	highestT int64 // highest timestamp acknowledged
	// For Status.
	lastSuccess time.Time
	dropped     map[string]int

	metaMu   sync.Mutex
	metadata map[string]prompb.MetricMetadata // family -> metadata, from the last cycle
}

// flight is a request read from the log.
type flight struct {
	rec  *record
	end  logPos
	done bool
}

// NewQueue validates o, fills in defaults, opens the on-disk queue and
// registers the queue's metrics. It starts nothing; call Run. Registering a
// second queue of the same Name on one Registerer is an error, not a panic.
func NewQueue(o Options) (*Queue, error) {
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	m, err := newMetrics(o.Registerer, o.Name, o.tenant)
	if err != nil {
		return nil, fmt.Errorf("remote write queue %q: %w", o.Name, err)
	}
	l, err := openLogWith(o.Dir, o.MaxDiskBytes, logOptions{logger: o.Logger, m: m, now: o.Now})
	if err != nil {
		m.unregister(o.Registerer)
		return nil, fmt.Errorf("remote write queue %q: %w", o.Name, err)
	}
	q := &Queue{
		o:        o,
		m:        m,
		logger:   o.Logger,
		log:      l,
		retryLog: throttle{interval: logInterval},
		dropLog:  throttle{interval: logInterval},
		fullLog:  throttle{interval: logInterval},
		// Bounded by samples (Capacity*MaxShards), not by cycles.
		in:       make(chan pipeline.Samples, 1024),
		enc:      newEncoder(),
		encV2:    newEncoderV2(),
		highestT: minInt64,
		// Requests from before a restart are still in the log: new ones
		// must not pass for parts of the same Append (see startable).
		appendSeq: l.lastSeq,
		dropped:   map[string]int{},
	}
	q.cond = sync.NewCond(&q.mu)
	q.shards.Store(int32(o.MinShards))
	q.m.shards.Set(float64(o.MinShards))
	q.m.diskBytes.Set(float64(l.size()))
	q.m.pendingSamples.Set(float64(l.pendingUnread()))
	return q, nil
}

func (o *Options) setDefaults() error {
	if o.URL == nil {
		return errors.New("remote write options: URL is required")
	}
	if o.URL.Scheme != "http" && o.URL.Scheme != "https" {
		return fmt.Errorf("remote write options: URL %s: scheme must be http or https", o.URL.Redacted())
	}
	if o.URL.Host == "" {
		return fmt.Errorf("remote write options: URL %s: host is missing", o.URL.Redacted())
	}
	if o.Name == "" {
		return errors.New("remote write options: Name is required")
	}
	if o.Client == nil {
		return fmt.Errorf("remote write options for %q: Client is required", o.Name)
	}
	if o.Dir == "" {
		return fmt.Errorf("remote write options for %q: Dir is required", o.Name)
	}
	switch o.Message {
	case "":
		o.Message = MessageV1
	case MessageV1, MessageV2:
	default:
		return fmt.Errorf("remote write options for %q: unknown Message %q", o.Name, o.Message)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"Timeout", &o.Timeout, defaultTimeout},
		{"MinBackoff", &o.MinBackoff, defaultMinBackoff},
		{"MaxBackoff", &o.MaxBackoff, defaultMaxBackoff},
		{"Metadata.Interval", &o.Metadata.Interval, defaultMetadataInterval},
	} {
		if *d.v < 0 {
			return fmt.Errorf("remote write options for %q: %s must not be negative, got %s", o.Name, d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	for _, n := range []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxSamplesPerSend", &o.MaxSamplesPerSend, defaultMaxSamplesPerSend},
		{"Capacity", &o.Capacity, defaultCapacity},
		{"MinShards", &o.MinShards, defaultMinShards},
		{"MaxShards", &o.MaxShards, defaultMaxShards},
		{"Metadata.MaxPerSend", &o.Metadata.MaxPerSend, defaultMetadataPerSend},
	} {
		if *n.v < 0 {
			return fmt.Errorf("remote write options for %q: %s must not be negative, got %d", o.Name, n.name, *n.v)
		}
		if *n.v == 0 {
			*n.v = n.def
		}
	}
	if o.MaxDiskBytes < 0 {
		return fmt.Errorf("remote write options for %q: MaxDiskBytes must not be negative, got %d", o.Name, o.MaxDiskBytes)
	}
	if o.MaxDiskBytes == 0 {
		o.MaxDiskBytes = defaultMaxDiskBytes
	}
	if o.MinBackoff > o.MaxBackoff {
		return fmt.Errorf("remote write options for %q: MinBackoff %s exceeds MaxBackoff %s", o.Name, o.MinBackoff, o.MaxBackoff)
	}
	if o.MinShards > o.MaxShards || o.MaxShards > math.MaxUint16 {
		return fmt.Errorf("remote write options for %q: MinShards %d and MaxShards %d must satisfy MinShards <= MaxShards <= %d", o.Name, o.MinShards, o.MaxShards, math.MaxUint16)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Append queues a cycle's samples for sending and returns at once. The
// queue reads them later, from its writer: they must not change until
// Pending no longer counts them (their requests are on disk), and Append
// never modifies them. Samples of one series must be appended in timestamp
// order, and one call holds each series at most once; they are sent in that
// order. If more than Capacity*MaxShards samples wait to be written to
// disk, the cycle is dropped and counted under reason "append_backlog".
func (q *Queue) Append(samples pipeline.Samples) {
	n := int64(samples.Len())
	if n == 0 {
		return
	}
	if q.inSamples.Load()+n > int64(q.o.Capacity)*int64(q.o.MaxShards) && q.inSamples.Load() > 0 {
		q.dropAppend(int(n))
		return
	}
	q.inSamples.Add(n)
	select {
	case q.in <- samples:
		q.samplesIn.Add(n)
	default:
		q.inSamples.Add(-n)
		q.dropAppend(int(n))
	}
}

func (q *Queue) dropAppend(n int) {
	q.m.samplesDropped.WithLabelValues(reasonAppendBacklog).Add(float64(n))
	if ok, suppressed := q.fullLog.allow(q.o.Now()); ok {
		q.logger.Warn("remote write queue cannot write to disk fast enough, dropped a cycle",
			"dropped", n, "suppressed_logs", suppressed)
	}
}

// QueueStatus is what the status page shows of a queue, or of the queues of
// an endpoint with tenants (see Tenants.Status).
type QueueStatus struct {
	Name string
	// Tenant is the tenant of a queue made by Tenants, "" otherwise.
	Tenant string
	// Message is what the queue sends now: MessageV1 after a fallback.
	Message     Message
	LastSuccess time.Time // zero if nothing was acknowledged yet
	Pending     int
	DiskBytes   int64
	Shards      int
	// Dropped counts the samples given up since the start, by reason.
	Dropped map[string]int
	// Tenants holds the status of each tenant's queue, by tenant, for an
	// endpoint with tenants; nil otherwise.
	Tenants []QueueStatus
}

// Status returns the queue's current state. Safe for concurrent use.
func (q *Queue) Status() QueueStatus {
	st := QueueStatus{
		Name:      q.o.Name,
		Tenant:    q.o.tenant,
		Message:   q.o.Message,
		Pending:   q.Pending(),
		DiskBytes: q.log.size(),
		Shards:    int(q.shards.Load()),
	}
	if q.v1.Load() {
		st.Message = MessageV1
	}
	q.mu.Lock()
	st.LastSuccess = q.lastSuccess
	st.Dropped = maps.Clone(q.dropped)
	q.mu.Unlock()
	return st
}

// Pending returns the samples not yet acknowledged or dropped: waiting in
// memory or on disk, and in flight.
func (q *Queue) Pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pendingLocked()
}

// pendingLocked is Pending with q.mu held.
func (q *Queue) pendingLocked() int {
	// In this order: a cycle is appended to the log before it leaves
	// inSamples, and a request read from the log joins inflight under mu.
	n := int(q.inSamples.Load())
	for _, f := range q.inflight {
		if !f.done {
			n += int(f.rec.samples)
		}
	}
	return n + q.log.pendingUnread()
}

// Run writes appended samples to the on-disk queue and sends them until ctx
// ends, then returns nil. Requests in flight when ctx ends stay on disk, to
// be sent by Flush or after a restart.
func (q *Queue) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { q.writeLoop(ctx) })
	wg.Go(func() { q.shardLoop(ctx) })
	if q.o.Metadata.Send {
		// Also for 2.0: after a fallback to 1.0, metadata goes separately.
		wg.Go(func() { q.metadataLoop(ctx) })
	}
	q.dispatch(ctx, false)
	wg.Wait()
	return nil
}

// Flush writes what was appended to the on-disk queue, sends everything
// until nothing is left or ctx ends, and closes the queue. It returns an
// error naming how many samples were left unsent; they stay on disk for the
// next start. Call it once, after Run returned.
func (q *Queue) Flush(ctx context.Context) error {
	q.drainIn()
	q.dispatch(ctx, true)
	left := q.Pending()
	cerr := q.log.close()
	q.m.diskBytes.Set(float64(q.log.size()))
	if left > 0 {
		return errors.Join(fmt.Errorf("flush remote write queue %q: %d samples left unsent on disk: %w", q.o.Name, left, context.Cause(ctx)), cerr)
	}
	return cerr
}

// writeLoop writes appended cycles to the log until ctx ends.
func (q *Queue) writeLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-q.in:
			q.write(s)
		}
	}
}

// drainIn writes every cycle waiting in memory.
func (q *Queue) drainIn() {
	for {
		select {
		case s := <-q.in:
			q.write(s)
		default:
			return
		}
	}
}

// write relabels one cycle's samples, spreads them over the shards, encodes
// and appends the requests to the log. It reads the cycle a request's worth
// at a time: besides the cycle, which it does not copy, it holds at most one
// request's worth of samples per shard.
func (q *Queue) write(samples pipeline.Samples) {
	q.wmu.Lock()
	defer q.wmu.Unlock()

	n := samples.Len()
	shards := int(q.shards.Load())
	q.appendSeq++
	format := formatV1
	if q.o.Message == MessageV2 && !q.v1.Load() {
		format = formatV2
	}
	q.startPrepare(n)
	var meta metadataNote
	if q.o.Metadata.Send {
		meta = metadataNote{families: map[string]prompb.MetricMetadata{}, seen: map[*metadata.Metadata]bool{}}
	}
	if cap(q.pending) < shards {
		q.pending = make([][]pipeline.Sample, shards)
	}
	pending := q.pending[:shards]
	per := q.o.MaxSamplesPerSend
	for from := 0; from < n; from += per {
		to := min(from+per, n)
		q.chunk = samples.AppendTo(q.chunk[:0], from, to)
		kept := q.prepare(q.chunk, from)
		meta.add(kept)
		for i := range kept {
			shard := 0
			if shards > 1 {
				shard = int(kept[i].Hash % uint64(shards))
			}
			if pending[shard] == nil {
				pending[shard] = make([]pipeline.Sample, 0, per)
			}
			pending[shard] = append(pending[shard], kept[i])
			if len(pending[shard]) == per {
				q.appendRecord(pending[shard], format, shard, shards)
				clear(pending[shard])
				pending[shard] = pending[shard][:0]
			}
		}
		clear(q.chunk)
	}
	for shard, part := range pending {
		if len(part) > 0 {
			q.appendRecord(part, format, shard, shards)
			clear(part)
			pending[shard] = part[:0]
		}
	}
	if meta.families != nil {
		q.metaMu.Lock()
		q.metadata = meta.families
		q.metaMu.Unlock()
	}
	q.inSamples.Add(-int64(n))
	q.m.diskBytes.Set(float64(q.log.size()))
	q.m.pendingSamples.Set(float64(q.Pending()))
}

func (q *Queue) appendRecord(batch []pipeline.Sample, format byte, shard, shards int) {
	var (
		body []byte
		st   encodeStats
		err  error
	)
	if format == formatV2 {
		body, st, err = q.encV2.encode(batch)
	} else {
		body, st, err = q.enc.encode(batch)
	}
	if err != nil {
		q.drop(reasonEncode, len(batch), err)
		return
	}
	dropped, err := q.log.append(&record{
		format:     format,
		shard:      uint16(shard),
		shards:     uint16(shards),
		appendSeq:  q.appendSeq,
		samples:    uint32(st.samples),
		histograms: uint32(st.histograms),
		highestT:   st.highestT,
		body:       body,
	})
	if dropped > 0 {
		q.m.samplesDropped.WithLabelValues(reasonQueueFull).Add(float64(dropped))
		if ok, suppressed := q.fullLog.allow(q.o.Now()); ok {
			q.logger.Warn("remote write disk queue full, dropped the oldest samples",
				"dropped", dropped, "max_bytes", q.o.MaxDiskBytes, "suppressed_logs", suppressed)
		}
	}
	if err != nil {
		q.drop(diskDropReason(err), len(batch), err)
	}
}

// seriesCache is what relabeling made of a series in the last cycle: the
// series' labels as appended (in) and as sent (out, with its hash), and
// whether relabeling kept it.
type seriesCache struct {
	in, out labels.Labels
	hash    uint64
	keep    bool
	valid   bool
}

// startPrepare readies prepare for a cycle of n samples.
func (q *Queue) startPrepare(n int) {
	if len(q.o.RelabelConfigs) == 0 && q.o.ExternalLabels.IsEmpty() {
		q.cache = nil
		return
	}
	if cap(q.cache) < n {
		q.cache = slices.Grow(q.cache[:0], n)
	}
	clear(q.cache[n:cap(q.cache)])
	q.cache = q.cache[:n]
}

// prepare applies the relabel configs and external labels to the samples of
// a cycle from position from on, in place, and returns the ones kept, each
// with its hash.
//
// Without relabel configs and external labels a series is sent as it was
// appended, and nothing is kept per series: only its hash is filled in if
// the caller did not know it.
//
// Cycles of a Pushgateway repeat the same series in the same order, so with
// relabeling the queue remembers, by position, what it made of each series
// the last time: a sample whose labels are those at its place last time
// (most often the very same string, which compares without reading it) is
// neither relabeled nor hashed again. Any other sample is, and takes the
// place.
func (q *Queue) prepare(samples []pipeline.Sample, from int) []pipeline.Sample {
	if q.cache == nil {
		for i := range samples {
			samples[i].LabelsHash()
		}
		return samples
	}
	kept := samples[:0]
	for i := range samples {
		s := samples[i]
		c := &q.cache[from+i]
		if !c.valid || !labels.Equal(c.in, s.Labels) {
			*c = seriesCache{in: s.Labels, valid: true}
			c.out, c.keep = relabelOne(&q.lb, s.Labels, q.o.RelabelConfigs, q.o.ExternalLabels)
			c.hash = c.out.Hash()
		}
		if !c.keep {
			continue
		}
		s.Labels, s.Hash = c.out, c.hash
		kept = append(kept, s)
	}
	return kept
}

// Relabel returns samples as a Queue with these options queues them:
// write_relabel_configs applied, dropped series left out, then every
// external label a series lacks added. --dry-run shows what it gives.
func Relabel(samples []pipeline.Sample, cfgs []*relabel.Config, external labels.Labels) []pipeline.Sample {
	var lb labels.Builder
	return appendRelabeled(make([]pipeline.Sample, 0, len(samples)), &lb, samples, cfgs, external)
}

func appendRelabeled(dst []pipeline.Sample, lb *labels.Builder, samples []pipeline.Sample, cfgs []*relabel.Config, external labels.Labels) []pipeline.Sample {
	for _, s := range samples {
		var keep bool
		if s.Labels, keep = relabelOne(lb, s.Labels, cfgs, external); keep {
			s.Hash = 0
			dst = append(dst, s)
		}
	}
	return dst
}

// relabelOne applies the relabel configs to ls, then adds every external
// label it lacks; false means the series is dropped.
func relabelOne(lb *labels.Builder, ls labels.Labels, cfgs []*relabel.Config, external labels.Labels) (labels.Labels, bool) {
	lb.Reset(ls)
	if len(cfgs) > 0 && !relabel.ProcessBuilder(lb, cfgs...) {
		return labels.EmptyLabels(), false
	}
	external.Range(func(l labels.Label) {
		if lb.Get(l.Name) == "" {
			lb.Set(l.Name, l.Value)
		}
	})
	return lb.Labels(), true
}

// dispatch reads requests from the log and sends them, as many at a time as
// there are shards and as order allows. It returns when ctx ends, or, with
// untilEmpty, when everything in the log was acknowledged or dropped.
func (q *Queue) dispatch(ctx context.Context, untilEmpty bool) {
	var wg sync.WaitGroup
	defer func() {
		// Stopped: what was read and not acknowledged is read again next
		// time, whichever way the loop ended.
		wg.Wait()
		q.mu.Lock()
		clear(q.inflight)
		q.inflight = q.inflight[:0]
		q.log.rewind()
		q.mu.Unlock()
		q.savePosition()
	}()
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.cond.Broadcast()
		q.mu.Unlock()
	})
	defer stop()

	lastSave := time.Now()
	for ctx.Err() == nil {
		// Read and enter inflight at once, so that Pending never misses
		// the request in between.
		q.mu.Lock()
		rec, end, ok, err := q.log.next()
		var f *flight
		if ok {
			f = &flight{rec: rec, end: end}
			q.inflight = append(q.inflight, f)
		}
		q.mu.Unlock()
		if err != nil {
			// Logged and shown by the log (DiskHealthy); nothing was
			// skipped: read the same record again in a while.
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		if !ok {
			if untilEmpty {
				q.mu.Lock()
				for q.sending > 0 && ctx.Err() == nil {
					q.cond.Wait()
				}
				q.mu.Unlock()
				if q.log.pendingUnread() == 0 {
					return
				}
				continue
			}
			select {
			case <-ctx.Done():
				return
			case <-q.log.notify:
			case <-time.After(time.Second):
			}
			if time.Since(lastSave) > time.Second {
				q.savePosition()
				lastSave = time.Now()
			}
			continue
		}
		q.mu.Lock()
		for !q.startable(f) && ctx.Err() == nil {
			q.cond.Wait()
		}
		if ctx.Err() != nil {
			q.mu.Unlock()
			return
		}
		q.sending++
		q.mu.Unlock()
		wg.Go(func() { q.sendFlight(ctx, f) })
		if time.Since(lastSave) > time.Second {
			q.savePosition()
			lastSave = time.Now()
		}
	}
}

// startable tells whether f may be sent now: a shard is free and no earlier
// request still in flight may hold one of its series. Two requests may share
// a series unless they come from the same Append (which holds each series
// once) or from different shards of the same spread.
func (q *Queue) startable(f *flight) bool {
	if q.sending >= int(q.shards.Load()) {
		return false
	}
	r := f.rec
	for _, g := range q.inflight {
		if g == f {
			break
		}
		if g.done {
			continue
		}
		o := g.rec
		if o.appendSeq != r.appendSeq && (o.shards != r.shards || o.shard == r.shard) {
			return false
		}
	}
	return true
}

// sendFlight sends one request, then commits every leading request that is
// done.
func (q *Queue) sendFlight(ctx context.Context, f *flight) {
	ok := q.sendRecord(ctx, f.rec)

	q.mu.Lock()
	defer q.mu.Unlock()
	q.sending--
	defer q.cond.Broadcast()
	if !ok {
		return // interrupted: stays unacknowledged, read again later
	}
	f.done = true
	i := 0
	for i < len(q.inflight) && q.inflight[i].done {
		i++
	}
	if i > 0 {
		q.log.commitTo(q.inflight[i-1].end)
		clear(q.inflight[:i])
		q.inflight = q.inflight[i:]
	}
	// The gauge follows acknowledgements too, not only appends.
	q.m.pendingSamples.Set(float64(q.pendingLocked()))
}

// sendRecord sends one request until it is acknowledged or dropped (true)
// or ctx ends (false).
func (q *Queue) sendRecord(ctx context.Context, r *record) bool {
	n := int(r.samples)
	body, format := r.body, r.format
	for {
		if format == formatV2 && q.v1.Load() {
			b, err := convertV2ToV1(body)
			if err != nil {
				q.drop(reasonEncode, n, err)
				return true
			}
			body, format = b, formatV1
		}
		err := q.sendWithBackoff(ctx, body, format, encodeStats{samples: n, histograms: int(r.histograms), highestT: r.highestT})
		var pw *partialWriteError
		switch {
		case err == nil:
			q.acknowledged(r, 0, 0)
			return true
		case ctx.Err() != nil && errors.Is(err, ctx.Err()):
			return false
		case format == formatV2 && (errors.Is(err, errV2NotSupported) || isUnsupportedMediaType(statusCode(err))):
			if q.v1.CompareAndSwap(false, true) {
				q.logger.Warn("remote write endpoint does not accept remote write 2.0, falling back to 1.0", "err", err)
				q.m.fallbacks.Inc()
			}
			continue
		case errors.Is(err, errBadWrittenHeader):
			// The receiver said 2xx; only its accounting is unreadable.
			q.acknowledged(r, 0, 0)
			if ok, suppressed := q.dropLog.allow(q.o.Now()); ok {
				q.logger.Warn("remote write 2.0 response has unreadable written-samples headers", "err", err, "suppressed_logs", suppressed)
			}
			return true
		case errors.As(err, &pw):
			// What the receiver did not write is dropped, not sent.
			missing := pw.samples + pw.histograms
			q.acknowledged(r, missing, pw.histograms)
			q.drop(reasonPartialWrite, missing, err)
			return true
		default:
			q.drop(dropReason(err), n, err)
			return true
		}
	}
}

// acknowledged counts the samples of r as sent, but for missing of them
// (missingHists of those histograms) that the receiver said it did not write.
func (q *Queue) acknowledged(r *record, missing, missingHists int) {
	q.m.samplesSent.Add(float64(max(int(r.samples)-missing, 0)))
	q.m.histogramsSent.Add(float64(max(int(r.histograms)-missingHists, 0)))
	q.samplesOut.Add(int64(r.samples))
	q.mu.Lock()
	if r.highestT > q.highestT {
		q.highestT = r.highestT
		q.m.highestSent.Set(float64(r.highestT) / 1000)
	}
	q.lastSuccess = q.o.Now()
	q.mu.Unlock()
}

// dropReason names why a request was given up, telling apart rejections of
// samples that are out of order or too old, so users can see them.
func dropReason(err error) string {
	var se *statusError
	if !errors.As(err, &se) {
		return reasonBuildRequest
	}
	msg := strings.ToLower(se.body)
	switch {
	case strings.Contains(msg, "out of order") || strings.Contains(msg, "out-of-order"):
		return reasonOutOfOrder
	case strings.Contains(msg, "too old") || strings.Contains(msg, "out of bounds") || strings.Contains(msg, "too-old"):
		return reasonTooOld
	}
	return fmt.Sprintf("http_%d", se.code)
}

func statusCode(err error) int {
	var se *statusError
	if errors.As(err, &se) {
		return se.code
	}
	return 0
}

// sendWithBackoff sends body until it is acknowledged (nil), fails for good
// (that error), or ctx ends (ctx.Err()). Recoverable failures wait MinBackoff,
// doubling up to MaxBackoff, or what Retry-After asks for (see
// maxRetryAfter); the backoff sequence goes on doubling regardless.
func (q *Queue) sendWithBackoff(ctx context.Context, body []byte, format byte, st encodeStats) error {
	n := st.samples
	backoff := q.o.MinBackoff
	for try := 0; ; try++ {
		err := q.attempt(ctx, body, format, st, try)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			// Interrupted rather than failed; the request stays queued.
			return ctx.Err()
		}
		q.m.samplesFailed.Add(float64(n))
		var rerr *recoverableError
		if !errors.As(err, &rerr) {
			return err
		}
		wait := backoff
		if rerr.retryAfter > 0 {
			wait = min(rerr.retryAfter, max(maxRetryAfter, q.o.MaxBackoff))
		}
		if ok, suppressed := q.retryLog.allow(q.o.Now()); ok {
			q.logger.Warn("remote write send failed, retrying",
				"err", err, "samples", n, "attempt", try+1, "wait", wait, "suppressed_logs", suppressed)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		q.m.samplesRetried.Add(float64(n))
		backoff = min(backoff*2, q.o.MaxBackoff)
	}
}

// drop counts and (throttled) logs samples that will never be sent.
func (q *Queue) drop(reason string, n int, err error) {
	q.m.samplesDropped.WithLabelValues(reason).Add(float64(n))
	q.mu.Lock()
	q.dropped[reason] += n
	q.mu.Unlock()
	if ok, suppressed := q.dropLog.allow(q.o.Now()); ok {
		q.logger.Error("remote write dropped samples", "reason", reason, "samples", n, "err", err, "suppressed_logs", suppressed)
	}
}

func (q *Queue) savePosition() {
	if err := q.log.savePosition(); err != nil {
		q.logger.Error("save remote write queue position", "err", err)
	}
	q.m.diskBytes.Set(float64(q.log.size()))
	q.m.pendingSamples.Set(float64(q.Pending()))
}

// shardLoop adapts the number of shards to keep up, every
// shardUpdateInterval, until ctx ends.
func (q *Queue) shardLoop(ctx context.Context) {
	t := time.NewTicker(shardUpdateInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		in := q.samplesIn.Swap(0)
		out := q.samplesOut.Swap(0)
		busy := time.Duration(q.busyNanos.Swap(0))
		cur := int(q.shards.Load())
		next := desiredShards(cur, in, out, busy, q.Pending(), shardUpdateInterval, q.o.MinShards, q.o.MaxShards)
		if next != cur {
			q.logger.Info("remote write shards changed", "from", cur, "to", next)
			q.shards.Store(int32(next))
			q.m.shards.Set(float64(next))
			q.mu.Lock()
			q.cond.Broadcast()
			q.mu.Unlock()
		}
	}
}

// desiredShards is how many requests should be in flight to send, within
// one interval, what arrives in it plus the backlog. Busy is the summed time
// requests were in flight while out samples were sent; without sends (an
// outage) nothing is learnt and the count stays. Changes under 30% are not
// worth a reshard, as in Prometheus.
func desiredShards(cur int, in, out int64, busy time.Duration, pending int, interval time.Duration, lo, hi int) int {
	if out == 0 || busy <= 0 {
		return cur
	}
	perSample := busy.Seconds() / float64(out) // shard-seconds per sample
	need := (float64(in) + float64(pending)) * perSample / interval.Seconds()
	want := int(math.Ceil(need * 1.2))
	want = min(max(want, lo), hi)
	if d := math.Abs(float64(want-cur)) / float64(cur); d < 0.3 && want != lo && want != hi {
		return cur
	}
	return want
}

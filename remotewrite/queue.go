// Package remotewrite delivers samples to a Prometheus remote-write
// endpoint: relabeling, encoding, batching, the on-disk queue, sharded
// sending and retries.
//
// One Queue serves one endpoint. Append writes a cycle's samples to a
// bounded on-disk log in the caller's goroutine and returns once they are
// there: it reads them a request's worth at a time, without copying the
// cycle, relabels them, adds the external labels, spreads the series over
// shards by their hash, encodes each shard's part into requests of at most
// MaxSamplesPerSend samples (remote write 1.0, or 2.0 when asked for) and
// appends the requests to the log. Append blocks on the disk, never on the
// network, and no cycle waits in memory: what Append accepted survives
// kill -9. Senders take requests from the log in order and acknowledge
// them; what cannot be sent waits there, survives restarts, and is replayed
// oldest first. When the log is full, its oldest requests are dropped and
// counted, but for their staleness markers: those are appended again, in a
// request of their own, so that a series that ended is still marked stale.
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
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// logInterval is the least time between two log lines of one kind per queue.
const logInterval = 10 * time.Second

// Queue sends samples to one remote write endpoint. Append and Pending are
// safe for concurrent use; Run and then Flush are called once each. Append
// may be called before Run (what it writes waits on disk) and until Flush
// starts.
type Queue struct {
	o      Options
	m      *metrics
	logger *slog.Logger
	log    *diskLog

	retryLog, dropLog, fullLog throttle

	// wmu serializes writing to the log (Append), and closed, set when
	// Flush starts, refuses further Appends.
	wmu       sync.Mutex
	closed    bool
	appendSeq uint64
	enc       *encoder
	encV2     *encoderV2
	// cache holds, by position in the last cycle written, what relabeling
	// made of each series (see prepare).
	cache []seriesCache
	lb    labels.Builder
	// chunk and pending are Append's buffers (under wmu): the piece of the
	// cycle being read, and per shard the samples of the next request.
	chunk   []pipeline.Sample
	pending [][]pipeline.Sample

	// v1 is set once a 2.0 endpoint turned out not to speak 2.0.
	v1 atomic.Bool
	// shards is the current number of shards: the spread of new requests
	// and the requests in flight at most.
	shards atomic.Int32

	// Rates for the shard calculation.
	samplesIn, samplesOut, busyNanos atomic.Int64
	// measureSoon is set at the start and by a failed request: the next
	// acknowledged request has the shards reconsidered at once, through
	// reshard, rather than at the next update.
	measureSoon atomic.Bool
	reshard     chan struct{}

	// retry is the backoff of a failing endpoint, kept across Run and
	// Flush (see send.go).
	retry retryState

	mu       sync.Mutex
	order    ordering // the requests read from the log and not yet committed
	cond     *sync.Cond
	highestT int64 // highest timestamp acknowledged
	// For Status.
	lastSuccess time.Time
	dropped     map[string]int

	metaMu   sync.Mutex
	metadata map[string]prompb.MetricMetadata // family -> metadata, from the last cycle
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
	rescue := &markerRescuer{}
	l, err := openLogWith(o.Dir, o.MaxDiskBytes, logOptions{logger: o.Logger, m: m, now: o.Now, rescue: rescue})
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
		enc:      newEncoder(o.encodeOptions()),
		encV2:    newEncoderV2(o.encodeOptions()),
		highestT: minInt64,
		// Requests from before a restart are still in the log: new ones
		// must not pass for parts of the same Append (see mayShareSeries).
		appendSeq: l.lastSeq,
		dropped:   map[string]int{},
	}
	q.cond = sync.NewCond(&q.mu)
	q.reshard = make(chan struct{}, 1)
	q.measureSoon.Store(true)
	rescue.q = q
	q.shards.Store(int32(o.MinShards))
	q.m.shards.Set(float64(o.MinShards))
	q.m.diskBytes.Set(float64(l.size()))
	q.m.pendingSamples.Set(float64(l.pendingUnread()))
	return q, nil
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

// Pending returns the samples not yet acknowledged or dropped: waiting on
// disk, and in flight.
func (q *Queue) Pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pendingLocked()
}

// pendingLocked is Pending with q.mu held.
func (q *Queue) pendingLocked() int {
	// A request read from the log joins q.order under mu.
	return q.order.unacknowledged() + q.log.pendingUnread()
}

// Run sends what is appended to the on-disk queue until ctx ends, then
// returns nil. Requests in flight when ctx ends stay on disk, to be sent by
// Flush or after a restart.
func (q *Queue) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { q.shardLoop(ctx) })
	if q.o.Metadata.Send {
		// Also for 2.0: after a fallback to 1.0, metadata goes separately.
		wg.Go(func() { q.metadataLoop(ctx) })
	}
	q.dispatch(ctx, false)
	wg.Wait()
	return nil
}

// Flush refuses further Appends, sends everything on disk until nothing is
// left or ctx ends, and closes the queue. A failing endpoint is not sent a
// burst: the first request waits what the backoff of Run asked for. Flush
// returns an error naming how many samples were left unsent; they stay on
// disk for the next start. Call it once, after Run returned.
func (q *Queue) Flush(ctx context.Context) error {
	q.wmu.Lock()
	q.closed = true // an Append under way has finished
	q.wmu.Unlock()
	q.dispatch(ctx, true)
	left := q.Pending()
	cerr := q.log.close()
	q.m.diskBytes.Set(float64(q.log.size()))
	if left > 0 {
		err := fmt.Errorf("flush remote write queue %q: %d samples left unsent on disk", q.o.Name, left)
		if cause := context.Cause(ctx); cause != nil {
			err = fmt.Errorf("%w: %w", err, cause)
		}
		return errors.Join(err, cerr)
	}
	return cerr
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

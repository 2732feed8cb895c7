// Package remotewrite delivers samples to a Prometheus remote-write endpoint:
// encoding, batching, retries and the queue.
//
// It speaks remote write 1.0: a snappy block-compressed prompb.WriteRequest
// per POST. One Queue serves one endpoint. It holds at most Options.Capacity
// samples in memory; when full it drops the oldest waiting ones, so Append
// never blocks the caller. A single sender sends batches one at a time, which
// keeps the samples of each series in the order they were appended.
//
// Failures are handled as Prometheus does (storage/remote client.go and
// queue_manager.go): network errors, timeouts, 5xx and 429 are retried with
// doubling backoff, honouring Retry-After, until they succeed or the context
// ends; any other status drops the batch and counts it.
package remotewrite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
)

// Sample is one value of one series at one time, ready to be sent. Exactly
// one of V, H and FH is meaningful: H or FH non-nil makes it a native
// histogram sample, otherwise V is the float value. A staleness marker is
// V = math.Float64frombits(value.StaleNaN).
type Sample struct {
	Labels labels.Labels // sorted, including __name__
	T      int64         // milliseconds since the epoch
	V      float64
	H      *histogram.Histogram
	FH     *histogram.FloatHistogram
	// Meta is the series' metric family metadata (TYPE, HELP, UNIT), shared
	// between series; nil if unknown.
	Meta *metadata.Metadata
}

// Options configure a Queue. Zero durations and sizes take the documented
// defaults; negative ones are errors.
type Options struct {
	// URL is the remote write endpoint. It is logged only redacted and
	// never used as a metric label: it may hold credentials.
	URL *url.URL
	// Name is the remote_name label value of the queue's metrics and log
	// lines. Required; queues sharing a Registerer need distinct names.
	Name string
	// Client sends the requests. Required; the caller builds it (TLS,
	// auth, proxy). Per-attempt timeouts come from Timeout, not the client.
	Client *http.Client
	// Timeout bounds one attempt, response included. Default 30s.
	Timeout time.Duration
	// MaxSamplesPerSend bounds the samples in one request. Default 2000.
	MaxSamplesPerSend int
	// BatchSendDeadline is how long a partial batch waits for more
	// samples before it is sent anyway. Default 5s.
	BatchSendDeadline time.Duration
	// Capacity bounds the samples held in memory, the batch being sent
	// included. When full, Append drops the oldest waiting samples and
	// counts them under reason "queue_full". Default 500000; it must be at
	// least MaxSamplesPerSend.
	Capacity int
	// MinBackoff is the first wait after a recoverable failure; it doubles
	// on each further failure of the same batch up to MaxBackoff.
	// Defaults 30ms and 5s.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// UserAgent is sent with every request, e.g. "pushgateway-bridge/0.1.0".
	UserAgent string
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Registerer receives the queue's metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Now is the clock that HTTP-date Retry-After values are measured
	// against, and that paces throttled logs. Default time.Now.
	Now func() time.Time
}

// Defaults for zero Options fields, as documented there.
const (
	defaultTimeout           = 30 * time.Second
	defaultMaxSamplesPerSend = 2000
	defaultBatchSendDeadline = 5 * time.Second
	defaultCapacity          = 500000
	defaultMinBackoff        = 30 * time.Millisecond
	defaultMaxBackoff        = 5 * time.Second
)

// maxRetryAfter caps the wait a Retry-After header can ask for (unless
// MaxBackoff is longer). Prometheus honours the header uncapped; a cap keeps
// a bogus far-future date from parking the queue for hours while still
// respecting ordinary rate-limit windows.
const maxRetryAfter = 5 * time.Minute

// logInterval is the least time between two log lines of one kind per queue.
const logInterval = 10 * time.Second

// Queue batches samples for one remote write endpoint and sends them in
// order. Append, Pending, Run and Flush are safe for concurrent use.
type Queue struct {
	o      Options
	m      *metrics
	logger *slog.Logger

	retryLog, dropLog, fullLog throttle

	// notify wakes the sender after an Append; it holds at most one token.
	notify chan struct{}
	// sendSem is held by whoever is sending (Run or Flush). Only one batch
	// is ever on the wire, which keeps each series' samples in order.
	sendSem chan struct{}

	mu       sync.Mutex
	chunks   [][]Sample // waiting samples, oldest first, as appended
	queued   int        // samples in chunks
	inflight int        // samples in the batch being sent

	// Owned by the holder of sendSem.
	batch    []Sample
	enc      *encoder
	highestT int64
}

// NewQueue validates o, fills in defaults and registers the queue's metrics.
// It starts nothing; call Run. Registering a second queue of the same Name on
// one Registerer is an error, not a panic.
func NewQueue(o Options) (*Queue, error) {
	if o.URL == nil {
		return nil, errors.New("remote write options: URL is required")
	}
	if o.URL.Scheme != "http" && o.URL.Scheme != "https" {
		return nil, fmt.Errorf("remote write options: URL %s: scheme must be http or https", o.URL.Redacted())
	}
	if o.URL.Host == "" {
		return nil, fmt.Errorf("remote write options: URL %s: host is missing", o.URL.Redacted())
	}
	if o.Name == "" {
		return nil, errors.New("remote write options: Name is required")
	}
	if o.Client == nil {
		return nil, fmt.Errorf("remote write options for %q: Client is required", o.Name)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"Timeout", &o.Timeout, defaultTimeout},
		{"BatchSendDeadline", &o.BatchSendDeadline, defaultBatchSendDeadline},
		{"MinBackoff", &o.MinBackoff, defaultMinBackoff},
		{"MaxBackoff", &o.MaxBackoff, defaultMaxBackoff},
	} {
		if *d.v < 0 {
			return nil, fmt.Errorf("remote write options for %q: %s must not be negative, got %s", o.Name, d.name, *d.v)
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
	} {
		if *n.v < 0 {
			return nil, fmt.Errorf("remote write options for %q: %s must not be negative, got %d", o.Name, n.name, *n.v)
		}
		if *n.v == 0 {
			*n.v = n.def
		}
	}
	if o.MinBackoff > o.MaxBackoff {
		return nil, fmt.Errorf("remote write options for %q: MinBackoff %s exceeds MaxBackoff %s", o.Name, o.MinBackoff, o.MaxBackoff)
	}
	if o.Capacity < o.MaxSamplesPerSend {
		return nil, fmt.Errorf("remote write options for %q: Capacity %d is below MaxSamplesPerSend %d", o.Name, o.Capacity, o.MaxSamplesPerSend)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m, err := newMetrics(o.Registerer, o.Name)
	if err != nil {
		return nil, fmt.Errorf("remote write queue %q: %w", o.Name, err)
	}
	return &Queue{
		o:        o,
		m:        m,
		logger:   o.Logger.With("component", "remotewrite", "remote_name", o.Name, "url", o.URL.Redacted()),
		retryLog: throttle{interval: logInterval},
		dropLog:  throttle{interval: logInterval},
		fullLog:  throttle{interval: logInterval},
		notify:   make(chan struct{}, 1),
		sendSem:  make(chan struct{}, 1),
		batch:    make([]Sample, 0, o.MaxSamplesPerSend),
		enc:      newEncoder(),
		highestT: minInt64,
	}, nil
}

// Append queues samples for sending and returns at once. The queue takes
// ownership of the slice: the caller must not touch it afterwards. Samples of
// one series must be appended in timestamp order; they are sent in that
// order. If the queue is over Capacity afterwards, the oldest waiting samples
// are dropped and counted under reason "queue_full".
func (q *Queue) Append(samples []Sample) {
	if len(samples) == 0 {
		return
	}
	q.mu.Lock()
	q.chunks = append(q.chunks, samples)
	q.queued += len(samples)
	dropped := 0
	if over := q.queued + q.inflight - q.o.Capacity; over > 0 {
		dropped = q.dropOldestLocked(over)
	}
	pending := q.queued + q.inflight
	q.m.pendingSamples.Set(float64(pending))
	q.mu.Unlock()

	if dropped > 0 {
		q.m.samplesDropped.WithLabelValues(reasonQueueFull).Add(float64(dropped))
		if ok, suppressed := q.fullLog.allow(q.o.Now()); ok {
			q.logger.Warn("remote write queue full, dropped oldest samples",
				"dropped", dropped, "capacity", q.o.Capacity, "suppressed_logs", suppressed)
		}
	}
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// Pending returns the samples not yet acknowledged or dropped: those waiting
// and those in the batch being sent.
func (q *Queue) Pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.queued + q.inflight
}

// Run sends batches until ctx ends, then returns nil. A batch is sent when
// MaxSamplesPerSend samples are waiting or BatchSendDeadline has passed with
// some waiting. Run does not flush on return: a batch interrupted mid-retry
// and the samples still waiting stay pending for Flush (or a later Run).
// Run is meant to be called once at a time; Flush may run alongside it.
func (q *Queue) Run(ctx context.Context) error {
	timer := time.NewTimer(q.o.BatchSendDeadline)
	defer timer.Stop()
	for {
		// Send full batches, and a batch left in flight by an
		// interrupted send, without waiting for the deadline.
		for q.ready() {
			if err := q.send(ctx); err != nil {
				return nil
			}
			timer.Reset(q.o.BatchSendDeadline)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-q.notify:
		case <-timer.C:
			if q.Pending() > 0 {
				if err := q.send(ctx); err != nil {
					return nil
				}
			}
			timer.Reset(q.o.BatchSendDeadline)
		}
	}
}

// Flush sends everything pending, partial batches included, until nothing is
// left or ctx ends. It returns nil when all was acknowledged or dropped, and
// otherwise an error naming how many samples were left unsent; those stay
// pending. Use it on shutdown with a deadline, after cancelling Run's
// context: while Run is mid-retry, Flush waits for it. Samples appended
// while Flush runs are sent too.
func (q *Queue) Flush(ctx context.Context) error {
	for q.Pending() > 0 {
		if err := q.send(ctx); err != nil {
			return fmt.Errorf("flush remote write queue %q: %d samples left unsent: %w", q.o.Name, q.Pending(), err)
		}
	}
	return nil
}

// ready reports whether a batch should go out without waiting for the
// deadline.
func (q *Queue) ready() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.inflight > 0 || q.queued >= q.o.MaxSamplesPerSend
}

// send takes the send semaphore and sends one batch. It returns an error only
// when ctx ended first.
func (q *Queue) send(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case q.sendSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-q.sendSem }()
	return q.sendBatch(ctx)
}

// sendBatch sends the batch in flight, first taking one from the queue if
// there is none. The batch ends acknowledged or dropped, unless ctx ends
// first: then sendBatch returns ctx.Err() and the batch stays in flight for
// the next call. The caller holds sendSem.
func (q *Queue) sendBatch(ctx context.Context) error {
	q.mu.Lock()
	if q.inflight == 0 {
		q.batch = q.takeLocked(q.batch[:0], q.o.MaxSamplesPerSend)
		q.inflight = len(q.batch)
	}
	q.mu.Unlock()
	if len(q.batch) == 0 {
		return nil
	}

	n := len(q.batch)
	body, st, err := q.enc.encode(q.batch)
	if err != nil {
		q.drop(reasonEncode, n, err)
	} else {
		err = q.sendWithBackoff(ctx, body, n)
		switch {
		case err == nil:
			q.m.samplesSent.Add(float64(n))
			q.m.histogramsSent.Add(float64(st.histograms))
			if st.highestT > q.highestT {
				q.highestT = st.highestT
				q.m.highestSent.Set(float64(st.highestT) / 1000)
			}
		case ctx.Err() != nil && errors.Is(err, ctx.Err()):
			return err
		default:
			reason := reasonBuildRequest
			if se := (*statusError)(nil); errors.As(err, &se) {
				reason = "http_" + strconv.Itoa(se.code)
			}
			q.drop(reason, n, err)
		}
	}

	clear(q.batch)
	q.batch = q.batch[:0]
	q.mu.Lock()
	q.inflight = 0
	q.m.pendingSamples.Set(float64(q.queued))
	q.mu.Unlock()
	return nil
}

// sendWithBackoff sends body until it is acknowledged (nil), fails for good
// (that error), or ctx ends (ctx.Err()). Recoverable failures wait MinBackoff,
// doubling up to MaxBackoff, or what Retry-After asks for (see
// maxRetryAfter); the backoff sequence goes on doubling regardless.
func (q *Queue) sendWithBackoff(ctx context.Context, body []byte, n int) error {
	backoff := q.o.MinBackoff
	for try := 0; ; try++ {
		err := q.attempt(ctx, body, try)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			// Interrupted rather than failed; the batch stays in flight.
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

// drop counts and (throttled) logs a batch that will never be sent.
func (q *Queue) drop(reason string, n int, err error) {
	q.m.samplesDropped.WithLabelValues(reason).Add(float64(n))
	if ok, suppressed := q.dropLog.allow(q.o.Now()); ok {
		q.logger.Error("remote write dropped samples", "reason", reason, "samples", n, "err", err, "suppressed_logs", suppressed)
	}
}

// dropOldestLocked removes up to n of the oldest waiting samples and returns
// how many it removed. The batch in flight is never touched.
func (q *Queue) dropOldestLocked(n int) int {
	dropped := 0
	for n > 0 && len(q.chunks) > 0 {
		c := q.chunks[0]
		if len(c) > n {
			clear(c[:n])
			q.chunks[0] = c[n:]
			dropped += n
			break
		}
		clear(c)
		q.chunks[0] = nil
		q.chunks = q.chunks[1:]
		n -= len(c)
		dropped += len(c)
	}
	q.queued -= dropped
	return dropped
}

// takeLocked moves up to n of the oldest waiting samples onto dst.
func (q *Queue) takeLocked(dst []Sample, n int) []Sample {
	for n > 0 && len(q.chunks) > 0 {
		c := q.chunks[0]
		k := min(n, len(c))
		dst = append(dst, c[:k]...)
		clear(c[:k])
		if k == len(c) {
			q.chunks[0] = nil
			q.chunks = q.chunks[1:]
		} else {
			q.chunks[0] = c[k:]
		}
		q.queued -= k
		n -= k
	}
	if len(q.chunks) == 0 {
		q.chunks = nil // let a grown backing array go
	}
	return dst
}

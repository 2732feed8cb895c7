package remotewrite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// maxRetryAfter caps the wait a Retry-After header can ask for (unless
// MaxBackoff is longer). Prometheus honours the header uncapped; a cap keeps
// a bogus far-future date from parking the queue for hours while still
// respecting ordinary rate-limit windows.
const maxRetryAfter = 5 * time.Minute

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

// retryState is the backoff of an endpoint that keeps failing, shared by
// the queue's requests and kept across Run and Flush: a request sent after
// the queue stopped (by Flush, or by Run again) waits what the interrupted
// one would have waited and carries on from its backoff, so that a failing
// endpoint gets no burst of requests at shutdown. Any success resets it.
type retryState struct {
	mu      sync.Mutex
	backoff time.Duration // the next wait after a failure; 0: MinBackoff
	until   time.Time     // no attempt before it
}

// next returns the backoff to start from and how long to wait before the
// first attempt.
func (r *retryState) next(now time.Time) (backoff, wait time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.backoff, r.until.Sub(now)
}

// failed notes a failure: the next attempt at now+wait, then backoff.
func (r *retryState) failed(now time.Time, wait, backoff time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.backoff = backoff
	if u := now.Add(wait); u.After(r.until) {
		r.until = u
	}
}

// succeeded resets the backoff.
func (r *retryState) succeeded() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.backoff, r.until = 0, time.Time{}
}

// sendWithBackoff sends body until it is acknowledged (nil), fails for good
// (that error), or ctx ends (ctx.Err()). Recoverable failures wait MinBackoff,
// doubling up to MaxBackoff, or what Retry-After asks for (see
// maxRetryAfter); the backoff sequence goes on doubling regardless. It
// starts from the queue's retry state: while the endpoint is failing, the
// first attempt waits what the last failure asked for, even across a stop
// of Run (see retryState).
func (q *Queue) sendWithBackoff(ctx context.Context, body []byte, format byte, st encodeStats) error {
	n := st.samples
	backoff, wait := q.retry.next(time.Now())
	backoff = max(backoff, q.o.MinBackoff)
	if wait > 0 {
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
	for try := 0; ; try++ {
		err := q.attempt(ctx, body, format, st, try)
		if err == nil {
			q.retry.succeeded()
			q.acknowledgedAfterFailure()
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
		backoff = min(backoff*2, q.o.MaxBackoff)
		q.retry.failed(time.Now(), wait, backoff)
		q.measureSoon.Store(true)
		if ok, suppressed := q.retryLog.allow(q.o.Now()); ok {
			q.logger.Warn("remote write send failed, retrying",
				"err", err, "samples", n, "attempt", try+1, "wait", wait, "suppressed_logs", suppressed)
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		q.m.samplesRetried.Add(float64(n))
	}
}

// sleep waits d, or returns ctx.Err() if ctx ends first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

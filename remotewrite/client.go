package remotewrite

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxErrBodyLen bounds how much of an error response body goes into the error.
const maxErrBodyLen = 512

// recoverableError marks an attempt that may succeed when retried: a network
// error, a timeout, a 5xx or a 429. retryAfter is the wait the server asked
// for through Retry-After, or 0 when it asked for none (use backoff).
type recoverableError struct {
	err        error
	retryAfter time.Duration
}

func (e *recoverableError) Error() string { return e.err.Error() }
func (e *recoverableError) Unwrap() error { return e.err }

// statusError is an unrecoverable HTTP response; the request is dropped and
// counted by reason. body is the start of the response body.
type statusError struct {
	code int
	body string
	err  error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// attempt POSTs one encoded body. It returns nil on 2xx, a *recoverableError
// when retrying may help, a *statusError for other statuses, and any other
// error when the request could not be built. try counts earlier attempts of
// the same body.
func (q *Queue) attempt(ctx context.Context, body []byte, format byte, st encodeStats, try int) (err error) {
	ctx, cancel := context.WithTimeout(ctx, q.o.Timeout)
	defer cancel()

	// The body is the request's own (a record read from the log), so the
	// transport may go on reading it after Do returns.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, q.o.URL.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request to %s: %w", q.o.URL.Redacted(), err)
	}
	for k, v := range q.o.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Encoding", "snappy")
	if format == formatV2 {
		req.Header.Set("Content-Type", contentTypeV2)
		req.Header.Set("X-Prometheus-Remote-Write-Version", versionV2)
	} else {
		req.Header.Set("Content-Type", contentTypeV1)
		req.Header.Set("X-Prometheus-Remote-Write-Version", versionV1)
	}
	if q.o.UserAgent != "" {
		req.Header.Set("User-Agent", q.o.UserAgent)
	}
	if try > 0 {
		req.Header.Set("Retry-Attempt", strconv.Itoa(try))
	}

	q.m.sentBytes.Add(float64(len(body)))
	start := time.Now()
	// Only time on the wire counts towards the shard calculation, not
	// backoff sleeps.
	defer func() { q.busyNanos.Add(int64(time.Since(start))) }()
	resp, err := q.o.Client.Do(req)
	if err != nil {
		q.m.requests.WithLabelValues("error").Inc()
		q.m.requestDuration.Observe(time.Since(start).Seconds())
		// Do redacts the URL's password in its *url.Error.
		return &recoverableError{err: fmt.Errorf("send to remote write endpoint: %w", err)}
	}
	defer func() {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		q.m.requests.WithLabelValues(strconv.Itoa(resp.StatusCode)).Inc()
		q.m.requestDuration.Observe(time.Since(start).Seconds())
	}()

	if resp.StatusCode/100 == 2 {
		if format == formatV2 {
			if err := checkV2Response(resp.Header, st); err != nil {
				return err
			}
			if q.o.SendExemplars {
				q.checkExemplarsWritten(resp.Header, body)
			}
			return nil
		}
		return nil
	}
	msg, rerr := io.ReadAll(io.LimitReader(resp.Body, maxErrBodyLen))
	err = fmt.Errorf("remote write endpoint %s returned HTTP status %s: %q",
		q.o.URL.Redacted(), resp.Status, strings.ToValidUTF8(strings.TrimSpace(string(msg)), "\uFFFD"))
	if rerr != nil {
		err = fmt.Errorf("%w (reading body: %v)", err, rerr)
	}
	if resp.StatusCode/100 == 5 || (resp.StatusCode == http.StatusTooManyRequests && q.o.RetryOnHTTP429) {
		return &recoverableError{err: err, retryAfter: retryAfter(resp.Header.Get("Retry-After"), q.o.Now())}
	}
	return &statusError{code: resp.StatusCode, body: string(msg), err: err}
}

// retryAfter parses a Retry-After header value, either delta-seconds or an
// HTTP-date taken relative to now. It returns 0 (use normal backoff) when the
// header is absent, unparsable or not in the future.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		// Bound before multiplying so huge values do not overflow.
		return time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

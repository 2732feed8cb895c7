package remotewrite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
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

// statusError is an unrecoverable HTTP response; the batch is dropped and
// counted under reason "http_<code>".
type statusError struct {
	code int
	err  error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// attempt POSTs one encoded body. It returns nil on 2xx, a *recoverableError
// when retrying may help, a *statusError for other statuses, and any other
// error when the request could not be built. try counts earlier attempts of
// the same body.
func (q *Queue) attempt(ctx context.Context, body []byte, try int) (err error) {
	ctx, cancel := context.WithTimeout(ctx, q.o.Timeout)
	defer cancel()

	// The transport may still read the request body after Do returns (for
	// example when the server answers before reading it). The encode
	// buffers are reused for the next batch, so cut the body off once this
	// attempt is over instead of racing on them.
	b := &guardedBody{buf: body}
	defer b.close()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, q.o.URL.String(), b.reader())
	if err != nil {
		return fmt.Errorf("build request to %s: %w", q.o.URL.Redacted(), err)
	}
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return b.reader(), nil }
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	if q.o.UserAgent != "" {
		req.Header.Set("User-Agent", q.o.UserAgent)
	}
	if try > 0 {
		req.Header.Set("Retry-Attempt", strconv.Itoa(try))
	}

	q.m.sentBytes.Add(float64(len(body)))
	start := time.Now()
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
		return nil
	}
	msg, rerr := io.ReadAll(io.LimitReader(resp.Body, maxErrBodyLen))
	err = fmt.Errorf("remote write endpoint %s returned HTTP status %s: %q",
		q.o.URL.Redacted(), resp.Status, strings.ToValidUTF8(strings.TrimSpace(string(msg)), "\uFFFD"))
	if rerr != nil {
		err = fmt.Errorf("%w (reading body: %v)", err, rerr)
	}
	if resp.StatusCode/100 == 5 || resp.StatusCode == http.StatusTooManyRequests {
		return &recoverableError{err: err, retryAfter: retryAfter(resp.Header.Get("Retry-After"), q.o.Now())}
	}
	return &statusError{code: resp.StatusCode, err: err}
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

// errBodyClosed is what the transport reads from a request body after its
// attempt ended.
var errBodyClosed = errors.New("remote write request body used after its attempt ended")

// guardedBody hands out readers over buf until close; afterwards they fail.
type guardedBody struct {
	mu     sync.Mutex
	buf    []byte
	closed bool
}

func (g *guardedBody) reader() io.ReadCloser { return &guardedReader{g: g} }

func (g *guardedBody) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

type guardedReader struct {
	g   *guardedBody
	off int
}

func (r *guardedReader) Read(p []byte) (int, error) {
	r.g.mu.Lock()
	defer r.g.mu.Unlock()
	if r.g.closed {
		return 0, errBodyClosed
	}
	if r.off >= len(r.g.buf) {
		return 0, io.EOF
	}
	n := copy(p, r.g.buf[r.off:])
	r.off += n
	return n, nil
}

func (r *guardedReader) Close() error { return nil }

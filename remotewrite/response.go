package remotewrite

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Response headers in which a 2.0 receiver states how much of a request it
// wrote (remote write 2.0 spec, "Required Written Response Headers").
const (
	headerSamplesWritten    = "X-Prometheus-Remote-Write-Samples-Written"
	headerHistogramsWritten = "X-Prometheus-Remote-Write-Histograms-Written"
	headerExemplarsWritten  = "X-Prometheus-Remote-Write-Exemplars-Written"
)

// errV2NotSupported means a receiver acknowledged a 2.0 request without any
// Written header. The spec says to take that as a 415: typically a 1.0
// receiver that ignores Content-Type decoded the body as an empty
// prometheus.WriteRequest and wrote nothing. Fall back to 1.0 and resend.
var errV2NotSupported = errors.New("remote write endpoint acknowledged a 2.0 request without X-Prometheus-Remote-Write-*-Written headers, so it does not understand 2.0")

// errBadWrittenHeader means a Written header was present but not a
// non-negative integer. The receiver does speak 2.0 and answered 2xx, but
// how much it wrote is unknown.
var errBadWrittenHeader = errors.New("unparsable X-Prometheus-Remote-Write-*-Written response header")

// partialWriteError is a 2xx answer to a 2.0 request whose Written headers
// count less than was sent. The spec forbids that (a partial write must be
// answered non-2xx), so the receiver is broken or lost data; resending
// would duplicate what it did write. The missing samples count as dropped.
type partialWriteError struct {
	// Unlike encodeStats, samples counts float samples only: the total
	// missing is samples + histograms.
	samples    int // float samples not written
	histograms int // histogram samples not written
	sent       encodeStats
	written    writtenCounts
}

func (e *partialWriteError) Error() string {
	return fmt.Sprintf("remote write endpoint acknowledged a 2.0 request but wrote %d of %d float samples and %d of %d histograms",
		e.written.samples, e.sent.samples-e.sent.histograms, e.written.histograms, e.sent.histograms)
}

// writtenCounts are the values of the Written headers; a missing header
// counts as 0, as the spec allows for 2.0 requests.
type writtenCounts struct {
	samples, histograms, exemplars int64
}

// checkV2Response applies the 2.0 response rules to the headers of a 2xx
// answer to a 2.0 request that held st. It returns nil when everything was
// written, errV2NotSupported when no Written header is present, an error
// wrapping errBadWrittenHeader when one cannot be parsed, and a
// *partialWriteError when fewer samples or histograms were written than sent.
//
// Samples-Written is compared with the float samples alone, as Prometheus'
// receiver counts them. A count above what was sent is not an error: a
// receiver that includes histograms in Samples-Written still passes.
func checkV2Response(h http.Header, st encodeStats) error {
	var (
		w        writtenCounts
		present  bool
		parseErr []error
	)
	for _, f := range []struct {
		name string
		n    *int64
	}{
		{headerSamplesWritten, &w.samples},
		{headerHistogramsWritten, &w.histograms},
		{headerExemplarsWritten, &w.exemplars},
	} {
		vs := h.Values(f.name)
		if len(vs) == 0 {
			continue
		}
		present = true
		n, err := strconv.ParseInt(strings.TrimSpace(vs[0]), 10, 64)
		if err == nil && n < 0 {
			err = errors.New("negative count")
		}
		if err != nil {
			parseErr = append(parseErr, fmt.Errorf("%s %q: %w", f.name, vs[0], err))
			continue
		}
		*f.n = n
	}
	if !present {
		return errV2NotSupported
	}
	if len(parseErr) > 0 {
		return fmt.Errorf("%w: %w", errBadWrittenHeader, errors.Join(parseErr...))
	}
	floats := st.samples - st.histograms
	missFloats := max(0, int64(floats)-w.samples)
	missHists := max(0, int64(st.histograms)-w.histograms)
	if missFloats+missHists == 0 {
		return nil
	}
	return &partialWriteError{
		samples:    int(missFloats),
		histograms: int(missHists),
		sent:       st,
		written:    w,
	}
}

// isUnsupportedMediaType reports whether a status code rejects the request's
// Content-Type or Content-Encoding: after one to a 2.0 request, fall back to
// 1.0. (1.x receivers may answer 400 instead, per the spec, but a 400 also
// means invalid samples, so it cannot be told apart and is not a fallback.)
func isUnsupportedMediaType(code int) bool {
	return code == http.StatusUnsupportedMediaType
}

// checkExemplarsWritten compares the exemplars of an acknowledged 2.0 body
// with the receiver's Exemplars-Written header, which checkV2Response
// found readable, and counts (and logs, throttled) those not written.
// Their samples were written, so the request is not failed (Prometheus'
// receiver does not fail a request for exemplars it could not store
// either). The record on disk does not hold the count, so the
// body is decoded again: that costs only endpoints with send_exemplars.
func (q *Queue) checkExemplarsWritten(h http.Header, body []byte) {
	st, err := countV2(body)
	if err != nil || st.exemplars == 0 {
		return
	}
	var written int64
	if v := h.Get(headerExemplarsWritten); v != "" {
		written, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	}
	missing := int64(st.exemplars) - written
	if missing <= 0 {
		return
	}
	q.m.exemplarsUnwritten.Add(float64(missing))
	if ok, suppressed := q.dropLog.allow(q.o.Now()); ok {
		q.logger.Warn("remote write endpoint did not write every exemplar sent",
			"exemplars", st.exemplars, "written", written, "suppressed_logs", suppressed)
	}
}

// Package rwtest holds what tests need to play a remote-write receiver:
// decoding request bodies of remote write 1.0 and 2.0, independently of the
// encoder under test, and a transport that serves requests in memory.
//
// It is for tests only; nothing in the daemon imports it.
package rwtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// MessageV2 is the protobuf message a remote write 2.0 request names in its
// Content-Type (proto=...).
const MessageV2 = "io.prometheus.write.v2.Request"

// IsV2 reports whether a request's Content-Type names remote write 2.0.
func IsV2(contentType string) bool {
	return strings.Contains(contentType, "proto="+MessageV2)
}

// DecodeV1 decompresses (snappy block format) and unmarshals a remote write
// 1.0 body.
func DecodeV1(body []byte) (*prompb.WriteRequest, error) {
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		return nil, fmt.Errorf("snappy: %w", err)
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(raw); err != nil {
		return nil, fmt.Errorf("prompb.WriteRequest: %w", err)
	}
	return &req, nil
}

// DecodeV2 decompresses (snappy block format) and unmarshals a remote write
// 2.0 body.
func DecodeV2(body []byte) (*writev2.Request, error) {
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		return nil, fmt.Errorf("snappy: %w", err)
	}
	var req writev2.Request
	if err := req.Unmarshal(raw); err != nil {
		return nil, fmt.Errorf("writev2.Request: %w", err)
	}
	return &req, nil
}

// ToV1 translates a 2.0 request into a 1.0 one with the same series and
// float samples, so that checks written against 1.0 apply to both versions.
// Histograms, exemplars and metadata are left out.
func ToV1(req *writev2.Request) (*prompb.WriteRequest, error) {
	out := &prompb.WriteRequest{}
	var b labels.ScratchBuilder
	for _, ts := range req.Timeseries {
		lset, err := ts.ToLabels(&b, req.Symbols)
		if err != nil {
			return nil, err
		}
		v1 := prompb.TimeSeries{Labels: prompb.FromLabels(lset, nil)}
		for _, s := range ts.Samples {
			v1.Samples = append(v1.Samples, prompb.Sample{Value: s.Value, Timestamp: s.Timestamp})
		}
		out.Timeseries = append(out.Timeseries, v1)
	}
	return out, nil
}

// Decode decodes a body of either version, told apart by its Content-Type,
// into its 1.0 view (see ToV1); for a 2.0 body it returns the 2.0 request
// too, nil otherwise.
func Decode(contentType string, body []byte) (*prompb.WriteRequest, *writev2.Request, error) {
	if !IsV2(contentType) {
		req, err := DecodeV1(body)
		return req, nil, err
	}
	req, err := DecodeV2(body)
	if err != nil {
		return nil, nil, err
	}
	v1, err := ToV1(req)
	if err != nil {
		return nil, nil, err
	}
	return v1, req, nil
}

// Transport is an http.RoundTripper that serves every request with Handler
// in memory, whatever its URL. Nothing waits on the network, so tests that
// use it can run inside a testing/synctest bubble, where time is fake and
// backoff and Retry-After cost nothing.
//
// The handler sees the request's context: it ends when the client gives up
// (a timeout), and RoundTrip then returns the context's error. A handler
// that hijacks the connection and closes it makes RoundTrip fail as a
// connection reset does.
type Transport struct {
	Handler http.Handler
}

var _ http.RoundTripper = Transport{}

// errReset is what a hijacked and closed connection gives the client.
var errReset = errors.New("read: connection reset by peer")

// RoundTrip serves req with t.Handler.
func (t Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	in := req.Clone(req.Context())
	in.Body = io.NopCloser(bytes.NewReader(body))
	in.ContentLength = int64(len(body))
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "192.0.2.1:1234"
	w := &responseWriter{ResponseRecorder: httptest.NewRecorder()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		t.Handler.ServeHTTP(w, in)
	}()
	select {
	case <-done:
	case <-req.Context().Done():
		<-done // the handler sees the same context end
		return nil, context.Cause(req.Context())
	}
	if w.hijacked {
		return nil, errReset
	}
	resp := w.Result()
	resp.Request = req
	return resp, nil
}

// responseWriter records a response and lets the handler hijack the
// connection, as a test that plays a connection reset does.
type responseWriter struct {
	*httptest.ResponseRecorder
	hijacked bool
}

// Hijack hands the handler one end of a pipe whose other end is closed.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.hijacked = true
	a, b := net.Pipe()
	_ = b.Close()
	return a, nil, nil
}

// Forward sends r, whose body was already read into body, to url with
// client, and copies the answer, headers included, to w. A test's proxy in
// front of a real receiver uses it for the requests it lets through.
func Forward(w http.ResponseWriter, r *http.Request, body []byte, client *http.Client, url string) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, url, bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// Tee returns a handler that hands every request and its body to record,
// then forwards the request to url (see Forward): a recorder in front of a
// real receiver, which sees what the receiver got.
func Tee(client *http.Client, url string, record func(r *http.Request, body []byte)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		record(r, body)
		Forward(w, r, body, client, url)
	})
}

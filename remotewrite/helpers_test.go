package remotewrite

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
)

// response answers one request at a test receiver.
type response func(w http.ResponseWriter, r *http.Request)

func status(code int, header ...string) response {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, http.StatusText(code))
	}
}

func statusBody(code int, body []byte) response {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
		_, _ = w.Write(body)
	}
}

// slow answers 200 after d unless the client gives up first.
func slow(d time.Duration) response {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
		w.WriteHeader(http.StatusOK)
	}
}

// reset closes the connection with a TCP RST instead of answering.
func reset(t *testing.T) response {
	return func(w http.ResponseWriter, _ *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = conn.Close()
	}
}

// receiver is a remote write endpoint that decodes and checks every request,
// then answers with the next scripted response (204 once the script ends).
type receiver struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	script    []response
	fallback  response
	all       []*prompb.WriteRequest // every decoded request
	delivered []*prompb.WriteRequest // those answered 2xx
}

func newReceiver(t *testing.T, script ...response) *receiver {
	t.Helper()
	rc := &receiver{t: t, script: script, fallback: status(http.StatusNoContent)}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	t := rc.t
	for h, want := range map[string]string{
		"Content-Encoding":                  "snappy",
		"Content-Type":                      "application/x-protobuf",
		"X-Prometheus-Remote-Write-Version": "0.1.0",
		"User-Agent":                        "pushgateway-bridge/test",
	} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	if r.Method != http.MethodPost {
		t.Errorf("method = %s, want POST", r.Method)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Errorf("read body: %v", err)
		return
	}
	if r.ContentLength != int64(len(body)) {
		t.Errorf("Content-Length = %d, body has %d bytes", r.ContentLength, len(body))
	}
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		t.Errorf("snappy block decode: %v", err)
		return
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(raw); err != nil {
		t.Errorf("unmarshal write request: %v", err)
		return
	}
	for _, ts := range req.Timeseries {
		for i := 1; i < len(ts.Labels); i++ {
			if ts.Labels[i-1].Name >= ts.Labels[i].Name {
				t.Errorf("labels not sorted: %v", ts.Labels)
			}
		}
	}

	rc.mu.Lock()
	n := len(rc.all)
	rc.all = append(rc.all, &req)
	resp := rc.fallback
	if n < len(rc.script) {
		resp = rc.script[n]
	}
	rc.mu.Unlock()

	rec := &statusRecorder{ResponseWriter: w}
	resp(rec, r)
	if rec.code/100 == 2 {
		rc.mu.Lock()
		rc.delivered = append(rc.delivered, &req)
		rc.mu.Unlock()
	}
}

func (rc *receiver) setFallback(r response) {
	rc.mu.Lock()
	rc.fallback = r
	rc.mu.Unlock()
}

func (rc *receiver) requests() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.all)
}

func (rc *receiver) deliveredRequests() []*prompb.WriteRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]*prompb.WriteRequest(nil), rc.delivered...)
}

// deliveredTimestamps returns, per series (labels as string), the timestamps
// of its float samples in the order they were delivered.
func (rc *receiver) deliveredTimestamps() map[string][]int64 {
	out := map[string][]int64{}
	for _, req := range rc.deliveredRequests() {
		for _, ts := range req.Timeseries {
			k := ts.ToLabels(&labels.ScratchBuilder{}, nil).String()
			for _, s := range ts.Samples {
				out[k] = append(out[k], s.Timestamp)
			}
		}
	}
	return out
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return s.ResponseWriter.(http.Hijacker).Hijack()
}

// testOptions are Options with small times so tests run fast.
func testOptions(t *testing.T, rc *receiver) Options {
	t.Helper()
	u, err := url.Parse(rc.srv.URL + "/api/v1/write")
	if err != nil {
		t.Fatal(err)
	}
	return Options{
		URL:               u,
		Name:              "test",
		Client:            rc.srv.Client(),
		Timeout:           2 * time.Second,
		MaxSamplesPerSend: 100,
		BatchSendDeadline: 10 * time.Millisecond,
		Capacity:          1000,
		MinBackoff:        5 * time.Millisecond,
		MaxBackoff:        40 * time.Millisecond,
		UserAgent:         "pushgateway-bridge/test",
		Logger:            slog.New(slog.DiscardHandler),
		Registerer:        prometheus.NewRegistry(),
	}
}

func mustQueue(t *testing.T, o Options) *Queue {
	t.Helper()
	q, err := NewQueue(o)
	if err != nil {
		t.Fatalf("NewQueue: %v", err)
	}
	return q
}

// run starts q.Run and returns a func that stops it and checks its result.
// The stop also runs at cleanup, before the receiver closes.
func run(t *testing.T, q *Queue) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// floats returns n float samples of series (name, "i" = k%nseries) with
// timestamps start, start+1, ... so that each series' samples are in order.
func floats(n, nseries int, start int64) []Sample {
	out := make([]Sample, n)
	for i := range out {
		t := start + int64(i)
		out[i] = Sample{
			Labels: labels.FromStrings("__name__", "m", "i", string(rune('a'+int(t)%nseries))),
			T:      t,
			V:      float64(t),
		}
	}
	return out
}

// syncBuffer is a log sink safe for the sender goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

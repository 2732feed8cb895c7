package remotewrite

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"

	"github.com/pushgateway-bridge/pushgateway-bridge/internal/rwtest"
	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
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

// reset closes the connection instead of answering: with a TCP RST on a
// real server, as a reset through rwtest.Transport.
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

// receiver is a remote write endpoint, served in memory (see
// rwtest.Transport), that decodes and checks every request,
// 1.0 or 2.0 by its Content-Type, then answers with the next scripted
// response (the fallback, 204 unless set, once the script ends).
type receiver struct {
	t      *testing.T
	url    string
	client *http.Client

	mu        sync.Mutex
	script    []response
	fallback  response
	written   bool          // answer 2.0 requests with the Written headers of what they hold
	all       []*gotRequest // every decoded request
	delivered []*gotRequest // those answered 2xx
	inFlight  int           // handlers running now
	maxFlight int           // most handlers ever running at once
}

// gotRequest is one decoded request. v1 holds its series either way: a 2.0
// request is translated by the test (not by convertV2ToV1), so that the
// checks on series and timestamps apply to both versions.
type gotRequest struct {
	v1     *prompb.WriteRequest
	v2     *writev2.Request // nil for a 1.0 request
	header http.Header
}

func newReceiver(t *testing.T, script ...response) *receiver {
	t.Helper()
	rc := &receiver{t: t, script: script, fallback: status(http.StatusNoContent)}
	// In memory, so that tests can run in a synctest bubble.
	rc.url = "http://receiver.test"
	rc.client = &http.Client{Transport: rwtest.Transport{Handler: http.HandlerFunc(rc.serve)}}
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	t := rc.t
	rc.mu.Lock()
	rc.inFlight++
	rc.maxFlight = max(rc.maxFlight, rc.inFlight)
	rc.mu.Unlock()
	defer func() {
		rc.mu.Lock()
		rc.inFlight--
		rc.mu.Unlock()
	}()

	isV2 := r.Header.Get("Content-Type") == contentTypeV2
	want := map[string]string{
		"Content-Encoding":                  "snappy",
		"Content-Type":                      "application/x-protobuf",
		"X-Prometheus-Remote-Write-Version": "0.1.0",
		"User-Agent":                        "pushgateway-bridge/test",
	}
	if isV2 {
		want["Content-Type"] = "application/x-protobuf;proto=io.prometheus.write.v2.Request"
		want["X-Prometheus-Remote-Write-Version"] = "2.0.0"
	}
	for h, want := range want {
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
	got := &gotRequest{header: r.Header.Clone()}
	if isV2 {
		got.v2 = decodeReqV2(t, body)
		got.v1 = translateV2(t, got.v2)
	} else {
		if got.v1, err = rwtest.DecodeV1(body); err != nil {
			t.Errorf("decode write request: %v", err)
			return
		}
	}
	for _, ts := range got.v1.Timeseries {
		for i := 1; i < len(ts.Labels); i++ {
			if ts.Labels[i-1].Name >= ts.Labels[i].Name {
				t.Errorf("labels not sorted: %v", ts.Labels)
			}
		}
	}

	rc.mu.Lock()
	n := len(rc.all)
	rc.all = append(rc.all, got)
	resp := rc.fallback
	if n < len(rc.script) {
		resp = rc.script[n]
	}
	written := rc.written
	rc.mu.Unlock()

	if isV2 && written {
		floats, hists, exs := 0, 0, 0
		for _, ts := range got.v2.Timeseries {
			floats += len(ts.Samples)
			hists += len(ts.Histograms)
			exs += len(ts.Exemplars)
		}
		w.Header().Set(headerSamplesWritten, strconv.Itoa(floats))
		w.Header().Set(headerHistogramsWritten, strconv.Itoa(hists))
		w.Header().Set(headerExemplarsWritten, strconv.Itoa(exs))
	}
	rec := &statusRecorder{ResponseWriter: w}
	resp(rec, r.WithContext(context.WithValue(r.Context(), gotKey{}, got)))
	if rec.code/100 == 2 {
		rc.mu.Lock()
		rc.delivered = append(rc.delivered, got)
		rc.mu.Unlock()
	}
}

type gotKey struct{}

// gotFrom returns the decoded request a response is answering.
func gotFrom(r *http.Request) *gotRequest {
	return r.Context().Value(gotKey{}).(*gotRequest)
}

// translateV2 turns a decoded 2.0 request into a 1.0 one with the same
// series and float samples, independently of the code under test.
func translateV2(t testing.TB, req *writev2.Request) *prompb.WriteRequest {
	t.Helper()
	out, err := rwtest.ToV1(req)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (rc *receiver) setFallback(r response) {
	rc.mu.Lock()
	rc.fallback = r
	rc.mu.Unlock()
}

// setWritten makes the receiver answer 2.0 requests with the Written
// headers, as a 2.0 receiver does; a scripted response may override them.
func (rc *receiver) setWritten(on bool) {
	rc.mu.Lock()
	rc.written = on
	rc.mu.Unlock()
}

func (rc *receiver) requests() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.all)
}

// maxInFlight returns the most requests the receiver handled at once.
func (rc *receiver) maxInFlight() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.maxFlight
}

// deliveredGot returns the requests answered 2xx, in the order answered.
func (rc *receiver) deliveredGot() []*gotRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.delivered)
}

// deliveredRequests returns the 1.0 view of the requests answered 2xx.
func (rc *receiver) deliveredRequests() []*prompb.WriteRequest {
	var out []*prompb.WriteRequest
	for _, g := range rc.deliveredGot() {
		out = append(out, g.v1)
	}
	return out
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

// deliveredSamples counts the float samples delivered.
func (rc *receiver) deliveredSamples() int {
	n := 0
	for _, ts := range rc.deliveredTimestamps() {
		n += len(ts)
	}
	return n
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
	u, err := url.Parse(rc.url + "/api/v1/write")
	if err != nil {
		t.Fatal(err)
	}
	return Options{
		URL:               u,
		Name:              "test",
		Dir:               t.TempDir(),
		Client:            rc.client,
		Timeout:           2 * time.Second,
		MaxSamplesPerSend: 100,
		Capacity:          1000,
		MinBackoff:        5 * time.Millisecond,
		MaxBackoff:        40 * time.Millisecond,
		RetryOnHTTP429:    true,
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

// run starts q.Run (a Queue's or a Tenants') and returns a func that stops
// it and checks its result. The stop also runs at cleanup, before the
// receiver closes.
func run(t *testing.T, q interface{ Run(context.Context) error }) (stop func()) {
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
func floats(n, nseries int, start int64) pipeline.SampleSlice {
	out := make([]pipeline.Sample, n)
	for i := range out {
		t := start + int64(i)
		out[i] = pipeline.Sample{
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

// seriesSet returns n label sets {__name__="m", series="<i>"}.
func seriesSet(n int) []labels.Labels {
	out := make([]labels.Labels, n)
	for i := range out {
		out[i] = labels.FromStrings("__name__", "m", "series", strconv.Itoa(i))
	}
	return out
}

// cycle returns one sample per series, all at time ts, as one bridge cycle.
func cycle(series []labels.Labels, ts int64) pipeline.SampleSlice {
	out := make([]pipeline.Sample, len(series))
	for i, l := range series {
		out[i] = pipeline.Sample{Labels: l, T: ts, V: float64(ts)}
	}
	return out
}

// checkDelivered checks that every one of nseries series got exactly the
// timestamps want, in order. With dups, a timestamp may arrive more than
// once, as long as the series never goes back in time on the wire.
func checkDelivered(t *testing.T, got map[string][]int64, nseries int, want []int64, dups bool) {
	t.Helper()
	if len(got) != nseries {
		t.Errorf("got %d series, want %d", len(got), nseries)
	}
	bad := 0
	for k, ts := range got {
		ok := slices.IsSorted(ts)
		if dups {
			ts = slices.Compact(slices.Clone(ts))
		}
		if !ok || !slices.Equal(ts, want) {
			if bad++; bad <= 3 {
				t.Errorf("series %s: delivered %v, want %v in order", k, got[k], want)
			}
		}
	}
	if bad > 3 {
		t.Errorf("... and %d more series", bad-3)
	}
}

// span returns from, from+step, ... below to.
func span(from, to, step int64) []int64 {
	var out []int64
	for v := from; v < to; v += step {
		out = append(out, v)
	}
	return out
}

// segments returns the segment files in dir.
func segments(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

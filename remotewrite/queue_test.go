package remotewrite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
)

func TestNewQueueValidation(t *testing.T) {
	u, _ := url.Parse("http://user:secret@127.0.0.1:9/write")
	good := func() Options {
		return Options{URL: u, Name: "a", Client: &http.Client{}}
	}
	for _, tc := range []struct {
		name    string
		mod     func(*Options)
		wantErr string
	}{
		{"defaults", func(*Options) {}, ""},
		{"no URL", func(o *Options) { o.URL = nil }, "URL is required"},
		{"bad scheme", func(o *Options) { o.URL = &url.URL{Scheme: "ftp", Host: "x", User: url.UserPassword("u", "secret")} }, "scheme must be http or https"},
		{"no host", func(o *Options) { o.URL = &url.URL{Scheme: "http", Path: "/w"} }, "host is missing"},
		{"no name", func(o *Options) { o.Name = "" }, "Name is required"},
		{"no client", func(o *Options) { o.Client = nil }, "Client is required"},
		{"negative timeout", func(o *Options) { o.Timeout = -time.Second }, "Timeout must not be negative"},
		{"negative capacity", func(o *Options) { o.Capacity = -1 }, "Capacity must not be negative"},
		{"min over max backoff", func(o *Options) { o.MinBackoff = time.Minute }, "MinBackoff 1m0s exceeds MaxBackoff 5s"},
		{"capacity below batch", func(o *Options) { o.Capacity = 10; o.MaxSamplesPerSend = 11 }, "Capacity 10 is below MaxSamplesPerSend 11"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := good()
			tc.mod(&o)
			q, err := NewQueue(o)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("NewQueue: %v", err)
				}
				if q.o.Timeout != defaultTimeout || q.o.MaxSamplesPerSend != defaultMaxSamplesPerSend ||
					q.o.BatchSendDeadline != defaultBatchSendDeadline || q.o.Capacity != defaultCapacity ||
					q.o.MinBackoff != defaultMinBackoff || q.o.MaxBackoff != defaultMaxBackoff {
					t.Errorf("defaults not applied: %+v", q.o)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("NewQueue error = %v, want it to contain %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error leaks the URL password: %v", err)
			}
		})
	}
}

func TestSendContent(t *testing.T) {
	rc := newReceiver(t)
	q := mustQueue(t, testOptions(t, rc))
	run(t, q)

	h := &histogram.Histogram{
		Count: 5, ZeroCount: 1, Sum: 12.5, Schema: 0, ZeroThreshold: 0.001,
		PositiveSpans:   []histogram.Span{{Offset: 0, Length: 2}},
		PositiveBuckets: []int64{1, 2},
		NegativeSpans:   []histogram.Span{{Offset: 1, Length: 1}},
		NegativeBuckets: []int64{1},
	}
	fh := &histogram.FloatHistogram{
		Count: 3.5, Sum: 7, Schema: 1,
		PositiveSpans:   []histogram.Span{{Offset: -1, Length: 2}},
		PositiveBuckets: []float64{1.5, 2},
	}
	up := labels.FromStrings("__name__", "up", "job", "pushgateway", "instance", "a")
	stale := math.Float64frombits(value.StaleNaN)
	q.Append([]Sample{
		{Labels: up, T: 1000, V: 1},
		{Labels: labels.FromStrings("__name__", "lat", "job", "j"), T: 1500, H: h},
		{Labels: up, T: 2000, V: stale},
		{Labels: labels.FromStrings("__name__", "flat", "job", "j"), T: 4000, FH: fh},
	})
	waitFor(t, "samples sent", func() bool { return testutil.ToFloat64(q.m.samplesSent) == 4 })

	reqs := rc.deliveredRequests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	series := reqs[0].Timeseries
	if len(series) != 3 {
		t.Fatalf("got %d series, want 3 (one per label set): %v", len(series), series)
	}
	b := &labels.ScratchBuilder{}
	if got := series[0].ToLabels(b, nil); !labels.Equal(got, up) {
		t.Errorf("series 0 labels = %s, want %s", got, up)
	}
	if s := series[0].Samples; len(s) != 2 || s[0].Timestamp != 1000 || s[0].Value != 1 ||
		s[1].Timestamp != 2000 || math.Float64bits(s[1].Value) != value.StaleNaN {
		t.Errorf("series 0 samples = %v, want 1@1000 then StaleNaN@2000 (bits kept)", s)
	}
	if hs := series[1].Histograms; len(hs) != 1 || hs[0].Timestamp != 1500 || hs[0].IsFloatHistogram() ||
		!hs[0].ToIntHistogram().Equals(h) {
		t.Errorf("series 1 histograms = %v, want %v at 1500", hs, h)
	}
	if hs := series[2].Histograms; len(hs) != 1 || hs[0].Timestamp != 4000 || !hs[0].IsFloatHistogram() ||
		!hs[0].ToFloatHistogram().Equals(fh) {
		t.Errorf("series 2 histograms = %v, want %v at 4000", hs, fh)
	}

	for name, tc := range map[string]struct {
		c    prometheus.Collector
		want float64
	}{
		"histograms_sent":  {q.m.histogramsSent, 2},
		"highest_sent":     {q.m.highestSent, 4},
		"pending":          {q.m.pendingSamples, 0},
		"failed":           {q.m.samplesFailed, 0},
		"requests 204":     {q.m.requests.WithLabelValues("204"), 1},
		"request_duration": {q.m.requestDuration, -1},
	} {
		if tc.want < 0 {
			if n := testutil.CollectAndCount(tc.c); n != 1 {
				t.Errorf("%s: %d series, want 1", name, n)
			}
			continue
		}
		if got := testutil.ToFloat64(tc.c); got != tc.want {
			t.Errorf("%s = %v, want %v", name, got, tc.want)
		}
	}
	if got := testutil.ToFloat64(q.m.sentBytes); got <= 0 {
		t.Errorf("sent_bytes_total = %v, want > 0", got)
	}
	if q.Pending() != 0 {
		t.Errorf("Pending = %d, want 0", q.Pending())
	}
}

func TestBatching(t *testing.T) {
	for _, tc := range []struct {
		name      string
		max       int
		appends   []int // sizes of successive Append calls before Run starts
		wantSizes []int
	}{
		{"exact batch", 10, []int{10}, []int{10}},
		{"full batches then a partial", 10, []int{25}, []int{10, 10, 5}},
		{"batches span appends", 10, []int{3, 4, 5, 6, 7}, []int{10, 10, 5}},
		{"one per request", 1, []int{1, 1, 1}, []int{1, 1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t)
			o := testOptions(t, rc)
			o.MaxSamplesPerSend = tc.max
			q := mustQueue(t, o)

			const nseries = 3
			var total int
			for _, n := range tc.appends {
				q.Append(floats(n, nseries, int64(total)))
				total += n
			}
			run(t, q)
			waitFor(t, "all sent", func() bool { return q.Pending() == 0 })

			var sizes []int
			for _, req := range rc.deliveredRequests() {
				n := 0
				for _, ts := range req.Timeseries {
					n += len(ts.Samples)
				}
				sizes = append(sizes, n)
			}
			if !slices.Equal(sizes, tc.wantSizes) {
				t.Errorf("request sizes = %v, want %v", sizes, tc.wantSizes)
			}
			got := rc.deliveredTimestamps()
			for k, ts := range got {
				if !slices.IsSorted(ts) {
					t.Errorf("series %s delivered out of order: %v", k, ts)
				}
			}
			n := 0
			for _, ts := range got {
				n += len(ts)
			}
			if n != total {
				t.Errorf("delivered %d samples, want %d", n, total)
			}
		})
	}
}

// TestOrderingWhileRunning appends while the sender runs, with a receiver
// that fails now and then, and checks every series arrives complete and in
// order.
func TestOrderingWhileRunning(t *testing.T) {
	var script []response
	for i := range 30 {
		if i%3 == 1 {
			script = append(script, status(http.StatusServiceUnavailable))
		} else {
			script = append(script, status(http.StatusOK))
		}
	}
	rc := newReceiver(t, script...)
	o := testOptions(t, rc)
	o.MaxSamplesPerSend = 7
	q := mustQueue(t, o)
	run(t, q)

	const total, nseries = 200, 5
	for i := 0; i < total; i += 10 {
		q.Append(floats(10, nseries, int64(i)))
		time.Sleep(time.Millisecond)
	}
	waitFor(t, "all sent", func() bool { return q.Pending() == 0 })

	got := rc.deliveredTimestamps()
	if len(got) != nseries {
		t.Fatalf("got %d series, want %d", len(got), nseries)
	}
	for k, ts := range got {
		if len(ts) != total/nseries || !slices.IsSorted(ts) || len(slices.Compact(slices.Clone(ts))) != len(ts) {
			t.Errorf("series %s: got %d timestamps %v, want %d in order", k, len(ts), ts, total/nseries)
		}
	}
	if got := testutil.ToFloat64(q.m.samplesSent); got != total {
		t.Errorf("samples_sent_total = %v, want %d", got, total)
	}
}

func TestResponses(t *testing.T) {
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(i*7 + 3)
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	for _, tc := range []struct {
		name        string
		script      func(t *testing.T) []response
		timeout     time.Duration
		wantReqs    int
		wantSent    float64
		wantDropped map[string]float64
		wantRetried float64
		wantCodes   map[string]float64
		minElapsed  time.Duration
		maxElapsed  time.Duration
		wantLog     string
	}{
		{
			name:        "400 dropped without retry",
			script:      func(*testing.T) []response { return []response{status(http.StatusBadRequest)} },
			wantReqs:    1,
			wantDropped: map[string]float64{"http_400": 5},
			wantCodes:   map[string]float64{"400": 1},
			wantLog:     "reason=http_400",
		},
		{
			name:        "413 dropped without retry",
			script:      func(*testing.T) []response { return []response{status(http.StatusRequestEntityTooLarge)} },
			wantReqs:    1,
			wantDropped: map[string]float64{"http_413": 5},
			wantCodes:   map[string]float64{"413": 1},
		},
		{
			name: "500 then 200 retried",
			script: func(*testing.T) []response {
				return []response{status(http.StatusInternalServerError), status(http.StatusOK)}
			},
			wantReqs: 2, wantSent: 5, wantRetried: 5,
			wantCodes: map[string]float64{"500": 1, "200": 1},
		},
		{
			name: "5xx backoff doubles",
			script: func(*testing.T) []response {
				s := status(http.StatusBadGateway)
				return []response{s, s, s, s, status(http.StatusOK)}
			},
			wantReqs: 5, wantSent: 5, wantRetried: 20,
			// 5+10+20+40ms of backoff.
			minElapsed: 75 * time.Millisecond,
			wantCodes:  map[string]float64{"502": 4, "200": 1},
		},
		{
			name: "garbage body on 503 is truncated",
			script: func(*testing.T) []response {
				return []response{statusBody(http.StatusServiceUnavailable, garbage), status(http.StatusOK)}
			},
			wantReqs: 2, wantSent: 5, wantRetried: 5,
			wantCodes: map[string]float64{"503": 1, "200": 1},
			wantLog:   "HTTP status 503 Service Unavailable",
		},
		{
			name: "429 with Retry-After seconds",
			script: func(*testing.T) []response {
				return []response{status(http.StatusTooManyRequests, "Retry-After", "1"), status(http.StatusOK)}
			},
			wantReqs: 2, wantSent: 5, wantRetried: 5,
			minElapsed: time.Second,
			wantCodes:  map[string]float64{"429": 1, "200": 1},
		},
		{
			name: "429 with Retry-After HTTP-date",
			script: func(*testing.T) []response {
				d := t0.Add(time.Second).Format(http.TimeFormat)
				return []response{status(http.StatusTooManyRequests, "Retry-After", d), status(http.StatusOK)}
			},
			wantReqs: 2, wantSent: 5, wantRetried: 5,
			minElapsed: time.Second,
		},
		{
			name: "Retry-After in the past falls back to backoff",
			script: func(*testing.T) []response {
				d := t0.Add(-time.Hour).Format(http.TimeFormat)
				return []response{status(http.StatusServiceUnavailable, "Retry-After", d), status(http.StatusOK)}
			},
			wantReqs: 2, wantSent: 5, wantRetried: 5,
			maxElapsed: 900 * time.Millisecond,
		},
		{
			name:     "slow receiver times out, then success",
			script:   func(*testing.T) []response { return []response{slow(5 * time.Second), status(http.StatusOK)} },
			timeout:  100 * time.Millisecond,
			wantReqs: 2, wantSent: 5, wantRetried: 5,
			minElapsed: 100 * time.Millisecond,
			wantCodes:  map[string]float64{"error": 1, "200": 1},
			wantLog:    "deadline exceeded",
		},
		{
			name:     "connection reset, then success",
			script:   func(t *testing.T) []response { return []response{reset(t), status(http.StatusOK)} },
			wantReqs: 2, wantSent: 5, wantRetried: 5,
			wantCodes: map[string]float64{"error": 1, "200": 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t, tc.script(t)...)
			o := testOptions(t, rc)
			if tc.timeout > 0 {
				o.Timeout = tc.timeout
			}
			o.Now = func() time.Time { return t0 }
			o.URL.User = url.UserPassword("user", "secret")
			var logs syncBuffer
			o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			q := mustQueue(t, o)
			run(t, q)

			start := time.Now()
			q.Append(floats(5, 2, 0))
			waitFor(t, "queue drained", func() bool { return q.Pending() == 0 })
			elapsed := time.Since(start)
			// Give a wrongly retried batch time to show up.
			time.Sleep(3 * o.MaxBackoff)

			if got := rc.requests(); got != tc.wantReqs {
				t.Errorf("receiver got %d requests, want %d", got, tc.wantReqs)
			}
			if got := testutil.ToFloat64(q.m.samplesSent); got != tc.wantSent {
				t.Errorf("samples_sent_total = %v, want %v", got, tc.wantSent)
			}
			if got := testutil.ToFloat64(q.m.samplesRetried); got != tc.wantRetried {
				t.Errorf("samples_retried_total = %v, want %v", got, tc.wantRetried)
			}
			if got, want := testutil.ToFloat64(q.m.samplesFailed), float64(5*(tc.wantReqs-1)); tc.wantSent > 0 && got != want {
				t.Errorf("samples_failed_total = %v, want %v", got, want)
			}
			if got := testutil.CollectAndCount(q.m.samplesDropped); got != len(tc.wantDropped) {
				t.Errorf("samples_dropped_total has %d reasons, want %v", got, tc.wantDropped)
			}
			for reason, want := range tc.wantDropped {
				if got := testutil.ToFloat64(q.m.samplesDropped.WithLabelValues(reason)); got != want {
					t.Errorf("samples_dropped_total{reason=%q} = %v, want %v", reason, got, want)
				}
			}
			for code, want := range tc.wantCodes {
				if got := testutil.ToFloat64(q.m.requests.WithLabelValues(code)); got != want {
					t.Errorf("requests_total{code=%q} = %v, want %v", code, got, want)
				}
			}
			if tc.minElapsed > 0 && elapsed < tc.minElapsed {
				t.Errorf("drained after %v, want at least %v", elapsed, tc.minElapsed)
			}
			if tc.maxElapsed > 0 && elapsed > tc.maxElapsed {
				t.Errorf("drained after %v, want at most %v", elapsed, tc.maxElapsed)
			}
			log := logs.String()
			if !strings.Contains(log, tc.wantLog) {
				t.Errorf("log does not contain %q:\n%s", tc.wantLog, log)
			}
			for line := range strings.Lines(log) {
				if len(line) > 2*maxErrBodyLen+600 {
					t.Errorf("log line of %d bytes; error bodies should be truncated:\n%s", len(line), line)
				}
			}
			if strings.Contains(log, "secret") {
				t.Errorf("log leaks credentials:\n%s", log)
			}
		})
	}
}

func TestCapacity(t *testing.T) {
	t.Run("drops oldest waiting", func(t *testing.T) {
		rc := newReceiver(t)
		o := testOptions(t, rc)
		o.Capacity, o.MaxSamplesPerSend = 10, 5
		q := mustQueue(t, o)

		q.Append(floats(15, 1, 0)) // 0..14; 0..4 dropped
		q.Append(floats(3, 1, 15)) // 15..17; 5..7 dropped
		if q.Pending() != 10 {
			t.Errorf("Pending = %d, want 10", q.Pending())
		}
		if got := testutil.ToFloat64(q.m.samplesDropped.WithLabelValues("queue_full")); got != 8 {
			t.Errorf(`samples_dropped_total{reason="queue_full"} = %v, want 8`, got)
		}
		if got := testutil.ToFloat64(q.m.pendingSamples); got != 10 {
			t.Errorf("pending_samples = %v, want 10", got)
		}
		if err := q.Flush(context.Background()); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		for _, ts := range rc.deliveredTimestamps() {
			if want := []int64{8, 9, 10, 11, 12, 13, 14, 15, 16, 17}; !slices.Equal(ts, want) {
				t.Errorf("delivered %v, want %v", ts, want)
			}
		}
	})

	t.Run("batch in flight is kept", func(t *testing.T) {
		rc := newReceiver(t)
		rc.setFallback(status(http.StatusInternalServerError))
		o := testOptions(t, rc)
		o.Capacity, o.MaxSamplesPerSend = 10, 5
		q := mustQueue(t, o)
		run(t, q)

		q.Append(floats(5, 1, 0)) // goes in flight and keeps failing
		waitFor(t, "first attempt", func() bool { return rc.requests() > 0 })
		q.Append(floats(10, 1, 5)) // 5..14; room for 5 beside the batch in flight
		if q.Pending() != 10 {
			t.Errorf("Pending = %d, want 10", q.Pending())
		}
		rc.setFallback(status(http.StatusOK))
		waitFor(t, "all sent", func() bool { return q.Pending() == 0 })
		for _, ts := range rc.deliveredTimestamps() {
			if want := []int64{0, 1, 2, 3, 4, 10, 11, 12, 13, 14}; !slices.Equal(ts, want) {
				t.Errorf("delivered %v, want %v", ts, want)
			}
		}
		if got := testutil.ToFloat64(q.m.samplesDropped.WithLabelValues("queue_full")); got != 5 {
			t.Errorf(`samples_dropped_total{reason="queue_full"} = %v, want 5`, got)
		}
	})
}

func TestFlush(t *testing.T) {
	rc := newReceiver(t)
	rc.setFallback(status(http.StatusServiceUnavailable))
	o := testOptions(t, rc)
	o.MaxSamplesPerSend = 4
	q := mustQueue(t, o)
	q.Append(floats(7, 1, 0))

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	err := q.Flush(ctx)
	if err == nil || !strings.Contains(err.Error(), "7 samples left unsent") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush error = %v, want 7 samples left unsent and DeadlineExceeded", err)
	}
	if q.Pending() != 7 {
		t.Errorf("Pending = %d, want 7", q.Pending())
	}

	// Once the receiver recovers, everything goes out, the batch that was
	// in flight first.
	rc.setFallback(status(http.StatusOK))
	if err := q.Flush(context.Background()); err != nil {
		t.Fatalf("second Flush: %v", err)
	}
	for _, ts := range rc.deliveredTimestamps() {
		if want := []int64{0, 1, 2, 3, 4, 5, 6}; !slices.Equal(ts, want) {
			t.Errorf("delivered %v, want %v", ts, want)
		}
	}
	if n := len(rc.deliveredRequests()); n != 2 {
		t.Errorf("delivered in %d requests, want 2 (batches of 4 and 3)", n)
	}
}

// TestRunCancelThenFlush is the shutdown sequence: cancel Run while it is
// retrying, then Flush what is left.
func TestRunCancelThenFlush(t *testing.T) {
	rc := newReceiver(t)
	rc.setFallback(status(http.StatusInternalServerError))
	o := testOptions(t, rc)
	o.MaxSamplesPerSend = 3
	q := mustQueue(t, o)
	stop := run(t, q)

	q.Append(floats(5, 1, 0))
	waitFor(t, "retries", func() bool { return rc.requests() >= 3 })
	stop()
	q.Append(floats(2, 1, 5))
	if q.Pending() != 7 {
		t.Errorf("Pending after Run = %d, want 7", q.Pending())
	}

	rc.setFallback(status(http.StatusOK))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := q.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	for _, ts := range rc.deliveredTimestamps() {
		if want := []int64{0, 1, 2, 3, 4, 5, 6}; !slices.Equal(ts, want) {
			t.Errorf("delivered %v, want %v", ts, want)
		}
	}
}

func TestFlushAlongsideRun(t *testing.T) {
	rc := newReceiver(t)
	o := testOptions(t, rc)
	o.MaxSamplesPerSend = 2
	o.BatchSendDeadline = time.Hour // only Flush sends the partial batch
	q := mustQueue(t, o)
	run(t, q)
	q.Append(floats(9, 1, 0))
	if err := q.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	for _, ts := range rc.deliveredTimestamps() {
		if !slices.Equal(ts, []int64{0, 1, 2, 3, 4, 5, 6, 7, 8}) {
			t.Errorf("delivered %v, want 0..8 in order", ts)
		}
	}
}

func TestMetrics(t *testing.T) {
	rc := newReceiver(t, status(http.StatusBadRequest))
	reg := prometheus.NewRegistry()
	var qs []*Queue
	for _, name := range []string{"a", "b"} {
		o := testOptions(t, rc)
		o.Name, o.Registerer = name, reg
		o.URL.User = url.UserPassword("user", "secret")
		qs = append(qs, mustQueue(t, o))
	}
	o := testOptions(t, rc)
	o.Name, o.Registerer = "a", reg
	if _, err := NewQueue(o); err == nil || !strings.Contains(err.Error(), `remote_name "a"`) {
		t.Errorf("second queue named a: err = %v, want a registration error", err)
	}

	qs[0].Append(floats(3, 1, 0))
	qs[1].Append(floats(2, 1, 0))
	for _, q := range qs {
		if err := q.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), "secret") || strings.Contains(l.GetValue(), "127.0.0.1") {
					t.Errorf("%s has label %s=%q: no URLs in labels", mf.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
		// Vecs have a series only for label values seen; the rest one per queue.
		vec := strings.HasSuffix(mf.GetName(), "_requests_total") || strings.HasSuffix(mf.GetName(), "_dropped_total")
		if !vec && len(mf.GetMetric()) != 2 {
			t.Errorf("%s has %d series, want one per queue", mf.GetName(), len(mf.GetMetric()))
		}
	}
	want := []string{
		"pushgateway_bridge_remote_write_highest_sent_timestamp_seconds",
		"pushgateway_bridge_remote_write_histograms_sent_total",
		"pushgateway_bridge_remote_write_pending_samples",
		"pushgateway_bridge_remote_write_request_duration_seconds",
		"pushgateway_bridge_remote_write_requests_total",
		"pushgateway_bridge_remote_write_samples_dropped_total",
		"pushgateway_bridge_remote_write_samples_failed_total",
		"pushgateway_bridge_remote_write_samples_retried_total",
		"pushgateway_bridge_remote_write_samples_sent_total",
		"pushgateway_bridge_remote_write_sent_bytes_total",
	}
	if !slices.Equal(names, want) {
		t.Errorf("metric names:\n got %v\nwant %v", names, want)
	}
	if got := testutil.ToFloat64(qs[0].m.samplesDropped.WithLabelValues("http_400")); got != 3 {
		t.Errorf(`queue a samples_dropped_total{reason="http_400"} = %v, want 3`, got)
	}
	if got := testutil.ToFloat64(qs[1].m.samplesSent); got != 2 {
		t.Errorf("queue b samples_sent_total = %v, want 2", got)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"1", time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-3", 0},
		{"1.5", 0},
		{"soon", 0},
		{"99999999999999", maxRetryAfter},
		{now.Add(3 * time.Second).Format(http.TimeFormat), 3 * time.Second},
		{now.Add(-time.Second).Format(http.TimeFormat), 0},
		{now.Format(http.TimeFormat), 0},
		{"Sunday, 01-Mar-26 12:00:07 GMT", 7 * time.Second}, // RFC 850
		{"Sun Mar  1 12:00:09 2026", 9 * time.Second},       // ANSI C asctime
	} {
		t.Run(fmt.Sprintf("%q", tc.in), func(t *testing.T) {
			if got := retryAfter(tc.in, now); got != tc.want {
				t.Errorf("retryAfter(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestThrottle(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	th := throttle{interval: 10 * time.Second}
	for _, step := range []struct {
		at             time.Duration
		wantOK         bool
		wantSuppressed int
	}{
		{0, true, 0},
		{time.Second, false, 0},
		{5 * time.Second, false, 0},
		{10 * time.Second, true, 2},
		{11 * time.Second, false, 0},
		{25 * time.Second, true, 1},
		{40 * time.Second, true, 0},
	} {
		ok, suppressed := th.allow(t0.Add(step.at))
		if ok != step.wantOK || suppressed != step.wantSuppressed {
			t.Errorf("at %v: allow = %v, %d; want %v, %d", step.at, ok, suppressed, step.wantOK, step.wantSuppressed)
		}
	}
}

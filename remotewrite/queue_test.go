package remotewrite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

func TestNewQueueValidation(t *testing.T) {
	u, _ := url.Parse("http://user:secret@127.0.0.1:9/write")
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o644); err != nil {
		t.Fatal(err)
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
		{"no dir", func(o *Options) { o.Dir = "" }, "Dir is required"},
		{"dir is a file", func(o *Options) { o.Dir = filepath.Join(notADir, "q") }, "create queue directory"},
		{"unknown message", func(o *Options) { o.Message = "v3" }, `unknown Message "v3"`},
		{"negative timeout", func(o *Options) { o.Timeout = -time.Second }, "Timeout must not be negative"},
		{"negative capacity", func(o *Options) { o.Capacity = -1 }, "Capacity must not be negative"},
		{"negative metadata interval", func(o *Options) { o.Metadata.Interval = -time.Second }, "Metadata.Interval must not be negative"},
		{"negative disk bytes", func(o *Options) { o.MaxDiskBytes = -1 }, "MaxDiskBytes must not be negative"},
		{"min over max backoff", func(o *Options) { o.MinBackoff = time.Minute }, "MinBackoff 1m0s exceeds MaxBackoff 5s"},
		{"min over max shards", func(o *Options) { o.MinShards, o.MaxShards = 3, 2 }, "MinShards 3 and MaxShards 2 must satisfy"},
		{"too many shards", func(o *Options) { o.MaxShards = 1 << 16 }, "MaxShards 65536 must satisfy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{URL: u, Name: "a", Client: &http.Client{}, Dir: t.TempDir()}
			tc.mod(&o)
			q, err := NewQueue(o)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("NewQueue: %v", err)
				}
				defer q.log.close()
				want := Options{
					Message: MessageV1, Timeout: DefaultTimeout, MaxSamplesPerSend: DefaultMaxSamplesPerSend,
					Capacity: DefaultCapacity, MinShards: DefaultMinShards, MaxShards: DefaultMaxShards,
					MaxDiskBytes: DefaultMaxDiskBytes, MinBackoff: DefaultMinBackoff, MaxBackoff: DefaultMaxBackoff,
					Metadata: MetadataOptions{Interval: DefaultMetadataInterval, MaxPerSend: DefaultMetadataPerSend},
				}
				got := q.o
				got.URL, got.Name, got.Client, got.Dir, got.Logger, got.Now = nil, "", nil, "", nil, nil
				if !reflect.DeepEqual(got, want) {
					t.Errorf("defaults not applied:\n got %+v\nwant %+v", got, want)
				}
				if q.o.Logger == nil || q.o.Now == nil {
					t.Error("Logger or Now left nil")
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
	synctest.Test(t, func(t *testing.T) {
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
		q.Append(pipeline.SampleSlice{
			{Labels: up, T: 1000, V: 1},
			{Labels: up, T: 2000, V: stale},
			{Labels: labels.FromStrings("__name__", "lat", "job", "j"), T: 1500, H: h},
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
	})
}

// TestBatching checks how appended samples are cut into requests: per
// Append and per shard, at most MaxSamplesPerSend each; never two Appends or
// two shards in one request.
func TestBatching(t *testing.T) {
	for _, tc := range []struct {
		name      string
		max       int
		shards    int
		appends   []int // series in successive Append calls before Run starts
		wantSizes []int // request sizes, sorted
	}{
		{"exact batch", 10, 1, []int{10}, []int{10}},
		{"full batches then a partial", 10, 1, []int{25}, []int{5, 10, 10}},
		{"one request per append", 10, 1, []int{3, 4, 5, 6, 7}, []int{3, 4, 5, 6, 7}},
		{"one per request", 1, 1, []int{1, 1, 1}, []int{1, 1, 1}},
		// With 2 shards, series 2, 3, 4 and 8 go to shard 0, the others
		// to shard 1.
		{"per shard", 4, 2, []int{10}, []int{2, 4, 4}},
		{"per shard and append", 4, 2, []int{6, 12}, []int{3, 3, 4, 4, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				rc := newReceiver(t)
				o := testOptions(t, rc)
				o.MaxSamplesPerSend = tc.max
				o.MinShards, o.MaxShards = tc.shards, tc.shards
				q := mustQueue(t, o)

				total := 0
				for i, n := range tc.appends {
					q.Append(cycle(seriesSet(n), int64(i)))
					total += n
				}
				run(t, q)
				waitFor(t, "all sent", func() bool { return q.Pending() == 0 })

				var sizes []int
				for _, req := range rc.deliveredRequests() {
					n, shard, seq := 0, -1, int64(-1)
					for _, ts := range req.Timeseries {
						lset := ts.ToLabels(&labels.ScratchBuilder{}, nil)
						if s := int(lset.Hash() % uint64(tc.shards)); shard >= 0 && s != shard {
							t.Errorf("request mixes shards %d and %d", shard, s)
						} else {
							shard = s
						}
						for _, smp := range ts.Samples {
							// The timestamp is the number of the Append.
							if seq >= 0 && smp.Timestamp != seq {
								t.Errorf("request mixes appends %d and %d", seq, smp.Timestamp)
							}
							seq = smp.Timestamp
						}
						n += len(ts.Samples)
					}
					sizes = append(sizes, n)
				}
				slices.Sort(sizes)
				if !slices.Equal(sizes, tc.wantSizes) {
					t.Errorf("request sizes = %v, want %v", sizes, tc.wantSizes)
				}
				for k, ts := range rc.deliveredTimestamps() {
					if !slices.IsSorted(ts) {
						t.Errorf("series %s delivered out of order: %v", k, ts)
					}
				}
				if n := rc.deliveredSamples(); n != total {
					t.Errorf("delivered %d samples, want %d", n, total)
				}
			})
		})
	}
}

// TestOrderingWhileRunning appends while the sender runs, with a receiver
// that fails now and then, and checks every series arrives complete and in
// order.
func TestOrderingWhileRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
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
	})
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
		opts        func(*Options)
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
			name: "400 out of order",
			script: func(*testing.T) []response {
				return []response{statusBody(http.StatusBadRequest, []byte("out of order sample"))}
			},
			wantReqs:    1,
			wantDropped: map[string]float64{"out_of_order": 5},
			wantCodes:   map[string]float64{"400": 1},
			wantLog:     "reason=out_of_order",
		},
		{
			name: "400 too old",
			script: func(*testing.T) []response {
				return []response{statusBody(http.StatusBadRequest, []byte("too old sample"))}
			},
			wantReqs:    1,
			wantDropped: map[string]float64{"too_old": 5},
		},
		{
			name: "400 out of bounds",
			script: func(*testing.T) []response {
				return []response{statusBody(http.StatusBadRequest, []byte("out of bounds"))}
			},
			wantReqs:    1,
			wantDropped: map[string]float64{"too_old": 5},
		},
		{
			name:        "429 dropped unless retried",
			script:      func(*testing.T) []response { return []response{status(http.StatusTooManyRequests)} },
			opts:        func(o *Options) { o.RetryOnHTTP429 = false },
			wantReqs:    1,
			wantDropped: map[string]float64{"http_429": 5},
			wantCodes:   map[string]float64{"429": 1},
		},
		{
			name: "429 retried",
			script: func(*testing.T) []response {
				return []response{status(http.StatusTooManyRequests), status(http.StatusOK)}
			},
			wantReqs: 2, wantSent: 5, wantRetried: 5,
			wantCodes: map[string]float64{"429": 1, "200": 1},
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
			// In a bubble: backoff and Retry-After wait on fake time.
			synctest.Test(t, func(t *testing.T) {
				rc := newReceiver(t, tc.script(t)...)
				o := testOptions(t, rc)
				if tc.timeout > 0 {
					o.Timeout = tc.timeout
				}
				if tc.opts != nil {
					tc.opts(&o)
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
		})
	}
}

func TestCapacity(t *testing.T) {
	t.Run("disk bound drops the oldest", func(t *testing.T) {
		rc := newReceiver(t)
		o := testOptions(t, rc)
		o.MaxDiskBytes, o.MaxSamplesPerSend = 16<<10, 10
		q := mustQueue(t, o)

		const cycles, perCycle, total = 30, 100, 30 * 100
		for c := range cycles {
			q.Append(floats(perCycle, 1, int64(c*perCycle)))
		}

		dropped := int(testutil.ToFloat64(q.m.samplesDropped.WithLabelValues(reasonQueueFull)))
		if dropped == 0 || dropped >= total {
			t.Fatalf(`samples_dropped_total{reason="queue_full"} = %d, want some of %d`, dropped, total)
		}
		if q.Pending()+dropped != total {
			t.Errorf("Pending = %d and %d dropped, want %d in all", q.Pending(), dropped, total)
		}
		if got := q.log.size(); got > o.MaxDiskBytes {
			t.Errorf("disk queue holds %d bytes, bound is %d", got, o.MaxDiskBytes)
		}
		if got := testutil.ToFloat64(q.m.diskBytes); got <= 0 || got > float64(o.MaxDiskBytes) {
			t.Errorf("queue_disk_bytes = %v, want in (0, %d]", got, o.MaxDiskBytes)
		}

		if err := q.Flush(context.Background()); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		// What is left is the newest samples, all of them.
		checkDelivered(t, rc.deliveredTimestamps(), 1, span(int64(dropped), total, 1), false)
	})

	t.Run("request in flight survives its segment", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			q, rc, _, dropped := fillPastInFlight(t)
			rc.setFallback(status(http.StatusOK))
			waitFor(t, "all sent or dropped", func() bool { return q.Pending() == 0 })

			got := rc.deliveredTimestamps()[`{__name__="m", i="a"}`]
			if !slices.IsSorted(got) || len(got) < 10 || !slices.Equal(got[:10], span(0, 10, 1)) {
				t.Errorf("delivered %v, want 0..9 (the request in flight) first, all in order", got)
			}
			if len(got)+dropped() != inFlightTotal {
				t.Errorf("%d delivered and %d dropped, want %d in all", len(got), dropped(), inFlightTotal)
			}
			if sent := testutil.ToFloat64(q.m.samplesSent); int(sent) != len(got) {
				t.Errorf("samples_sent_total = %v, want %d", sent, len(got))
			}
		})
	})

	t.Run("request in flight stopped after its segment went is counted", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			q, rc, stop, dropped := fillPastInFlight(t)
			// Stopped while the request is still failing: its segment is
			// gone, so it cannot be read again.
			stop()
			if got := dropped() + q.Pending(); got != inFlightTotal {
				t.Errorf("%d dropped and %d pending after the stop, want %d in all", dropped(), q.Pending(), inFlightTotal)
			}
			if got := q.Status().Dropped[reasonQueueFull]; got != dropped() {
				t.Errorf("status counts %d samples dropped for queue_full, want %d as the metric", got, dropped())
			}
			rc.setFallback(status(http.StatusOK))
			if err := q.Flush(context.Background()); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			got := rc.deliveredTimestamps()[`{__name__="m", i="a"}`]
			if len(got)+dropped() != inFlightTotal {
				t.Errorf("%d delivered and %d dropped, want %d in all", len(got), dropped(), inFlightTotal)
			}
		})
	})
}

// inFlightTotal is what fillPastInFlight appends.
const inFlightTotal = 10 + 30*100

// fillPastInFlight starts a queue on a 16 KiB disk bound whose receiver
// fails, puts a request of 10 samples in flight, then appends until the
// segment holding it was deleted for room. It returns the queue, its
// receiver, the stop of its Run and the queue_full drops so far.
func fillPastInFlight(t *testing.T) (q *Queue, rc *receiver, stop func(), dropped func() int) {
	t.Helper()
	rc = newReceiver(t)
	rc.setFallback(status(http.StatusInternalServerError))
	o := testOptions(t, rc)
	o.MaxDiskBytes, o.MaxSamplesPerSend = 16<<10, 10
	q = mustQueue(t, o)
	stop = run(t, q)

	q.Append(floats(10, 1, 0)) // goes in flight and keeps failing
	waitFor(t, "first attempt", func() bool { return rc.requests() > 0 })
	for c := range 30 {
		q.Append(floats(100, 1, int64(10+c*100)))
	}
	dropped = func() int {
		return int(testutil.ToFloat64(q.m.samplesDropped.WithLabelValues(reasonQueueFull)))
	}
	if dropped() == 0 {
		t.Fatal("nothing dropped: the test does not fill the disk queue")
	}
	return q, rc, stop, dropped
}

// TestAppendBacklog appends cycles back to back, read in place as the
// bridge hands them over, as backfill does after a restart, more than the old in-memory bound (Capacity*MaxShards samples
// waiting to be written, 500k by default) held, while the receiver is
// down: Append writes each to disk before it returns, so none is dropped,
// and all arrive once the receiver is back.
func TestAppendBacklog(t *testing.T) {
	const nseries, cycles = 50_000, 20
	rc := newReceiver(t)
	rc.setFallback(status(http.StatusServiceUnavailable))
	o := testOptions(t, rc)
	o.Capacity, o.MaxShards, o.MaxSamplesPerSend = 0, 0, 0 // the defaults
	q := mustQueue(t, o)
	run(t, q)

	series := seriesSet(nseries)
	for c := range cycles {
		if err := q.Append(stamped{series, int64(c)}); err != nil {
			t.Fatalf("Append of cycle %d: %v", c, err)
		}
	}
	if got := sumDropped(t, q); got != 0 {
		t.Fatalf("%v samples dropped, want none", got)
	}
	if got, want := q.Pending(), nseries*cycles; got != want {
		t.Errorf("Pending = %d, want %d", got, want)
	}
	rc.setFallback(status(http.StatusNoContent))
	waitLong(t, "all sent", func() bool { return q.Pending() == 0 })
	checkDelivered(t, rc.deliveredTimestamps(), nseries, span(0, cycles, 1), true)
	if got := sumDropped(t, q); got != 0 {
		t.Errorf("%v samples dropped, want none", got)
	}
}

// stamped is one sample per series at time t, made as it is read, as the
// bridge's cycles are: handing one over costs nothing.
type stamped struct {
	series []labels.Labels
	t      int64
}

func (s stamped) Len() int { return len(s.series) }

func (s stamped) AppendTo(dst []pipeline.Sample, from, to int) []pipeline.Sample {
	for _, l := range s.series[from:to] {
		dst = append(dst, pipeline.Sample{Labels: l, T: s.t, V: float64(s.t)})
	}
	return dst
}

// sumDropped returns the samples q counted as dropped, whatever the reason.
func sumDropped(t *testing.T, q *Queue) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 64)
	go func() { q.m.samplesDropped.Collect(ch); close(ch) }()
	n := 0.0
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		n += pb.GetCounter().GetValue()
	}
	return n
}

// TestAppendIsOnDisk: a cycle is in the on-disk queue when Append returns,
// so that a process killed right after finds it on restart, though nothing
// ran: neither Run nor Flush.
func TestAppendIsOnDisk(t *testing.T) {
	rc := newReceiver(t)
	o := testOptions(t, rc)
	q := mustQueue(t, o)
	const nseries = 250
	if err := q.Append(cycle(seriesSet(nseries), 7)); err != nil {
		t.Fatal(err)
	}
	// Killed here: a new process opens the same directory.
	o.Registerer = prometheus.NewRegistry()
	q2 := mustQueue(t, o)
	if got := q2.Pending(); got != nseries {
		t.Fatalf("Pending after a restart = %d, want the %d samples appended", got, nseries)
	}
	if err := q2.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, rc.deliveredTimestamps(), nseries, []int64{7}, false)
}

// TestFlush checks that what Flush cannot send by its deadline stays on
// disk, and that the next queue on the same directory sends it, once.
func TestFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rc := newReceiver(t)
		rc.setFallback(status(http.StatusServiceUnavailable))
		o := testOptions(t, rc)
		o.MaxSamplesPerSend = 4
		q := mustQueue(t, o)
		q.Append(floats(7, 1, 0))

		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		err := q.Flush(ctx)
		if err == nil || !strings.Contains(err.Error(), "7 samples left unsent on disk") || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Flush error = %v, want 7 samples left unsent and DeadlineExceeded", err)
		}
		if q.Pending() != 7 {
			t.Errorf("Pending = %d, want 7", q.Pending())
		}
		if got := testutil.ToFloat64(q.m.pendingSamples); got != 7 {
			t.Errorf("pending_samples = %v, want 7", got)
		}
		if got := testutil.ToFloat64(q.m.diskBytes); got <= 0 {
			t.Errorf("queue_disk_bytes = %v, want > 0", got)
		}
		if rc.requests() == 0 {
			t.Error("Flush sent nothing")
		}

		// The receiver recovers; a new queue on the same directory (a restart)
		// sends what was left, the request that was in flight first.
		rc.setFallback(status(http.StatusOK))
		o.Registerer = prometheus.NewRegistry()
		q2 := mustQueue(t, o)
		if q2.Pending() != 7 {
			t.Errorf("Pending after restart = %d, want 7", q2.Pending())
		}
		stop := run(t, q2)
		waitFor(t, "all sent", func() bool { return q2.Pending() == 0 })
		stop()
		if err := q2.Flush(context.Background()); err != nil {
			t.Fatalf("Flush after sending all: %v", err)
		}
		checkDelivered(t, rc.deliveredTimestamps(), 1, span(0, 7, 1), false)
		if n := len(rc.deliveredRequests()); n != 2 {
			t.Errorf("delivered in %d requests, want 2 (batches of 4 and 3)", n)
		}
		if n := len(segments(t, o.Dir)); n != 1 {
			t.Errorf("%d segment files left, want 1 (the one written to)", n)
		}

		// Nothing is sent twice by the next start.
		o.Registerer = prometheus.NewRegistry()
		q3 := mustQueue(t, o)
		if q3.Pending() != 0 {
			t.Errorf("Pending after a clean shutdown = %d, want 0", q3.Pending())
		}
		if err := q3.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRunCancelThenFlush is the shutdown sequence: cancel Run while it is
// retrying, then Flush what is left, the request that was in flight first.
func TestRunCancelThenFlush(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first int // samples appended while Run runs, 3 a request
	}{
		// Run stops while waiting to start the second request.
		{"a request waiting", 5},
		// Run stops while waiting for more to read.
		{"nothing waiting", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				rc := newReceiver(t)
				rc.setFallback(status(http.StatusInternalServerError))
				o := testOptions(t, rc)
				o.MaxSamplesPerSend = 3
				q := mustQueue(t, o)
				stop := run(t, q)

				q.Append(floats(tc.first, 1, 0))
				waitFor(t, "retries", func() bool { return rc.requests() >= 3 })
				stop()
				q.Append(floats(2, 1, int64(tc.first)))
				if want := tc.first + 2; q.Pending() != want {
					t.Errorf("Pending after Run = %d, want %d", q.Pending(), want)
				}

				rc.setFallback(status(http.StatusOK))
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				if err := q.Flush(ctx); err != nil {
					t.Fatalf("Flush: %v", err)
				}
				checkDelivered(t, rc.deliveredTimestamps(), 1, span(0, int64(tc.first+2), 1), false)
			})
		})
	}
}

// TestKillAndRestart stops a queue the way kill -9 does, without Flush,
// while its endpoint is down, and checks that the next queue on the same
// directory sends every sample, each series in order, alongside what is
// appended after the restart.
func TestKillAndRestart(t *testing.T) {
	for _, tc := range []struct {
		name          string
		before, after int // cycles appended before the kill and after the restart
	}{
		// One cycle each: after the restart, the first new Append must not
		// pass for the one before the kill.
		{"one cycle on disk", 1, 1},
		{"several cycles on disk", 8, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				const nseries = 40
				series := seriesSet(nseries)

				down := newReceiver(t)
				down.setFallback(status(http.StatusServiceUnavailable))
				o := testOptions(t, down)
				o.MinShards, o.MaxShards, o.MaxSamplesPerSend = 4, 4, 10
				q := mustQueue(t, o)
				kill := run(t, q)
				for c := range tc.before {
					q.Append(stamped{series, int64(c)})
				}
				waitFor(t, "tried", func() bool { return down.requests() >= 4 })
				kill() // and never Flush: the files are left as they are

				// The samples from before the kill are sent slowly, so that a
				// new request that does not wait for them overtakes them.
				up := newReceiver(t)
				up.setFallback(func(w http.ResponseWriter, r *http.Request) {
					old := false
					for _, ts := range gotFrom(r).v1.Timeseries {
						old = old || len(ts.Samples) > 0 && ts.Samples[0].Timestamp < int64(tc.before)
					}
					d := time.Duration(rand.IntN(3)) * time.Millisecond
					if old {
						d += 20 * time.Millisecond
					}
					time.Sleep(d)
					w.WriteHeader(http.StatusNoContent)
				})
				o2 := testOptions(t, up)
				o2.Dir, o2.MinShards, o2.MaxShards, o2.MaxSamplesPerSend = o.Dir, 4, 4, 10
				q2 := mustQueue(t, o2)
				if got, want := q2.Pending(), tc.before*nseries; got != want {
					t.Errorf("Pending after restart = %d, want %d", got, want)
				}
				run(t, q2)
				for c := tc.before; c < tc.before+tc.after; c++ {
					q2.Append(cycle(series, int64(c)))
				}
				waitFor(t, "all sent", func() bool { return q2.Pending() == 0 })
				checkDelivered(t, up.deliveredTimestamps(), nseries, span(0, int64(tc.before+tc.after), 1), true)
			})
		})
	}
}

// TestKillWhileSending copies the queue's directory while it sends, as a
// kill -9 would leave it, and checks that a queue started on the copy sends
// at least what the first had not sent yet, each series in order.
func TestKillWhileSending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const nseries, cycles = 40, 20
		series := seriesSet(nseries)
		before := newReceiver(t)
		before.setFallback(func(w http.ResponseWriter, _ *http.Request) {
			time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
			w.WriteHeader(http.StatusNoContent)
		})
		o := testOptions(t, before)
		o.MinShards, o.MaxShards, o.MaxSamplesPerSend = 4, 4, 10
		q := mustQueue(t, o)
		for c := range cycles {
			q.Append(stamped{series, int64(c)})
		}
		stop := run(t, q)
		waitFor(t, "a third sent", func() bool { return before.deliveredSamples() >= nseries*cycles/3 })
		snapshot := t.TempDir()
		copyDir(t, o.Dir, snapshot)
		stop()
		if before.deliveredSamples() == nseries*cycles {
			t.Log("all sent before the snapshot was complete; the test proves less")
		}

		after := newReceiver(t)
		o2 := testOptions(t, after)
		o2.Dir, o2.MinShards, o2.MaxShards, o2.MaxSamplesPerSend = snapshot, 4, 4, 10
		q2 := mustQueue(t, o2)
		run(t, q2)
		waitFor(t, "all sent", func() bool { return q2.Pending() == 0 })

		got := after.deliveredTimestamps()
		for k, ts := range got {
			if !slices.IsSorted(ts) {
				t.Errorf("series %s: sent %v after the restart, out of order", k, ts)
			}
		}
		// Each (series, timestamp) arrived at one of the two at least.
		for k, ts := range before.deliveredTimestamps() {
			got[k] = append(got[k], ts...)
		}
		for k, ts := range got {
			slices.Sort(ts)
			got[k] = slices.Compact(ts)
		}
		checkDelivered(t, got, nseries, span(0, cycles, 1), false)
	})
}

// copyDir copies the files of src to dst, skipping those that vanish while
// it runs (segments deleted once sent).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestShardedOrder sends to a receiver of random latency and checks that
// requests overlap and yet every series arrives in order: with four shards,
// and with the number of shards changing between cycles, as shardLoop
// changes it, while requests for the old number are still in flight.
func TestShardedOrder(t *testing.T) {
	for _, tc := range []struct {
		name            string
		shards          int
		latency         int // most milliseconds an answer takes
		cycles, nseries int
		changes         []int32 // if set, the shards every 4 cycles
	}{
		{name: "four shards", shards: 4, latency: 20, cycles: 50, nseries: 500},
		{name: "shard count changes", shards: 8, latency: 4, cycles: 40, nseries: 300, changes: []int32{1, 3, 8, 2, 5, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rc := newReceiver(t)
				rc.setFallback(func(w http.ResponseWriter, _ *http.Request) {
					time.Sleep(time.Duration(rand.IntN(tc.latency+1)) * time.Millisecond)
					w.WriteHeader(http.StatusNoContent)
				})
				o := testOptions(t, rc)
				o.MinShards, o.MaxShards = tc.shards, tc.shards
				if tc.changes != nil {
					o.MinShards = 1
				}
				o.Capacity = 10000 // room for every cycle in memory
				q := mustQueue(t, o)
				run(t, q)

				series := seriesSet(tc.nseries)
				for c := range tc.cycles {
					if tc.changes != nil && c%4 == 0 {
						q.shards.Store(tc.changes[(c/4)%len(tc.changes)])
						q.mu.Lock()
						q.cond.Broadcast()
						q.mu.Unlock()
						time.Sleep(time.Millisecond) // let requests for the old count start
					}
					q.Append(stamped{series, int64(c)})
				}
				waitFor(t, "all sent", func() bool { return q.Pending() == 0 })

				checkDelivered(t, rc.deliveredTimestamps(), tc.nseries, span(0, int64(tc.cycles), 1), false)
				if got := testutil.ToFloat64(q.m.samplesSent); got != float64(tc.cycles*tc.nseries) {
					t.Errorf("samples_sent_total = %v, want %d", got, tc.cycles*tc.nseries)
				}
				if got := rc.maxInFlight(); got < 2 {
					t.Errorf("at most %d request in flight at once, want several", got)
				}
				if got := testutil.ToFloat64(q.m.shards); tc.changes == nil && got != float64(tc.shards) {
					t.Errorf("shards = %v, want %d", got, tc.shards)
				}
			})
		})
	}
}

// TestRemoteWrite2 sends 2.0 to receivers that speak it, do not, or lose
// samples. Part of the samples are on disk as 2.0 before the first answer.
func TestRemoteWrite2(t *testing.T) {
	// v2Only answers 415 to 2.0 requests and 204 to 1.0 ones.
	v2Only := func(w http.ResponseWriter, r *http.Request) {
		if gotFrom(r).v2 != nil {
			w.WriteHeader(http.StatusUnsupportedMediaType)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
	// partial claims two float samples fewer than the request held.
	partial := func(w http.ResponseWriter, r *http.Request) {
		n := 0
		for _, ts := range gotFrom(r).v2.Timeseries {
			n += len(ts.Samples)
		}
		w.Header().Set(headerSamplesWritten, strconv.Itoa(n-2))
		w.WriteHeader(http.StatusOK)
	}
	for _, tc := range []struct {
		name          string
		written       bool // the receiver sends the Written headers
		script        []response
		fallback      response
		wantV1        bool // samples arrive as 1.0, after a fallback
		wantDropped   map[string]float64
		wantCodes     map[string]float64
		wantMetadata  bool // 1.0 metadata requests arrive
		wantFallbacks float64
	}{
		{
			name:      "2.0 receiver",
			written:   true,
			wantCodes: map[string]float64{"204": 5},
		},
		{
			name:          "415 falls back to 1.0",
			fallback:      v2Only,
			wantV1:        true,
			wantMetadata:  true,
			wantFallbacks: 1,
			wantCodes:     map[string]float64{"415": 1},
		},
		{
			name:          "2xx without Written headers falls back to 1.0",
			wantV1:        true,
			wantMetadata:  true,
			wantFallbacks: 1,
		},
		{
			name:        "partial write",
			written:     true,
			script:      []response{partial},
			wantDropped: map[string]float64{reasonPartialWrite: 2},
			wantCodes:   map[string]float64{"200": 1, "204": 4},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				rc := newReceiver(t, tc.script...)
				rc.setWritten(tc.written)
				if tc.fallback != nil {
					rc.setFallback(tc.fallback)
				}
				o := testOptions(t, rc)
				o.Message = MessageV2
				o.Metadata = MetadataOptions{Send: true, Interval: 10 * time.Millisecond}
				var logs syncBuffer
				o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
				q := mustQueue(t, o)

				const nseries, cycles = 10, 5
				meta := &metadata.Metadata{Type: model.MetricTypeGauge, Help: "Some gauge.", Unit: "seconds"}
				add := func(c int) {
					s := cycle(seriesSet(nseries), int64(c))
					for i := range s {
						s[i].Meta = meta
					}
					q.Append(s)
				}
				for c := range 3 {
					add(c)
				}
				run(t, q)
				for c := 3; c < cycles; c++ {
					add(c)
				}
				waitFor(t, "all sent", func() bool { return q.Pending() == 0 })
				if tc.wantMetadata {
					waitFor(t, "metadata sent", func() bool { return testutil.ToFloat64(q.m.metadataSent) > 0 })
				}

				var kept []*gotRequest // the deliveries that count
				for _, g := range rc.deliveredGot() {
					if len(g.v1.Metadata) > 0 {
						if !tc.wantMetadata {
							t.Errorf("unexpected 1.0 metadata request: %v", g.v1.Metadata)
						}
						continue
					}
					if (g.v2 == nil) != tc.wantV1 {
						if g.v2 != nil && tc.wantV1 {
							continue // a 1.0 receiver acknowledging what it cannot read
						}
						t.Errorf("delivered a request of the wrong version (2.0: %v)", g.v2 != nil)
					}
					kept = append(kept, g)
				}
				got := map[string][]int64{}
				missing := 0
				for _, g := range kept {
					for _, ts := range g.v1.Timeseries {
						k := ts.ToLabels(&labels.ScratchBuilder{}, nil).String()
						for _, s := range ts.Samples {
							got[k] = append(got[k], s.Timestamp)
						}
					}
					if g.v2 == nil {
						continue
					}
					for _, ts := range g.v2.Timeseries {
						md, err := ts.ToMetadata(g.v2.Symbols)
						if err != nil {
							t.Fatal(err)
						}
						if md != *meta {
							t.Errorf("2.0 series metadata = %+v, want %+v", md, *meta)
						}
					}
				}
				if tc.wantDropped == nil {
					checkDelivered(t, got, nseries, span(0, cycles, 1), false)
				} else {
					for _, ts := range got {
						missing += cycles - len(ts)
					}
					if missing != 0 {
						t.Errorf("receiver lacks %d samples; it only claimed not to write some", missing)
					}
				}

				if got := testutil.ToFloat64(q.m.fallbacks); got != tc.wantFallbacks {
					t.Errorf("protocol_fallbacks_total = %v, want %v", got, tc.wantFallbacks)
				}
				if got, want := strings.Count(logs.String(), "falling back to 1.0"), int(tc.wantFallbacks); got != want {
					t.Errorf("fallback logged %d times, want %d:\n%s", got, want, logs.String())
				}
				if got := testutil.CollectAndCount(q.m.samplesDropped); got != len(tc.wantDropped) {
					t.Errorf("samples_dropped_total has %d reasons, want %v", got, tc.wantDropped)
				}
				dropped := 0.0
				for reason, want := range tc.wantDropped {
					got := testutil.ToFloat64(q.m.samplesDropped.WithLabelValues(reason))
					if got != want {
						t.Errorf("samples_dropped_total{reason=%q} = %v, want %v", reason, got, want)
					}
					dropped += got
				}
				if got, want := testutil.ToFloat64(q.m.samplesSent), float64(nseries*cycles)-dropped; got != want {
					t.Errorf("samples_sent_total = %v, want %v", got, want)
				}
				for code, want := range tc.wantCodes {
					if got := testutil.ToFloat64(q.m.requests.WithLabelValues(code)); got < want {
						t.Errorf("requests_total{code=%q} = %v, want at least %v", code, got, want)
					}
				}
			})
		})
	}
}

// TestRelabel checks write relabeling and external labels at the receiver.
func TestRelabel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dropDev := &relabel.Config{
			SourceLabels: model.LabelNames{"env"}, Separator: ";", Regex: relabel.MustNewRegexp("dev"), Action: relabel.Drop,
		}
		dropTmp := &relabel.Config{}
		*dropTmp = relabel.DefaultRelabelConfig
		dropTmp.Regex, dropTmp.Action = relabel.MustNewRegexp("tmp"), relabel.LabelDrop
		for _, c := range []*relabel.Config{dropDev, dropTmp} {
			if err := c.Validate(model.UTF8Validation); err != nil {
				t.Fatal(err)
			}
		}
		rc := newReceiver(t)
		o := testOptions(t, rc)
		o.RelabelConfigs = []*relabel.Config{dropDev, dropTmp}
		o.ExternalLabels = labels.FromStrings("cluster", "eu", "job", "bridge")
		q := mustQueue(t, o)
		run(t, q)

		q.Append(pipeline.SampleSlice{
			{Labels: labels.FromStrings("__name__", "a", "env", "prod", "tmp", "x"), T: 1},
			{Labels: labels.FromStrings("__name__", "b", "env", "dev"), T: 1},
			{Labels: labels.FromStrings("__name__", "c", "job", "own"), T: 1},
			{Labels: labels.FromStrings("__name__", "d", "cluster", "us", "job", "own"), T: 1},
		})
		waitFor(t, "all sent", func() bool { return q.Pending() == 0 })

		var got []string
		for k := range rc.deliveredTimestamps() {
			got = append(got, k)
		}
		slices.Sort(got)
		want := []string{
			`{__name__="a", cluster="eu", env="prod", job="bridge"}`,
			`{__name__="c", cluster="eu", job="own"}`,
			`{__name__="d", cluster="us", job="own"}`,
		}
		if !slices.Equal(got, want) {
			t.Errorf("series at the receiver:\n got %q\nwant %q", got, want)
		}
		if got := testutil.ToFloat64(q.m.samplesSent); got != 3 {
			t.Errorf("samples_sent_total = %v, want 3 (dropped series are not counted)", got)
		}
	})
}

// TestPrepareRemembersSeries writes cycles through one queue's series cache
// and checks each request against one encoded without it: series repeated
// (same or copied labels), reordered, added, and dropped by relabeling.
func TestPrepareRemembersSeries(t *testing.T) {
	cfgs := []*relabel.Config{{
		SourceLabels: model.LabelNames{"env"}, Separator: ";", Regex: relabel.MustNewRegexp("dev"), Action: relabel.Drop,
	}}
	external := labels.FromStrings("cluster", "eu")
	o := testOptions(t, newReceiver(t))
	o.RelabelConfigs, o.ExternalLabels = cfgs, external
	q := mustQueue(t, o)
	a := labels.FromStrings("__name__", "a", "env", "prod")
	b := labels.FromStrings("__name__", "b", "job", "x")
	c := labels.FromStrings("__name__", "c", "job", "y")
	aDev := labels.FromStrings("__name__", "a", "env", "dev")
	copied := labels.FromStrings("__name__", strings.Clone("a"), "env", strings.Clone("prod"))
	for i, cycle := range [][]labels.Labels{
		{a, b},
		{a, b},
		{copied, b},
		{b, a, c},
		{aDev, b, c},
		{a, b},
	} {
		var samples []pipeline.Sample
		for _, ls := range cycle {
			samples = append(samples, pipeline.Sample{Labels: ls, T: int64(i), V: float64(i)})
		}
		want, _, err := newEncoder(encodeOptions{}).encode(Relabel(slices.Clone(samples), cfgs, external))
		if err != nil {
			t.Fatal(err)
		}
		wantReq := render(decode(t, slices.Clone(want)))
		// Prepared in two pieces, as the writer reads a cycle.
		q.startPrepare(len(samples))
		half := len(samples) / 2
		kept := slices.Clone(q.prepare(samples[:half], 0))
		kept = append(kept, q.prepare(samples[half:], half)...)
		got, _, err := q.enc.encode(kept)
		if err != nil {
			t.Fatal(err)
		}
		if gotReq := render(decode(t, got)); gotReq != wantReq {
			t.Errorf("cycle %d: got %s, want %s", i, gotReq, wantReq)
		}
	}
}

// TestMetadataV1 checks the metadata requests of remote write 1.0.
func TestMetadataV1(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rc := newReceiver(t)
		o := testOptions(t, rc)
		o.Metadata = MetadataOptions{Send: true, Interval: 10 * time.Millisecond, MaxPerSend: 2}
		q := mustQueue(t, o)
		run(t, q)

		hist := &metadata.Metadata{Type: model.MetricTypeHistogram, Help: "Latency.", Unit: "seconds"}
		sum := &metadata.Metadata{Type: model.MetricTypeSummary, Help: "RPCs."}
		gauge := &metadata.Metadata{Type: model.MetricTypeGauge, Help: "Temperature."}
		q.Append(pipeline.SampleSlice{
			{Labels: labels.FromStrings("__name__", "lat_seconds_bucket", "le", "1"), T: 1, Meta: hist},
			{Labels: labels.FromStrings("__name__", "lat_seconds_bucket", "le", "+Inf"), T: 1, Meta: hist},
			{Labels: labels.FromStrings("__name__", "lat_seconds_sum"), T: 1, Meta: hist},
			{Labels: labels.FromStrings("__name__", "lat_seconds_count"), T: 1, Meta: hist},
			{Labels: labels.FromStrings("__name__", "rpc_count"), T: 1, Meta: sum},
			{Labels: labels.FromStrings("__name__", "temp"), T: 1, Meta: gauge},
			{Labels: labels.FromStrings("__name__", "unknown"), T: 1},
		})
		waitFor(t, "a metadata round", func() bool { return testutil.ToFloat64(q.m.metadataSent) >= 3 })

		var got []string
		for _, req := range rc.deliveredRequests() {
			if len(req.Metadata) == 0 {
				continue
			}
			if len(req.Timeseries) != 0 {
				t.Errorf("metadata request holds %d series", len(req.Timeseries))
			}
			if len(req.Metadata) > 2 {
				t.Errorf("metadata request holds %d entries, want at most MaxPerSend 2", len(req.Metadata))
			}
			for _, m := range req.Metadata {
				got = append(got, fmt.Sprintf("%s %s %q %q", m.MetricFamilyName, m.Type, m.Help, m.Unit))
			}
			if len(got) >= 3 {
				break
			}
		}
		want := []string{
			`lat_seconds HISTOGRAM "Latency." "seconds"`,
			`rpc SUMMARY "RPCs." ""`,
			`temp GAUGE "Temperature." ""`,
		}
		if !slices.Equal(got, want) {
			t.Errorf("first metadata round:\n got %q\nwant %q", got, want)
		}
	})
}

func TestDesiredShards(t *testing.T) {
	const interval = 10 * time.Second
	for _, tc := range []struct {
		name            string
		cur             int
		in, out         int64
		busy            time.Duration
		pending, lo, hi int
		want            int
	}{
		{name: "nothing sent: unchanged", cur: 3, in: 1000, busy: time.Second, lo: 1, hi: 10, want: 3},
		{name: "no busy time: unchanged", cur: 3, in: 1000, out: 1000, lo: 1, hi: 10, want: 3},
		// 10ms a sample, 1000 in: 10s of work in 10s, plus 20% headroom.
		{name: "one shard is not enough", cur: 1, in: 1000, out: 1000, busy: 10 * time.Second, lo: 1, hi: 10, want: 2},
		// 1 shard for what arrives, 400 pending to send within 2s: 2 more.
		{name: "backlog counts", cur: 1, in: 1000, out: 1000, busy: 10 * time.Second, pending: 400, lo: 1, hi: 10, want: 4},
		{name: "backlog of an outage", cur: 1, in: 0, out: 10000, busy: 10 * time.Millisecond, pending: 4_000_000, lo: 1, hi: 50, want: 3},
		{name: "capped at max", cur: 2, in: 100000, out: 1000, busy: 10 * time.Second, lo: 1, hi: 10, want: 10},
		{name: "idle shrinks to min", cur: 8, in: 10, out: 1000, busy: time.Second, lo: 2, hi: 10, want: 2},
		{name: "change under 30% ignored", cur: 10, in: 9000, out: 1000, busy: 10 * time.Second, lo: 1, hi: 20, want: 10},
		{name: "change of 30% done", cur: 10, in: 11000, out: 1000, busy: 10 * time.Second, lo: 1, hi: 20, want: 14},
		{name: "small change to a bound done", cur: 9, in: 9000, out: 1000, busy: 10 * time.Second, lo: 1, hi: 10, want: 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := desiredShards(tc.cur, tc.in, tc.out, tc.busy, tc.pending, interval, tc.lo, tc.hi); got != tc.want {
				t.Errorf("desiredShards = %d, want %d", got, tc.want)
			}
		})
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
	// A queue that cannot open its directory leaves no metrics behind.
	o.Name, o.Dir = "c", filepath.Join(o.Dir, "file")
	if err := os.WriteFile(o.Dir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	o.Dir = filepath.Join(o.Dir, "q")
	if _, err := NewQueue(o); err == nil {
		t.Error("queue in an unusable directory: no error")
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
		"pushgateway_bridge_remote_write_exemplars_unwritten_total",
		"pushgateway_bridge_remote_write_highest_sent_timestamp_seconds",
		"pushgateway_bridge_remote_write_histograms_sent_total",
		"pushgateway_bridge_remote_write_metadata_dropped_total",
		"pushgateway_bridge_remote_write_metadata_sent_total",
		"pushgateway_bridge_remote_write_pending_samples",
		"pushgateway_bridge_remote_write_protocol_fallbacks_total",
		"pushgateway_bridge_remote_write_queue_disk_bytes",
		"pushgateway_bridge_remote_write_queue_disk_corrupt_segments_total",
		"pushgateway_bridge_remote_write_queue_disk_failing",
		"pushgateway_bridge_remote_write_request_duration_seconds",
		"pushgateway_bridge_remote_write_requests_total",
		"pushgateway_bridge_remote_write_samples_dropped_total",
		"pushgateway_bridge_remote_write_samples_failed_total",
		"pushgateway_bridge_remote_write_samples_retried_total",
		"pushgateway_bridge_remote_write_samples_sent_total",
		"pushgateway_bridge_remote_write_sent_bytes_total",
		"pushgateway_bridge_remote_write_shards",
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

// TestFlushKeepsBackoff stops a queue whose receiver keeps answering 503,
// once its backoff reached MaxBackoff, and flushes it, as a shutdown does:
// the flush does not restart the backoff at MinBackoff (a burst of requests
// at every restart), but waits what the interrupted retry would have
// waited, and goes on at MaxBackoff. A Retry-After holds the same way.
func TestFlushKeepsBackoff(t *testing.T) {
	for _, tc := range []struct {
		name string
		resp response
		wait time.Duration // between two attempts once backed off
	}{
		{"backoff", status(http.StatusServiceUnavailable), 5 * time.Second},
		{"retry-after", status(http.StatusServiceUnavailable, "Retry-After", "20"), 20 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var (
					mu    sync.Mutex
					times []time.Time
				)
				rc := newReceiver(t)
				rc.setFallback(func(w http.ResponseWriter, r *http.Request) {
					mu.Lock()
					times = append(times, time.Now())
					mu.Unlock()
					tc.resp(w, r)
				})
				attempts := func() []time.Time {
					mu.Lock()
					defer mu.Unlock()
					return slices.Clone(times)
				}
				o := testOptions(t, rc)
				o.MinBackoff, o.MaxBackoff = 30*time.Millisecond, 5*time.Second
				q := mustQueue(t, o)
				stop := run(t, q)
				if err := q.Append(floats(3, 1, 0)); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Minute) // backed off to the most
				n := len(attempts())
				for len(attempts()) == n {
					time.Sleep(10 * time.Millisecond)
				}
				last := attempts()[n]
				time.Sleep(tc.wait / 2) // halfway into the wait after it
				stop()

				flushed := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 3*tc.wait)
				defer cancel()
				if err := q.Flush(ctx); err == nil {
					t.Fatal("Flush succeeded against a receiver that is down")
				}
				var during []time.Time
				for _, at := range attempts() {
					if !at.Before(flushed) {
						during = append(during, at)
					}
				}
				if len(during) == 0 {
					t.Fatal("Flush sent nothing")
				}
				if first := during[0].Sub(last); first < tc.wait {
					t.Errorf("Flush's first attempt %v after the last one of Run, want %v at least (the backoff reached)", first, tc.wait)
				}
				for i := 1; i < len(during); i++ {
					if gap := during[i].Sub(during[i-1]); gap < tc.wait {
						t.Errorf("Flush attempt %d %v after the one before, want %v at least", i+1, gap, tc.wait)
					}
				}
				if most := 3; len(during) > most {
					t.Errorf("Flush made %d attempts in %v, want at most %d", len(during), 3*tc.wait, most)
				}
			})
		})
	}
}

// TestQueueFullKeepsStaleMarkers fills the on-disk queue past its bound
// while the receiver is down, with cycles that each end a series: the
// oldest requests are dropped and counted, but not their staleness
// markers, which arrive once the receiver is back.
func TestQueueFullKeepsStaleMarkers(t *testing.T) {
	for _, msg := range []Message{MessageV1, MessageV2} {
		t.Run(string(msg), func(t *testing.T) {
			rc := newReceiver(t)
			rc.setWritten(true)
			rc.setFallback(status(http.StatusServiceUnavailable))
			o := testOptions(t, rc)
			o.Message = msg
			o.MaxDiskBytes, o.MaxSamplesPerSend = 16<<10, 10
			q := mustQueue(t, o)

			const nseries, cycles = 20, 60
			series := seriesSet(nseries)
			stale := math.Float64frombits(value.StaleNaN)
			// The markers' metadata goes with them (2.0 carries it), also
			// when they are rescued from a dropped request.
			goneMeta := &metadata.Metadata{Type: model.MetricTypeCounter, Unit: "bytes"}
			for c := range cycles {
				s := cycle(series, int64(c))
				s = append(s, pipeline.Sample{Labels: labels.FromStrings("__name__", "gone", "cycle", strconv.Itoa(c)), T: int64(c), V: stale, Meta: goneMeta})
				if err := q.Append(s); err != nil {
					t.Fatal(err)
				}
			}
			total := cycles * (nseries + 1)
			dropped := int(testutil.ToFloat64(q.m.samplesDropped.WithLabelValues(reasonQueueFull)))
			if dropped == 0 {
				t.Fatal("nothing dropped: the test does not fill the disk queue")
			}
			if got := q.log.size(); got > o.MaxDiskBytes {
				t.Errorf("disk queue holds %d bytes, bound is %d", got, o.MaxDiskBytes)
			}
			rc.setFallback(status(http.StatusNoContent))
			if err := q.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			markers, delivered := map[string]int{}, 0
			for _, req := range rc.deliveredRequests() {
				for _, ts := range req.Timeseries {
					for _, s := range ts.Samples {
						delivered++
						if value.IsStaleNaN(s.Value) {
							markers[labelsOf(ts).Get("cycle")]++
						}
					}
				}
			}
			for c := range cycles {
				if n := markers[strconv.Itoa(c)]; n != 1 {
					t.Errorf("staleness marker of cycle %d delivered %d times, want once", c, n)
				}
			}
			if msg == MessageV2 {
				for _, g := range rc.deliveredGot() {
					for _, ts := range g.v2.Timeseries {
						m, err := ts.ToMetadata(g.v2.Symbols)
						if n := ts.LabelsRefs; len(n) > 1 && g.v2.Symbols[n[1]] == "gone" && (err != nil || m.Type != model.MetricTypeCounter || m.Unit != "bytes") {
							t.Errorf("a marker of gone arrived with metadata %+v (%v), want counter in bytes", m, err)
						}
					}
				}
			}
			if delivered+dropped != total {
				t.Errorf("%d delivered and %d dropped, want %d in all", delivered, dropped, total)
			}
		})
	}
}

// labelsOf returns the labels of a decoded series.
func labelsOf(ts prompb.TimeSeries) labels.Labels {
	var b labels.ScratchBuilder
	for _, l := range ts.Labels {
		b.Add(l.Name, l.Value)
	}
	return b.Labels()
}

// BenchmarkAppend writes 10k-series cycles to a queue whose receiver never
// gets them (no Run): the write path of a cycle, relabeling to the disk,
// and, once the 64 MiB bound is reached, dropping the oldest segments.
func BenchmarkAppend(b *testing.B) {
	for _, msg := range []Message{MessageV1, MessageV2} {
		b.Run(string(msg), func(b *testing.B) {
			u, _ := url.Parse("http://receiver.test/api/v1/write")
			q, err := NewQueue(Options{URL: u, Name: "bench", Dir: b.TempDir(), Client: &http.Client{}, Message: msg, MaxDiskBytes: 64 << 20})
			if err != nil {
				b.Fatal(err)
			}
			series := seriesSet(10_000)
			b.ReportAllocs()
			var t int64
			for b.Loop() {
				t++
				if err := q.Append(stamped{series, t}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(series)), "ns/sample")
		})
	}
}

// After an outage, the backlog goes out on more shards as soon as a request
// is acknowledged again, not at the next update of the shards (10s later):
// one shard would take 8s here.
func TestBacklogReshardedOnRecovery(t *testing.T) {
	rc := newReceiver(t, status(http.StatusServiceUnavailable), status(http.StatusServiceUnavailable))
	rc.setFallback(slow(20 * time.Millisecond))
	o := testOptions(t, rc)
	o.MinShards, o.MaxShards = 1, 10
	q := mustQueue(t, o)
	series := seriesSet(1000)
	const cycles = 40 // 400 requests of 100 samples
	for c := range cycles {
		if err := q.Append(cycle(series, int64(c+1)*1000)); err != nil {
			t.Fatal(err)
		}
	}
	run(t, q)
	waitFor(t, "more than one shard", func() bool { return q.Status().Shards > 1 })
	waitFor(t, "the backlog drained", func() bool { return q.Pending() == 0 })
	if got := rc.maxInFlight(); got < 2 {
		t.Errorf("at most %d request in flight while draining, want several", got)
	}
	checkDelivered(t, rc.deliveredTimestamps(), len(series), span(1000, (cycles+1)*1000, 1000), false)
}

package pushgateway

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"
)

func TestScrapeLimits(t *testing.T) {
	for _, capture := range []struct{ file, contentType string }{
		{"metrics.pb", protoType},
		{"metrics.txt", textType},
	} {
		metrics := readFile(t, capture.file)
		// Padded (JSON allows trailing space) to be larger than the
		// capture, which needs it: a limit between the two fails on the
		// second request.
		api := append(readFile(t, "api_v1_metrics.json"), bytes.Repeat([]byte(" "), len(metrics))...)
		srv, _ := fakeGateway(t, metrics, capture.contentType, api)
		u, _ := url.Parse(srv.URL)
		scrape := func(o Options) error {
			c := NewClient(u, srv.Client(), "test", o)
			// Twice: the second scrape of the protobuf exposition takes
			// the cache's shortcut, and must be judged the same.
			_, err := c.Scrape(context.Background())
			_, err2 := c.Scrape(context.Background())
			if (err == nil) != (err2 == nil) {
				t.Errorf("first scrape: %v, second: %v", err, err2)
			}
			return err
		}
		if err := scrape(Options{}); err != nil {
			t.Fatal(err)
		}
		c := NewClient(u, srv.Client(), "test", Options{})
		snap, err := c.Scrape(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		series := seriesOf(snap)
		for _, tc := range []struct {
			name       string
			o          Options
			wantReason string // "" for no error
			wantSeen   int64
		}{
			{"no limits", Options{BodySizeLimit: 0, SampleLimit: 0}, "", 0},
			{"body at the limit", Options{BodySizeLimit: int64(len(api))}, "", 0},
			{"body one byte over", Options{BodySizeLimit: int64(len(metrics)) - 1}, ReasonBodySizeLimit, 0},
			{"api body over", Options{BodySizeLimit: int64(len(metrics))}, ReasonBodySizeLimit, 0},
			{"negative is no limit", Options{BodySizeLimit: -1, SampleLimit: -1}, "", 0},
			{"samples at the limit", Options{SampleLimit: series}, "", 0},
			{"samples one over", Options{SampleLimit: series - 1}, ReasonSampleLimit, int64(series)},
		} {
			t.Run(capture.file+"/"+tc.name, func(t *testing.T) {
				err := scrape(tc.o)
				if tc.wantReason == "" {
					if err != nil {
						t.Fatalf("scrape: %v, want none", err)
					}
					return
				}
				le, ok := errors.AsType[*LimitError](err)
				if !ok {
					t.Fatalf("scrape error %v, want a *LimitError", err)
				}
				if le.ScrapeFailureReason() != tc.wantReason || le.Seen != tc.wantSeen {
					t.Errorf("limit error %+v, want reason %s, seen %d", le, tc.wantReason, tc.wantSeen)
				}
				if !strings.Contains(err.Error(), tc.wantReason) {
					t.Errorf("error %q does not name %s", err, tc.wantReason)
				}
			})
		}
	}
}

// TestScrapeBodySizeLimitFamilyLength scrapes a protobuf body whose first
// family claims 512 MiB: over a 1 MiB limit, it fails before room is made
// for it.
func TestScrapeBodySizeLimitFamilyLength(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", protoType)
		_, _ = w.Write(binary.AppendUvarint(nil, 512<<20))
		_, _ = w.Write(make([]byte, 1<<10))
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := NewClient(u, srv.Client(), "", Options{BodySizeLimit: 1 << 20}).Scrape(context.Background())
	runtime.ReadMemStats(&after)
	if le, ok := errors.AsType[*LimitError](err); !ok || le.Reason != ReasonBodySizeLimit {
		t.Fatalf("scrape error %v, want body_size_limit", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("allocated %d MiB for a family over the limit", alloc>>20)
	}
}

// TestScrapeBodySizeLimitStreams scrapes a gateway whose body never ends:
// the scrape stops at the limit instead of reading, or holding, the rest.
func TestScrapeBodySizeLimitStreams(t *testing.T) {
	for _, contentType := range []string{textType, protoType} {
		t.Run(contentType, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", contentType)
				for i := 0; r.Context().Err() == nil; i++ {
					name := fmt.Sprintf("e2e_family_%d", i)
					if contentType == textType {
						_, err := fmt.Fprintf(w, "# TYPE %s gauge\n%s{job=\"j\"} 1\n", name, name)
						if err != nil {
							return
						}
						continue
					}
					fam := &dto.MetricFamily{Name: &name, Type: dto.MetricType_GAUGE.Enum(),
						Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: proto.Float64(1)}}}}
					if _, err := protodelim.MarshalTo(w, fam); err != nil {
						return
					}
				}
			}))
			defer srv.Close()
			u, _ := url.Parse(srv.URL)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := NewClient(u, srv.Client(), "", Options{BodySizeLimit: 1 << 20}).Scrape(ctx)
			le, ok := errors.AsType[*LimitError](err)
			if !ok || le.Reason != ReasonBodySizeLimit || le.Limit != 1<<20 {
				t.Fatalf("scrape error %v, want body_size_limit of 1 MiB", err)
			}
		})
	}
}

package rwtest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

func TestDecode(t *testing.T) {
	v1 := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: "m"}, {Name: "job", Value: "x"}},
		Samples: []prompb.Sample{{Value: 1, Timestamp: 1000}},
	}}}
	raw1, err := v1.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	v2 := &writev2.Request{
		Symbols:    []string{"", "__name__", "m", "job", "x"},
		Timeseries: []writev2.TimeSeries{{LabelsRefs: []uint32{1, 2, 3, 4}, Samples: []writev2.Sample{{Value: 1, Timestamp: 1000}}}},
	}
	raw2, err := v2.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, contentType string
		body              []byte
		wantV2            bool
	}{
		{"1.0", "application/x-protobuf", snappy.Encode(nil, raw1), false},
		{"2.0", "application/x-protobuf;proto=" + MessageV2, snappy.Encode(nil, raw2), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, gotV2, err := Decode(tc.contentType, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if (gotV2 != nil) != tc.wantV2 {
				t.Errorf("2.0 request = %v, want one: %v", gotV2, tc.wantV2)
			}
			if !reflect.DeepEqual(got.Timeseries, v1.Timeseries) {
				t.Errorf("decoded %v, want %v", got, v1)
			}
		})
	}
	if _, _, err := Decode("application/x-protobuf", raw1); err == nil {
		t.Error("a body without snappy decoded")
	}
}

func TestTransport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/slow":
				select {
				case <-time.After(time.Hour):
				case <-r.Context().Done():
				}
			case "/reset":
				conn, _, err := w.(http.Hijacker).Hijack()
				if err != nil {
					t.Error(err)
					return
				}
				_ = conn.Close()
			default:
				b, _ := io.ReadAll(r.Body)
				w.Header().Set("X-Len", r.Header.Get("Content-Length"))
				w.WriteHeader(http.StatusAccepted)
				_, _ = w.Write(b)
			}
		})
		c := &http.Client{Transport: Transport{Handler: h}}

		resp, err := c.Post("http://receiver.test/echo", "text/plain", strings.NewReader("hello"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted || string(b) != "hello" {
			t.Errorf("got %d %q, want 202 hello", resp.StatusCode, b)
		}

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://receiver.test/slow", nil)
		start := time.Now()
		if _, err := c.Do(req); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != time.Second {
			t.Errorf("slow: %v after %s, want a deadline after 1s (fake time)", err, time.Since(start))
		}

		if _, err := c.Post("http://receiver.test/reset", "text/plain", nil); err == nil || !strings.Contains(err.Error(), "connection reset") {
			t.Errorf("reset: %v, want a connection reset", err)
		}
	})
}

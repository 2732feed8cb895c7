// Command rwsink is the benchmark's remote-write receiver: it decodes every
// request and counts what it holds, and stores nothing.
//
// It takes remote write 1.0 (prometheus.WriteRequest) and 2.0
// (io.prometheus.write.v2.Request, chosen by the Content-Type parameter
// proto=io.prometheus.write.v2.Request), snappy-compressed, on any path but
// the ones below, and answers 204; 2.0 answers carry the
// X-Prometheus-Remote-Write-{Samples,Histograms,Exemplars}-Written headers.
// A body in another encoding (vmagent starts with zstd) gets 415, which is how
// a Prometheus receiver makes vmagent fall back to the Prometheus protocol.
//
// Usage:
//
//	rwsink -listen 127.0.0.1:9201
//
// Endpoints:
//
//	POST /api/v1/write   (or any other path) remote write
//	GET  /stats          counters as JSON (see stats), per cycle (distinct sample timestamp)
//	POST /reset          zero every counter
//	POST /outage?on=1    answer 503 to every write until /outage?on=0
//
// A sample is a float sample, staleness markers included, or a native
// histogram sample. Bytes are the compressed request bodies accepted.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// maxCycles bounds the per-timestamp table: the oldest timestamps are
// forgotten beyond it, so a long run cannot grow the sink's memory.
const maxCycles = 20000

// maxBody bounds one request body, compressed and decompressed.
const maxBody = 256 << 20

// cycle counts the samples that carry one timestamp: one scrape of a
// forwarder, since every forwarder stamps a whole scrape with one time.
type cycle struct {
	TimestampMs int64 `json:"timestamp_ms"`
	Samples     int64 `json:"samples"`
	Stale       int64 `json:"stale"`
	Histograms  int64 `json:"histograms"`
	// UpOrScrape counts series named up or scrape_*: what a scraper adds
	// about the scrape itself (and the bridge's per-group up).
	UpOrScrape int64 `json:"up_or_scrape"`
}

// stats is what GET /stats answers.
type stats struct {
	Requests         int64   `json:"requests"`
	RequestsV1       int64   `json:"requests_v1"`
	RequestsV2       int64   `json:"requests_v2"`
	Rejected         int64   `json:"rejected_outage"`
	Unsupported      int64   `json:"rejected_unsupported"`
	BadRequests      int64   `json:"rejected_bad"`
	Bytes            int64   `json:"bytes"`
	DecodedBytes     int64   `json:"decoded_bytes"`
	Samples          int64   `json:"samples"`
	Stale            int64   `json:"stale"`
	Histograms       int64   `json:"histograms"`
	Exemplars        int64   `json:"exemplars"`
	Metadata         int64   `json:"metadata"`
	LastRequestNanos int64   `json:"last_request_unix_nano"`
	Outage           bool    `json:"outage"`
	Cycles           []cycle `json:"cycles"`
}

// sink holds the counters; safe for concurrent use.
type sink struct {
	log    *slog.Logger
	mu     sync.Mutex
	st     stats
	cycles map[int64]*cycle
}

func newSink(log *slog.Logger) *sink {
	return &sink{log: log, cycles: map[int64]*cycle{}}
}

// counts is what one request held, merged into the sink under its lock.
type counts struct {
	samples, stale, histograms, exemplars, metadata int64
	cycles                                          map[int64]*cycle
}

func (c *counts) add(ts int64, stale, histogram, upOrScrape bool) {
	cy := c.cycles[ts]
	if cy == nil {
		cy = &cycle{TimestampMs: ts}
		c.cycles[ts] = cy
	}
	cy.Samples++
	c.samples++
	if stale {
		cy.Stale++
		c.stale++
	}
	if histogram {
		cy.Histograms++
		c.histograms++
	}
	if upOrScrape {
		cy.UpOrScrape++
	}
}

func isUpOrScrape(name string) bool { return name == "up" || strings.HasPrefix(name, "scrape_") }

func decodeV1(buf []byte) (*counts, error) {
	var req prompb.WriteRequest
	if err := req.Unmarshal(buf); err != nil {
		return nil, fmt.Errorf("decode prometheus.WriteRequest: %w", err)
	}
	c := &counts{cycles: map[int64]*cycle{}, metadata: int64(len(req.Metadata))}
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		var name string
		for _, l := range ts.Labels {
			if l.Name == "__name__" {
				name = l.Value
				break
			}
		}
		us := isUpOrScrape(name)
		for _, s := range ts.Samples {
			c.add(s.Timestamp, value.IsStaleNaN(s.Value), false, us)
		}
		for _, h := range ts.Histograms {
			c.add(h.Timestamp, false, true, us)
		}
		c.exemplars += int64(len(ts.Exemplars))
	}
	return c, nil
}

func decodeV2(buf []byte) (*counts, error) {
	var req writev2.Request
	if err := req.Unmarshal(buf); err != nil {
		return nil, fmt.Errorf("decode io.prometheus.write.v2.Request: %w", err)
	}
	c := &counts{cycles: map[int64]*cycle{}}
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		var name string
		for j := 0; j+1 < len(ts.LabelsRefs); j += 2 {
			if int(ts.LabelsRefs[j]) < len(req.Symbols) && req.Symbols[ts.LabelsRefs[j]] == "__name__" &&
				int(ts.LabelsRefs[j+1]) < len(req.Symbols) {
				name = req.Symbols[ts.LabelsRefs[j+1]]
				break
			}
		}
		us := isUpOrScrape(name)
		for _, s := range ts.Samples {
			c.add(s.Timestamp, value.IsStaleNaN(s.Value), false, us)
		}
		for _, h := range ts.Histograms {
			c.add(h.Timestamp, false, true, us)
		}
		c.exemplars += int64(len(ts.Exemplars))
		if ts.Metadata.Type != 0 || ts.Metadata.HelpRef != 0 || ts.Metadata.UnitRef != 0 {
			c.metadata++
		}
	}
	return c, nil
}

func (s *sink) serveWrite(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "remote write takes POST", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.st.LastRequestNanos = time.Now().UnixNano()
	outage := s.st.Outage
	if outage {
		s.st.Rejected++
	}
	s.mu.Unlock()
	if outage {
		http.Error(w, "outage", http.StatusServiceUnavailable)
		return
	}
	if enc := r.Header.Get("Content-Encoding"); enc != "" && enc != "snappy" {
		s.mu.Lock()
		s.st.Unsupported++
		s.mu.Unlock()
		http.Error(w, "unsupported Content-Encoding "+enc, http.StatusUnsupportedMediaType)
		return
	}
	v2 := strings.Contains(r.Header.Get("Content-Type"), "io.prometheus.write.v2.Request")
	c, n, err := decode(body, v2)
	if err != nil {
		s.mu.Lock()
		s.st.BadRequests++
		s.mu.Unlock()
		s.log.Warn("bad request", "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.merge(c, len(body), n, v2)
	if v2 {
		w.Header().Set("X-Prometheus-Remote-Write-Samples-Written", strconv.FormatInt(c.samples-c.histograms, 10))
		w.Header().Set("X-Prometheus-Remote-Write-Histograms-Written", strconv.FormatInt(c.histograms, 10))
		w.Header().Set("X-Prometheus-Remote-Write-Exemplars-Written", strconv.FormatInt(c.exemplars, 10))
	}
	w.WriteHeader(http.StatusNoContent)
}

func decode(body []byte, v2 bool) (*counts, int, error) {
	n, err := snappy.DecodedLen(body)
	if err != nil {
		return nil, 0, fmt.Errorf("snappy: %w", err)
	}
	if n > maxBody {
		return nil, 0, fmt.Errorf("decoded body of %d bytes exceeds %d", n, maxBody)
	}
	buf, err := snappy.Decode(nil, body)
	if err != nil {
		return nil, 0, fmt.Errorf("snappy: %w", err)
	}
	var c *counts
	if v2 {
		c, err = decodeV2(buf)
	} else {
		c, err = decodeV1(buf)
	}
	return c, len(buf), err
}

func (s *sink) merge(c *counts, wire, decoded int, v2 bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Requests++
	if v2 {
		s.st.RequestsV2++
	} else {
		s.st.RequestsV1++
	}
	s.st.Bytes += int64(wire)
	s.st.DecodedBytes += int64(decoded)
	s.st.Samples += c.samples
	s.st.Stale += c.stale
	s.st.Histograms += c.histograms
	s.st.Exemplars += c.exemplars
	s.st.Metadata += c.metadata
	for ts, cy := range c.cycles {
		have := s.cycles[ts]
		if have == nil {
			have = &cycle{TimestampMs: ts}
			s.cycles[ts] = have
		}
		have.Samples += cy.Samples
		have.Stale += cy.Stale
		have.Histograms += cy.Histograms
		have.UpOrScrape += cy.UpOrScrape
	}
	if len(s.cycles) > maxCycles {
		keys := make([]int64, 0, len(s.cycles))
		for ts := range s.cycles {
			keys = append(keys, ts)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
		for _, ts := range keys[:len(keys)-maxCycles] {
			delete(s.cycles, ts)
		}
	}
}

func (s *sink) serveStats(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	st := s.st
	st.Cycles = make([]cycle, 0, len(s.cycles))
	for _, cy := range s.cycles {
		st.Cycles = append(st.Cycles, *cy)
	}
	s.mu.Unlock()
	sort.Slice(st.Cycles, func(i, j int) bool { return st.Cycles[i].TimestampMs < st.Cycles[j].TimestampMs })
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}

func (s *sink) serveReset(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	s.mu.Lock()
	outage := s.st.Outage
	s.st = stats{Outage: outage}
	s.cycles = map[int64]*cycle{}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *sink) serveOutage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	on, err := strconv.ParseBool(r.URL.Query().Get("on"))
	if err != nil {
		http.Error(w, "on must be a boolean", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.st.Outage = on
	s.mu.Unlock()
	s.log.Info("outage", "on", on)
	w.WriteHeader(http.StatusNoContent)
}

func main() { os.Exit(run()) }

func run() int {
	listen := flag.String("listen", "127.0.0.1:9201", "Address to listen on (keep it on loopback).")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "rwsink")

	s := newSink(log)
	mux := http.NewServeMux()
	mux.HandleFunc("/stats", s.serveStats)
	mux.HandleFunc("/reset", s.serveReset)
	mux.HandleFunc("/outage", s.serveOutage)
	mux.HandleFunc("/", s.serveWrite)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Error("listen", "err", err)
		return 1
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-sig:
		_ = srv.Close()
		return 0
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return 0
		}
		log.Error("serve", "err", err)
		return 1
	}
}

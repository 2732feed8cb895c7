package remotewrite

import (
	"errors"
	"fmt"
	"slices"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/prompb"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// Append writes a cycle's samples to the on-disk queue, in the caller's
// goroutine, and returns once they are in the log: relabeled, spread over
// the shards, encoded into requests and written to the segment file (not
// fsynced: they survive the process being killed, not the machine). It
// blocks on the disk, never on the network, and holds no cycle in memory
// once it returned; the samples are read while it runs and not after, and
// never modified. Samples of one series must be appended in timestamp
// order, and one call holds each series at most once; they are sent in
// that order. Appends are serialized: concurrent callers wait for each
// other.
//
// The only bounds are the disk's: when the log would exceed MaxDiskBytes,
// its oldest requests are dropped (reason "queue_full"); a request that
// cannot be written (a full disk, an I/O error) is dropped (reasons
// "disk_full", "disk_write_error"), and the queue recovers by itself when
// the disk does (see DiskHealthy). Append returns nil when every sample of
// the cycle was written or left out by relabeling, and otherwise an error
// saying how many were dropped, counted in samples_dropped_total. After
// Flush started it writes nothing and returns ErrClosed.
func (q *Queue) Append(samples pipeline.Samples) error {
	n := samples.Len()
	if n == 0 {
		return nil
	}
	q.wmu.Lock()
	defer q.wmu.Unlock()
	if q.closed {
		return ErrClosed
	}
	q.samplesIn.Add(int64(n))
	return q.write(samples)
}

// ErrClosed is what Append returns after Flush started.
var ErrClosed = errors.New("remote write queue flushed: appended after shutdown")

// write relabels one cycle's samples, spreads them over the shards, encodes
// and appends the requests to the log, and returns an error if some of them
// could not be written. It reads the cycle a request's worth at a time:
// besides the cycle, which it does not copy, it holds at most one request's
// worth of samples per shard. q.wmu is held.
func (q *Queue) write(samples pipeline.Samples) error {
	n := samples.Len()
	shards := int(q.shards.Load())
	q.appendSeq++
	format := formatV1
	if q.o.Message == MessageV2 && !q.v1.Load() {
		format = formatV2
	}
	q.startPrepare(n)
	var meta metadataNote
	if q.o.Metadata.Send {
		meta = metadataNote{families: map[string]prompb.MetricMetadata{}, seen: map[*metadata.Metadata]bool{}}
	}
	if cap(q.pending) < shards {
		q.pending = make([][]pipeline.Sample, shards)
	}
	pending := q.pending[:shards]
	per := q.o.MaxSamplesPerSend
	var w writeErrors
	for from := 0; from < n; from += per {
		to := min(from+per, n)
		q.chunk = samples.AppendTo(q.chunk[:0], from, to)
		kept := q.prepare(q.chunk, from)
		meta.add(kept)
		for i := range kept {
			shard := 0
			if shards > 1 {
				shard = int(kept[i].Hash % uint64(shards))
			}
			if pending[shard] == nil {
				pending[shard] = make([]pipeline.Sample, 0, per)
			}
			pending[shard] = append(pending[shard], kept[i])
			if len(pending[shard]) == per {
				w.add(q.appendRecord(pending[shard], format, shard, shards), len(pending[shard]))
				clear(pending[shard])
				pending[shard] = pending[shard][:0]
			}
		}
		clear(q.chunk)
	}
	for shard, part := range pending {
		if len(part) > 0 {
			w.add(q.appendRecord(part, format, shard, shards), len(part))
			clear(part)
			pending[shard] = part[:0]
		}
	}
	if meta.families != nil {
		q.metaMu.Lock()
		q.metadata = meta.families
		q.metaMu.Unlock()
	}
	q.m.diskBytes.Set(float64(q.log.size()))
	q.m.pendingSamples.Set(float64(q.Pending()))
	return w.err(n)
}

// writeErrors gathers the failures of one cycle's requests.
type writeErrors struct {
	dropped int
	first   error
}

func (w *writeErrors) add(err error, n int) {
	if err == nil {
		return
	}
	w.dropped += n
	if w.first == nil {
		w.first = err
	}
}

// err says how many of the cycle's n samples were dropped, and the first
// error; nil if none.
func (w *writeErrors) err(n int) error {
	if w.first == nil {
		return nil
	}
	return fmt.Errorf("remote write: %d of %d samples not written to the disk queue: %w", w.dropped, n, w.first)
}

// appendRecord encodes one request and appends it to the log. The error
// says the request was dropped, and counted.
func (q *Queue) appendRecord(batch []pipeline.Sample, format byte, shard, shards int) error {
	var (
		body []byte
		st   encodeStats
		err  error
	)
	if format == formatV2 {
		body, st, err = q.encV2.encode(batch)
	} else {
		body, st, err = q.enc.encode(batch)
	}
	if err != nil {
		q.drop(reasonEncode, len(batch), err)
		return fmt.Errorf("encode: %w", err)
	}
	dropped, err := q.log.append(&record{
		format:     format,
		shard:      uint16(shard),
		shards:     uint16(shards),
		appendSeq:  q.appendSeq,
		samples:    uint32(st.samples),
		histograms: uint32(st.histograms),
		highestT:   st.highestT,
		body:       body,
		stale:      holdsStaleMarkers(batch),
	})
	if dropped > 0 {
		q.m.samplesDropped.WithLabelValues(reasonQueueFull).Add(float64(dropped))
		q.mu.Lock()
		q.dropped[reasonQueueFull] += dropped
		q.mu.Unlock()
		if ok, suppressed := q.fullLog.allow(q.o.Now()); ok {
			q.logger.Warn("remote write disk queue full, dropped the oldest samples",
				"dropped", dropped, "max_bytes", q.o.MaxDiskBytes, "suppressed_logs", suppressed)
		}
	}
	if err != nil {
		q.drop(diskDropReason(err), len(batch), err)
		return err
	}
	return nil
}

// seriesCache is what relabeling made of a series in the last cycle: the
// series' labels as appended (in) and as sent (out, with its hash), and
// whether relabeling kept it.
type seriesCache struct {
	in, out labels.Labels
	hash    uint64
	keep    bool
	valid   bool
}

// startPrepare readies prepare for a cycle of n samples.
func (q *Queue) startPrepare(n int) {
	if len(q.o.RelabelConfigs) == 0 && q.o.ExternalLabels.IsEmpty() {
		q.cache = nil
		return
	}
	if cap(q.cache) < n {
		q.cache = slices.Grow(q.cache[:0], n)
	}
	clear(q.cache[n:cap(q.cache)])
	q.cache = q.cache[:n]
}

// prepare applies the relabel configs and external labels to the samples of
// a cycle from position from on, in place, and returns the ones kept, each
// with its hash.
//
// Without relabel configs and external labels a series is sent as it was
// appended, and nothing is kept per series: only its hash is filled in if
// the caller did not know it.
//
// Cycles of a Pushgateway repeat the same series in the same order, so with
// relabeling the queue remembers, by position, what it made of each series
// the last time: a sample whose labels are those at its place last time
// (most often the very same string, which compares without reading it) is
// neither relabeled nor hashed again. Any other sample is, and takes the
// place.
func (q *Queue) prepare(samples []pipeline.Sample, from int) []pipeline.Sample {
	if q.cache == nil {
		for i := range samples {
			samples[i].LabelsHash()
		}
		return samples
	}
	kept := samples[:0]
	for i := range samples {
		s := samples[i]
		c := &q.cache[from+i]
		if !c.valid || !labels.Equal(c.in, s.Labels) {
			*c = seriesCache{in: s.Labels, valid: true}
			c.out, c.keep = relabelOne(&q.lb, s.Labels, q.o.RelabelConfigs, q.o.ExternalLabels)
			c.hash = c.out.Hash()
		}
		if !c.keep {
			continue
		}
		s.Labels, s.Hash = c.out, c.hash
		kept = append(kept, s)
	}
	return kept
}

// Relabel returns samples as a Queue with these options queues them:
// write_relabel_configs applied, dropped series left out, then every
// external label a series lacks added. --dry-run shows what it gives.
func Relabel(samples []pipeline.Sample, cfgs []*relabel.Config, external labels.Labels) []pipeline.Sample {
	var lb labels.Builder
	return appendRelabeled(make([]pipeline.Sample, 0, len(samples)), &lb, samples, cfgs, external)
}

func appendRelabeled(dst []pipeline.Sample, lb *labels.Builder, samples []pipeline.Sample, cfgs []*relabel.Config, external labels.Labels) []pipeline.Sample {
	for _, s := range samples {
		var keep bool
		if s.Labels, keep = relabelOne(lb, s.Labels, cfgs, external); keep {
			s.Hash = 0
			dst = append(dst, s)
		}
	}
	return dst
}

// relabelOne applies the relabel configs to ls, then adds every external
// label it lacks; false means the series is dropped.
func relabelOne(lb *labels.Builder, ls labels.Labels, cfgs []*relabel.Config, external labels.Labels) (labels.Labels, bool) {
	lb.Reset(ls)
	if len(cfgs) > 0 && !relabel.ProcessBuilder(lb, cfgs...) {
		return labels.EmptyLabels(), false
	}
	external.Range(func(l labels.Label) {
		if lb.Get(l.Name) == "" {
			lb.Set(l.Name, l.Value)
		}
	})
	return lb.Labels(), true
}

// holdsStaleMarkers tells whether batch holds a staleness marker: only then
// must the disk log read the request back if it drops it unsent.
func holdsStaleMarkers(batch []pipeline.Sample) bool {
	for i := range batch {
		if batch[i].H == nil && batch[i].FH == nil && value.IsStaleNaN(batch[i].V) {
			return true
		}
	}
	return false
}

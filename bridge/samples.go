package bridge

import (
	"errors"
	"math"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/value"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// send stamps the cycle's series and staleness markers with the cycle's
// time and hands them to every sender at once, one goroutine each, since an
// Append takes the time to encode and write the cycle to disk. It returns
// when every sender has the cycle, with their errors joined: nil if every
// sender wrote all of it.
func (b *Bridge) send(now time.Time, series [][]pipeline.Series, stale []pipeline.Series) error {
	t := now.UnixMilli()
	if len(b.o.Senders) == 1 {
		return b.o.Senders[0].Append(newCycleSamples(t, series, stale))
	}
	errs := make([]error, len(b.o.Senders))
	var wg sync.WaitGroup
	for i, s := range b.o.Senders {
		// Each its own reader: a cycleSamples remembers where it stopped.
		wg.Go(func() { errs[i] = s.Append(newCycleSamples(t, series, stale)) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// cycleSamples are a cycle's series, stamped with its time, then its
// staleness markers, as remote-write samples: read in place, not copied.
// One sender reads one: it remembers where the last read stopped.
type cycleSamples struct {
	t     int64
	parts [][]pipeline.Series
	stale []pipeline.Series
	n     int // samples in parts
	// The sample the next read starts at if it carries on: its place
	// overall, and its part and place in the part.
	pos, part, off int
}

var _ pipeline.Samples = (*cycleSamples)(nil)

func newCycleSamples(t int64, parts [][]pipeline.Series, stale []pipeline.Series) *cycleSamples {
	return &cycleSamples{t: t, parts: parts, stale: stale, n: count(parts)}
}

// Len implements pipeline.Samples.
func (c *cycleSamples) Len() int { return c.n + len(c.stale) }

// AppendTo implements pipeline.Samples.
func (c *cycleSamples) AppendTo(dst []pipeline.Sample, from, to int) []pipeline.Sample {
	if from != c.pos {
		c.seek(from)
	}
	staleNaN := math.Float64frombits(value.StaleNaN)
	for c.pos < to {
		if c.pos >= c.n {
			i := c.pos - c.n
			for _, s := range c.stale[i : i+to-c.pos] {
				dst = append(dst, pipeline.Sample{Labels: s.Labels, T: c.t, V: staleNaN, Meta: s.Metadata, Hash: s.Hash})
			}
			c.pos = to
			break
		}
		p := c.parts[c.part]
		if c.off == len(p) {
			c.part, c.off = c.part+1, 0
			continue
		}
		k := min(to-c.pos, len(p)-c.off)
		for i := range p[c.off : c.off+k] {
			s := &p[c.off+i]
			dst = append(dst, pipeline.Sample{Labels: s.Labels, T: c.t, V: s.Value, H: s.Histogram(), FH: s.FloatHistogram(), Meta: s.Metadata, Extra: s.Extra, Hash: s.Hash})
		}
		c.off += k
		c.pos += k
	}
	return dst
}

// seek makes sample i the next one read.
func (c *cycleSamples) seek(i int) {
	c.pos, c.part, c.off = i, 0, 0
	for c.part < len(c.parts) && i >= len(c.parts[c.part]) {
		i -= len(c.parts[c.part])
		c.part++
	}
	c.off = i
	if c.part == len(c.parts) {
		c.off = 0
	}
}

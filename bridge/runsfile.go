package bridge

import (
	"errors"
	"fmt"
	"os"

	"github.com/prometheus/prometheus/model/histogram"

	"github.com/pushgateway-bridge/pushgateway-bridge/runs"
)

// The run state file keeps what package runs counts, so that neither the
// pushes observed nor the sums across runs start again after a restart,
// and a run already summed is not summed again. Format, integers unsigned
// varints unless said otherwise, floats 8 bytes little endian:
//
//	"pushgateway-bridge runs 1\n"
//	number of groups; per group: labels (number, then per label: len,
//	  name, len, value), push time, failure time (floats), pushes, failed
//	  pushes, start (zigzag varint), number of families; per family: len,
//	  name, run (zigzag varint), total (float), number of series counted;
//	  per series: labels, value (float), histogram
//	number of sums; per sum: labels, value (float), histogram, start
//	  (zigzag varint), len, family, len, level
//	CRC32-C of everything before, 4 bytes little endian
//
// where a histogram is 0 for none (a float value), else 1, then schema
// (zigzag varint), zero threshold, zero count, count, sum (floats),
// counter reset hint, positive spans (number, then per span: offset as a
// zigzag varint, length), positive buckets (number, floats), negative
// spans and buckets alike, custom bucket bounds (number, floats).
//
// It is written as statefile.go says, before the cycle whose sums it holds
// is delivered.
const runsMagic = "pushgateway-bridge runs 1\n"

// saveRuns writes s to path.
func saveRuns(path string, s *runs.State) error {
	err := writeStateFile(path, runsMagic, func(e *encoder) {
		var groups []*runs.Group
		s.Groups(func(g *runs.Group) { groups = append(groups, g) })
		e.uvarint(uint64(len(groups)))
		for _, g := range groups {
			e.labels(g.Labels)
			e.float(g.PushTime)
			e.float(g.FailureTime)
			e.uvarint(g.Pushes)
			e.uvarint(g.FailedPushes)
			e.varint(g.Start)
			e.uvarint(uint64(len(g.Families)))
			for _, f := range g.Families {
				e.str(f.Name)
				e.varint(f.Run)
				e.float(f.Total)
				e.uvarint(uint64(len(f.Counted)))
				for _, c := range f.Counted {
					e.labels(c.Labels)
					e.float(c.Value)
					e.hist(c.H)
				}
			}
		}
		sums := s.Sums()
		e.uvarint(uint64(len(sums)))
		for _, m := range sums {
			e.labels(m.Labels)
			e.float(m.Value)
			e.hist(m.H)
			e.varint(m.Start)
			e.str(m.Family)
			e.str(m.Level)
		}
	})
	if err != nil {
		return fmt.Errorf("save run state: %w", err)
	}
	return nil
}

// loadRuns reads a run state file. A missing file is no error: the state
// is empty (nil).
func loadRuns(path string) (*runs.State, error) {
	_, d, err := readStateFile(path, runsMagic)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load run state %s: %w", path, err)
	}
	n := d.count()
	groups := make([]*runs.Group, 0, n)
	for range n {
		g := &runs.Group{Labels: d.labels(), PushTime: d.float(), FailureTime: d.float(), Pushes: d.uvarint(), FailedPushes: d.uvarint(), Start: d.varint()}
		nf := d.count()
		for range nf {
			f := runs.Family{Name: d.str(), Run: d.varint(), Total: d.float()}
			nc := d.count()
			for range nc {
				f.Counted = append(f.Counted, runs.Counted{Labels: d.labels(), Value: d.float(), H: d.hist()})
			}
			g.Families = append(g.Families, f)
		}
		groups = append(groups, g)
	}
	n = d.count()
	sums := make([]*runs.Sum, 0, n)
	for range n {
		sums = append(sums, &runs.Sum{Labels: d.labels(), Value: d.float(), H: d.hist(), Start: d.varint(), Family: d.str(), Level: d.str()})
	}
	if err := d.end(); err != nil {
		return nil, fmt.Errorf("load run state %s: %w", path, err)
	}
	return runs.NewState(groups, sums), nil
}

// hist writes a histogram, nil for none.
func (e *encoder) hist(h *histogram.FloatHistogram) {
	if h == nil {
		e.uvarint(0)
		return
	}
	e.uvarint(1)
	e.varint(int64(h.Schema))
	e.float(h.ZeroThreshold)
	e.float(h.ZeroCount)
	e.float(h.Count)
	e.float(h.Sum)
	e.uvarint(uint64(h.CounterResetHint))
	e.spans(h.PositiveSpans)
	e.floats(h.PositiveBuckets)
	e.spans(h.NegativeSpans)
	e.floats(h.NegativeBuckets)
	e.floats(h.CustomValues)
}

func (e *encoder) floats(fs []float64) {
	e.uvarint(uint64(len(fs)))
	for _, f := range fs {
		e.float(f)
	}
}

func (e *encoder) spans(ss []histogram.Span) {
	e.uvarint(uint64(len(ss)))
	for _, sp := range ss {
		e.varint(int64(sp.Offset))
		e.uvarint(uint64(sp.Length))
	}
}

func (d *decoder) floats() []float64 {
	n := d.count()
	if n == 0 {
		return nil
	}
	fs := make([]float64, n)
	for i := range fs {
		fs[i] = d.float()
	}
	return fs
}

func (d *decoder) spans() []histogram.Span {
	n := d.count()
	if n == 0 {
		return nil
	}
	ss := make([]histogram.Span, n)
	for i := range ss {
		ss[i] = histogram.Span{Offset: int32(d.varint()), Length: uint32(d.uvarint())}
	}
	return ss
}

// hist reads a histogram, nil for none.
func (d *decoder) hist() *histogram.FloatHistogram {
	if d.uvarint() == 0 {
		return nil
	}
	h := &histogram.FloatHistogram{Schema: int32(d.varint()), ZeroThreshold: d.float(), ZeroCount: d.float(), Count: d.float(), Sum: d.float(),
		CounterResetHint: histogram.CounterResetHint(d.uvarint())}
	h.PositiveSpans, h.PositiveBuckets = d.spans(), d.floats()
	h.NegativeSpans, h.NegativeBuckets = d.spans(), d.floats()
	h.CustomValues = d.floats()
	return h
}

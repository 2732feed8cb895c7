package bridge

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushgateway-bridge/pushgateway-bridge/internal/atomicfile"
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
// It is written to a temporary file, synced and renamed over the old one
// (internal/atomicfile), before the cycle whose sums it holds is
// delivered.
const runsMagic = "pushgateway-bridge runs 1\n"

// saveRuns writes s to path.
func saveRuns(path string, s *runs.State) error {
	err := atomicfile.Write(path, true, func(f io.Writer) error {
		crc := crc32.New(castagnoli)
		w := bufio.NewWriter(io.MultiWriter(f, crc))
		var buf [binary.MaxVarintLen64]byte
		uvarint := func(v uint64) { _, _ = w.Write(buf[:binary.PutUvarint(buf[:], v)]) }
		varint := func(v int64) { _, _ = w.Write(buf[:binary.PutVarint(buf[:], v)]) }
		float := func(v float64) { _, _ = w.Write(binary.LittleEndian.AppendUint64(buf[:0], math.Float64bits(v))) }
		str := func(v string) { uvarint(uint64(len(v))); _, _ = w.WriteString(v) }
		lset := func(ls labels.Labels) {
			uvarint(uint64(ls.Len()))
			ls.Range(func(l labels.Label) { str(l.Name); str(l.Value) })
		}
		floats := func(fs []float64) {
			uvarint(uint64(len(fs)))
			for _, f := range fs {
				float(f)
			}
		}
		spans := func(ss []histogram.Span) {
			uvarint(uint64(len(ss)))
			for _, sp := range ss {
				varint(int64(sp.Offset))
				uvarint(uint64(sp.Length))
			}
		}
		hist := func(h *histogram.FloatHistogram) {
			if h == nil {
				uvarint(0)
				return
			}
			uvarint(1)
			varint(int64(h.Schema))
			float(h.ZeroThreshold)
			float(h.ZeroCount)
			float(h.Count)
			float(h.Sum)
			uvarint(uint64(h.CounterResetHint))
			spans(h.PositiveSpans)
			floats(h.PositiveBuckets)
			spans(h.NegativeSpans)
			floats(h.NegativeBuckets)
			floats(h.CustomValues)
		}

		_, _ = w.WriteString(runsMagic)
		var groups []*runs.Group
		s.Groups(func(g *runs.Group) { groups = append(groups, g) })
		uvarint(uint64(len(groups)))
		for _, g := range groups {
			lset(g.Labels)
			float(g.PushTime)
			float(g.FailureTime)
			uvarint(g.Pushes)
			uvarint(g.FailedPushes)
			varint(g.Start)
			uvarint(uint64(len(g.Families)))
			for _, f := range g.Families {
				str(f.Name)
				varint(f.Run)
				float(f.Total)
				uvarint(uint64(len(f.Counted)))
				for _, c := range f.Counted {
					lset(c.Labels)
					float(c.Value)
					hist(c.H)
				}
			}
		}
		sums := s.Sums()
		uvarint(uint64(len(sums)))
		for _, m := range sums {
			lset(m.Labels)
			float(m.Value)
			hist(m.H)
			varint(m.Start)
			str(m.Family)
			str(m.Level)
		}
		if err := w.Flush(); err != nil {
			return err
		}
		_, err := f.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32()))
		return err
	})
	if err != nil {
		return fmt.Errorf("save run state: %w", err)
	}
	return nil
}

// loadRuns reads a run state file. A missing file is no error: the state
// is empty (nil).
func loadRuns(path string) (*runs.State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load run state: %w", err)
	}
	if len(b) < len(runsMagic)+4 || string(b[:len(runsMagic)]) != runsMagic {
		return nil, fmt.Errorf("load run state %s: not a run state file", path)
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("load run state %s: checksum mismatch (truncated or corrupt)", path)
	}
	d := decoder{r: body[len(runsMagic):]}
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
	if d.bad || len(d.r) != 0 {
		return nil, fmt.Errorf("load run state %s: malformed", path)
	}
	return runs.NewState(groups, sums), nil
}

// decoder reads the run state file; once bad, it reads zeros.
type decoder struct {
	r   []byte
	bad bool
	lb  labels.ScratchBuilder
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.r)
	if n <= 0 {
		d.bad, d.r = true, nil
		return 0
	}
	d.r = d.r[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.r)
	if n <= 0 {
		d.bad, d.r = true, nil
		return 0
	}
	d.r = d.r[n:]
	return v
}

// count reads a number of items, each at least a byte long.
func (d *decoder) count() uint64 {
	n := d.uvarint()
	if n > uint64(len(d.r)) {
		d.bad, d.r = true, nil
		return 0
	}
	return n
}

func (d *decoder) float() float64 {
	if len(d.r) < 8 {
		d.bad, d.r = true, nil
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.r))
	d.r = d.r[8:]
	return v
}

func (d *decoder) str() string {
	n := d.count()
	v := string(d.r[:n])
	d.r = d.r[n:]
	return v
}

func (d *decoder) labels() labels.Labels {
	n := d.count()
	d.lb.Reset()
	for range n {
		d.lb.Add(d.str(), d.str())
	}
	d.lb.Sort()
	return d.lb.Labels()
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

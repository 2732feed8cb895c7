package bridge

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"

	"github.com/pushgateway-bridge/pushgateway-bridge/internal/atomicfile"
	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// The state file keeps the series the last complete cycle sent, so that a
// bridge restarted after a crash still writes staleness markers for what
// vanished while it was down. Format, all integers unsigned varints unless
// said otherwise:
//
//	"pushgateway-bridge state 2\n"
//	cycle time in milliseconds (zigzag varint), number of series
//	per series: number of labels, then per label: len, name, len, value;
//	  then len, metadata type, len, metadata unit ("" if unknown)
//	CRC32-C of everything before, 4 bytes little endian
//
// The metadata's type and unit go with a series' staleness marker after a
// restart: a receiver that makes them part of the series' identity
// (Prometheus' type-and-unit labels) needs them to mark the right series.
// Version 1, without them, is still read.
//
// It is written to a temporary file, synced and renamed over the old one,
// so a crash leaves either the old or the new state, never a mix.
const (
	stateMagic   = "pushgateway-bridge state 2\n"
	stateMagicV1 = "pushgateway-bridge state 1\n"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// saveState writes the series of s, then those of gone (series whose
// staleness markers are not written yet: a restart still owes them one),
// and the cycle time to path.
func saveState(path string, s *seriesState, cycle time.Time, gone ...[]pipeline.Series) error {
	err := atomicfile.Write(path, true, func(f io.Writer) error {
		crc := crc32.New(castagnoli)
		w := bufio.NewWriterSize(io.MultiWriter(f, crc), 1<<20)
		var buf [binary.MaxVarintLen64]byte
		uvarint := func(v uint64) { _, _ = w.Write(buf[:binary.PutUvarint(buf[:], v)]) }
		str := func(v string) { uvarint(uint64(len(v))); _, _ = w.WriteString(v) }

		_, _ = w.WriteString(stateMagic)
		_, _ = w.Write(buf[:binary.PutVarint(buf[:], cycle.UnixMilli())])
		n := s.len()
		for _, g := range gone {
			n += len(g)
		}
		uvarint(uint64(n))
		write := func(s *pipeline.Series) {
			uvarint(uint64(s.Labels.Len()))
			s.Labels.Range(func(l labels.Label) { str(l.Name); str(l.Value) })
			var typ, unit string
			if m := s.Metadata; m != nil {
				typ, unit = string(m.Type), m.Unit
			}
			str(typ)
			str(unit)
		}
		s.each(write)
		for _, g := range gone {
			for i := range g {
				write(&g[i])
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
		_, err := f.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32()))
		return err
	})
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// loadState reads a state file into a new series state. A missing file is
// no error: the state is empty. Any damage is an error; the caller starts
// fresh.
func loadState(path string) (*seriesState, time.Time, error) {
	s := newSeriesState()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("load state: %w", err)
	}
	if len(b) < len(stateMagic)+4 || (string(b[:len(stateMagic)]) != stateMagic && string(b[:len(stateMagicV1)]) != stateMagicV1) {
		return nil, time.Time{}, errors.New("load state: not a state file")
	}
	withMeta := string(b[:len(stateMagic)]) == stateMagic
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, time.Time{}, errors.New("load state: checksum mismatch (truncated or corrupt)")
	}
	r := body[len(stateMagic):]
	bad := errors.New("load state: malformed")
	uvarint := func() (uint64, bool) {
		v, n := binary.Uvarint(r)
		if n <= 0 {
			return 0, false
		}
		r = r[n:]
		return v, true
	}
	str := func() (string, bool) {
		n, ok := uvarint()
		if !ok || n > uint64(len(r)) {
			return "", false
		}
		v := string(r[:n])
		r = r[n:]
		return v, true
	}
	ms, n := binary.Varint(r)
	if n <= 0 {
		return nil, time.Time{}, bad
	}
	r = r[n:]
	count, ok := uvarint()
	if !ok || count > uint64(len(r)) {
		return nil, time.Time{}, bad
	}
	var (
		lb labels.ScratchBuilder
		// Series of one family share their metadata, as a scrape's do.
		metas = map[metadata.Metadata]*metadata.Metadata{}
	)
	series := make([]pipeline.Series, 0, count)
	for range count {
		nl, ok := uvarint()
		if !ok || nl > uint64(len(r)) {
			return nil, time.Time{}, bad
		}
		lb.Reset()
		for range nl {
			name, ok1 := str()
			value, ok2 := str()
			if !ok1 || !ok2 {
				return nil, time.Time{}, bad
			}
			lb.Add(name, value)
		}
		lb.Sort()
		s := pipeline.Series{Labels: lb.Labels()}
		if withMeta {
			typ, ok1 := str()
			unit, ok2 := str()
			if !ok1 || !ok2 {
				return nil, time.Time{}, bad
			}
			if typ != "" || unit != "" {
				m := metadata.Metadata{Type: model.MetricType(typ), Unit: unit}
				if metas[m] == nil {
					metas[m] = &m
				}
				s.Metadata = metas[m]
			}
		}
		series = append(series, s)
	}
	if len(r) != 0 {
		return nil, time.Time{}, bad
	}
	s.load(series)
	return s, time.UnixMilli(ms), nil
}

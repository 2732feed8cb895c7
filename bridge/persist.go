package bridge

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/metadata"

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
// It is written as statefile.go says: atomically, so a crash leaves either
// the old or the new state, never a mix.
const (
	stateMagic   = "pushgateway-bridge state 2\n"
	stateMagicV1 = "pushgateway-bridge state 1\n"
)

// saveState writes the series of s, then those of gone (series whose
// staleness markers are not written yet: a restart still owes them one),
// and the cycle time to path.
func saveState(path string, s *seriesState, cycle time.Time, gone ...[]pipeline.Series) error {
	err := writeStateFile(path, stateMagic, func(e *encoder) {
		e.varint(cycle.UnixMilli())
		n := s.len()
		for _, g := range gone {
			n += len(g)
		}
		e.uvarint(uint64(n))
		write := func(s *pipeline.Series) {
			e.labels(s.Labels)
			var typ, unit string
			if m := s.Metadata; m != nil {
				typ, unit = string(m.Type), m.Unit
			}
			e.str(typ)
			e.str(unit)
		}
		s.each(write)
		for _, g := range gone {
			for i := range g {
				write(&g[i])
			}
		}
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
	magic, d, err := readStateFile(path, stateMagic, stateMagicV1)
	if errors.Is(err, os.ErrNotExist) {
		return newSeriesState(), time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("load state: %w", err)
	}
	ms := d.varint()
	count := d.count()
	// Series of one family share their metadata, as a scrape's do.
	metas := map[metadata.Metadata]*metadata.Metadata{}
	series := make([]pipeline.Series, 0, count)
	for range count {
		s := pipeline.Series{Labels: d.labels()}
		if magic == stateMagic {
			if m := (metadata.Metadata{Type: model.MetricType(d.str()), Unit: d.str()}); m.Type != "" || m.Unit != "" {
				if metas[m] == nil {
					metas[m] = &m
				}
				s.Metadata = metas[m]
			}
		}
		series = append(series, s)
	}
	if err := d.end(); err != nil {
		return nil, time.Time{}, fmt.Errorf("load state: %w", err)
	}
	s := newSeriesState()
	s.load(series)
	return s, time.UnixMilli(ms), nil
}

package pushgateway

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"slices"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/textparse"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// scrapeCache makes a scrape of an unchanged protobuf exposition cheap, at
// two levels.
//
// A Pushgateway serves the same bytes for a series until its group is
// pushed again, so the cache remembers, per metric message (keyed by a hash
// of its bytes and of its family's name, type, help and unit), the series it
// expanded to and the group it belonged to. Messages not seen in the last
// scrape are parsed by Prometheus' own textparse, so the expansion (classic
// buckets, quantiles, native histograms) is exactly Prometheus'.
//
// Above that, it remembers every metric family's hash and entries. A family
// of at most maxBuffered bytes is read whole, and not walked message by
// message if its bytes did not change. A larger one (a gateway whose groups
// all push one metric serves it as one message as large as the exposition)
// is streamed, a metric message at a time, and counts as unchanged when
// every message is the one at its place last time. And a push, failed or
// not, and a deletion always change push_time_seconds or
// push_failure_time_seconds: when every family that held group series is
// what it was, the groups are the ones the last scrape found, and only the
// families that changed (the gateway's own metrics, which change on every
// scrape) are parsed.
//
// It is not safe for concurrent use.
type scrapeCache struct {
	limits Limits
	check  labelCheck
	// bodySizeLimit bounds the body, and so each family read; 0 for none.
	bodySizeLimit int64
	// maxBuffered is the largest family read whole (and skipped if its
	// bytes did not change); larger ones are streamed (streamFamily).
	maxBuffered int
	scrape      uint32 // counts reads, wrapping
	families    map[string]*family
	meta        map[string]*metadata.Metadata // family -> its metadata, shared
	st          *labels.SymbolTable
	lb          labels.Builder
	msg         []byte // scratch: a one-metric family message
	// buf is scratch: the family being read. Kept from scrape to scrape
	// only up to maxKeptBuf: a gateway whose groups push one family holds
	// it as one message as large as the exposition, and keeping that would
	// add it to the bridge's memory for good.
	buf    []byte
	order  []*family // the families of the last scrape, in order
	sb     labels.ScratchBuilder
	slab   seriesSlab // of the family being parsed
	extras extraReader
	// groups are the groups the last full parse found and attributed,
	// returned again while they are unchanged; valid if attributed.
	groups     []pipeline.Group
	attributed bool
	grouped    int // families holding group series
}

// One per metric message of the exposition: kept to 48 bytes.
type cacheEntry struct {
	key uint64
	// first and n are what the message expanded to (see series), a
	// pointer and a length rather than a slice, 12 bytes instead of 24.
	// Once attributed to a group, they are the group's copy (see
	// attributeCached): a series is kept once, not once in the cache and
	// once in its group.
	first *pipeline.Series
	// The group the series were attributed to (nil for none: the
	// gateway's own), and under which generation.
	group      *groupRef
	attributed uint64
	n          int32
	scrape     uint32 // the last scrape that had it (wrapping)
	pos        int32  // place in its family's entries
	ambiguous  bool   // see attributed
}

// series returns the series of the entry, with no room to append: they
// may be a group's.
func (e *cacheEntry) series() []pipeline.Series {
	if e.n == 0 {
		return nil
	}
	return unsafe.Slice(e.first, e.n)
}

// setSeries makes s the series of the entry.
func (e *cacheEntry) setSeries(s []pipeline.Series) {
	if len(s) == 0 {
		e.first, e.n = nil, 0
		return
	}
	e.first, e.n = &s[0], int32(len(s))
}

// groupRef is a grouping key with its hash, shared by the cache entries
// attributed to its group by one attribution.
type groupRef struct {
	key  labels.Labels
	hash uint64
}

// family is what the cache knows of one metric family.
type family struct {
	name    string
	hash    uint64
	entries []*cacheEntry
	scrape  uint32 // the last scrape that had it
	changed bool   // in that scrape
	// Known after attribution (if attributed): whether some series belong
	// to a group, and the series that belong to none.
	attributed bool
	grouped    bool
	own        []pipeline.Series
	// drops holds the entries of metrics dropped by the limits, which
	// have no series; nil if none. A map here rather than a field of
	// every entry keeps entries small.
	drops map[*cacheEntry]*dropped
	// dropTally counts the series dropped, by reason.
	dropTally dropTally
}

// dropTally counts the series a scrape dropped by the limits, by reason,
// with the name of one of each for the log.
type dropTally struct {
	series  [numReasons]int
	example [numReasons]string
}

func (t *dropTally) add(d *dropped) {
	if t.series[d.reason] == 0 {
		t.example[d.reason] = d.name
	}
	t.series[d.reason] += d.series
}

func (t *dropTally) merge(o *dropTally) {
	for r := range o.series {
		if o.series[r] > 0 && t.series[r] == 0 {
			t.example[r] = o.example[r]
		}
		t.series[r] += o.series[r]
	}
}

func newScrapeCache(limits Limits) *scrapeCache {
	return &scrapeCache{
		limits:      limits.safe(),
		maxBuffered: maxKeptBuf,
		families:    map[string]*family{},
		meta:        map[string]*metadata.Metadata{},
		st:          labels.NewSymbolTable(),
	}
}

// Protobuf field numbers of io.prometheus.client.MetricFamily.
const (
	fieldName   = 1
	fieldHelp   = 2
	fieldType   = 3
	fieldMetric = 4
	fieldUnit   = 5
)

// maxFamilySize bounds one metric family message, against a corrupt length.
const maxFamilySize = 1 << 30

// maxKeptBuf is the largest family buffer kept for the next scrape, and
// the largest family read whole by default.
const maxKeptBuf = 1 << 20

// read reads a delimited protobuf exposition family by family, without
// keeping the whole of it: a small family is hashed, and parsed if it
// changed since the last scrape; a large one is streamed through the cache
// a metric message at a time. Then unchanged tells whether the groups of
// the last scrape still hold, and own or series give the result.
func (c *scrapeCache) read(r byteReader) error {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
		r = br
	}
	c.scrape++
	c.order = c.order[:0]
	defer func() {
		if cap(c.buf) > maxKeptBuf {
			// The scratch builder holds views into buf (labelPair).
			c.buf, c.sb = nil, labels.ScratchBuilder{}
		}
	}()
	for {
		n, err := binary.ReadUvarint(r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return readErr(err)
		}
		if n > maxFamilySize {
			return fmt.Errorf("parse exposition: metric family of %d bytes", n)
		}
		if c.bodySizeLimit > 0 && n > uint64(c.bodySizeLimit) {
			// Not one byte of it is read, nor room made for it.
			return &LimitError{Reason: ReasonBodySizeLimit, Limit: c.bodySizeLimit}
		}
		var f *family
		if n > uint64(c.maxBuffered) {
			if f, err = c.streamFamily(br, n); err != nil {
				return err
			}
		} else if f, err = c.bufferedFamily(r, n); err != nil {
			return err
		}
		c.order = append(c.order, f)
	}
	c.forget()
	return nil
}

// byteReader is what read reads from: a bufio.Reader or a bytes.Reader.
type byteReader interface {
	io.Reader
	io.ByteReader
}

var errTruncated = errors.New("parse exposition: truncated metric family")

// readErr tells a truncated exposition from a failed read.
func readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errTruncated
	}
	return fmt.Errorf("read body: %w", err)
}

// familyName returns the name of a metric family message: its last name
// field, as protobuf decoding has it.
func familyName(fam []byte) (string, error) {
	var name []byte
	for len(fam) > 0 {
		num, wt, tl := protowire.ConsumeTag(fam)
		if tl < 0 {
			return "", errors.New("parse exposition: bad metric family field")
		}
		fam = fam[tl:]
		vl := protowire.ConsumeFieldValue(num, wt, fam)
		if vl < 0 {
			return "", errors.New("parse exposition: bad metric family field")
		}
		if num == fieldName && wt == protowire.BytesType {
			name, _ = protowire.ConsumeBytes(fam)
		}
		fam = fam[vl:]
	}
	if len(name) == 0 {
		return "", errors.New("parse exposition: metric family without a name")
	}
	return string(name), nil
}

// dropTally sums what the families of the last read dropped.
func (c *scrapeCache) dropTally() dropTally {
	var t dropTally
	for _, f := range c.order {
		t.merge(&f.dropTally)
	}
	return t
}

// unchanged tells whether the groups of the last attributed scrape still
// hold after read: every family that held group series is unchanged, and
// every other family is one known to hold none.
func (c *scrapeCache) unchanged() bool {
	if !c.attributed {
		return false
	}
	grouped := 0
	for _, f := range c.order {
		switch {
		case !f.attributed:
			return false
		case f.grouped && f.changed:
			return false
		case f.grouped:
			grouped++
		}
	}
	return grouped == c.grouped
}

// own returns, when unchanged approved the scrape, its series that belong
// to no group, in exposition order: the remembered ones of unchanged
// families, and every series of those that changed.
func (c *scrapeCache) own() []pipeline.Series {
	var own []pipeline.Series
	for _, f := range c.order {
		if f.changed {
			f.own = f.own[:0]
			for _, e := range f.entries {
				f.own = append(f.own, e.series()...)
			}
		}
		own = append(own, f.own...)
	}
	return own
}

// series returns the groups and every series of the scrape read, for
// attribution, walked from the cache's entries: no list of them is made,
// which at a first scrape would be as large as the exposition. attribute
// must follow before the groups can be reused.
func (c *scrapeCache) series() ([]pipeline.Group, iter.Seq[parsedSeries]) {
	c.attributed = false
	seq := func(yield func(parsedSeries) bool) {
		for _, f := range c.order {
			for _, e := range f.entries {
				if f.drops != nil {
					if d := f.drops[e]; d != nil {
						if !yield(parsedSeries{family: &f.name, entry: e, drop: d}) {
							return
						}
						continue
					}
				}
				for i := range e.series() {
					if !yield(parsedSeries{Series: &e.series()[i], family: &f.name, entry: e}) {
						return
					}
				}
			}
		}
	}
	return groupsOf(seq), seq
}

// parseProto reads a delimited protobuf exposition like parse does, through
// the cache.
func (c *scrapeCache) parseProto(body []byte) ([]pipeline.Group, []parsedSeries, error) {
	if err := c.read(bytes.NewReader(body)); err != nil {
		return nil, nil, err
	}
	groups, series := c.series()
	return groups, slices.Collect(series), nil
}

// attribute records, after attributeCached placed the series of the last
// read under the generations keysGen and contentGen, which families hold
// group series and which series are the gateway's own, and keeps groups to
// return while they are unchanged. It must not be called if the
// attribution failed.
func (c *scrapeCache) attribute(groups []pipeline.Group, keysGen, contentGen uint64) {
	c.grouped = 0
	for _, f := range c.order {
		f.attributed, f.grouped, f.own = false, false, f.own[:0]
		for _, e := range f.entries {
			if gen := e.attributed; gen == 0 || (gen != keysGen && gen != contentGen) {
				return // not attributed by this call: no reuse
			}
			if e.group == nil {
				f.own = append(f.own, e.series()...)
			} else {
				f.grouped = true
			}
		}
		f.attributed = true
		if f.grouped {
			c.grouped++
		}
	}
	c.groups, c.attributed = groups, true
}

// forget drops the families not in the last scrape and their entries.
func (c *scrapeCache) forget() {
	if len(c.families) == len(c.order) {
		return
	}
	for name, f := range c.families {
		if f.scrape == c.scrape {
			continue
		}
		delete(c.families, name)
	}
}

// family finds or makes the family of a name for the scrape being read.
func (c *scrapeCache) family(name string) (*family, error) {
	f := c.families[name]
	if f == nil {
		f = &family{name: name}
		c.families[name] = f
	}
	if f.scrape == c.scrape {
		return nil, fmt.Errorf("parse exposition: metric family %q appears twice", name)
	}
	f.scrape = c.scrape
	return f, nil
}

// bufferedFamily reads a family message of n bytes whole, and parses it
// if its bytes changed since the last scrape.
func (c *scrapeCache) bufferedFamily(r byteReader, n uint64) (*family, error) {
	if uint64(cap(c.buf)) < n {
		c.buf = make([]byte, n)
	}
	msg := c.buf[:n]
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, readErr(err)
	}
	name, err := familyName(msg)
	if err != nil {
		return nil, err
	}
	f, err := c.family(name)
	if err != nil {
		return nil, err
	}
	h := xxhash.Sum64(msg)
	f.changed = f.hash != h || f.entries == nil
	if !f.changed {
		return f, nil
	}
	// Two passes over the message: its name, type, help and unit first
	// (the unit follows the metrics in field order), then its metrics,
	// without a list of them as large as the family.
	hdr := familyHeader{name: name}
	nMetrics := 0
	err = eachFamilyField(msg, func(num protowire.Number, wt protowire.Type, v []byte, varint uint64) {
		if wt == protowire.BytesType && num == fieldMetric {
			nMetrics++
			return
		}
		hdr.add(num, wt, v, varint)
	})
	if err != nil {
		return nil, err
	}
	_, err = c.parseFamily(f, hdr, nMetrics, func(fn func(m []byte) error) (familyHeader, error) {
		var fnErr error
		err := eachFamilyField(msg, func(num protowire.Number, wt protowire.Type, m []byte, _ uint64) {
			if fnErr == nil && wt == protowire.BytesType && num == fieldMetric {
				fnErr = fn(m)
			}
		})
		return hdr, cmp.Or(err, fnErr)
	})
	if err != nil {
		return nil, err
	}
	f.hash = h
	return f, nil
}

// streamFamily reads and parses a family message of n bytes as it
// arrives, a metric message at a time, without holding the whole of it:
// the family of a gateway whose groups all push one metric is as large as
// the exposition. Every metric message is looked up in the cache; the
// family counts as changed if its entries differ from the last scrape's.
// The message must be in field order as far as its name and type go:
// both before its first metric (every protobuf encoder writes them so).
func (c *scrapeCache) streamFamily(r *bufio.Reader, n uint64) (*family, error) {
	src := fieldStream{r: r, left: n, buf: c.buf[:0]}
	defer func() { c.buf = src.buf[:0] }()
	var hdr familyHeader
	var first []byte
	for {
		num, wt, v, x, ok, err := src.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if wt == protowire.BytesType && num == fieldMetric {
			first = v
			break
		}
		hdr.add(num, wt, v, x)
	}
	if hdr.name == "" {
		return nil, errors.New("parse exposition: metric family without a name before its metrics")
	}
	f, err := c.family(hdr.name)
	if err != nil {
		return nil, err
	}
	if first == nil {
		// No metrics.
		f.changed = f.entries == nil || len(f.entries) > 0 || !c.metaIs(hdr)
		if f.changed {
			_, err = c.parseFamily(f, hdr, 0, func(func([]byte) error) (familyHeader, error) { return hdr, nil })
		}
		f.hash = 0
		return f, err
	}
	f.changed, err = c.parseFamily(f, hdr, len(f.entries), func(fn func(m []byte) error) (familyHeader, error) {
		if err := fn(first); err != nil {
			return hdr, err
		}
		for {
			num, wt, v, x, ok, err := src.next()
			if err != nil || !ok {
				return hdr, err
			}
			switch {
			case wt == protowire.BytesType && num == fieldMetric:
				if err := fn(v); err != nil {
					return hdr, err
				}
			case (wt == protowire.BytesType && num == fieldName) || (wt == protowire.VarintType && num == fieldType):
				return hdr, fmt.Errorf("parse exposition: metric family %q: name or type after its metrics", hdr.name)
			default:
				hdr.add(num, wt, v, x)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	// A streamed family is not skipped by its hash: its entries tell.
	f.hash = 0
	return f, nil
}

// metaIs tells whether a family's shared metadata is what hdr says.
func (c *scrapeCache) metaIs(hdr familyHeader) bool {
	m := c.meta[hdr.name]
	return m != nil && m.Type == metricType(hdr.typ) && m.Help == hdr.help && m.Unit == hdr.unit
}

// familyHeader is what a metric family message says besides its metrics.
type familyHeader struct {
	name, help, unit string
	typ              uint64
}

// add records one field of a family message; the last of each wins, as
// in protobuf decoding.
func (h *familyHeader) add(num protowire.Number, wt protowire.Type, v []byte, varint uint64) {
	switch {
	case wt == protowire.BytesType && num == fieldName:
		h.name = string(v)
	case wt == protowire.BytesType && num == fieldHelp:
		h.help = string(v)
	case wt == protowire.BytesType && num == fieldUnit:
		h.unit = string(v)
	case wt == protowire.VarintType && num == fieldType:
		h.typ = varint
	}
}

// parseFamily expands the metric messages of a family, reusing the entries
// of messages that did not change, and forgets the entries it no longer
// has. hdr is what the family said before its metrics; each calls fn with
// every metric message in order and returns the header as it is at the
// end (the unit follows the metrics in field order): series get the
// metadata of the final header, in copies for entries kept from an earlier
// scrape. sizeHint is the expected number of metrics. It reports whether
// the entries (or their metadata) differ from the last scrape's.
func (c *scrapeCache) parseFamily(f *family, hdr familyHeader, sizeHint int, each func(fn func(m []byte) error) (familyHeader, error)) (bool, error) {
	name, typ := hdr.name, hdr.typ
	// The metadata the new series are expanded with: the family's last
	// one if what is known of the header agrees with it, for a unit that
	// comes after the metrics.
	meta := c.meta[name]
	if meta == nil || meta.Type != metricType(typ) || meta.Help != hdr.help || (hdr.unit != "" && meta.Unit != hdr.unit) {
		meta = c.familyMeta(name, typ, hdr.help, hdr.unit)
	}
	help, unit := meta.Help, meta.Unit
	// A message's key: the hash of its bytes, mixed with that of its
	// family's header.
	famDigest := xxhash.New()
	_, _ = famDigest.WriteString(name)
	_, _ = famDigest.Write([]byte{0xff, byte(typ), 0xff})
	_, _ = famDigest.WriteString(help)
	_, _ = famDigest.Write([]byte{0xff})
	_, _ = famDigest.WriteString(unit)
	_, _ = famDigest.Write([]byte{0xff})
	famSeed := famDigest.Sum64()

	// The new entries usually are the old ones, in the same order, with a
	// few inserted or removed: comparing a key with the old entry at the
	// same place (shifted by what was inserted or removed before it) is
	// cheaper than a map lookup, and the map of the old entries is built
	// only if one is not found in place. While every entry is the old one
	// at its place, no new list is made.
	old := f.entries
	var byKey map[uint64]*cacheEntry
	c.slab = seriesSlab{}
	defer func() { c.slab = seriesSlab{} }()
	var entries []*cacheEntry
	same, count := old != nil, 0
	oldDrops := f.drops
	f.drops, f.dropTally = nil, dropTally{}
	shift := 0
	final, err := each(func(m []byte) error {
		key := xxhash.Sum64(m) ^ famSeed
		pos := count
		var e *cacheEntry
		if i := pos + shift; i >= 0 && i < len(old) && old[i].key == key {
			e = old[i]
		} else {
			if byKey == nil {
				byKey = make(map[uint64]*cacheEntry, len(old))
				for _, o := range old {
					byKey[o.key] = o
				}
			}
			if e = byKey[key]; e != nil {
				shift = int(e.pos) - pos
			}
		}
		var d *dropped
		if e == nil || e.scrape == c.scrape {
			// New, or a second message like one already read.
			var err error
			if e, d, err = c.expand(name, typ, help, unit, m, meta); err != nil {
				return err
			}
			e.key = key
		} else if oldDrops != nil {
			d = oldDrops[e]
		}
		if d != nil {
			if f.drops == nil {
				f.drops = map[*cacheEntry]*dropped{}
			}
			f.drops[e] = d
			f.dropTally.add(d)
		}
		e.scrape, e.pos = c.scrape, int32(pos)
		count++
		if same && pos < len(old) && old[pos] == e {
			return nil
		}
		if same {
			same = false
			entries = make([]*cacheEntry, pos, max(sizeHint, pos+1))
			copy(entries, old[:pos])
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return false, err
	}
	switch {
	case same && count == len(old):
		entries = old
	case same:
		same = false
		entries = slices.Clone(old[:count])
	case entries == nil:
		entries = []*cacheEntry{}
	}
	if final.unit != unit || final.help != help {
		// The header's end changed the metadata: the series get the
		// final one, in copies (those of kept entries may be a group's).
		same = false
		meta = c.familyMeta(name, typ, final.help, final.unit)
		for _, e := range entries {
			if e.n > 0 && e.first.Metadata != meta {
				series := slices.Clone(e.series())
				for i := range series {
					series[i].Metadata = meta
				}
				e.setSeries(series)
			}
		}
	}
	f.entries = entries
	return !same, nil
}

// fieldStream reads the fields of one metric family message of left bytes
// from r, a field at a time: in place in r's buffer if the field is in it,
// else through buf.
type fieldStream struct {
	r    *bufio.Reader
	left uint64
	buf  []byte // the last length-delimited field's bytes
	rerr error  // of the reader
}

func (s *fieldStream) ReadByte() (byte, error) {
	if s.left == 0 {
		return 0, errBadFamilyField
	}
	b, err := s.r.ReadByte()
	if err != nil {
		s.rerr = readErr(err)
		return 0, s.rerr
	}
	s.left--
	return b, nil
}

var errBadFamilyField = errors.New("parse exposition: bad metric family field")

// next reads the next field: its number and wire type, and its bytes
// (valid until the next call) or varint value; ok is false at the end of
// the message.
func (s *fieldStream) next() (num protowire.Number, wt protowire.Type, v []byte, varint uint64, ok bool, err error) {
	if s.left == 0 {
		return 0, 0, nil, 0, false, nil
	}
	// From what is buffered, and only if the field is not all there,
	// after filling the buffer (Peek moves what is left to its start).
	p, _ := s.r.Peek(int(min(s.left, uint64(s.r.Buffered()))))
	if num, wt, v, varint, n := consumeField(p); n > 0 {
		_, _ = s.r.Discard(n)
		s.left -= uint64(n)
		return num, wt, v, varint, true, nil
	}
	want := int(min(s.left, uint64(s.r.Size())))
	p, perr := s.r.Peek(want)
	if num, wt, v, varint, n := consumeField(p); n > 0 {
		_, _ = s.r.Discard(n)
		s.left -= uint64(n)
		return num, wt, v, varint, true, nil
	}
	switch {
	case uint64(len(p)) == s.left:
		return 0, 0, nil, 0, false, errBadFamilyField
	case len(p) < want:
		return 0, 0, nil, 0, false, readErr(perr)
	}
	// A field larger than the buffer, or a bad one: byte by byte.
	tag, err := binary.ReadUvarint(s)
	if err != nil {
		return 0, 0, nil, 0, false, s.err(err)
	}
	num, wt = protowire.DecodeTag(tag)
	if num < protowire.MinValidNumber {
		return 0, 0, nil, 0, false, errBadFamilyField
	}
	var skip uint64
	switch wt {
	case protowire.VarintType:
		if varint, err = binary.ReadUvarint(s); err != nil {
			return 0, 0, nil, 0, false, s.err(err)
		}
		return num, wt, nil, varint, true, nil
	case protowire.BytesType:
		n, err := binary.ReadUvarint(s)
		if err != nil {
			return 0, 0, nil, 0, false, s.err(err)
		}
		if n > s.left {
			return 0, 0, nil, 0, false, errBadFamilyField
		}
		if uint64(cap(s.buf)) < n {
			s.buf = make([]byte, n)
		}
		s.buf = s.buf[:n]
		if _, err := io.ReadFull(s.r, s.buf); err != nil {
			return 0, 0, nil, 0, false, readErr(err)
		}
		s.left -= n
		return num, wt, s.buf, 0, true, nil
	case protowire.Fixed64Type:
		skip = 8
	case protowire.Fixed32Type:
		skip = 4
	default:
		// Groups are no field of a metric family; a buffered family
		// would skip them.
		return 0, 0, nil, 0, false, errBadFamilyField
	}
	if skip > s.left {
		return 0, 0, nil, 0, false, errBadFamilyField
	}
	for range skip {
		if _, err := s.ReadByte(); err != nil {
			return 0, 0, nil, 0, false, err
		}
	}
	return num, wt, nil, 0, true, nil
}

// consumeField reads one field of a metric family message from the start
// of p, as next returns it, and its length; n <= 0 if p does not start
// with a whole field (or a group, which no metric family has).
func consumeField(p []byte) (num protowire.Number, wt protowire.Type, v []byte, varint uint64, n int) {
	num, wt, tl := protowire.ConsumeTag(p)
	if tl < 0 {
		return 0, 0, nil, 0, -1
	}
	var vl int
	switch wt {
	case protowire.VarintType:
		varint, vl = protowire.ConsumeVarint(p[tl:])
	case protowire.BytesType:
		v, vl = protowire.ConsumeBytes(p[tl:])
	case protowire.Fixed64Type:
		_, vl = protowire.ConsumeFixed64(p[tl:])
	case protowire.Fixed32Type:
		_, vl = protowire.ConsumeFixed32(p[tl:])
	default:
		return 0, 0, nil, 0, -1
	}
	if vl < 0 {
		return 0, 0, nil, 0, -1
	}
	return num, wt, v, varint, tl + vl
}

// err is the error of a varint that could not be read: the reader's, or
// a bad field (past the message, or over 64 bits).
func (s *fieldStream) err(error) error {
	if s.rerr != nil {
		return s.rerr
	}
	return errBadFamilyField
}

// eachFamilyField calls fn with every field of a metric family message:
// its number and wire type, and its bytes (length-delimited fields) or
// value (varints).
func eachFamilyField(msg []byte, fn func(num protowire.Number, wt protowire.Type, v []byte, varint uint64)) error {
	for fam := msg; len(fam) > 0; {
		num, wt, tl := protowire.ConsumeTag(fam)
		if tl < 0 {
			return errBadFamilyField
		}
		fam = fam[tl:]
		var vl int
		switch wt {
		case protowire.BytesType:
			var v []byte
			v, vl = protowire.ConsumeBytes(fam)
			if vl >= 0 {
				fn(num, wt, v, 0)
			}
		case protowire.VarintType:
			var x uint64
			x, vl = protowire.ConsumeVarint(fam)
			if vl >= 0 {
				fn(num, wt, nil, x)
			}
		default:
			vl = protowire.ConsumeFieldValue(num, wt, fam)
		}
		if vl < 0 {
			return errBadFamilyField
		}
		fam = fam[vl:]
	}
	return nil
}

// familyMeta returns the shared metadata of a family, a new value when it
// changed, so that series keep the metadata they were expanded with.
func (c *scrapeCache) familyMeta(name string, typ uint64, help, unit string) *metadata.Metadata {
	t := metricType(typ)
	if m := c.meta[name]; m != nil && m.Type == t && m.Help == help && m.Unit == unit {
		return m
	}
	m := &metadata.Metadata{Type: t, Help: help, Unit: unit}
	c.meta[name] = m
	return m
}

func metricType(t uint64) model.MetricType {
	switch t {
	case 0:
		return model.MetricTypeCounter
	case 1:
		return model.MetricTypeGauge
	case 2:
		return model.MetricTypeSummary
	case 4:
		return model.MetricTypeHistogram
	case 5:
		return model.MetricTypeGaugeHistogram
	}
	return model.MetricTypeUnknown
}

// expand parses one metric message with textparse, as a family of its own.
// A message over the limits is not expanded: its entry has no series, and
// the record of what it dropped is returned with it.
func (c *scrapeCache) expand(name string, typ uint64, help, unit string, m []byte, meta *metadata.Metadata) (*cacheEntry, *dropped, error) {
	if c.check.checkProto(c.limits, name, typ, m, false) {
		if reason, drop := c.check.verdict(); drop {
			d, err := c.dropMessage(name, typ, m, reason)
			if err != nil {
				return nil, nil, err
			}
			return &cacheEntry{}, d, nil
		}
	}
	if s, ok := c.expandPlain(name, typ, m); ok {
		s.Metadata = meta
		e := &cacheEntry{}
		e.setSeries(c.slab.add(s))
		return e, nil, nil
	}
	var series []pipeline.Series
	err := c.expandWith(name, typ, help, unit, m, func(s pipeline.Series) {
		s.Metadata = meta
		s.Hash = s.Labels.Hash()
		series = append(series, s)
	}, true)
	if err != nil {
		return nil, nil, err
	}
	e := &cacheEntry{}
	e.setSeries(series)
	return e, nil, nil
}

// dropMessage returns the record of a metric message dropped by the limits:
// how many series it stands for, found by expanding it without its labels
// and under a short name, and its labels within the length limits.
func (c *scrapeCache) dropMessage(name string, typ uint64, m []byte, reason dropReason) (*dropped, error) {
	stripped := make([]byte, 0, 64)
	for b := m; len(b) > 0; {
		num, wt, n := protowire.ConsumeTag(b)
		if n < 0 {
			break
		}
		vl := protowire.ConsumeFieldValue(num, wt, b[n:])
		if vl < 0 {
			break
		}
		if num != fieldMetricLabel {
			stripped = append(stripped, b[:n+vl]...)
		}
		b = b[n+vl:]
	}
	n := 0
	if err := c.expandWith("x", typ, "", "", stripped, func(pipeline.Series) { n++ }, false); err != nil {
		return nil, err
	}
	c.check.checkProto(c.limits, name, typ, m, true)
	return c.check.drop(reason, name, max(n, 1)), nil
}

// expandWith parses one metric message with textparse and hands each series
// to add, with its labels (empty-valued ones dropped) if withLabels.
func (c *scrapeCache) expandWith(name string, typ uint64, help, unit string, m []byte, add func(pipeline.Series), withLabels bool) error {
	fam := c.msg[:0]
	fam = protowire.AppendTag(fam, fieldName, protowire.BytesType)
	fam = protowire.AppendString(fam, name)
	if help != "" {
		fam = protowire.AppendTag(fam, fieldHelp, protowire.BytesType)
		fam = protowire.AppendString(fam, help)
	}
	fam = protowire.AppendTag(fam, fieldType, protowire.VarintType)
	fam = protowire.AppendVarint(fam, typ)
	fam = protowire.AppendTag(fam, fieldMetric, protowire.BytesType)
	fam = protowire.AppendBytes(fam, m)
	if unit != "" {
		fam = protowire.AppendTag(fam, fieldUnit, protowire.BytesType)
		fam = protowire.AppendString(fam, unit)
	}
	msg := protowire.AppendVarint(make([]byte, 0, len(fam)+binaryVarintLen), uint64(len(fam)))
	msg = append(msg, fam...)
	c.msg = fam

	p := textparse.NewProtobufParser(msg, false, true, false, false, c.st)
	var ls labels.Labels
	for {
		entry, err := p.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("parse exposition: %w", err)
		}
		var (
			s  pipeline.Series
			h  *histogram.Histogram
			fh *histogram.FloatHistogram
		)
		switch entry {
		case textparse.EntrySeries:
			_, _, s.Value = p.Series()
		case textparse.EntryHistogram:
			_, _, h, fh = p.Histogram()
		default:
			continue
		}
		if withLabels {
			p.Labels(&ls)
			s.Labels = dropEmpty(&c.lb, ls)
			s.Extra = c.extras.read(p).WithHistogram(h, fh)
		}
		add(s)
	}
	return nil
}

const binaryVarintLen = 10

// extraReader reads what the parser has beyond labels and value for each
// entry: its start timestamp (the exposition's created timestamp) and its
// exemplars, as a Prometheus scrape would store them. One is used for the
// entries of one parser, in order.
type extraReader struct {
	ex exemplar.Exemplar // scratch, not to allocate one per entry
	// shared is the last Extra made without exemplars, handed to the next
	// entries with the same start timestamp: the series of a histogram or
	// summary share one.
	shared *pipeline.Extra
}

// read returns the current entry's Extra, nil if it has neither.
func (r *extraReader) read(p textparse.Parser) *pipeline.Extra {
	st := p.StartTimestamp()
	var exs []exemplar.Exemplar
	for p.Exemplar(&r.ex) {
		exs = append(exs, r.ex)
		r.ex = exemplar.Exemplar{}
	}
	switch {
	case exs != nil:
		return &pipeline.Extra{Exemplars: exs, StartTimestamp: st}
	case st == 0:
		return nil
	case r.shared == nil || r.shared.StartTimestamp != st:
		r.shared = &pipeline.Extra{StartTimestamp: st}
	}
	return r.shared
}

// seriesSlab hands out one-series slices from shared arrays, growing them by
// doubling up to maxSlabChunk: a family's new series take a few allocations
// instead of one each, and one new series in a large family does not take
// a large array.
type seriesSlab struct{ free []pipeline.Series }

const maxSlabChunk = 1024

func (s *seriesSlab) add(v pipeline.Series) []pipeline.Series {
	if len(s.free) == cap(s.free) {
		s.free = make([]pipeline.Series, 0, min(max(2*cap(s.free), 8), maxSlabChunk))
	}
	s.free = append(s.free, v)
	n := len(s.free)
	return s.free[n-1 : n : n]
}

// Protobuf field numbers of io.prometheus.client.Metric, LabelPair and the
// value messages.
const (
	fieldMetricLabel   = 1
	fieldMetricGauge   = 2
	fieldMetricCounter = 3
	fieldMetricUntyped = 5
	fieldPairName      = 1
	fieldPairValue     = 2
	fieldValue         = 1 // Gauge.value, Counter.value, Untyped.value
)

// Metric types of io.prometheus.client.MetricType.
const (
	typeCounter        = 0
	typeGauge          = 1
	typeSummary        = 2
	typeUntyped        = 3
	typeHistogram      = 4
	typeGaugeHistogram = 5
)

// expandPlain expands the commonest metric message, a gauge, counter or
// untyped value with labels and nothing else, without textparse, whose
// parser costs more to set up than such a message takes to read. It gives
// what textparse gives: the family name as __name__, the labels, sorted,
// without empty values. Anything else (a timestamp, an exemplar, a created
// timestamp, an unexpected field) is left to textparse.
func (c *scrapeCache) expandPlain(name string, typ uint64, m []byte) (pipeline.Series, bool) {
	var want protowire.Number
	switch typ {
	case typeCounter:
		want = fieldMetricCounter
	case typeGauge:
		want = fieldMetricGauge
	case typeUntyped:
		want = fieldMetricUntyped
	default:
		return pipeline.Series{}, false
	}
	c.sb.Reset()
	c.sb.Add(model.MetricNameLabel, name)
	var (
		v   float64
		got bool
	)
	for len(m) > 0 {
		num, wt, n := protowire.ConsumeTag(m)
		if n < 0 || wt != protowire.BytesType {
			return pipeline.Series{}, false
		}
		m = m[n:]
		b, n := protowire.ConsumeBytes(m)
		if n < 0 {
			return pipeline.Series{}, false
		}
		m = m[n:]
		switch {
		case num == fieldMetricLabel:
			ln, lv, ok := labelPair(b)
			if !ok {
				return pipeline.Series{}, false
			}
			if lv != "" {
				c.sb.Add(ln, lv)
			}
		case num == want && !got:
			if v, got = plainValue(b); !got {
				return pipeline.Series{}, false
			}
		default:
			return pipeline.Series{}, false
		}
	}
	if !got {
		return pipeline.Series{}, false
	}
	c.sb.Sort()
	ls := c.sb.Labels()
	return pipeline.Series{Labels: ls, Value: v, Hash: ls.Hash()}, true
}

// labelPair reads a LabelPair message.
func labelPair(b []byte) (name, value string, ok bool) {
	for len(b) > 0 {
		num, wt, n := protowire.ConsumeTag(b)
		if n < 0 || wt != protowire.BytesType || (num != fieldPairName && num != fieldPairValue) {
			return "", "", false
		}
		b = b[n:]
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return "", "", false
		}
		b = b[n:]
		// Views, not copies: the scratch builder copies them into the
		// labels' own string.
		if num == fieldPairName {
			name = unsafe.String(unsafe.SliceData(v), len(v))
		} else {
			value = unsafe.String(unsafe.SliceData(v), len(v))
		}
	}
	return name, value, true
}

// plainValue reads a Gauge, Counter or Untyped message that holds at most
// its value.
func plainValue(b []byte) (float64, bool) {
	var v uint64
	for len(b) > 0 {
		num, wt, n := protowire.ConsumeTag(b)
		if n < 0 || num != fieldValue || wt != protowire.Fixed64Type {
			return 0, false
		}
		b = b[n:]
		if v, n = protowire.ConsumeFixed64(b); n < 0 {
			return 0, false
		}
		b = b[n:]
	}
	return math.Float64frombits(v), true
}

// groupsOf finds the groups through their push_time_seconds and
// push_failure_time_seconds series.
func groupsOf(series iter.Seq[parsedSeries]) []pipeline.Group {
	var (
		b      labels.Builder
		byHash = map[uint64][]int{}
		groups []pipeline.Group
	)
	group := func(ls labels.Labels) *pipeline.Group {
		b.Reset(ls)
		b.Del(model.MetricNameLabel)
		key := b.Labels()
		h := key.Hash()
		for _, i := range byHash[h] {
			if labels.Equal(groups[i].Labels, key) {
				return &groups[i]
			}
		}
		byHash[h] = append(byHash[h], len(groups))
		groups = append(groups, pipeline.Group{Labels: key})
		return &groups[len(groups)-1]
	}
	for s := range series {
		if s.drop != nil {
			continue
		}
		// The family is the series name for these gauges, and comparing
		// it is cheaper than looking the name up in the labels.
		switch *s.family {
		case PushTimeMetric:
			group(s.Labels).PushTime = s.Value
		case PushFailureTimeMetric:
			group(s.Labels).PushFailureTime = s.Value
		}
	}
	sortGroups(groups)
	return groups
}

// generations returns identities of the set of grouping keys, and of the
// keys with their push times: equal values mean, with overwhelming
// likelihood, equal sets.
func generations(groups []pipeline.Group) (keys, content uint64) {
	keys = uint64(len(groups))
	content = keys
	for i := range groups {
		h := groups[i].Labels.Hash()
		keys ^= h * 0x9E3779B97F4A7C15
		content ^= (h ^ math.Float64bits(groups[i].PushTime) ^ math.Float64bits(groups[i].PushFailureTime)*31) * 0xC2B2AE3D27D4EB4F
	}
	return keys, content
}

package pushgateway

import (
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/protobuf/encoding/protowire"
)

// Limits bound the series the bridge takes from a gateway, as a Prometheus
// scrape config's label_limit, label_name_length_limit and
// label_value_length_limit do. A series over a limit is dropped, counted and
// logged; the rest of its group is kept.
//
// They are not optional as in Prometheus, where 0 means no limit: the labels
// library (model/labels, stringlabels) cannot hold a name or value of 16 MiB
// or more and panics on one, and the Pushgateway accepts such a push. The
// limits are checked on the exposition's bytes, before a label set is built.
type Limits struct {
	// LabelLimit is the most labels a series may have, its name (__name__)
	// included and empty-valued labels (dropped anyway) not.
	LabelLimit int
	// LabelNameLengthLimit and LabelValueLengthLimit are the longest label
	// name and value, in bytes; the metric name is the value of __name__.
	LabelNameLengthLimit  int
	LabelValueLengthLimit int
}

// The default limits. They are far above what any batch job pushes (Mimir
// and Cortex reject series with more than 30 labels, names over 1024 bytes or
// values over 2048 bytes by default) and keep the largest series they allow
// to 128 × (4+1024 + 4+32768) bytes = 4.1 MiB encoded: a quarter of the
// 16 MiB a label set's name or value can never reach, with room to spare for
// the labels synth, relabelling and external_labels add.
const (
	DefaultLabelLimit            = 128
	DefaultLabelNameLengthLimit  = 1024
	DefaultLabelValueLengthLimit = 32 << 10
)

// MaxSeriesSize bounds the largest series a set of limits may allow, encoded
// as model/labels keeps it (each name and value behind a length of up to 4
// bytes): half the 16 MiB that one of its strings must stay under, so that
// what later stages add never brings a series near it.
const MaxSeriesSize = 8 << 20

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{
		LabelLimit:            DefaultLabelLimit,
		LabelNameLengthLimit:  DefaultLabelNameLengthLimit,
		LabelValueLengthLimit: DefaultLabelValueLengthLimit,
	}
}

// WithDefaults returns l with each limit that is 0 set to its default.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits()
	if l.LabelLimit == 0 {
		l.LabelLimit = d.LabelLimit
	}
	if l.LabelNameLengthLimit == 0 {
		l.LabelNameLengthLimit = d.LabelNameLengthLimit
	}
	if l.LabelValueLengthLimit == 0 {
		l.LabelValueLengthLimit = d.LabelValueLengthLimit
	}
	return l
}

// Validate checks that every limit is positive and that the largest series
// they allow stays within MaxSeriesSize. Errors name the config keys.
func (l Limits) Validate() error {
	for _, c := range []struct {
		key string
		v   int
	}{{"label_limit", l.LabelLimit}, {"label_name_length_limit", l.LabelNameLengthLimit}, {"label_value_length_limit", l.LabelValueLengthLimit}} {
		if c.v <= 0 {
			return fmt.Errorf("%s: %d is not positive", c.key, c.v)
		}
	}
	if size := l.maxSeriesSize(); size > MaxSeriesSize {
		return fmt.Errorf("label_limit × (label_name_length_limit + label_value_length_limit) allows series of %d bytes, more than %d", size, MaxSeriesSize)
	}
	return nil
}

// maxSeriesSize is the encoded size of the largest series l allows.
func (l Limits) maxSeriesSize() int64 {
	return int64(l.LabelLimit) * (int64(l.LabelNameLengthLimit) + int64(l.LabelValueLengthLimit) + 8)
}

// safe returns l with defaults applied, or the defaults if l is not valid:
// the client never runs without limits that hold.
func (l Limits) safe() Limits {
	l = l.WithDefaults()
	if l.Validate() != nil {
		return DefaultLimits()
	}
	return l
}

// dropReason is the limit a series broke; its String is the reason label.
type dropReason uint8

const (
	reasonLabelLimit dropReason = iota
	reasonLabelNameLength
	reasonLabelValueLength
	numReasons
)

func (r dropReason) String() string {
	switch r {
	case reasonLabelLimit:
		return "label_limit"
	case reasonLabelNameLength:
		return "label_name_length_limit"
	}
	return "label_value_length_limit"
}

// dropped is what is kept of a metric dropped by the limits: enough to count
// it and to find its group, no label set.
type dropped struct {
	reason dropReason
	// series is how many series the metric stands for: more than one for a
	// histogram or summary of the protobuf exposition.
	series int
	// name is the metric name, cut to maxExampleName bytes, for the log.
	name string
	// pairs are the metric's labels within the name and value length
	// limits: a grouping key is made of such labels only.
	pairs []labels.Label
}

// maxExampleName bounds the metric name a log line repeats.
const maxExampleName = 50

// labelCheck judges one series label by label, without building it. A
// check runs once to judge; for a series it drops, once more with collect
// set, to keep the labels that can still find its group.
type labelCheck struct {
	l       Limits
	n       int // labels so far, empty values left out
	reason  dropReason
	broken  bool
	collect bool
	pairs   []labels.Label // with collect: the labels within the length limits
}

func (c *labelCheck) reset(l Limits, collect bool) {
	*c = labelCheck{l: l, collect: collect}
}

// add takes one label; nameLen and valueLen are its lengths once unescaped,
// and get returns it (called only while collecting).
func (c *labelCheck) add(nameLen, valueLen int, get func() (string, string)) {
	if valueLen == 0 {
		return // dropped as absent
	}
	c.n++
	var r dropReason
	switch {
	case nameLen > c.l.LabelNameLengthLimit:
		r = reasonLabelNameLength
	case valueLen > c.l.LabelValueLengthLimit:
		r = reasonLabelValueLength
	default:
		if c.collect {
			n, v := get()
			c.pairs = append(c.pairs, labels.Label{Name: strings.Clone(n), Value: strings.Clone(v)})
		}
		return
	}
	if !c.broken {
		c.broken, c.reason = true, r
	}
}

// verdict tells whether the series breaks a limit, and the limit it broke
// first. Prometheus checks the number of labels before their lengths, and
// so does verdict.
func (c *labelCheck) verdict() (dropReason, bool) {
	if c.n > c.l.LabelLimit {
		return reasonLabelLimit, true
	}
	return c.reason, c.broken
}

// drop returns the record of a dropped metric, after a collecting check.
func (c *labelCheck) drop(reason dropReason, name string, series int) *dropped {
	if len(name) > maxExampleName {
		name = name[:maxExampleName]
	}
	pairs := c.pairs
	c.pairs = nil
	slices.SortStableFunc(pairs, func(a, b labels.Label) int { return strings.Compare(a.Name, b.Name) })
	return &dropped{reason: reason, series: series, name: strings.ToValidUTF8(name, ""), pairs: pairs}
}

// checkText judges a series of the text exposition by the bytes the parser
// gives for it (Series or Histogram): its name, then {label="value",...},
// names bare or quoted, values quoted with \\, \" and \n escaped. It
// reports ok false when it cannot read them.
func (c *labelCheck) checkText(l Limits, raw []byte, collect bool) (ok bool) {
	c.reset(l, collect)
	i := 0
	skipSpace := func() {
		for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t') {
			i++
		}
	}
	// quoted reads a quoted string at i, returning it still escaped.
	quoted := func() ([]byte, bool) {
		if i >= len(raw) || raw[i] != '"' {
			return nil, false
		}
		start := i + 1
		for j := start; j < len(raw); j++ {
			switch raw[j] {
			case '\\':
				j++
			case '"':
				i = j + 1
				return raw[start:j], true
			}
		}
		return nil, false
	}
	bare := func() []byte {
		start := i
		for i < len(raw) && raw[i] != '{' && raw[i] != '=' && raw[i] != ',' && raw[i] != '}' && raw[i] != ' ' && raw[i] != '\t' {
			i++
		}
		return raw[start:i]
	}
	nameLabel := func(v []byte) {
		c.add(len(model.MetricNameLabel), unescapedLen(v), func() (string, string) { return model.MetricNameLabel, unescape(v) })
	}
	if name := bare(); len(name) > 0 {
		nameLabel(name)
	}
	skipSpace()
	if i == len(raw) {
		return true
	}
	if raw[i] != '{' {
		return false
	}
	i++
	for {
		skipSpace()
		if i < len(raw) && raw[i] == '}' {
			i++
			skipSpace()
			return i == len(raw)
		}
		var (
			name     []byte
			isQuoted bool
			ok       bool
		)
		if i < len(raw) && raw[i] == '"' {
			if name, ok = quoted(); !ok {
				return false
			}
			isQuoted = true
		} else if name = bare(); len(name) == 0 {
			return false
		}
		skipSpace()
		if i < len(raw) && (raw[i] == ',' || raw[i] == '}') {
			// A quoted string alone is the metric name.
			if !isQuoted {
				return false
			}
			nameLabel(name)
		} else {
			if i >= len(raw) || raw[i] != '=' {
				return false
			}
			i++
			skipSpace()
			value, ok := quoted()
			if !ok {
				return false
			}
			nameLen := len(name)
			if isQuoted {
				nameLen = unescapedLen(name)
			}
			n, v := name, value
			c.add(nameLen, unescapedLen(value), func() (string, string) {
				if isQuoted {
					return unescape(n), unescape(v)
				}
				return string(n), unescape(v)
			})
		}
		skipSpace()
		if i < len(raw) && raw[i] == ',' {
			i++
		}
	}
}

// unescapedLen is the length of a quoted string of the text exposition once
// its \\, \" and \n are replaced, as the text parsers do.
func unescapedLen(b []byte) int {
	n := 0
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+1 < len(b) && (b[i+1] == '\\' || b[i+1] == '"' || b[i+1] == 'n') {
			i++
		}
		n++
	}
	return n
}

func unescape(b []byte) string {
	if strings.IndexByte(string(b), '\\') < 0 {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+1 < len(b) {
			switch b[i+1] {
			case '\\', '"':
				i++
			case 'n':
				sb.WriteByte('\n')
				i++
				continue
			}
		}
		sb.WriteByte(b[i])
	}
	return sb.String()
}

// checkProto judges a metric message of the protobuf exposition, of the
// family name and type typ, by its label pairs, read as protobuf decoding
// reads them (the last name and value of a pair win, unknown fields are
// skipped), without building them. A histogram or summary is judged by its
// largest series: one more label (le or quantile) and the longest name
// suffix. It reports ok false when the message is malformed, for textparse
// to reject.
func (c *labelCheck) checkProto(l Limits, name string, typ uint64, m []byte, collect bool) (ok bool) {
	c.reset(l, collect)
	suffix := 0
	switch typ {
	case typeSummary:
		suffix = len("_count")
	case typeHistogram, typeGaugeHistogram:
		suffix = len("_bucket")
	}
	c.add(len(model.MetricNameLabel), len(name)+suffix, func() (string, string) { return model.MetricNameLabel, name })
	if suffix > 0 {
		c.n++ // le or quantile
	}
	for len(m) > 0 {
		num, wt, n := protowire.ConsumeTag(m)
		if n < 0 {
			return false
		}
		m = m[n:]
		vl := protowire.ConsumeFieldValue(num, wt, m)
		if vl < 0 {
			return false
		}
		if num == fieldMetricLabel && wt == protowire.BytesType {
			b, _ := protowire.ConsumeBytes(m)
			ln, lv, ok := lenientPair(b)
			if !ok {
				return false
			}
			c.add(len(ln), len(lv), func() (string, string) { return string(ln), string(lv) })
		}
		m = m[vl:]
	}
	return true
}

// lenientPair reads a LabelPair message as protobuf decoding does.
func lenientPair(b []byte) (name, value []byte, ok bool) {
	for len(b) > 0 {
		num, wt, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, nil, false
		}
		b = b[n:]
		vl := protowire.ConsumeFieldValue(num, wt, b)
		if vl < 0 {
			return nil, nil, false
		}
		if wt == protowire.BytesType && (num == fieldPairName || num == fieldPairValue) {
			v, _ := protowire.ConsumeBytes(b)
			if num == fieldPairName {
				name = v
			} else {
				value = v
			}
		}
		b = b[vl:]
	}
	return name, value, true
}

// keyPairs builds, from the labels kept of a dropped metric (sorted by
// name), those named in names (sorted), or reports false if one is missing:
// what groupIndex compares with a grouping key. The result holds no more
// labels than names, each within the limits.
func keyPairs(sb *labels.ScratchBuilder, pairs []labels.Label, names []string) (labels.Labels, bool) {
	sb.Reset()
	for _, n := range names {
		i, found := slices.BinarySearchFunc(pairs, n, func(p labels.Label, n string) int { return strings.Compare(p.Name, n) })
		if !found {
			return labels.EmptyLabels(), false
		}
		sb.Add(n, pairs[i].Value)
	}
	return sb.Labels(), true
}

package remotewrite

import (
	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/protobuf/encoding/protowire"
)

// appendLabels appends the labels of a prompb.TimeSeries: one Label message
// per label, in order.
func appendLabels(b []byte, ls labels.Labels) []byte {
	ls.Range(func(l labels.Label) { b = appendLabel(b, l.Name, l.Value) })
	return b
}

// appendLabel appends one Label message as gogo marshals it: an empty name
// or value is left out.
func appendLabel(b []byte, name, value string) []byte {
	if n := 4 + len(name) + len(value); n < 0x80 && name != "" && value != "" {
		// The common case: every size fits one byte.
		b = append(b, fieldTimeSeriesLabels<<3|byte(protowire.BytesType), byte(n),
			fieldLabelName<<3|byte(protowire.BytesType), byte(len(name)))
		b = append(b, name...)
		b = append(b, fieldLabelValue<<3|byte(protowire.BytesType), byte(len(value)))
		return append(b, value...)
	}
	b = append(b, fieldTimeSeriesLabels<<3|byte(protowire.BytesType))
	b = protowire.AppendVarint(b, uint64(labelSize(labels.Label{Name: name, Value: value})))
	if name != "" {
		b = append(b, fieldLabelName<<3|byte(protowire.BytesType))
		b = protowire.AppendVarint(b, uint64(len(name)))
		b = append(b, name...)
	}
	if value != "" {
		b = append(b, fieldLabelValue<<3|byte(protowire.BytesType))
		b = protowire.AppendVarint(b, uint64(len(value)))
		b = append(b, value...)
	}
	return b
}

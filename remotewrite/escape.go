package remotewrite

import (
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// escaper rewrites metric and label names for receivers that need legacy
// names (Options.NameEscaping), as a Pushgateway or Prometheus escapes them
// for a scrape that does not accept UTF-8. Series are queued with the names
// the gateway has; only what goes on the wire is escaped, so that
// write_relabel_configs and tenants see the names as pushed. It keeps a
// builder, so it is not safe for concurrent use.
type escaper struct {
	scheme model.EscapingScheme
	sb     labels.ScratchBuilder
}

// labels returns ls with the value of __name__ and every other label name
// escaped, sorted again. With model.NoEscaping (the default), or when every
// name is a legacy one that the scheme leaves alone, it returns ls itself.
// Two names that escape alike (a.b and a_b) both stay: the receiver then
// rejects the series as having a duplicate label.
func (e *escaper) labels(ls labels.Labels) labels.Labels {
	if e.scheme == model.NoEscaping || (e.scheme != model.DotsEscaping && isLegacy(ls)) {
		return ls
	}
	e.sb.Reset()
	ls.Range(func(l labels.Label) {
		if l.Name == model.MetricNameLabel {
			e.sb.Add(l.Name, model.EscapeName(l.Value, e.scheme))
			return
		}
		e.sb.Add(model.EscapeName(l.Name, e.scheme), l.Value)
	})
	e.sb.Sort()
	return e.sb.Labels()
}

// isLegacy tells whether ls has only legacy label names and a legacy
// metric name: names that underscore and value escaping leave alone.
func isLegacy(ls labels.Labels) bool {
	ok := true
	ls.Range(func(l labels.Label) {
		if !ok {
			return
		}
		if l.Name == model.MetricNameLabel {
			ok = model.LegacyValidation.IsValidMetricName(l.Value)
			return
		}
		ok = model.LegacyValidation.IsValidLabelName(l.Name)
	})
	return ok
}

// Package synth derives the series the bridge adds to what a Pushgateway
// holds: per group a pseudo-up and the age of its last successful push, per
// gateway whether it could be scraped.
//
// It is pure: groups and the cycle's time in, series out, no I/O and no
// clock. Rules that judge a group (a maximum age, groups that must exist)
// belong in Options and Evaluate, so every series derived from a verdict
// stays consistent with it.
package synth

import (
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"

	"github.com/pushgateway-bridge/pushgateway-bridge/pushgateway"
)

// Names of the synthesized series.
const (
	// DefaultUpMetric is the default name of the per-group pseudo-up.
	DefaultUpMetric = "up"
	// AgeMetric is the seconds since the group's last successful push.
	AgeMetric = "pushgateway_group_age_seconds"
	// GatewayUpMetric is 1 when the gateway named by its "gateway" label
	// could be scraped in the cycle, 0 when not.
	GatewayUpMetric = "pushgateway_up"
	// GatewayLabel names the gateway on GatewayUpMetric.
	GatewayLabel = "gateway"
)

// Metadata of the synthesized series, as remote write 2.0 and the metadata
// requests of 1.0 send it.
var (
	upMetadata = metadata.Metadata{Type: model.MetricTypeGauge,
		Help: "1 if the group's last push succeeded, 0 if it failed; synthesized by pushgateway-bridge."}
	ageMetadata = metadata.Metadata{Type: model.MetricTypeGauge, Unit: "seconds",
		Help: "Seconds since the group's last successful push; synthesized by pushgateway-bridge."}
	gatewayUpMetadata = metadata.Metadata{Type: model.MetricTypeGauge,
		Help: "1 if pushgateway-bridge could scrape the Pushgateway in its last cycle, 0 if not."}
)

// Options shape the synthesized series.
type Options struct {
	// UpMetric names the per-group pseudo-up; DefaultUpMetric if empty.
	UpMetric string
}

// Gateway is one Pushgateway's state in a cycle.
type Gateway struct {
	// Name identifies the gateway; never its URL, which may hold credentials.
	Name string
	// Up tells whether the gateway could be scraped.
	Up bool
}

// Input is what a cycle knows.
type Input struct {
	Gateways []Gateway
	Groups   []pushgateway.Group
}

// Status says why a group is healthy or not.
type Status string

// The statuses a group can have.
const (
	StatusOK     Status = "ok"
	StatusFailed Status = "failed"
)

// Health is the verdict on one group at one time.
type Health struct {
	Status Status
	// Age is the time since the last successful push; valid only if HasAge.
	Age    time.Duration
	HasAge bool
}

// Up tells whether the group counts as up.
func (h Health) Up() bool { return h.Status == StatusOK }

// Evaluate judges a group at time now.
func Evaluate(g *pushgateway.Group, now time.Time) Health {
	var h Health
	if g.PushedOK() {
		h.HasAge = true
		h.Age = now.Sub(unixSeconds(g.PushTime))
	}
	h.Status = StatusOK
	if g.LastPushFailed() {
		h.Status = StatusFailed
	}
	return h
}

// Series appends the synthesized series of a cycle at time now to dst:
// for every group its pseudo-up and, once it has pushed successfully, its
// age; for every gateway its reachability. Labels of a group's series are its
// grouping labels.
func Series(dst []pushgateway.Series, in Input, now time.Time, o Options) []pushgateway.Series {
	up := o.UpMetric
	if up == "" {
		up = DefaultUpMetric
	}
	b := labels.NewBuilder(labels.EmptyLabels())
	for _, gw := range in.Gateways {
		b.Reset(labels.EmptyLabels())
		b.Set(model.MetricNameLabel, GatewayUpMetric)
		b.Set(GatewayLabel, gw.Name)
		dst = append(dst, pushgateway.Series{Labels: b.Labels(), Value: boolValue(gw.Up), Metadata: &gatewayUpMetadata})
	}
	for i := range in.Groups {
		g := &in.Groups[i]
		h := Evaluate(g, now)
		b.Reset(g.Labels)
		b.Set(model.MetricNameLabel, up)
		dst = append(dst, pushgateway.Series{Labels: b.Labels(), Value: boolValue(h.Up()), Metadata: &upMetadata})
		if h.HasAge {
			b.Set(model.MetricNameLabel, AgeMetric)
			dst = append(dst, pushgateway.Series{Labels: b.Labels(), Value: h.Age.Seconds(), Metadata: &ageMetadata})
		}
	}
	return dst
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// unixSeconds converts a Pushgateway timestamp in float seconds.
func unixSeconds(s float64) time.Time {
	sec := int64(s)
	return time.Unix(sec, int64((s-float64(sec))*1e9))
}

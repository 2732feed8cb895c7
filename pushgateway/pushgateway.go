// Package pushgateway reads a Prometheus Pushgateway: it scrapes the exposition
// (protobuf first, so native histograms survive, text as the fallback) and
// attributes every series to the group that holds it. It is the pipeline's
// source adapter: what it reads it hands on as a pipeline.Snapshot.
//
// A group is what one push wrote: its grouping key, the time of its last
// successful push and of its last failed one, and its series. The
// Pushgateway's own metrics (go_*, process_*, pushgateway_*) belong to no group.
//
// The Pushgateway accepts pushes of any size, and the labels library cannot
// hold a label of 16 MiB: a series over the gateway's Limits is judged on the
// exposition's bytes and dropped before a label set is made of it, counted
// in its group (pipeline.Group.DroppedSeries) and in the client's metric.
package pushgateway

import (
	"github.com/prometheus/common/model"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// Names of the series the Pushgateway adds to every group.
const (
	PushTimeMetric        = "push_time_seconds"
	PushFailureTimeMetric = "push_failure_time_seconds"
)

// startTimeMetric is the process collector's start time the Pushgateway
// exposes about itself.
const startTimeMetric = "process_start_time_seconds"

func startTime(own []pipeline.Series) float64 {
	for _, s := range own {
		if s.Labels.Get(model.MetricNameLabel) == startTimeMetric {
			return s.Value
		}
	}
	return 0
}

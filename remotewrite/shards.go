package remotewrite

import (
	"context"
	"math"
	"time"
)

// shardUpdateInterval is how often the number of shards is reconsidered.
const shardUpdateInterval = 10 * time.Second

// shardLoop adapts the number of shards to keep up, every
// shardUpdateInterval, until ctx ends.
func (q *Queue) shardLoop(ctx context.Context) {
	t := time.NewTicker(shardUpdateInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		in := q.samplesIn.Swap(0)
		out := q.samplesOut.Swap(0)
		busy := time.Duration(q.busyNanos.Swap(0))
		cur := int(q.shards.Load())
		next := desiredShards(cur, in, out, busy, q.Pending(), shardUpdateInterval, q.o.MinShards, q.o.MaxShards)
		if next != cur {
			q.logger.Info("remote write shards changed", "from", cur, "to", next)
			q.shards.Store(int32(next))
			q.m.shards.Set(float64(next))
			q.mu.Lock()
			q.cond.Broadcast()
			q.mu.Unlock()
		}
	}
}

// desiredShards is how many requests should be in flight to send, within
// one interval, what arrives in it plus the backlog. Busy is the summed time
// requests were in flight while out samples were sent; without sends (an
// outage) nothing is learnt and the count stays. Changes under 30% are not
// worth a reshard, as in Prometheus.
func desiredShards(cur int, in, out int64, busy time.Duration, pending int, interval time.Duration, lo, hi int) int {
	if out == 0 || busy <= 0 {
		return cur
	}
	perSample := busy.Seconds() / float64(out) // shard-seconds per sample
	need := (float64(in) + float64(pending)) * perSample / interval.Seconds()
	want := int(math.Ceil(need * 1.2))
	want = min(max(want, lo), hi)
	if d := math.Abs(float64(want-cur)) / float64(cur); d < 0.3 && want != lo && want != hi {
		return cur
	}
	return want
}

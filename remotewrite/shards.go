package remotewrite

import (
	"context"
	"math"
	"time"
)

// shardUpdateInterval is how often the number of shards is reconsidered.
const shardUpdateInterval = 10 * time.Second

// backlogDrainTime is how soon the shards aim to have sent a backlog (what
// is on disk when the shards are reconsidered), on top of keeping up with
// what arrives: after an outage of the receiver, the requests of the
// cycles it missed go out as fast as it takes them, within MaxShards.
const backlogDrainTime = 2 * time.Second

// shardLoop adapts the number of shards to keep up, every
// shardUpdateInterval and as soon as a request was acknowledged after
// failures (see measureSoon), until ctx ends.
func (q *Queue) shardLoop(ctx context.Context) {
	t := time.NewTicker(shardUpdateInterval)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-q.reshard:
		}
		now := time.Now()
		elapsed := now.Sub(last)
		last = now
		in := q.samplesIn.Swap(0)
		out := q.samplesOut.Swap(0)
		busy := time.Duration(q.busyNanos.Swap(0))
		cur := int(q.shards.Load())
		next := desiredShards(cur, in, out, busy, q.Pending(), elapsed, q.o.MinShards, q.o.MaxShards)
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

// acknowledgedAfterFailure has the shards reconsidered now rather than at
// the next update, once per recovery of the endpoint (and once after the
// start): its backlog is known, and the request just acknowledged tells
// how long one takes.
func (q *Queue) acknowledgedAfterFailure() {
	if q.measureSoon.Swap(false) {
		select {
		case q.reshard <- struct{}{}:
		default:
		}
	}
}

// desiredShards is how many requests should be in flight to send what
// arrived over the last interval as fast as it arrives, and the backlog
// within backlogDrainTime. Busy is the summed time requests were in flight
// while out samples were sent; without sends (an outage) nothing is learnt
// and the count stays. Changes under 30% are not worth a reshard, as in
// Prometheus.
func desiredShards(cur int, in, out int64, busy time.Duration, pending int, interval time.Duration, lo, hi int) int {
	if out == 0 || busy <= 0 || interval <= 0 {
		return cur
	}
	perSample := busy.Seconds() / float64(out) // shard-seconds per sample
	need := float64(in)*perSample/interval.Seconds() + float64(pending)*perSample/backlogDrainTime.Seconds()
	want := int(math.Ceil(need * 1.2))
	want = min(max(want, lo), hi)
	if d := math.Abs(float64(want-cur)) / float64(cur); d < 0.3 && want != lo && want != hi {
		return cur
	}
	return want
}

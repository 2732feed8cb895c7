package remotewrite

import (
	"context"
	"sync"
	"time"
)

// flight is a request read from the log.
type flight struct {
	rec  *record
	end  logPos
	done bool
}

// dispatch reads requests from the log and sends them, as many at a time as
// there are shards and as order allows. It returns when ctx ends, or, with
// untilEmpty, when everything in the log was acknowledged or dropped.
func (q *Queue) dispatch(ctx context.Context, untilEmpty bool) {
	var wg sync.WaitGroup
	defer func() {
		// Stopped: what was read and not acknowledged is read again next
		// time, whichever way the loop ended.
		wg.Wait()
		q.mu.Lock()
		clear(q.inflight)
		q.inflight = q.inflight[:0]
		q.log.rewind()
		q.mu.Unlock()
		q.savePosition()
	}()
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.cond.Broadcast()
		q.mu.Unlock()
	})
	defer stop()

	lastSave := time.Now()
	for ctx.Err() == nil {
		// Read and enter inflight at once, so that Pending never misses
		// the request in between.
		q.mu.Lock()
		rec, end, ok, err := q.log.next()
		var f *flight
		if ok {
			f = &flight{rec: rec, end: end}
			q.inflight = append(q.inflight, f)
		}
		q.mu.Unlock()
		if err != nil {
			q.logger.Error("read remote write disk queue", "err", err)
			return
		}
		if !ok {
			if untilEmpty {
				q.mu.Lock()
				for q.sending > 0 && ctx.Err() == nil {
					q.cond.Wait()
				}
				q.mu.Unlock()
				if q.log.pendingUnread() == 0 {
					return
				}
				continue
			}
			select {
			case <-ctx.Done():
				return
			case <-q.log.notify:
			case <-time.After(time.Second):
			}
			if time.Since(lastSave) > time.Second {
				q.savePosition()
				lastSave = time.Now()
			}
			continue
		}
		q.mu.Lock()
		for !q.startable(f) && ctx.Err() == nil {
			q.cond.Wait()
		}
		if ctx.Err() != nil {
			q.mu.Unlock()
			return
		}
		q.sending++
		q.mu.Unlock()
		wg.Go(func() { q.sendFlight(ctx, f) })
		if time.Since(lastSave) > time.Second {
			q.savePosition()
			lastSave = time.Now()
		}
	}
}

// startable tells whether f may be sent now: a shard is free and no earlier
// request still in flight may hold one of its series. Two requests may share
// a series unless they come from the same Append (which holds each series
// once) or from different shards of the same spread.
func (q *Queue) startable(f *flight) bool {
	if q.sending >= int(q.shards.Load()) {
		return false
	}
	r := f.rec
	for _, g := range q.inflight {
		if g == f {
			break
		}
		if g.done {
			continue
		}
		o := g.rec
		if o.appendSeq != r.appendSeq && (o.shards != r.shards || o.shard == r.shard) {
			return false
		}
	}
	return true
}

// sendFlight sends one request, then commits every leading request that is
// done.
func (q *Queue) sendFlight(ctx context.Context, f *flight) {
	ok := q.sendRecord(ctx, f.rec)

	q.mu.Lock()
	defer q.mu.Unlock()
	q.sending--
	defer q.cond.Broadcast()
	if !ok {
		return // interrupted: stays unacknowledged, read again later
	}
	f.done = true
	i := 0
	for i < len(q.inflight) && q.inflight[i].done {
		i++
	}
	if i > 0 {
		q.log.commitTo(q.inflight[i-1].end)
		clear(q.inflight[:i])
		q.inflight = q.inflight[i:]
	}
	// The gauge follows acknowledgements too, not only appends.
	q.m.pendingSamples.Set(float64(q.pendingLocked()))
}

func (q *Queue) savePosition() {
	if err := q.log.savePosition(); err != nil {
		q.logger.Error("save remote write queue position", "err", err)
	}
	q.m.diskBytes.Set(float64(q.log.size()))
	q.m.pendingSamples.Set(float64(q.Pending()))
}

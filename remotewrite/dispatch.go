package remotewrite

import (
	"context"
	"errors"
	"sync"
	"time"
)

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
		// A request whose segment went for room (queue_full) while it was
		// in flight is not on disk to be read again: it is lost now.
		lost := 0
		for _, f := range q.order.flights {
			if !f.done && q.log.deleted(f.end) {
				lost += int(f.rec.samples)
			}
		}
		q.order.reset()
		q.log.rewind()
		q.mu.Unlock()
		if lost > 0 {
			q.drop(reasonQueueFull, lost, errors.New("interrupted in flight after its segment was deleted to make room"))
		}
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
		// Read and enter the ordering at once, so that Pending never misses
		// the request in between.
		q.mu.Lock()
		rec, end, ok, err := q.log.next()
		var f *flight
		if ok {
			f = &flight{rec: rec, end: end}
			q.order.add(f)
		}
		q.mu.Unlock()
		if err != nil {
			// Logged and shown by the log (DiskHealthy); nothing was
			// skipped: read the same record again in a while.
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		if !ok {
			if untilEmpty {
				q.mu.Lock()
				for q.order.sending > 0 && ctx.Err() == nil {
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
		for !q.order.startable(f, int(q.shards.Load())) && ctx.Err() == nil {
			q.cond.Wait()
		}
		if ctx.Err() != nil {
			q.mu.Unlock()
			return
		}
		q.order.start()
		q.mu.Unlock()
		wg.Go(func() { q.sendFlight(ctx, f) })
		if time.Since(lastSave) > time.Second {
			q.savePosition()
			lastSave = time.Now()
		}
	}
}

// sendFlight sends one request, then commits every leading request that is
// done.
func (q *Queue) sendFlight(ctx context.Context, f *flight) {
	ok := q.sendRecord(ctx, f.rec)

	q.mu.Lock()
	defer q.mu.Unlock()
	defer q.cond.Broadcast()
	end, commit := q.order.finish(f, ok)
	if !ok {
		return // interrupted: stays unacknowledged, read again later
	}
	if commit {
		q.log.commitTo(end)
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

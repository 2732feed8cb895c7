package remotewrite

// flight is a request read from the log.
type flight struct {
	rec  *record
	end  logPos
	done bool
}

// ordering keeps the queue's promise of order (see the package comment): it
// holds the requests read from the log and not yet committed, in log order,
// and tells which of them may be sent now. A series always maps to one shard
// of a spread, so a series' samples leave in the order they were appended as
// long as no request starts while an earlier one that may hold the same
// series is still unacknowledged.
//
// An ordering is not safe for concurrent use; the Queue guards it with its
// mutex.
type ordering struct {
	flights []*flight // read from the log, in log order, not yet committed
	sending int       // flights started and not done
}

// add enters f, just read from the log; flights are added in log order.
func (o *ordering) add(f *flight) {
	o.flights = append(o.flights, f)
}

// startable reports whether f may be sent now, with at most shards requests
// in flight: a shard is free and no earlier request that is not yet
// acknowledged may hold one of f's series.
func (o *ordering) startable(f *flight, shards int) bool {
	if o.sending >= shards {
		return false
	}
	for _, g := range o.flights {
		if g == f {
			break
		}
		if !g.done && mayShareSeries(g.rec, f.rec) {
			return false
		}
	}
	return true
}

// mayShareSeries reports whether requests a and b may hold samples of the
// same series. They cannot if they come from the same Append, which holds
// each series once, or from different shards of the same spread, since a
// series maps to one shard. Requests encoded for different numbers of
// shards may share series whatever their shard: after a change of the
// number, requests for the old one finish before those for the new one
// start. Records replayed after a restart keep their Append and spread, and
// new Appends are numbered after them, so the same rule holds across
// restarts.
func mayShareSeries(a, b *record) bool {
	return a.appendSeq != b.appendSeq && (a.shards != b.shards || a.shard == b.shard)
}

// start notes that a flight is being sent.
func (o *ordering) start() {
	o.sending++
}

// finish notes that sending f ended, acknowledged (or dropped for good) or
// interrupted. An interrupted flight stays unacknowledged, to be read again
// from the log later. finish returns the end of the longest run of
// acknowledged flights at the head, which leave the ordering and may be
// committed in the log, and whether there is such a run.
func (o *ordering) finish(f *flight, acknowledged bool) (logPos, bool) {
	o.sending--
	if !acknowledged {
		return logPos{}, false
	}
	f.done = true
	i := 0
	for i < len(o.flights) && o.flights[i].done {
		i++
	}
	if i == 0 {
		return logPos{}, false
	}
	end := o.flights[i-1].end
	clear(o.flights[:i])
	o.flights = o.flights[i:]
	return end, true
}

// reset forgets every flight: once the senders stopped, what was read and
// not acknowledged is read again from the log.
func (o *ordering) reset() {
	clear(o.flights)
	o.flights = o.flights[:0]
}

// unacknowledged returns the samples of the flights not acknowledged yet.
func (o *ordering) unacknowledged() int {
	n := 0
	for _, f := range o.flights {
		if !f.done {
			n += int(f.rec.samples)
		}
	}
	return n
}

package remotewrite

import "testing"

// flightState is where a request of an ordering test stands.
type flightState int

const (
	sending     flightState = iota // started, not acknowledged: on the wire or backing off
	interrupted                    // started, then stopped before an acknowledgement
	acked                          // acknowledged, not committed yet (an earlier one is not)
)

// testFlight is a request of an ordering test: from which Append, for which
// shard of how many, and where it stands.
type testFlight struct {
	seq           uint64
	shard, shards uint16
	state         flightState
}

func (tf testFlight) flight() *flight {
	return &flight{rec: &record{appendSeq: tf.seq, shard: tf.shard, shards: tf.shards, samples: 1}, done: tf.state == acked}
}

func TestOrderingStartable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		earlier []testFlight // in log order
		next    testFlight   // read last from the log
		shards  int          // current number of shards
		want    bool
	}{
		{
			name:    "same cycle, other shard: in parallel",
			earlier: []testFlight{{1, 0, 2, sending}},
			next:    testFlight{seq: 1, shard: 1, shards: 2},
			shards:  2, want: true,
		},
		{
			name:    "same cycle, same shard: a shard's part split over requests holds disjoint series",
			earlier: []testFlight{{1, 0, 2, sending}},
			next:    testFlight{seq: 1, shard: 0, shards: 2},
			shards:  2, want: true,
		},
		{
			name:    "same shard, next cycle: waits",
			earlier: []testFlight{{1, 0, 2, sending}},
			next:    testFlight{seq: 2, shard: 0, shards: 2},
			shards:  2, want: false,
		},
		{
			name:    "other shard, next cycle: in parallel",
			earlier: []testFlight{{1, 0, 2, sending}},
			next:    testFlight{seq: 2, shard: 1, shards: 2},
			shards:  2, want: true,
		},
		{
			name:    "same shard, next cycle, earlier acknowledged",
			earlier: []testFlight{{1, 1, 2, sending}, {1, 0, 2, acked}},
			next:    testFlight{seq: 2, shard: 0, shards: 2},
			shards:  2, want: true,
		},
		{
			name:    "shard count grew: an old request of another shard holds the new ones back",
			earlier: []testFlight{{1, 1, 2, sending}},
			next:    testFlight{seq: 2, shard: 0, shards: 3},
			shards:  3, want: false,
		},
		{
			name:    "shard count shrank: an old request holds the new ones back",
			earlier: []testFlight{{1, 2, 3, sending}, {1, 0, 3, acked}},
			next:    testFlight{seq: 2, shard: 0, shards: 2},
			shards:  2, want: false,
		},
		{
			name:    "shard count changed, old requests acknowledged",
			earlier: []testFlight{{1, 0, 2, acked}, {1, 1, 2, acked}},
			next:    testFlight{seq: 2, shard: 2, shards: 3},
			shards:  3, want: true,
		},
		{
			name:    "shard count changed, requests for the new count among themselves",
			earlier: []testFlight{{1, 0, 2, acked}, {2, 0, 3, sending}},
			next:    testFlight{seq: 3, shard: 1, shards: 3},
			shards:  3, want: true,
		},
		{
			name:    "retry: a request backing off holds back its shard",
			earlier: []testFlight{{1, 0, 2, sending}, {2, 1, 2, acked}},
			next:    testFlight{seq: 3, shard: 0, shards: 2},
			shards:  2, want: false,
		},
		{
			name:    "retry: an interrupted request still holds back its shard",
			earlier: []testFlight{{1, 0, 2, interrupted}},
			next:    testFlight{seq: 2, shard: 0, shards: 2},
			shards:  2, want: false,
		},
		{
			name:    "restart: replayed requests of one Append go in parallel",
			earlier: []testFlight{{7, 0, 4, sending}},
			next:    testFlight{seq: 7, shard: 3, shards: 4},
			shards:  4, want: true,
		},
		{
			name:    "restart: a new Append waits for replayed requests of another shard count",
			earlier: []testFlight{{7, 3, 4, sending}},
			next:    testFlight{seq: 8, shard: 0, shards: 1},
			shards:  4, want: false,
		},
		{
			name:    "restart: a new Append of the same shard count passes replayed requests of other shards",
			earlier: []testFlight{{7, 1, 2, sending}},
			next:    testFlight{seq: 8, shard: 0, shards: 2},
			shards:  2, want: true,
		},
		{
			name:    "every shard busy",
			earlier: []testFlight{{1, 0, 4, sending}, {1, 1, 4, sending}},
			next:    testFlight{seq: 1, shard: 2, shards: 4},
			shards:  2, want: false,
		},
		{
			name:    "shard count grew: more in flight",
			earlier: []testFlight{{1, 0, 4, sending}, {1, 1, 4, sending}},
			next:    testFlight{seq: 1, shard: 2, shards: 4},
			shards:  3, want: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o ordering
			for _, tf := range tc.earlier {
				o.add(tf.flight())
				if tf.state == sending {
					o.start()
				}
			}
			next := tc.next.flight()
			o.add(next)
			if got := o.startable(next, tc.shards); got != tc.want {
				t.Errorf("startable = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestOrderingFinish(t *testing.T) {
	// Four requests read in log order, all started; each ends at its index.
	newOrdering := func() (*ordering, []*flight) {
		var o ordering
		fs := make([]*flight, 4)
		for i := range fs {
			fs[i] = &flight{rec: &record{appendSeq: 1, shard: uint16(i), shards: 4, samples: 10}, end: logPos{seg: 1, off: int64(i + 1)}}
			o.add(fs[i])
			o.start()
		}
		return &o, fs
	}
	for _, tc := range []struct {
		name        string
		finish      []int // indexes finished in this order, acknowledged
		interrupt   []int // then these, interrupted
		wantCommit  int64 // end offset of the last commit, 0 for none
		wantLeft    int   // flights left in the ordering
		wantUnacked int   // their samples not acknowledged
		wantSending int
	}{
		{name: "nothing done", wantLeft: 4, wantUnacked: 40, wantSending: 4},
		{name: "head acknowledged: committed", finish: []int{0}, wantCommit: 1, wantLeft: 3, wantUnacked: 30, wantSending: 3},
		{name: "later one acknowledged first: nothing committed", finish: []int{2}, wantLeft: 4, wantUnacked: 30, wantSending: 3},
		{name: "the gap closes: committed up to the acknowledged run", finish: []int{2, 1, 0}, wantCommit: 3, wantLeft: 1, wantUnacked: 10, wantSending: 1},
		{name: "interrupted: stays, not committed", finish: []int{1}, interrupt: []int{0}, wantLeft: 4, wantUnacked: 30, wantSending: 2},
		{name: "all acknowledged", finish: []int{3, 2, 1, 0}, wantCommit: 4, wantLeft: 0, wantUnacked: 0, wantSending: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, fs := newOrdering()
			var last int64
			for _, i := range tc.finish {
				if end, ok := o.finish(fs[i], true); ok {
					last = end.off
				}
			}
			for _, i := range tc.interrupt {
				if _, ok := o.finish(fs[i], false); ok {
					t.Errorf("interrupting flight %d committed", i)
				}
			}
			if last != tc.wantCommit {
				t.Errorf("committed to %d, want %d", last, tc.wantCommit)
			}
			if len(o.flights) != tc.wantLeft || o.unacknowledged() != tc.wantUnacked || o.sending != tc.wantSending {
				t.Errorf("left %d flights, %d samples unacknowledged, %d sending; want %d, %d, %d",
					len(o.flights), o.unacknowledged(), o.sending, tc.wantLeft, tc.wantUnacked, tc.wantSending)
			}
			o.reset()
			if len(o.flights) != 0 || o.unacknowledged() != 0 {
				t.Errorf("after reset: %d flights, %d samples", len(o.flights), o.unacknowledged())
			}
		})
	}
}

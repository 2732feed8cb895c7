package remotewrite

import (
	"sync"
	"time"
)

// throttle lets one log line through per interval and counts the ones it
// held back, so a failing endpoint does not flood the log on every retry.
// It is safe for concurrent use.
type throttle struct {
	interval time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether to log now, and how many lines were suppressed since
// the last one that was allowed.
func (t *throttle) allow(now time.Time) (ok bool, suppressed int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.last.IsZero() && now.Sub(t.last) < t.interval {
		t.suppressed++
		return false, 0
	}
	t.last = now
	suppressed, t.suppressed = t.suppressed, 0
	return true, suppressed
}

package pushgateway

import (
	"fmt"
	"io"
)

// Reasons a scrape fails for, as LimitError.Reason gives them: the names of
// the configuration keys, as in a Prometheus scrape config.
const (
	ReasonBodySizeLimit = "body_size_limit"
	ReasonSampleLimit   = "sample_limit"
)

// LimitError is the error of a scrape that broke body_size_limit or
// sample_limit. Nothing of such a scrape is kept: a gateway over a limit
// is treated like an unreachable one, not like one whose groups vanished.
type LimitError struct {
	// Reason is ReasonBodySizeLimit or ReasonSampleLimit.
	Reason string
	// Limit is the limit broken, in bytes or series.
	Limit int64
	// Seen is how many series the scrape held (sample_limit); for
	// body_size_limit the body is not read beyond Limit+1 bytes.
	Seen int64
}

func (e *LimitError) Error() string {
	if e.Reason == ReasonBodySizeLimit {
		return fmt.Sprintf("body larger than body_size_limit of %d bytes", e.Limit)
	}
	return fmt.Sprintf("%d series, more than sample_limit of %d", e.Seen, e.Limit)
}

// ScrapeFailureReason names the limit for the bridge's
// pushgateway_bridge_scrape_failures_total.
func (e *LimitError) ScrapeFailureReason() string { return e.Reason }

// limitedBody reads at most limit bytes of r; reading a byte more fails
// with a *LimitError. Unlike io.LimitReader, which ends in a plain EOF, it
// tells a body cut short by the limit from one that ended.
type limitedBody struct {
	r     io.Reader
	limit int64 // the bound; 0 for none
	left  int64 // bytes that may still be read, plus one
}

func newLimitedBody(r io.Reader, limit int64) *limitedBody {
	return &limitedBody{r: r, limit: limit, left: limit + 1}
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.limit <= 0 {
		return l.r.Read(p)
	}
	if l.left <= 0 {
		return 0, l.err()
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left <= 0 {
		// The byte over the limit was read: it is not handed on.
		return n - 1, l.err()
	}
	return n, err
}

func (l *limitedBody) err() error {
	return &LimitError{Reason: ReasonBodySizeLimit, Limit: l.limit}
}

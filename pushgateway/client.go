package pushgateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

// acceptHeader asks for the protobuf exposition, which carries native
// histograms, exemplars and created timestamps, and takes text when that is
// all there is. Both ask for UTF-8 names unescaped (escaping=allow-utf-8):
// a Pushgateway started with --push.enable-utf8-names (1.10 on) otherwise
// escapes them with underscores. Older gateways ignore the parameter, and
// text version 1.0.0, which Prometheus 3 asks for to get UTF-8 names, for
// 0.0.4. Prometheus 3's scrape sends the parameter only on text formats; it
// is put on protobuf too here, since the bridge prefers protobuf and the
// Pushgateway (1.11.5 checked) honours it there.
const acceptHeader = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;escaping=allow-utf-8;q=0.5," +
	"text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.1"

// maxErrorBody bounds how much of an error response ends up in an error.
const maxErrorBody = 256

// Client scrapes one Pushgateway. Scrape must not be called concurrently:
// the client remembers what it parsed to make the next scrape cheap.
type Client struct {
	base      *url.URL
	client    *http.Client
	userAgent string
	limits    Limits
	cache     *scrapeCache
	br        bufio.Reader // reads the protobuf exposition
	drops     *dropLog
	// bodySizeLimit and sampleLimit bound a scrape; 0 for no bound.
	bodySizeLimit int64
	sampleLimit   int
}

// Options configure a Client beyond where and how it connects.
type Options struct {
	// Name identifies the gateway in the client's metrics and logs; never
	// a URL, which may hold credentials.
	Name string
	// Limits bound the series taken from the gateway; a limit left 0 is
	// the default, and limits that fail Limits.Validate are replaced by the
	// defaults.
	Limits Limits
	// BodySizeLimit bounds, in bytes, every response body read from the
	// gateway, as a Prometheus scrape config's body_size_limit: a body
	// larger fails the scrape with a *LimitError, and is never read, let
	// alone buffered, beyond the limit. 0 or less: no limit.
	BodySizeLimit int64
	// SampleLimit bounds the series a scrape may keep (every series of the
	// exposition not dropped by Limits, the gateway's own included), as a
	// Prometheus scrape config's sample_limit: a scrape with more fails
	// with a *LimitError. 0 or less: no limit.
	SampleLimit int
	// Logger is told about series dropped by the limits; none if nil.
	Logger *slog.Logger
	// Registerer registers the client's metrics; none if nil. Clients of
	// several gateways may share one: they share the metrics, with the
	// gateway's name as a label.
	Registerer prometheus.Registerer
}

// NewClient returns a client for the Pushgateway at base (its root URL, e.g.
// http://pgw:9091, with any path prefix it is served under). The HTTP client
// carries authentication and TLS; timeouts come from the context.
func NewClient(base *url.URL, client *http.Client, userAgent string, o Options) *Client {
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/")
	limits := o.Limits.safe()
	c := &Client{
		base:      &u,
		client:    client,
		userAgent: userAgent,
		limits:    limits,
		cache:     newScrapeCache(limits),
		drops:     newDropLog(o.Name, o.Logger, o.Registerer),
		// Negative limits mean none, as 0 does.
		bodySizeLimit: max(o.BodySizeLimit, 0),
		sampleLimit:   max(o.SampleLimit, 0),
	}
	c.cache.bodySizeLimit = c.bodySizeLimit
	c.br = *bufio.NewReaderSize(nil, 64<<10)
	return c
}

// Scrape reads the Pushgateway's groups. Series whose grouping key is
// ambiguous on /metrics (group {job="x"} holding a series with foo="bar" next
// to a group {job="x",foo="bar"}) are placed by what /api/v1/metrics says, which
// is asked only when such a series exists.
//
// The protobuf exposition is read as it arrives, family by family, through
// the cache; the text exposition is read whole and parsed. Either is read no
// further than Options.BodySizeLimit. A scrape over a limit fails with a
// *LimitError (wrapped).
func (c *Client) Scrape(ctx context.Context) (*pipeline.Snapshot, error) {
	snap, err := c.scrape(ctx)
	if err != nil {
		return nil, err
	}
	if c.sampleLimit > 0 {
		if n := seriesOf(snap); n > c.sampleLimit {
			return nil, fmt.Errorf("scrape %s: %w", c.redacted("/metrics"),
				&LimitError{Reason: ReasonSampleLimit, Limit: int64(c.sampleLimit), Seen: int64(n)})
		}
	}
	return snap, nil
}

// seriesOf counts the series of a snapshot.
func seriesOf(snap *pipeline.Snapshot) int {
	n := len(snap.Own)
	for i := range snap.Groups {
		n += len(snap.Groups[i].Series)
	}
	return n
}

func (c *Client) scrape(ctx context.Context) (*pipeline.Snapshot, error) {
	resp, err := c.do(ctx, "/metrics", acceptHeader)
	if err != nil {
		return nil, err
	}
	defer closeBody(resp)
	contentType := resp.Header.Get("Content-Type")
	if !isProtobuf(contentType) {
		c.cache.attributed = false
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("scrape %s: read body: %w", c.redacted("/metrics"), redactErr(err))
		}
		return c.snapshot(ctx, body, contentType)
	}
	c.br.Reset(resp.Body)
	defer c.br.Reset(nil)
	return c.readProto(ctx, &c.br)
}

// snapshot parses and attributes an exposition read whole.
func (c *Client) snapshot(ctx context.Context, body []byte, contentType string) (*pipeline.Snapshot, error) {
	if isProtobuf(contentType) {
		return c.readProto(ctx, bytes.NewReader(body))
	}
	c.cache.attributed = false
	groups, series, tally, err := parseLimited(body, contentType, c.limits)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", c.redacted("/metrics"), err)
	}
	own, err := attribute(groups, series, func() (membership, error) { return c.membership(ctx) })
	if err != nil {
		return nil, err
	}
	c.drops.observe(&tally, groups)
	return &pipeline.Snapshot{Groups: groups, Own: own, StartTime: startTime(own)}, nil
}

// readProto reads a delimited protobuf exposition through the cache.
func (c *Client) readProto(ctx context.Context, r byteReader) (*pipeline.Snapshot, error) {
	if err := c.cache.read(r); err != nil {
		c.cache.attributed = false
		return nil, fmt.Errorf("scrape %s: %w", c.redacted("/metrics"), redactErr(err))
	}
	tally := c.cache.dropTally()
	if c.cache.unchanged() {
		// The groups are those of the last scrape; only the gateway's
		// own metrics changed.
		own := c.cache.own()
		c.drops.observe(&tally, c.cache.groups)
		return &pipeline.Snapshot{Groups: c.cache.groups, Own: own, StartTime: startTime(own)}, nil
	}
	groups, series := c.cache.series()
	keysGen, contentGen := generations(groups)
	own, err := attributeCached(groups, series, func() (membership, error) { return c.membership(ctx) }, keysGen, contentGen)
	if err != nil {
		return nil, err
	}
	c.cache.attribute(groups, keysGen, contentGen)
	c.drops.observe(&tally, groups)
	return &pipeline.Snapshot{Groups: groups, Own: own, StartTime: startTime(own)}, nil
}

// isProtobuf tells whether a Content-Type is the delimited protobuf
// exposition.
func isProtobuf(contentType string) bool {
	mt, params, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/vnd.google.protobuf" &&
		params["proto"] == "io.prometheus.client.MetricFamily" && params["encoding"] == "delimited"
}

// do sends a GET and returns the response if its status is 2xx; the caller
// closes the body with closeBody.
func (c *Client) do(ctx context.Context, path, accept string) (*http.Response, error) {
	u := *c.base
	u.Path += path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", c.redacted(path), err)
	}
	req.Header.Set("Accept", accept)
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		// The client's error names the URL; strip credentials from it.
		return nil, fmt.Errorf("scrape %s: %w", c.redacted(path), redactErr(err))
	}
	if resp.StatusCode/100 != 2 {
		defer closeBody(resp)
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, fmt.Errorf("scrape %s: server returned HTTP status %s: %s", c.redacted(path), resp.Status, strings.TrimSpace(string(msg)))
	}
	resp.Body = limitedReadCloser{newLimitedBody(resp.Body, c.bodySizeLimit), resp.Body}
	return resp, nil
}

// limitedReadCloser reads through a limitedBody and closes the body under
// it.
type limitedReadCloser struct {
	io.Reader
	io.Closer
}

// maxDrain bounds what closeBody reads of a body left unread: enough for
// the end of one read in full, not the rest of a body over the
// body_size_limit.
const maxDrain = 64 << 10

// closeBody reads what is left of a response body, up to maxDrain, so that
// the connection can be reused, and closes it.
func closeBody(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	_ = resp.Body.Close()
}

func (c *Client) get(ctx context.Context, path, accept string) ([]byte, string, error) {
	resp, err := c.do(ctx, path, accept)
	if err != nil {
		return nil, "", err
	}
	defer closeBody(resp)
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", fmt.Errorf("scrape %s: read body: %w", c.redacted(path), redactErr(err))
	}
	return body, resp.Header.Get("Content-Type"), nil
}

func (c *Client) redacted(path string) string {
	u := *c.base
	u.Path += path
	return u.Redacted()
}

// redactErr removes credentials from the URL a *url.Error names.
func redactErr(err error) error {
	if ue, ok := err.(*url.Error); ok {
		if u, perr := url.Parse(ue.URL); perr == nil {
			ue.URL = u.Redacted()
		}
	}
	return err
}

// apiMembership is the part of /api/v1/metrics that tells which group holds
// which series.
type apiMembership map[string][]labels.Labels

func (m apiMembership) groupsOf(family string, ls labels.Labels) []labels.Labels {
	return m[membershipKey(family, ls)]
}

func membershipKey(family string, ls labels.Labels) string {
	return family + "\xff" + ls.String()
}

// membership reads /api/v1/metrics.
func (c *Client) membership(ctx context.Context) (membership, error) {
	body, contentType, err := c.get(ctx, "/api/v1/metrics", "application/json")
	if err != nil {
		return nil, err
	}
	if mt, _, _ := mime.ParseMediaType(contentType); mt != "application/json" {
		return nil, fmt.Errorf("scrape %s: unexpected Content-Type %q", c.redacted("/api/v1/metrics"), contentType)
	}
	m, err := parseMembership(body, c.limits)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", c.redacted("/api/v1/metrics"), err)
	}
	return m, nil
}

// parseMembership decodes the Pushgateway's /api/v1/metrics answer: a list of
// groups, each an object with "labels" (the grouping key) and one member per
// metric family holding a "metrics" list of {"labels": ...}. Groups and
// series over the limits are left out: the bridge keeps no such series.
func parseMembership(body []byte, limits Limits) (apiMembership, error) {
	var resp struct {
		Status string                       `json:"status"`
		Data   []map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("decode groups: %w", err)
	}
	if resp.Status != "success" {
		return nil, fmt.Errorf("decode groups: status %q", resp.Status)
	}
	m := apiMembership{}
	var b labels.Builder
	for _, g := range resp.Data {
		var key map[string]string
		if err := json.Unmarshal(g["labels"], &key); err != nil {
			return nil, fmt.Errorf("decode group labels: %w", err)
		}
		if !withinLimits(limits, key, 0) {
			continue
		}
		groupKey := labelsFromMap(&b, key)
		for family, raw := range g {
			var fam struct {
				Metrics []struct {
					Labels map[string]string `json:"labels"`
				} `json:"metrics"`
			}
			// "labels" and "last_push_successful" are not families.
			if family == "labels" || json.Unmarshal(raw, &fam) != nil {
				continue
			}
			if len(family) > limits.LabelValueLengthLimit {
				continue
			}
			for _, mt := range fam.Metrics {
				if !withinLimits(limits, mt.Labels, 1) {
					continue
				}
				k := membershipKey(family, labelsFromMap(&b, mt.Labels))
				m[k] = append(m[k], groupKey)
			}
		}
	}
	return m, nil
}

// withinLimits tells whether a label set given as a map, with extra more
// labels (the metric name), is within the limits.
func withinLimits(l Limits, m map[string]string, extra int) bool {
	var c labelCheck
	c.reset(l, false)
	c.n = extra
	for k, v := range m {
		c.add(len(k), len(v), nil)
	}
	_, drop := c.verdict()
	return !drop
}

func labelsFromMap(b *labels.Builder, m map[string]string) labels.Labels {
	b.Reset(labels.EmptyLabels())
	for k, v := range m {
		if v != "" {
			b.Set(k, v)
		}
	}
	return b.Labels()
}

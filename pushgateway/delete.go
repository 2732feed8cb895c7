package pushgateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
)

// DeleteGroup deletes the group with the given grouping key from the
// Pushgateway, unless it was pushed again since the scrape that found it
// expired: its push_time_seconds is read again from /api/v1/metrics right
// before the DELETE and must still be pushTime. It reports whether the group
// was deleted. A push landing between that check and the DELETE is lost;
// the window is one round trip.
func (c *Client) DeleteGroup(ctx context.Context, key labels.Labels, pushTime float64) (bool, error) {
	current, found, err := c.pushTimeOf(ctx, key)
	if err != nil {
		return false, err
	}
	if !found || current != pushTime {
		return false, nil
	}
	u := *c.base
	u.Path += groupPath(key)
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u.String(), nil)
	if err != nil {
		return false, fmt.Errorf("delete group %s: %w", key, err)
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return false, fmt.Errorf("delete group %s: %w", key, redactErr(err))
	}
	defer func() {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return false, fmt.Errorf("delete group %s: server returned HTTP status %s: %s", key, resp.Status, strings.TrimSpace(string(msg)))
	}
	return true, nil
}

// groupPath is the Pushgateway API path of a group: /metrics/job/<job>
// followed by the other grouping labels, each value base64-encoded
// (/<name>@base64/<value>) where it holds a slash or is empty.
func groupPath(key labels.Labels) string {
	var b strings.Builder
	b.WriteString("/metrics")
	seg := func(name, value string) {
		if value == "" || strings.Contains(value, "/") {
			b.WriteString("/" + name + "@base64/")
			enc := base64.RawURLEncoding.EncodeToString([]byte(value))
			if enc == "" {
				enc = "=" // the Pushgateway's spelling of an empty value
			}
			b.WriteString(enc)
			return
		}
		b.WriteString("/" + name + "/" + url.PathEscape(value))
	}
	seg("job", key.Get("job"))
	key.Range(func(l labels.Label) {
		if l.Name != "job" {
			seg(l.Name, l.Value)
		}
	})
	return b.String()
}

// pushTimeOf reads the group's current push_time_seconds from
// /api/v1/metrics.
func (c *Client) pushTimeOf(ctx context.Context, key labels.Labels) (float64, bool, error) {
	body, _, err := c.get(ctx, "/api/v1/metrics", "application/json")
	if err != nil {
		return 0, false, err
	}
	var resp struct {
		Data []struct {
			Labels   map[string]string `json:"labels"`
			PushTime struct {
				Metrics []struct {
					Value string `json:"value"`
				} `json:"metrics"`
			} `json:"push_time_seconds"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return 0, false, fmt.Errorf("scrape %s: decode groups: %w", c.redacted("/api/v1/metrics"), err)
	}
	var b labels.Builder
	for _, g := range resp.Data {
		if !labels.Equal(labelsFromMap(&b, g.Labels), key) {
			continue
		}
		if len(g.PushTime.Metrics) == 0 {
			return 0, true, nil
		}
		v, err := strconv.ParseFloat(g.PushTime.Metrics[0].Value, 64)
		if err != nil {
			return 0, false, fmt.Errorf("scrape %s: push_time_seconds of %s: %w", c.redacted("/api/v1/metrics"), key, err)
		}
		return v, true, nil
	}
	return 0, false, nil
}

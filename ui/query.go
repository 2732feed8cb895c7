package ui

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushgateway-bridge/pushgateway-bridge/bridge"
	"github.com/pushgateway-bridge/pushgateway-bridge/synth"
)

// The query parameters that are not grouping labels.
const (
	sortParam  = "sort"
	matchParam = "match"
)

// sortKey orders the groups.
type sortKey string

const (
	// sortStatus puts problems first, worst first, then by labels.
	sortStatus sortKey = "status"
	// sortAge puts the oldest last successful push first; groups that
	// never pushed successfully come before all others.
	sortAge sortKey = "age"
	// sortLabels orders by grouping key.
	sortLabels sortKey = "labels"
)

// statusRank orders the statuses worst first, as synth decides them.
var statusRank = map[synth.Status]int{
	synth.StatusMissing:   0,
	synth.StatusExpired:   1,
	synth.StatusOverLimit: 2,
	synth.StatusFailed:    3,
	synth.StatusTooOld:    4,
	synth.StatusOK:        5,
}

// filter is the grouping labels a group must have, sorted by name: a
// group matches if, for every name, its value is one of Values ("" for a
// label it lacks).
type filter []labelFilter

type labelFilter struct {
	Name   string
	Values []string
}

// parseQuery reads the filter and the sort order from a page's or the
// API's query.
func parseQuery(q url.Values) (filter, sortKey, error) {
	key := sortStatus
	if s := q.Get(sortParam); s != "" {
		key = sortKey(s)
		if key != sortStatus && key != sortAge && key != sortLabels {
			return nil, "", fmt.Errorf("sort %q: want status, age or labels", s)
		}
	}
	var f filter
	for name, values := range q {
		if name == sortParam || name == matchParam {
			continue
		}
		if !model.UTF8Validation.IsValidLabelName(name) {
			return nil, "", fmt.Errorf("filter: %q is not a label name", name)
		}
		for _, v := range values {
			f = f.with(name, v)
		}
	}
	if q.Has(matchParam) {
		var err error
		if f, err = parseMatch(f, q.Get(matchParam)); err != nil {
			return nil, "", err
		}
	}
	return f, key, nil
}

// parseMatch adds to f the matchers of text, written as the page's form
// shows them: name="value" pairs separated by commas or spaces, optionally
// in braces; a value without spaces needs no quotes.
func parseMatch(f filter, text string) (filter, error) {
	s := strings.TrimSpace(text)
	if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
		s = s[1 : len(s)-1]
	}
	for {
		s = strings.TrimLeft(s, " \t\r\n,")
		if s == "" {
			return f, nil
		}
		name, rest, ok := strings.Cut(s, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t,\"") {
			return nil, fmt.Errorf("filter %q: want name=\"value\" pairs", text)
		}
		if !model.UTF8Validation.IsValidLabelName(name) {
			return nil, fmt.Errorf("filter: %q is not a label name", name)
		}
		rest = strings.TrimLeft(rest, " \t")
		var value string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return nil, fmt.Errorf("filter %q: unterminated quoted value of %s", text, name)
			}
			value, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			end := strings.IndexAny(rest, " \t\r\n,")
			if end < 0 {
				end = len(rest)
			}
			value, rest = rest[:end], rest[end:]
		}
		f = f.with(name, value)
		s = rest
	}
}

// with returns f with value added to the values name may have, as a new
// filter.
func (f filter) with(name, value string) filter {
	out := make(filter, 0, len(f)+1)
	added := false
	for _, lf := range f {
		if lf.Name == name {
			added = true
			if !slices.Contains(lf.Values, value) {
				lf.Values = append(slices.Clip(lf.Values), value)
			}
		}
		out = append(out, lf)
	}
	if !added {
		out = append(out, labelFilter{Name: name, Values: []string{value}})
		slices.SortFunc(out, func(a, b labelFilter) int { return strings.Compare(a.Name, b.Name) })
	}
	return out
}

// without returns f without the value for name, as a new filter.
func (f filter) without(name, value string) filter {
	out := make(filter, 0, len(f))
	for _, lf := range f {
		if lf.Name == name {
			lf.Values = slices.DeleteFunc(slices.Clone(lf.Values), func(v string) bool { return v == value })
			if len(lf.Values) == 0 {
				continue
			}
		}
		out = append(out, lf)
	}
	return out
}

func (f filter) has(name, value string) bool {
	for _, lf := range f {
		if lf.Name == name && slices.Contains(lf.Values, value) {
			return true
		}
	}
	return false
}

func (f filter) matches(ls labels.Labels) bool {
	for _, lf := range f {
		if !slices.Contains(lf.Values, ls.Get(lf.Name)) {
			return false
		}
	}
	return true
}

// String writes f as parseMatch reads it.
func (f filter) String() string {
	var parts []string
	for _, lf := range f {
		for _, v := range lf.Values {
			parts = append(parts, lf.Name+"="+strconv.Quote(v))
		}
	}
	return strings.Join(parts, ", ")
}

// href is the relative link to the page with filter f and sort order key.
func href(f filter, key sortKey) string {
	q := url.Values{}
	for _, lf := range f {
		q[lf.Name] = lf.Values
	}
	if key != sortStatus {
		q.Set(sortParam, string(key))
	}
	if len(q) == 0 {
		return "./"
	}
	return "?" + q.Encode()
}

// canonical returns the link to the page that q asks for, with its
// match text turned into plain parameters.
func canonical(q url.Values) (string, error) {
	f, key, err := parseQuery(q)
	if err != nil {
		return "", err
	}
	return href(f, key), nil
}

// selectGroups returns the groups f matches, sorted by key.
func selectGroups(all []bridge.GroupStatus, f filter, key sortKey) []bridge.GroupStatus {
	var out []bridge.GroupStatus
	for _, g := range all {
		if f.matches(g.Labels) {
			out = append(out, g)
		}
	}
	slices.SortStableFunc(out, func(a, b bridge.GroupStatus) int {
		var c int
		switch key {
		case sortStatus:
			c = cmp.Compare(statusRank[a.Status], statusRank[b.Status])
		case sortAge:
			// No successful push is older than any.
			c = cmp.Compare(boolRank(a.HasAge), boolRank(b.HasAge))
			if c == 0 {
				c = cmp.Compare(b.Age, a.Age)
			}
		}
		if c != 0 {
			return c
		}
		return labels.Compare(a.Labels, b.Labels)
	})
	return out
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

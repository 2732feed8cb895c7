package ui

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushgateway-bridge/pushgateway-bridge/bridge"
	"github.com/pushgateway-bridge/pushgateway-bridge/remotewrite"
	"github.com/pushgateway-bridge/pushgateway-bridge/synth"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

type statusFunc func() *bridge.Status

func (f statusFunc) Status() *bridge.Status { return f() }

type endpointFunc func() remotewrite.QueueStatus

func (f endpointFunc) Status() remotewrite.QueueStatus { return f() }

// hostile is a label value that must render as text.
const hostile = `<script>alert("x")</script>`

func testStatus() *bridge.Status {
	cycle := now.Add(-3 * time.Second)
	return &bridge.Status{
		Time:     cycle,
		Complete: true,
		Gateways: []bridge.GatewayStatus{{Name: "pgw:9091", Up: true, LastScrape: cycle, ScrapeDuration: 12 * time.Millisecond, Groups: 4, Series: 40, LostGroups: 2}},
		Groups: []bridge.GroupStatus{
			{Labels: labels.FromStrings("job", "nightly_backup", "instance", "db-7"), Gateway: "pgw:9091",
				PushTime: cycle.Add(-2 * time.Hour), HasAge: true, Age: 2 * time.Hour, MaxAge: 26 * time.Hour,
				Status: synth.StatusOK, Up: true, Series: 5, Rule: "group_rules[0]", Expected: true},
			{Labels: labels.FromStrings("job", "nightly_backup", "instance", "db-9"), Gateway: "pgw:9091",
				PushTime: cycle.Add(-27 * time.Hour), HasAge: true, Age: 27 * time.Hour, MaxAge: 26 * time.Hour,
				Status: synth.StatusTooOld, Series: 5, Rule: "group_rules[0]"},
			{Labels: labels.FromStrings("job", "report"), Gateway: "pgw:9091",
				PushTime: cycle.Add(-10 * time.Minute), PushFailureTime: cycle.Add(-time.Minute), HasAge: true, Age: 10 * time.Minute,
				Status: synth.StatusFailed, Series: 3, DroppedSeries: 2,
				PushesKnown: true, Pushes: 41, FailedPushes: 3, Accumulated: []bridge.AccumulatedTotal{{Family: "rows_processed_total", Total: 580}}},
			{Labels: labels.FromStrings("job", "nightly_backup", "instance", "db-8"),
				MaxAge: 26 * time.Hour, Status: synth.StatusMissing, Rule: "group_rules[0]", Expected: true},
			{Labels: labels.FromStrings("job", hostile), Gateway: "pgw:9091",
				PushTime: cycle.Add(-5 * time.Second), HasAge: true, Age: 5 * time.Second, Status: synth.StatusOK, Up: true, Series: 1},
		},
	}
}

func testQueue() remotewrite.QueueStatus {
	return remotewrite.QueueStatus{Name: "mimir", Message: remotewrite.MessageV2, LastSuccess: now.Add(-2 * time.Second),
		Pending: 1234, DiskBytes: 3 << 20, Shards: 2, Dropped: map[string]int{"http_400": 7, "queue_full": 3}}
}

func newTestHandler(st *bridge.Status, queues ...remotewrite.QueueStatus) *http.ServeMux {
	if len(queues) == 0 {
		queues = append(queues, testQueue())
	}
	var eps []EndpointSource
	for _, q := range queues {
		eps = append(eps, endpointFunc(func() remotewrite.QueueStatus { return q }))
	}
	mux := http.NewServeMux()
	New(Options{
		Status:    statusFunc(func() *bridge.Status { return st }),
		Endpoints: eps,
		Now:       func() time.Time { return now },
	}).Register(mux)
	return mux
}

func get(t *testing.T, h http.Handler, target string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status *bridge.Status
		queues []remotewrite.QueueStatus
		target string
		code   int
		// want must appear in this order; absent must not appear.
		want, absent []string
	}{
		{
			name: "before the first cycle", target: "/", code: http.StatusOK,
			want:   []string{"No cycle has run yet", `<tr class="problem">`, "mimir", "2.0", `<td data-label="Last success">`, "2.0s ago", "1234", "3.0 MiB", "http_400 <b>7</b>", "queue_full <b>3</b>"},
			absent: []string{"<table class=\"groups", "none was acknowledged"},
		},
		{
			name: "endpoints: stalled, healthy", target: "/", code: http.StatusOK,
			queues: []remotewrite.QueueStatus{
				{Name: "down", Message: remotewrite.MessageV1, Pending: 10, DiskBytes: 100},
				{Name: "slow", Message: remotewrite.MessageV1, Pending: 10, DiskBytes: 2048, LastSuccess: now.Add(-6 * time.Minute)},
				{Name: "fine", Message: remotewrite.MessageV1, Pending: 0, DiskBytes: 0, LastSuccess: now.Add(-time.Hour)},
				{Name: "tenants", Message: remotewrite.MessageV2, Pending: 5, LastSuccess: now.Add(-time.Second), Dropped: map[string]int{"http_400": 5},
					Tenants: []remotewrite.QueueStatus{
						{Name: "tenants", Tenant: "team-a", Message: remotewrite.MessageV2, LastSuccess: now.Add(-time.Second)},
						{Name: "tenants", Tenant: "team-b", Message: remotewrite.MessageV2, Pending: 5, Dropped: map[string]int{"http_400": 5}},
					}},
			},
			want: []string{
				`<tr class="problem">`, "down", "1.0", "none was acknowledged", "never", "100 B", "none",
				`<tr class="problem">`, "slow", "none was acknowledged", "6m ago", "2.0 KiB",
				"<tr>", "fine", `<td data-label="Last success">`, "1h ago", "0 B",
				`<tr class="problem">`, "tenants", "1.0s ago", "http_400 <b>5</b>",
				`<tr class="tenant">`, "tenant</span> team-a", "1.0s ago", "none",
				`<tr class="tenant problem">`, "tenant</span> team-b", "never", "http_400 <b>5</b>",
			},
		},
		{
			name: "problems first by default", status: testStatus(), target: "/", code: http.StatusOK,
			want: []string{
				"<title>1 missing · 1 failed · 1 too_old · pushgateway-bridge</title>",
				"Last cycle", "3.0s ago",
				`<li class="status s-missing">1 missing</li>`, `<li class="status s-ok">2 ok</li>`,
				"pgw:9091", "reachable", "12ms",
				"5 of 5",
				`<tr class="problem s-missing">`, "expected", "db-8", "never pushed",
				`<tr class="problem s-failed">`, "report", "10m", `class="bad"`, "1m 3s ago", "+2 dropped",
				`<td data-label="Pushes seen">41 / 3<br><span class="dim">rows_processed_total</span> 580</td>`,
				`<tr class="problem s-too_old">`, "db-9", `class="bad">27h / 26h`, `value="1"`,
				`<tr class="s-ok">`, "db-7", "2h / 26h", `value="0.07`, "group_rules[0]",
				`<tr class="s-ok">`, "&lt;script&gt;",
			},
			absent: []string{"<script", "incomplete"},
		},
		{
			// Over its rule's series_limit: a problem, ranked before
			// failed; the series shown against the limit.
			name: "over the series limit", target: "/", code: http.StatusOK,
			status: &bridge.Status{Time: now, Complete: true, Groups: []bridge.GroupStatus{
				{Labels: labels.FromStrings("job", "fails"), HasAge: true, Age: time.Minute, Status: synth.StatusFailed, Series: 3},
				{Labels: labels.FromStrings("job", "small"), HasAge: true, Age: time.Minute, Status: synth.StatusOK, Up: true, Series: 3, SeriesLimit: 1000, Rule: "group_rules[0]"},
				{Labels: labels.FromStrings("job", "huge"), HasAge: true, Age: time.Minute, Status: synth.StatusOverLimit, Series: 12000, SeriesLimit: 1000, Rule: "group_rules[0]"},
			}},
			want: []string{
				"<title>1 over_limit · 1 failed · pushgateway-bridge</title>",
				`<tr class="problem s-over_limit">`, `<span class="status s-over_limit">over_limit</span>`, "huge", `12000 <span class="bad"`, "/ 1000</span>",
				`<tr class="problem s-failed">`, "fails",
				`<tr class="s-ok">`, "small", `3 <span class="dim"`, "/ 1000</span>",
			},
		},
		{
			name: "by age, oldest first", status: testStatus(), target: "/?sort=age", code: http.StatusOK,
			want: []string{`<option value="age" selected>`, "db-8", "db-9", "db-7", "report", "&lt;script&gt;"},
		},
		{
			name: "by labels", status: testStatus(), target: "/?sort=labels", code: http.StatusOK,
			want: []string{"db-7", "db-8", "db-9", "&lt;script&gt;", "report"},
		},
		{
			name: "filter by two labels", status: testStatus(), target: "/?job=nightly_backup&instance=db-9", code: http.StatusOK,
			want: []string{
				"1 of 5",
				`value="instance=&#34;db-9&#34;, job=&#34;nightly_backup&#34;"`,
				`<a class="chip on" href="?job=nightly_backup" title="Remove this filter">instance=&#34;db-9&#34;`,
				"db-9",
				`href="api/v1/groups?instance=db-9&amp;job=nightly_backup"`,
			},
			absent: []string{"db-7", "db-8", "report"},
		},
		{
			name: "filter keeps the sort order", status: testStatus(), target: "/?job=nightly_backup&sort=age", code: http.StatusOK,
			want:   []string{"3 of 5", "db-8", "db-9", `href="?instance=db-7&amp;job=nightly_backup&amp;sort=age"`},
			absent: []string{"report"},
		},
		{
			name: "either value of one label", status: testStatus(), target: "/?instance=db-7&instance=db-9&sort=labels", code: http.StatusOK,
			want:   []string{"2 of 5", "db-7", "db-9"},
			absent: []string{"db-8", "report"},
		},
		{
			name: "filter by a hostile value", status: testStatus(), target: "/?job=" + "%3Cscript%3Ealert(%22x%22)%3C%2Fscript%3E", code: http.StatusOK,
			want:   []string{"1 of 5", `value="job=&#34;&lt;script&gt;alert(\&#34;x\&#34;)&lt;/script&gt;&#34;"`, "job=<b>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</b>"},
			absent: []string{"<script", "db-7"},
		},
		{
			name: "no group matches", status: testStatus(), target: "/?job=nope", code: http.StatusOK,
			want: []string{"0 of 5", "No group matches."},
		},
		{
			name: "bad sort", status: testStatus(), target: "/?sort=size", code: http.StatusBadRequest,
			want: []string{`role="alert">sort &#34;size&#34;: want status, age or labels`},
		},
		{
			name: "bad match text", status: testStatus(), target: "/?match=job", code: http.StatusBadRequest,
			want: []string{`filter &#34;job&#34;: want name=&#34;value&#34; pairs`},
		},
		{
			name: "incomplete cycle", target: "/", code: http.StatusOK,
			status: func() *bridge.Status {
				st := testStatus()
				st.Complete = false
				st.Gateways[0].Up, st.Gateways[0].Error = false, "Get \"http://pgw:9091/metrics\": connection refused"
				return st
			}(),
			want: []string{"incomplete", `<tr class="problem">`, "unreachable", "connection refused"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := get(t, newTestHandler(tc.status, tc.queues...), tc.target)
			b := body(t, resp)
			if resp.StatusCode != tc.code {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.code)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			rest := b
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					if strings.Contains(b, w) {
						t.Errorf("%q is out of order", w)
					} else {
						t.Errorf("page lacks %q", w)
					}
					continue
				}
				rest = rest[i+len(w):]
			}
			for _, a := range tc.absent {
				if strings.Contains(b, a) {
					t.Errorf("page has %q", a)
				}
			}
			if t.Failed() {
				t.Logf("page:\n%s", b)
			}
		})
	}
}

func TestMatchRedirects(t *testing.T) {
	for _, tc := range []struct{ query, location string }{
		{`job="nightly backup", instance=db-7`, `?instance=db-7&job=nightly+backup`},
		{`{job="a\"b",instance="x"}`, `?instance=x&job=a%22b`},
		{`job=a job=b`, `?job=a&job=b`},
		{`instance=""`, `?instance=`},
		{``, `./`},
	} {
		t.Run(tc.query, func(t *testing.T) {
			for _, sort := range []string{"", "age"} {
				target := "/?match=" + urlQueryEscape(tc.query)
				want := tc.location
				if sort != "" {
					target += "&sort=" + sort
					if want == "./" {
						want = "?sort=" + sort
					} else {
						want += "&sort=" + sort
					}
				}
				resp := get(t, newTestHandler(testStatus()), target)
				if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
					t.Errorf("GET %s: %d Location %q, want 303 %q", target, resp.StatusCode, resp.Header.Get("Location"), want)
				}
			}
		})
	}
}

func urlQueryEscape(s string) string {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	q := r.URL.Query()
	q.Set("x", s)
	return strings.TrimPrefix(q.Encode(), "x=")
}

func TestGroupsAPI(t *testing.T) {
	type group struct {
		Labels         map[string]string `json:"labels"`
		Gateway        string            `json:"gateway"`
		Status         string            `json:"status"`
		Up             bool              `json:"up"`
		LastPush       *time.Time        `json:"lastPush"`
		LastFailedPush *time.Time        `json:"lastFailedPush"`
		AgeSeconds     *float64          `json:"ageSeconds"`
		MaxAgeSeconds  *float64          `json:"maxAgeSeconds"`
		Series         int               `json:"series"`
		Rule           string            `json:"rule"`
		Expected       bool              `json:"expected"`
	}
	type response struct {
		Status    string  `json:"status"`
		Data      []group `json:"data"`
		ErrorType string  `json:"errorType"`
		Error     string  `json:"error"`
	}
	call := func(t *testing.T, st *bridge.Status, target string) (int, response, string) {
		t.Helper()
		resp := get(t, newTestHandler(st), target)
		b := body(t, resp)
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		var r response
		if err := json.Unmarshal([]byte(b), &r); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		return resp.StatusCode, r, b
	}
	jobs := func(r response) []string {
		var out []string
		for _, g := range r.Data {
			out = append(out, g.Labels["job"]+"/"+g.Labels["instance"])
		}
		return out
	}

	for _, tc := range []struct {
		target string
		want   []string
	}{
		{"/api/v1/groups", []string{"nightly_backup/db-8", "report/", "nightly_backup/db-9", "nightly_backup/db-7", hostile + "/"}},
		{"/api/v1/groups?sort=age", []string{"nightly_backup/db-8", "nightly_backup/db-9", "nightly_backup/db-7", "report/", hostile + "/"}},
		{"/api/v1/groups?job=nightly_backup&sort=labels", []string{"nightly_backup/db-7", "nightly_backup/db-8", "nightly_backup/db-9"}},
		{"/api/v1/groups?match=" + urlQueryEscape(`job="report"`), []string{"report/"}},
		{"/api/v1/groups?job=report&instance=", []string{"report/"}},
		{"/api/v1/groups?job=none", nil},
	} {
		t.Run(tc.target, func(t *testing.T) {
			code, r, b := call(t, testStatus(), tc.target)
			if code != http.StatusOK || r.Status != "success" {
				t.Fatalf("%d %s", code, b)
			}
			if got := jobs(r); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("groups %q, want %q", got, tc.want)
			}
			if tc.want == nil && !strings.Contains(b, `"data":[]`) {
				t.Errorf("no group: %s, want \"data\":[]", b)
			}
		})
	}

	t.Run("fields", func(t *testing.T) {
		_, r, b := call(t, testStatus(), "/api/v1/groups?job=report")
		g := r.Data[0]
		if g.Status != "failed" || g.Up || g.Gateway != "pgw:9091" || g.Series != 3 || g.Expected || g.Rule != "" ||
			g.AgeSeconds == nil || *g.AgeSeconds != 600 || g.MaxAgeSeconds != nil ||
			g.LastPush == nil || !g.LastPush.Equal(now.Add(-3*time.Second-10*time.Minute)) ||
			g.LastFailedPush == nil || !g.LastFailedPush.Equal(now.Add(-3*time.Second-time.Minute)) {
			t.Errorf("report: %s", b)
		}
		if !strings.Contains(b, `"lastPush":"2026-11-25T11:49:57Z"`) {
			t.Errorf("lastPush not in UTC RFC 3339: %s", b)
		}
		if !strings.Contains(b, `"pushes":{"ok":41,"failed":3,"accumulated":{"rows_processed_total":580}}`) {
			t.Errorf("pushes seen and accumulated totals not in the API: %s", b)
		}
		if !strings.Contains(b, `"droppedSeries":2`) {
			t.Errorf("series over the label limits not in the API: %s", b)
		}
		_, r, b = call(t, testStatus(), "/api/v1/groups?instance=db-8")
		g = r.Data[0]
		if g.Status != "missing" || !g.Expected || g.Gateway != "" || g.AgeSeconds != nil || g.LastPush != nil ||
			g.MaxAgeSeconds == nil || *g.MaxAgeSeconds != 26*3600 || g.Rule != "group_rules[0]" {
			t.Errorf("db-8: %s", b)
		}
	})

	for _, tc := range []struct {
		name, target string
		status       *bridge.Status
		code         int
		errorType    string
	}{
		{"no cycle yet", "/api/v1/groups", nil, http.StatusServiceUnavailable, "unavailable"},
		{"bad sort", "/api/v1/groups?sort=x", testStatus(), http.StatusBadRequest, "bad_data"},
		{"bad match", "/api/v1/groups?match=%3D", testStatus(), http.StatusBadRequest, "bad_data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, r, b := call(t, tc.status, tc.target)
			if code != tc.code || r.Status != "error" || r.ErrorType != tc.errorType || r.Error == "" || strings.Contains(b, `"data"`) {
				t.Errorf("%d %s, want %d and errorType %q", code, b, tc.code, tc.errorType)
			}
		})
	}
}

func TestStatic(t *testing.T) {
	h := newTestHandler(nil)
	for _, tc := range []struct {
		target, contentType string
		code                int
	}{
		{"/static/style.css", "text/css; charset=utf-8", http.StatusOK},
		{"/static/favicon.svg", "image/svg+xml", http.StatusOK},
		{"/static/", "", http.StatusNotFound},
		{"/static/nope.js", "", http.StatusNotFound},
		{"/templates/index.html", "", http.StatusNotFound},
		{"/other", "", http.StatusNotFound},
	} {
		resp := get(t, h, tc.target)
		if resp.StatusCode != tc.code || (tc.contentType != "" && resp.Header.Get("Content-Type") != tc.contentType) {
			t.Errorf("GET %s: %d %q, want %d %q", tc.target, resp.StatusCode, resp.Header.Get("Content-Type"), tc.code, tc.contentType)
		}
	}
	// The page loads nothing else: no script, no other origin.
	b := body(t, get(t, newTestHandler(testStatus()), "/"))
	for _, bad := range []string{"<script", "http://", "https://", "//fonts", "@import"} {
		if strings.Contains(b, bad) {
			t.Errorf("page has %q", bad)
		}
	}
	css := body(t, get(t, h, "/static/style.css"))
	for _, bad := range []string{"url(", "@import", "@font-face"} {
		if strings.Contains(css, bad) {
			t.Errorf("style.css has %q", bad)
		}
	}
}

func TestDurationText(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{312 * time.Millisecond, "312ms"},
		{4200 * time.Millisecond, "4.2s"},
		{42 * time.Second, "42s"},
		{3*time.Minute + 12*time.Second, "3m 12s"},
		{time.Hour, "1h"},
		{27*time.Hour + 3*time.Minute, "27h 3m"},
		{8*24*time.Hour + 2*time.Hour, "8d 2h"},
	} {
		if got := durationText(tc.d); got != tc.want {
			t.Errorf("durationText(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

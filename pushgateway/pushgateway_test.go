package pushgateway

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	"github.com/pushgateway-bridge/pushgateway-bridge/internal/golden"
	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
)

const (
	protoType = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
	textType  = "text/plain; version=0.0.4; charset=utf-8"
)

// The captures in testdata come from Debian's Pushgateway 1.5.1 holding:
// group {job="x"} (gauge with foo="bar"/"baz", counter, histogram, summary),
// group {job="x",foo="bar"} (a gauge; its first push failed),
// group {job="nightly",path="/var/tmp"} (pushed with @base64; last push failed),
// group {job="native",instance="h1"} (a native histogram with classic buckets
// and a native-only one, pushed with client_golang).
func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func render(s *pipeline.Snapshot) []byte {
	var buf bytes.Buffer
	for _, g := range s.Groups {
		fmt.Fprintf(&buf, "# group %s push_time=%g push_failure_time=%g\n", g.Labels, g.PushTime, g.PushFailureTime)
		for _, s := range g.Series {
			fmt.Fprintln(&buf, s)
		}
	}
	fmt.Fprintf(&buf, "# own series: %d\n", len(s.Own))
	return buf.Bytes()
}

// fakeGateway serves the captures and counts requests to /api/v1/metrics.
func fakeGateway(t *testing.T, metrics []byte, contentType string, api []byte) (*httptest.Server, *atomic.Int32) {
	var apiCalls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics":
			w.Header().Set("Content-Type", contentType)
			_, _ = w.Write(metrics)
		case "/api/v1/metrics":
			apiCalls.Add(1)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(api)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &apiCalls
}

func TestScrapeCaptures(t *testing.T) {
	api := readFile(t, "api_v1_metrics.json")
	for _, tc := range []struct {
		capture, contentType, golden string
	}{
		// Protobuf carries the native histograms.
		{"metrics.pb", protoType, "metrics.pb.golden"},
		// Text shows native histograms only as their +Inf bucket.
		{"metrics.txt", textType, "metrics.txt.golden"},
		// A Content-Type a proxy lost: text is assumed.
		{"metrics.txt", "", "metrics.txt.golden"},
	} {
		t.Run(tc.capture+"/"+tc.contentType, func(t *testing.T) {
			srv, apiCalls := fakeGateway(t, readFile(t, tc.capture), tc.contentType, api)
			u, _ := url.Parse(srv.URL)
			snap, err := NewClient(u, srv.Client(), "test", Options{}).Scrape(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", tc.golden), render(snap))
			// The capture holds overlapping grouping keys, so membership
			// had to be asked for, once.
			if got := apiCalls.Load(); got != 1 {
				t.Errorf("/api/v1/metrics requested %d times, want 1", got)
			}
		})
	}
}

func TestScrapeAsksAPIOnlyWhenAmbiguous(t *testing.T) {
	metrics := `# TYPE a gauge
a{instance="",job="x",foo="bar"} 1
# TYPE push_time_seconds gauge
push_time_seconds{instance="",job="x"} 10
push_time_seconds{instance="",job="y",foo="bar"} 11
`
	srv, apiCalls := fakeGateway(t, []byte(metrics), textType, nil)
	u, _ := url.Parse(srv.URL)
	snap, err := NewClient(u, srv.Client(), "", Options{}).Scrape(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if apiCalls.Load() != 0 {
		t.Errorf("/api/v1/metrics requested without ambiguity")
	}
	want := "# group {foo=\"bar\", job=\"y\"} push_time=11 push_failure_time=0\n" +
		"push_time_seconds{foo=\"bar\", job=\"y\"} 11\n" +
		"# group {job=\"x\"} push_time=10 push_failure_time=0\n" +
		"a{foo=\"bar\", job=\"x\"} 1\n" +
		"push_time_seconds{job=\"x\"} 10\n" +
		"# own series: 0\n"
	if got := string(render(snap)); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

// TestAttributeOverlappingKeys is the case /metrics alone gets wrong: group
// {job="x"} holds some_gauge{foo="bar"} and group {job="x",foo="bar"} holds
// other_gauge; both grouping keys are subsets of some_gauge's labels.
func TestAttributeOverlappingKeys(t *testing.T) {
	groups, series, err := parse(readFile(t, "metrics.txt"), textType)
	if err != nil {
		t.Fatal(err)
	}
	mem, err := parseMembership(readFile(t, "api_v1_metrics.json"), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attribute(groups, series, func() (membership, error) { return mem, nil }); err != nil {
		t.Fatal(err)
	}
	holder := map[string]string{}
	for _, g := range groups {
		for _, s := range g.Series {
			holder[pipeline.FormatLabels(s.Labels)] = g.Labels.String()
		}
	}
	for series, group := range map[string]string{
		`some_gauge{foo="bar", job="x"}`:                `{job="x"}`,
		`some_gauge{foo="baz", job="x"}`:                `{job="x"}`,
		`other_gauge{foo="bar", job="x"}`:               `{foo="bar", job="x"}`,
		`push_time_seconds{foo="bar", job="x"}`:         `{foo="bar", job="x"}`,
		`push_failure_time_seconds{foo="bar", job="x"}`: `{foo="bar", job="x"}`,
		`push_time_seconds{job="x"}`:                    `{job="x"}`,
	} {
		if holder[series] != group {
			t.Errorf("%s attributed to group %q, want %s", series, holder[series], group)
		}
	}
}

func TestScrapeErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"status", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
		}, "503 Service Unavailable: overloaded"},
		{"garbage", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", textType)
			_, _ = w.Write([]byte("not{ an exposition"))
		}, "parse exposition"},
		{"api garbage", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/api/v1/metrics" {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte("{"))
				return
			}
			w.Header().Set("Content-Type", textType)
			_, _ = w.Write([]byte("a{job=\"x\",foo=\"bar\"} 1\npush_time_seconds{job=\"x\"} 1\npush_time_seconds{job=\"x\",foo=\"bar\"} 1\n"))
		}, "decode groups"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			u, _ := url.Parse(srv.URL)
			u.User = url.UserPassword("bridge", "s3cret")
			_, err := NewClient(u, srv.Client(), "", Options{}).Scrape(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestScrapeUnreachableRedacts(t *testing.T) {
	u, _ := url.Parse("http://bridge:s3cret@127.0.0.1:1")
	_, err := NewClient(u, &http.Client{}, "", Options{}).Scrape(context.Background())
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("want an error without the password, got %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(readFile(f, "metrics.pb"), true)
	f.Add(readFile(f, "metrics.txt"), false)
	f.Fuzz(func(t *testing.T, body []byte, proto bool) {
		ct := textType
		if proto {
			ct = protoType
		}
		groups, series, err := parse(body, ct)
		if err != nil {
			return
		}
		own, err := attribute(groups, series, func() (membership, error) { return apiMembership{}, nil })
		if err != nil {
			t.Fatal(err)
		}
		n, dropped, attributed := len(own), 0, 0
		for _, g := range groups {
			n += len(g.Series)
			attributed += g.DroppedSeries
			if g.Labels.Has(model.MetricNameLabel) {
				t.Fatalf("grouping key %s holds __name__", g.Labels)
			}
		}
		for _, s := range series {
			if s.drop != nil {
				dropped++
			}
		}
		if n != len(series)-dropped || attributed > dropped {
			t.Fatalf("%d series parsed, %d dropped; %d attributed, %d of the dropped", len(series), dropped, n, attributed)
		}
		for _, s := range series {
			if s.drop != nil {
				continue
			}
			s.Labels.Range(func(l labels.Label) {
				if l.Value == "" {
					t.Fatalf("series %s keeps an empty label", s.Labels)
				}
			})
		}
	})
}

func TestMetadata(t *testing.T) {
	for _, tc := range []struct{ capture, contentType string }{
		{"metrics.pb", protoType},
		{"metrics.txt", textType},
	} {
		t.Run(tc.capture, func(t *testing.T) {
			_, series, err := parse(readFile(t, tc.capture), tc.contentType)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, s := range series {
				if m := s.Metadata; m != nil {
					got[s.Labels.Get(model.MetricNameLabel)] = fmt.Sprintf("%s %q", m.Type, m.Help)
				}
			}
			for name, want := range map[string]string{
				"some_gauge":                     `gauge "A gauge."`,
				"latency_seconds_bucket":         `histogram ""`,
				"rpc":                            `summary ""`,
				"backup_bytes":                   `unknown ""`,
				"push_time_seconds":              `gauge "Last Unix time when changing this group in the Pushgateway succeeded."`,
				"request_duration_seconds_count": `histogram "A native histogram."`,
			} {
				if got[name] != want {
					t.Errorf("metadata of %s = %s, want %s", name, got[name], want)
				}
			}
		})
	}
}

// uncached renders what a scrape of body would give without the cache.
func uncached(t testing.TB, body []byte, mem membership) string {
	t.Helper()
	groups, series, err := parse(body, protoType)
	if err != nil {
		t.Fatal(err)
	}
	own, err := attribute(groups, series, func() (membership, error) { return mem, nil })
	if err != nil {
		t.Fatal(err)
	}
	return string(render(&pipeline.Snapshot{Groups: groups, Own: own}))
}

// TestScrapeCacheMatchesFullParse scrapes a changing sequence of
// expositions through one client, so that later scrapes are served from the
// cache, and compares each with a fresh parse of the same body.
func TestScrapeCacheMatchesFullParse(t *testing.T) {
	capture := readFile(t, "metrics.pb")
	small := syntheticExposition(t, 3, 20, expfmt.NewFormat(expfmt.TypeProtoDelim))
	large := syntheticExposition(t, 50, 20, expfmt.NewFormat(expfmt.TypeProtoDelim))
	api := readFile(t, "api_v1_metrics.json")
	mem, err := parseMembership(api, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	var body atomic.Pointer[[]byte]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/metrics" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(api)
			return
		}
		w.Header().Set("Content-Type", protoType)
		_, _ = w.Write(*body.Load())
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	for _, mode := range cacheModes {
		t.Run(mode.name, func(t *testing.T) {
			c := NewClient(u, srv.Client(), "", Options{})
			c.cache.maxBuffered = mode.maxBuffered
			for i, b := range [][]byte{capture, capture, small, large, small, capture, capture} {
				body.Store(&b)
				snap, err := c.Scrape(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if got, want := string(render(snap)), uncached(t, b, mem); got != want {
					t.Fatalf("scrape %d through the cache differs from a full parse:\n%s\nwant\n%s", i, got, want)
				}
			}
			n := 0
			for _, f := range c.cache.families {
				n += len(f.entries)
			}
			if n == 0 || n > 200 {
				t.Errorf("cache holds %d entries after the last scrape, want those of the capture only", n)
			}
		})
	}
}

// cacheModes are the two ways the cache reads a family: whole (families up
// to maxKeptBuf by default) and streamed (larger ones).
var cacheModes = []struct {
	name        string
	maxBuffered int
}{{"buffered", maxKeptBuf}, {"streamed", 0}}

// mutate decodes a delimited protobuf exposition, lets f change its
// families and encodes it again.
func mutate(t testing.TB, body []byte, f func(fams []*dto.MetricFamily) []*dto.MetricFamily) []byte {
	t.Helper()
	var fams []*dto.MetricFamily
	for r := bytes.NewReader(body); r.Len() > 0; {
		mf := &dto.MetricFamily{}
		if err := (protodelim.UnmarshalOptions{MaxSize: -1}).UnmarshalFrom(r, mf); err != nil {
			t.Fatal(err)
		}
		fams = append(fams, mf)
	}
	var out bytes.Buffer
	for _, mf := range f(fams) {
		if _, err := protodelim.MarshalTo(&out, mf); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

// TestScrapeUnchangedGroups checks the cache's shortcut: while every family
// holding group series is unchanged, the groups of the last scrape are
// returned again and only the gateway's own metrics are parsed; a push, a
// failed push, a deletion or a new family end the shortcut.
func TestScrapeUnchangedGroups(t *testing.T) {
	base := syntheticExposition(t, 3, 20, expfmt.NewFormat(expfmt.TypeProtoDelim))
	withOwn := func(v float64) func([]*dto.MetricFamily) []*dto.MetricFamily {
		return func(fams []*dto.MetricFamily) []*dto.MetricFamily {
			return append(fams, &dto.MetricFamily{Name: proto.String("go_goroutines"), Type: dto.MetricType_GAUGE.Enum(),
				Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: proto.Float64(v)}}}})
		}
	}
	inFamily := func(name string, f func(*dto.MetricFamily)) func([]*dto.MetricFamily) []*dto.MetricFamily {
		return func(fams []*dto.MetricFamily) []*dto.MetricFamily {
			for _, mf := range fams {
				if mf.GetName() == name {
					f(mf)
				}
			}
			return fams
		}
	}
	own1 := mutate(t, base, withOwn(1))
	own2 := mutate(t, base, withOwn(2))
	pushed := mutate(t, own2, inFamily("bench_gauge", func(mf *dto.MetricFamily) { mf.Metric[0].Gauge.Value = proto.Float64(99) }))
	pushed = mutate(t, pushed, inFamily(PushTimeMetric, func(mf *dto.MetricFamily) { mf.Metric[0].Gauge.Value = proto.Float64(1.8e9) }))
	failed := mutate(t, pushed, inFamily(PushFailureTimeMetric, func(mf *dto.MetricFamily) { mf.Metric[1].Gauge.Value = proto.Float64(1.9e9) }))
	deleted := mutate(t, failed, func(fams []*dto.MetricFamily) []*dto.MetricFamily {
		for _, mf := range fams {
			if mf.GetName() != "go_goroutines" {
				mf.Metric = mf.Metric[:len(mf.Metric)*2/3] // the last group's series
			}
		}
		return fams
	})
	newFamily := mutate(t, deleted, func(fams []*dto.MetricFamily) []*dto.MetricFamily {
		return append(fams, &dto.MetricFamily{Name: proto.String("late_gauge"), Type: dto.MetricType_GAUGE.Enum(),
			Metric: []*dto.Metric{{Label: []*dto.LabelPair{{Name: proto.String("job"), Value: proto.String("job0")}, {Name: proto.String("instance"), Value: proto.String("i0")}}, Gauge: &dto.Gauge{Value: proto.Float64(1)}}}})
	})
	var body atomic.Pointer[[]byte]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", protoType)
		_, _ = w.Write(*body.Load())
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	for _, mode := range cacheModes {
		t.Run(mode.name, func(t *testing.T) {
			c := NewClient(u, srv.Client(), "", Options{})
			c.cache.maxBuffered = mode.maxBuffered
			var prev *pipeline.Snapshot
			for i, step := range []struct {
				name   string
				body   []byte
				reused bool
			}{
				{"first", own1, false},
				{"own metrics changed", own2, true},
				{"unchanged", own2, true},
				{"pushed", pushed, false},
				{"own metrics changed after a push", own2, false},
				{"failed push", failed, false},
				{"failed push again", failed, true},
				{"group deleted", deleted, false},
				{"family added to a group", newFamily, false},
				{"unchanged after that", newFamily, true},
			} {
				body.Store(&step.body)
				snap, err := c.Scrape(context.Background())
				if err != nil {
					t.Fatalf("%s: %v", step.name, err)
				}
				if got, want := string(render(snap)), uncached(t, step.body, nil); got != want {
					t.Fatalf("scrape %d (%s) differs from a full parse:\n%s\nwant\n%s", i, step.name, got, want)
				}
				if reused := prev != nil && len(snap.Groups) > 0 && &snap.Groups[0] == &prev.Groups[0]; reused != step.reused {
					t.Errorf("scrape %d (%s): groups reused %v, want %v", i, step.name, reused, step.reused)
				}
				prev = snap
			}
		})
	}
}

func FuzzParseProtoCache(f *testing.F) {
	f.Add(readFile(f, "metrics.pb"))
	f.Add(syntheticExposition(f, 2, 14, expfmt.NewFormat(expfmt.TypeProtoDelim)))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, mode := range cacheModes {
			fuzzCache(t, body, mode.maxBuffered)
		}
	})
}

// fuzzCache parses body twice through a cache that reads families up to
// maxBuffered bytes whole and streams larger ones, and compares each parse
// with the full parse.
func fuzzCache(t *testing.T, body []byte, maxBuffered int) {
	c := newScrapeCache(Limits{})
	c.maxBuffered = maxBuffered
	for range 2 { // the second parse is served from the cache
		cg, cs, cerr := c.parseProto(body)
		g, s, err := parse(body, protoType)
		if (cerr == nil) != (err == nil) {
			// The full parser may reject what framing alone accepts
			// and the other way round only for malformed input (a
			// streamed family also wants its name and type before
			// its metrics); both must then not panic, which
			// reaching here shows.
			return
		}
		if err != nil {
			return
		}
		if slices.ContainsFunc(cs, func(s parsedSeries) bool { return s.drop != nil }) {
			// Over the limits, which the full parse of protobuf
			// does not apply: TestLabelLimits covers them.
			return
		}
		if len(cg) != len(g) || len(cs) != len(s) {
			t.Fatalf("maxBuffered %d: cache: %d groups %d series, full parse: %d groups %d series", maxBuffered, len(cg), len(cs), len(g), len(s))
		}
		for i := range s {
			if cs[i].Series.String() != s[i].Series.String() {
				t.Fatalf("maxBuffered %d: series %d: cache %s, full parse %s", maxBuffered, i, cs[i].Series, s[i].Series)
			}
		}
	}
}

// TestExemplarsAndStartTimestamps scrapes a capture of Debian's Pushgateway
// 1.5.1 holding a client_golang protobuf push (testdata/exemplars.pb): a
// counter added to with an exemplar, a histogram observed once with one,
// and a summary, each with its created timestamp. Every series keeps the
// exemplars and start timestamp a Prometheus scrape would store, whether
// parsed afresh or served from the scrape cache.
func TestExemplarsAndStartTimestamps(t *testing.T) {
	srv, _ := fakeGateway(t, readFile(t, "exemplars.pb"), protoType, readFile(t, "exemplars_api_v1_metrics.json"))
	u, _ := url.Parse(srv.URL)
	c := NewClient(u, srv.Client(), "test", Options{})
	for i := range 2 { // the second scrape is served from the cache
		snap, err := c.Scrape(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		for _, g := range snap.Groups {
			for _, s := range g.Series {
				if s.Extra == nil {
					continue
				}
				fmt.Fprintf(&buf, "%s st=%d", s, s.Extra.StartTimestamp)
				for _, e := range s.Extra.Exemplars {
					fmt.Fprintf(&buf, " # %s %g %d", e.Labels, e.Value, e.Ts)
				}
				buf.WriteByte('\n')
			}
		}
		t.Run(fmt.Sprint("scrape", i), func(t *testing.T) {
			golden.Check(t, filepath.Join("testdata", "exemplars.pb.golden"), buf.Bytes())
		})
	}
}

// TestScrapeUTF8Names scrapes captures of Pushgateway 1.11.5, started with
// --push.enable-utf8-names, holding {"my.dotted.metric","service.name"=
// "checkout"} pushed to job utf8, in protobuf and in text, as served to the
// bridge's Accept header. The names come through as pushed.
func TestScrapeUTF8Names(t *testing.T) {
	for _, tc := range []struct{ capture, contentType string }{
		{"utf8.pb", protoType + "; escaping=allow-utf-8"},
		{"utf8.txt", textType + "; escaping=allow-utf-8"},
	} {
		t.Run(tc.capture, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/api/v1/metrics" {
					_, _ = w.Write(readFile(t, "utf8_api_v1_metrics.json"))
					return
				}
				if a := r.Header.Get("Accept"); strings.Count(a, "escaping=allow-utf-8") != 2 {
					t.Errorf("Accept %q does not ask for UTF-8 names in protobuf and text", a)
				}
				w.Header().Set("Content-Type", tc.contentType)
				_, _ = w.Write(readFile(t, tc.capture))
			}))
			defer srv.Close()
			u, _ := url.Parse(srv.URL)
			snap, err := NewClient(u, srv.Client(), "test", Options{}).Scrape(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, g := range snap.Groups {
				for _, s := range g.Series {
					if !strings.HasPrefix(s.Labels.Get(model.MetricNameLabel), "push") {
						got = append(got, s.String())
					}
				}
			}
			want := []string{`{"my.dotted.metric", job="utf8", "service.name"="checkout"} 3`}
			if !slices.Equal(got, want) {
				t.Errorf("series %q, want %q", got, want)
			}
		})
	}
}

// TestCacheMetadata checks that every series carries its family's
// metadata as the last scrape had it, whether the family is read whole or
// streamed (where the unit, which follows the metrics in field order, is
// known only after them), and that a change of help or unit gives the
// series of kept entries new metadata without touching the groups of the
// scrape before.
func TestCacheMetadata(t *testing.T) {
	base := syntheticExposition(t, 3, 20, expfmt.NewFormat(expfmt.TypeProtoDelim))
	meta := func(help, unit string) []byte {
		return mutate(t, base, func(fams []*dto.MetricFamily) []*dto.MetricFamily {
			for _, mf := range fams {
				if mf.GetName() == "bench_gauge" {
					mf.Help, mf.Unit = proto.String(help), proto.String(unit)
				}
			}
			return fams
		})
	}
	steps := []struct {
		body       []byte
		help, unit string
	}{
		{meta("A gauge.", "seconds"), "A gauge.", "seconds"},
		{meta("A gauge.", "seconds"), "A gauge.", "seconds"},
		{meta("A gauge.", "bytes"), "A gauge.", "bytes"},
		{meta("Another help.", "bytes"), "Another help.", "bytes"},
		{base, "A gauge.", ""},
	}
	for _, mode := range cacheModes {
		t.Run(mode.name, func(t *testing.T) {
			c := newScrapeCache(Limits{})
			c.maxBuffered = mode.maxBuffered
			var prev []pipeline.Group
			for i, step := range steps {
				if err := c.read(bytes.NewReader(step.body)); err != nil {
					t.Fatal(err)
				}
				groups, series := c.series()
				if _, err := attributeCached(groups, series, nil, uint64(i+1), uint64(i+1)); err != nil {
					t.Fatal(err)
				}
				c.attribute(groups, uint64(i+1), uint64(i+1))
				n := 0
				for _, g := range groups {
					for _, s := range g.Series {
						if s.Labels.Get(model.MetricNameLabel) != "bench_gauge" {
							continue
						}
						n++
						if m := s.Metadata; m == nil || m.Help != step.help || m.Unit != step.unit || m.Type != model.MetricTypeGauge {
							t.Fatalf("scrape %d: %s has metadata %+v, want help %q unit %q", i, s.Labels, m, step.help, step.unit)
						}
					}
				}
				if n == 0 {
					t.Fatalf("scrape %d: no bench_gauge series", i)
				}
				if i == 3 {
					// The groups of scrape 2 keep the metadata they had.
					for _, g := range prev {
						for _, s := range g.Series {
							if s.Labels.Get(model.MetricNameLabel) == "bench_gauge" && s.Metadata.Help != "A gauge." {
								t.Fatalf("scrape %d changed the metadata of scrape %d's series %s", i, i-1, s.Labels)
							}
						}
					}
				}
				prev = groups
			}
		})
	}
}

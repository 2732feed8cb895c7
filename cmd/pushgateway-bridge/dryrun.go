package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/version"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushgateway-bridge/pushgateway-bridge/bridge"
	"github.com/pushgateway-bridge/pushgateway-bridge/config"
	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
	"github.com/pushgateway-bridge/pushgateway-bridge/remotewrite"
	"github.com/pushgateway-bridge/pushgateway-bridge/synth"
)

// dryRun runs one cycle against the gateways the daemon would scrape
// (newGateways) and writes to out what it would send to each endpoint, after
// write_relabel_configs and external_labels, as exposition text sorted by
// series, the endpoint and the cycle as comments. It sends nothing, deletes
// nothing (delete_expired is not acted on) and neither reads nor writes
// --storage.path, so it shows no staleness markers. It returns the exit
// code: 0, or 1 with a one-line message on stderr when a Pushgateway cannot
// be scraped.
func dryRun(s *settings, out io.Writer, logger *slog.Logger) int {
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "%s: error: dry run: %v\n", name, err)
		return 1
	}
	// The gateways the daemon would scrape, with their names and
	// credentials; none may delete a group.
	gateways, err := newGateways(s, name+"/"+version.Version, logger, prometheus.NewRegistry())
	if err != nil {
		return fail(err)
	}
	for i := range gateways {
		gateways[i].Source = scrapeOnly{gateways[i].Source}
	}
	// The bridge's own log lines would repeat what the output or the error
	// says; they are kept for --log.level=debug.
	blog := slog.New(slog.DiscardHandler)
	if logger.Enabled(context.Background(), slog.LevelDebug) {
		blog = logger.With("component", "bridge")
	}
	rec := &recordingSender{}
	br, err := bridge.New(bridge.Options{
		Gateways:              gateways,
		Interval:              s.interval,
		Timeout:               s.timeout,
		ForwardGatewayMetrics: s.forwardOwn,
		Synth:                 synthOptions(s.cfg, s.upMetric, s.synthPushes),
		Senders:               []bridge.Sender{rec},
		Logger:                blog,
		Registerer:            prometheus.NewRegistry(),
	})
	if err != nil {
		return fail(err)
	}
	if st := br.Cycle(context.Background()); st == nil || !st.Complete {
		for _, g := range br.Status().Gateways {
			if !g.Up {
				return fail(errors.New(g.Error)) // names the URL, redacted
			}
		}
		return fail(errors.New("incomplete cycle"))
	}
	if err := writeDryRun(out, br.Status(), s.cfg, rec.samples); err != nil {
		return fail(fmt.Errorf("write output: %w", err))
	}
	return 0
}

// scrapeOnly hides every method of a Source but Scrape: a dry run must
// not delete expired groups from the Pushgateway.
type scrapeOnly struct{ bridge.Source }

// recordingSender keeps what a cycle hands to remote write.
type recordingSender struct{ samples []pipeline.Sample }

func (r *recordingSender) Append(samples pipeline.Samples) error {
	r.samples = samples.AppendTo(r.samples, 0, samples.Len())
	return nil
}

func writeDryRun(out io.Writer, st *bridge.Status, cfg *config.Config, samples []pipeline.Sample) error {
	w := bufio.NewWriter(out)
	counts := map[synth.Status]int{}
	for _, g := range st.Groups {
		counts[g.Status]++
	}
	var byStatus []string
	for _, s := range slices.Sorted(maps.Keys(counts)) {
		byStatus = append(byStatus, fmt.Sprintf("%d %s", counts[s], s))
	}
	fmt.Fprintf(w, "# pushgateway-bridge dry run: one cycle at %s; nothing was sent.\n", st.Time.UTC().Format(time.RFC3339Nano))
	for _, g := range st.Gateways {
		fmt.Fprintf(w, "# pushgateway %s: %d groups, %d series scraped in %s\n", g.Name, g.Groups, g.Series, g.ScrapeDuration.Round(time.Millisecond))
	}
	fmt.Fprintf(w, "# groups: %d (%s)\n", len(st.Groups), strings.Join(byStatus, ", "))
	fmt.Fprintf(w, "# every sample is stamped %d (the cycle's time in milliseconds)\n", st.Time.UnixMilli())
	for _, ep := range cfg.RemoteWrite {
		fmt.Fprintf(w, "\n# endpoint %q %s, remote write %s\n", ep.Name, endpointURL(ep.URL), remoteWriteVersion(ep.ProtobufMessage))
		parts, header := byTenant(ep, samples)
		for _, t := range parts {
			kept := remotewrite.Relabel(t.Samples, ep.WriteRelabelConfigs, cfg.Global.ExternalLabels)
			tenant := "none"
			if t.Tenant != "" {
				tenant = fmt.Sprintf("%q (%s)", t.Tenant, header)
			}
			fmt.Fprintf(w, "# tenant %s: %d of %d series after relabeling\n", tenant, len(kept), len(t.Samples))
			lines := make([]string, 0, len(kept))
			for _, smp := range kept {
				lines = append(lines, formatSeries(smp.Labels)+" "+formatValue(smp))
			}
			slices.Sort(lines)
			for _, l := range lines {
				fmt.Fprintln(w, l)
			}
		}
	}
	return w.Flush()
}

// byTenant splits an endpoint's samples by tenant as its queue will,
// before relabeling: by tenant_label with remotewrite.SplitByTenant, sorted
// by tenant; without it, all to the tenant of its X-Scope-OrgID header,
// "" if none. header is the request header that names the tenant.
func byTenant(ep config.RemoteWriteConfig, samples []pipeline.Sample) (parts []remotewrite.TenantSamples, header string) {
	if ep.TenantLabel != "" {
		parts = remotewrite.SplitByTenant(slices.Clone(samples), ep.TenantLabel, ep.DefaultTenant)
		slices.SortFunc(parts, func(a, b remotewrite.TenantSamples) int { return strings.Compare(a.Tenant, b.Tenant) })
		return parts, ep.TenantHeader
	}
	header = "X-Scope-OrgID"
	tenant := ""
	for k, v := range ep.Headers {
		if strings.EqualFold(k, header) {
			tenant = v
		}
	}
	return []remotewrite.TenantSamples{{Tenant: tenant, Samples: samples}}, header
}

// endpointURL shows where an endpoint is without what may be secret: no
// userinfo, no query.
func endpointURL(u *commoncfg.URL) string {
	if u == nil || u.URL == nil {
		return ""
	}
	c := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	if u.RawQuery != "" {
		c.RawQuery = "..."
	}
	return c.String()
}

func remoteWriteVersion(message string) string {
	if remotewrite.Message(message) == remotewrite.MessageV2 {
		return "2.0"
	}
	return "1.0"
}

// formatSeries writes labels as exposition text does: name{a="b",c="d"},
// names that are not legacy names quoted inside the braces.
func formatSeries(ls labels.Labels) string {
	var b strings.Builder
	metric := ls.Get(model.MetricNameLabel)
	legacy := model.LegacyValidation.IsValidMetricName(metric)
	if legacy {
		b.WriteString(metric)
	}
	b.WriteByte('{')
	first := true
	sep := func() {
		if !first {
			b.WriteByte(',')
		}
		first = false
	}
	if !legacy {
		sep()
		b.WriteString(quote(metric))
	}
	ls.Range(func(l labels.Label) {
		if l.Name == model.MetricNameLabel {
			return
		}
		sep()
		if model.LegacyValidation.IsValidLabelName(l.Name) {
			b.WriteString(l.Name)
		} else {
			b.WriteString(quote(l.Name))
		}
		b.WriteString("=" + quote(l.Value))
	})
	b.WriteByte('}')
	s := b.String()
	if legacy && strings.HasSuffix(s, "{}") {
		s = s[:len(s)-2]
	}
	return s
}

// quote writes s as a quoted exposition string: only backslash, double
// quote and line feed are escaped.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

// formatValue writes a float as the exposition format does; a native
// histogram, which the text format cannot hold, in PromQL's notation.
func formatValue(s pipeline.Sample) string {
	switch {
	case s.H != nil:
		return s.H.String()
	case s.FH != nil:
		return s.FH.String()
	case math.IsInf(s.V, 1):
		return "+Inf"
	case math.IsInf(s.V, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(s.V, 'g', -1, 64)
}

package main

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"time"
)

// agg is the medians of one forwarder's successful runs at one size.
type agg struct {
	fwd                                       string
	runs, failed                              int
	cpuPerM, rssMiB, delivered, bytesPS, gwMs float64
	cpuPerCycle                               float64
	expected                                  int
	cpuRounds                                 []float64
	firstErr                                  error
	stale, rejected                           int64
	spacingMs                                 int64 // worst over the runs
}

func aggregate(name string, rs []result) agg {
	a := agg{fwd: name}
	var cpu, rss, del, bps, gw, cpc []float64
	for _, r := range rs {
		if r.err != nil {
			a.failed++
			if a.firstErr == nil {
				a.firstErr = r.err
			}
			continue
		}
		a.runs++
		a.expected = r.expected
		cpu = append(cpu, r.cpuPerMillion())
		cpc = append(cpc, r.cpu/r.windowCycles)
		rss = append(rss, float64(r.peakRSS)/(1<<20))
		del = append(del, r.medianDelivered())
		bps = append(bps, r.bytesPerSample())
		gw = append(gw, r.gatewayMsPerCycle())
		a.stale += r.stale
		a.rejected += r.rejected
		a.spacingMs = max(a.spacingMs, r.spacingMs)
	}
	a.cpuPerM, a.rssMiB, a.delivered, a.bytesPS, a.gwMs = median(cpu), median(rss), median(del), median(bps), median(gw)
	a.cpuRounds = cpu
	a.cpuPerCycle = median(cpc)
	return a
}

// bestPeer is the lowest value of a column among the forwarders other than
// the bridge; NaN when none ran.
func bestPeer(as []agg, col func(agg) float64) (float64, string) {
	best, name := math.NaN(), ""
	for _, a := range as {
		if a.fwd == "bridge" || a.runs == 0 {
			continue
		}
		if v := col(a); math.IsNaN(best) || v < best {
			best, name = v, a.fwd
		}
	}
	return best, name
}

func ratio(v, best float64) string {
	if math.IsNaN(best) || best == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", v/best)
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "?"
}

func (r *runner) render(started time.Time, reports []sizeReport, catch []catchResult) string {
	var b strings.Builder
	c := r.cfg
	fmt.Fprintf(&b, "# pushgateway-bridge side-by-side benchmark\n\n")
	fmt.Fprintf(&b, "- date: %s (took %s)\n", started.UTC().Format("2006-01-02 15:04 MST"), time.Since(started).Round(time.Second))
	fmt.Fprintf(&b, "- runner arguments: `%s`\n", c.commandLine)
	fmt.Fprintf(&b, "- machine: %d CPUs (%s), %s/%s; every process on 127.0.0.1\n", runtime.NumCPU(), cpuModel(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&b, "- forwarders: pushgateway-bridge %s; vmagent v1.151.0; Prometheus v0.316.0 (3.16) `--agent`; all scraping every %s, honor_labels\n", orDash(c.bridgeCommit), c.interval)
	fmt.Fprintf(&b, "- Pushgateway: Debian 1.5.1, in memory, `--push.disable-consistency-check`\n")
	fmt.Fprintf(&b, "- per size: %d rounds (forwarder order rotating) × %d measured cycles after 2 warm-up cycles; medians over rounds\n\n", c.rounds, c.cycles)

	type summary struct {
		size                  size
		bridge                agg
		bestCPU, bestRSS      float64
		bestCPUFwd, bestRSSFw string
	}
	var sums []summary
	for _, rep := range reports {
		fmt.Fprintf(&b, "## %d groups × %d series, shape %s\n\n", rep.size.groups, rep.size.series, rep.size.shape)
		fmt.Fprintf(&b, "- load: %s\n", rep.load)
		fmt.Fprintf(&b, "- exposed: %d series of %d groups, %d of the gateway's own\n", rep.exposition.groupSeries, rep.exposition.groups, rep.exposition.ownSeries)
		fmt.Fprintf(&b, "- floor: the Pushgateway's CPU to render /metrics once (protobuf, uncompressed): %.0f ms (%s wall)\n\n",
			rep.floorMs, rep.floorWall.Round(time.Millisecond))
		var as []agg
		for _, f := range c.forwarders {
			as = append(as, aggregate(f.name, rep.results[f.name]))
		}
		bc, _ := bestPeer(as, func(a agg) float64 { return a.cpuPerM })
		br, _ := bestPeer(as, func(a agg) float64 { return a.rssMiB })
		bb, _ := bestPeer(as, func(a agg) float64 { return a.bytesPS })
		bg, _ := bestPeer(as, func(a agg) float64 { return a.gwMs })
		bcc, _ := bestPeer(as, func(a agg) float64 { return a.cpuPerCycle })
		b.WriteString("| forwarder | CPU s / 1M samples | × best peer | CPU s / cycle | × best peer | peak RSS MiB | × best peer | delivered / expected per cycle | bytes / sample | × best peer | Pushgateway CPU ms / cycle | × best peer | × floor |\n")
		b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, a := range as {
			if a.runs == 0 {
				fmt.Fprintf(&b, "| %s | failed: %v | | | | | | | | | | | |\n", a.fwd, oneLine(a.firstErr))
				continue
			}
			fmt.Fprintf(&b, "| %s | %.3f | %s | %.3f | %s | %.0f | %s | %.0f / %d (%.4f) | %.2f | %s | %.0f | %s | %s |\n",
				a.fwd, a.cpuPerM, ratio(a.cpuPerM, bc), a.cpuPerCycle, ratio(a.cpuPerCycle, bcc), a.rssMiB, ratio(a.rssMiB, br),
				a.delivered, a.expected, a.delivered/float64(max(a.expected, 1)),
				a.bytesPS, ratio(a.bytesPS, bb), a.gwMs, ratio(a.gwMs, bg), ratio(a.gwMs, rep.floorMs))
		}
		b.WriteString("\n")
		for _, a := range as {
			if a.runs == 0 {
				continue
			}
			rounds := make([]string, len(a.cpuRounds))
			for i, v := range a.cpuRounds {
				rounds[i] = fmt.Sprintf("%.3f", v)
			}
			note := ""
			if a.failed > 0 {
				note = fmt.Sprintf("; %d run(s) failed: %v", a.failed, oneLine(a.firstErr))
			}
			if a.stale > 0 {
				note += fmt.Sprintf("; %d staleness markers", a.stale)
			}
			if a.rejected > 0 {
				note += fmt.Sprintf("; %d requests refused by the sink (415/400)", a.rejected)
			}
			fmt.Fprintf(&b, "- %s CPU s / 1M per round: %s; cycle spacing off the interval by at most %d ms%s\n", a.fwd, strings.Join(rounds, ", "), a.spacingMs, note)
		}
		b.WriteString("\n")
		if rep.perf != "" {
			b.WriteString(rep.perf + "\n")
		}
		s := summary{size: rep.size}
		for _, a := range as {
			if a.fwd == "bridge" {
				s.bridge = a
			}
		}
		s.bestCPU, s.bestCPUFwd = bestPeer(as, func(a agg) float64 { return a.cpuPerM })
		s.bestRSS, s.bestRSSFw = bestPeer(as, func(a agg) float64 { return a.rssMiB })
		sums = append(sums, s)
	}
	if len(sums) > 1 {
		b.WriteString("## Summary by size\n\n")
		b.WriteString("| size | bridge series / cycle | bridge CPU s / 1M | best peer CPU s / 1M | × | bridge peak RSS MiB | best peer RSS MiB | × |\n")
		b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, s := range sums {
			fmt.Fprintf(&b, "| %s | %.0f | %.3f | %.3f (%s) | %s | %.0f | %.0f (%s) | %s |\n", s.size, s.bridge.delivered,
				s.bridge.cpuPerM, s.bestCPU, s.bestCPUFwd, ratio(s.bridge.cpuPerM, s.bestCPU),
				s.bridge.rssMiB, s.bestRSS, s.bestRSSFw, ratio(s.bridge.rssMiB, s.bestRSS))
		}
		b.WriteString("\n")
	}
	if len(catch) > 0 {
		fmt.Fprintf(&b, "## Catch-up after a %s receiver outage (%s, interval %s)\n\n", c.outage, c.catchupSize, c.interval)
		b.WriteString("Drain: from the sink's recovery until it holds every sample of the cycles scraped during the outage. " +
			"Extra CPU: drain CPU minus the forwarder's CPU rate before the outage over the same time.\n\n")
		b.WriteString("| forwarder | backlog cycles | backlog samples | drain s | drain CPU s | extra CPU s | extra CPU s / 1M backlog | CPU s during outage | peak RSS MiB | pending metric 3 s after |\n")
		b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, x := range catch {
			if x.err != nil && !x.drained && x.backlogCycles == 0 {
				fmt.Fprintf(&b, "| %s | failed: %v | | | | | | | | |\n", x.fwd, oneLine(x.err))
				continue
			}
			extra := x.drainCPU - x.baselineCPU*x.drain.Seconds()
			drain := fmt.Sprintf("%.1f", x.drain.Seconds())
			if !x.drained {
				drain = fmt.Sprintf("> %.0f (%d of %d)", x.drain.Seconds(), x.delivered, x.backlogSamples)
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %s | %.2f | %.2f | %.3f | %.2f | %.0f | %g |\n", x.fwd, x.backlogCycles,
				x.backlogSamples, drain, x.drainCPU, extra, extra/float64(max(x.backlogSamples, 1))*1e6,
				x.outageCPU, float64(x.peakRSS)/(1<<20), x.pendingAtEnd)
		}
		b.WriteString("\n")
	}
	b.WriteString("Machine-readable (one line per forwarder and size):\n\n```\n")
	for _, rep := range reports {
		for _, f := range c.forwarders {
			a := aggregate(f.name, rep.results[f.name])
			b.WriteString(jsonLine{Size: rep.size.String(), Forwarder: a.fwd, CPUPerMillion: round3(a.cpuPerM),
				PeakRSSMiB: round3(a.rssMiB), Delivered: a.delivered, Expected: a.expected,
				BytesPerSample: round3(a.bytesPS), GatewayMs: round3(a.gwMs), Runs: a.runs}.String())
			b.WriteString("\n")
		}
	}
	b.WriteString("```\n")
	return b.String()
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func oneLine(err error) string {
	if err == nil {
		return ""
	}
	return strings.ReplaceAll(strings.ReplaceAll(err.Error(), "\n", " "), "|", "/")
}

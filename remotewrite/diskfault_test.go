package remotewrite

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
)

// These tests use only what the queue had before it recovered from disk
// faults (metrics by name, reasons as strings), so that they can be run
// against the old code to show it failing.

// mountTmpfs mounts a tmpfs of size (as mount takes it: "4m") in a
// temporary directory and returns its path. It needs root, as CI has.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a %s tmpfs on %s: %v: %s\nThis test fills a real file system and needs root to mount one (tests and CI run as root).",
			size, dir, err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		// Lazy: a failed test may leave files open.
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, bytes.TrimSpace(out))
		}
	})
	return dir
}

// gathered returns the value of the series of metric name in reg (the sum,
// if it has several), and whether there is one.
func gathered(t *testing.T, reg *prometheus.Registry, name string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		v := 0.0
		for _, m := range mf.GetMetric() {
			v += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
		return v, len(mf.GetMetric()) > 0
	}
	return 0, false
}

// countDelivered counts the float samples delivered to rc; cheaper than
// rc.deliveredSamples for many.
func countDelivered(rc *receiver) int {
	n := 0
	for _, req := range rc.deliveredRequests() {
		for _, ts := range req.Timeseries {
			n += len(ts.Samples)
		}
	}
	return n
}

// waitLong is waitFor for what takes seconds under the race detector: it
// checks cond every 100ms, for up to a minute.
func waitLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestQueueDiskFull fills a real 4 MiB file system through the queue while
// the receiver answers 503, with the default bound of 1 GiB: appends fail
// with ENOSPC. Then the receiver recovers. Everything that was on disk
// before the disk filled must arrive, appends must succeed again once that
// frees the space, and what could not be written is counted as disk_full.
func TestQueueDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "4m")
	rc := newReceiver(t)
	rc.setFallback(status(http.StatusServiceUnavailable))
	const nseries = 1000
	o := testOptions(t, rc)
	o.Dir = filepath.Join(dir, "queue")
	// One request per cycle: a cycle is on disk whole or not at all.
	o.MinShards, o.MaxShards = 1, 1
	o.MaxSamplesPerSend, o.Capacity = nseries, nseries
	var logs syncBuffer
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	reg := o.Registerer.(*prometheus.Registry)
	q := mustQueue(t, o)
	stop := run(t, q)

	// Each series has a random label value, so that a request does not
	// compress much and few cycles fill the disk.
	series := seriesSet(nseries)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i, ls := range series {
		pad := make([]byte, 48)
		for j := range pad {
			pad[j] = 'a' + byte(rnd.IntN(26))
		}
		series[i] = labels.NewBuilder(ls).Set("pad", string(pad)).Labels()
	}
	diskFull := func() float64 { return testutil.ToFloat64(q.m.samplesDropped.WithLabelValues("disk_full")) }
	dropped := func() float64 {
		return diskFull() + testutil.ToFloat64(q.m.samplesDropped.WithLabelValues("disk_write_error"))
	}
	appendCycle := func(ts int64) (ok bool) {
		t.Helper()
		before := dropped()
		q.Append(cycle(series, ts))
		switch d := dropped() - before; d {
		case 0:
			return true
		case nseries:
			return false
		default:
			t.Fatalf("cycle %d: %v samples dropped, want all or none", ts, d)
			return false
		}
	}

	// Fill the disk, and go on a little.
	var onDisk []int64
	ts := int64(0)
	for fails := 0; fails < 3; {
		if ts++; ts > 5000 {
			t.Fatalf("%d cycles on a 4 MiB disk and no append failed", ts)
		}
		if appendCycle(ts) {
			if fails > 0 {
				t.Fatalf("cycle %d written after a failed one, with the receiver down", ts)
			}
			onDisk = append(onDisk, ts)
		} else {
			fails++
		}
	}
	t.Logf("%d cycles on disk, then the disk was full", len(onDisk))
	if got := diskFull(); got != 3*nseries {
		t.Errorf(`samples_dropped_total{reason="disk_full"} = %v, want %d`, got, 3*nseries)
	}
	if got, ok := gathered(t, reg, "pushgateway_bridge_remote_write_queue_disk_failing"); !ok || got != 1 {
		t.Errorf("queue_disk_failing = %v (found: %v) while the disk is full, want 1", got, ok)
	}
	if !strings.Contains(logs.String(), "no space left on device") {
		t.Errorf("no log line says the disk is full:\n%.2000s", logs.String())
	}

	rc.setFallback(status(http.StatusNoContent))
	waitLong(t, "what was on disk delivered", func() bool {
		return countDelivered(rc) >= len(onDisk)*nseries
	})
	waitLong(t, "the queue empty", func() bool { return q.Pending() == 0 })

	// Sending freed the space: appends work again, and are sent.
	var later []int64
	for range 5 {
		ts++
		if !appendCycle(ts) {
			t.Fatalf("cycle %d dropped after the disk had room again", ts)
		}
		later = append(later, ts)
	}
	want := slices.Concat(onDisk, later)
	waitLong(t, "the later cycles delivered", func() bool {
		return countDelivered(rc) >= len(want)*nseries
	})
	checkDelivered(t, rc.deliveredTimestamps(), nseries, want, true)
	if got, ok := gathered(t, reg, "pushgateway_bridge_remote_write_queue_disk_failing"); !ok || got != 0 {
		t.Errorf("queue_disk_failing = %v (found: %v) after the disk had room again, want 0", got, ok)
	}
	if got := dropped(); got != 3*nseries {
		t.Errorf("samples dropped on disk errors = %v, want %d", got, 3*nseries)
	}

	stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.Flush(ctx); err != nil {
		t.Errorf("Flush: %v", err)
	}
}

// TestQueueCorruptSegment damages a record in the middle of a segment
// between two runs of a queue: the next run logs and counts the corruption,
// with the segment and offset, and sends every other record, those after
// the damaged one too.
func TestQueueCorruptSegment(t *testing.T) {
	// A receiver of its own for each run: a request of the first run
	// may still be answered after it stopped.
	down := newReceiver(t)
	down.setFallback(status(http.StatusServiceUnavailable))
	const nseries = 10
	o := testOptions(t, down)
	o.MinShards, o.MaxShards = 1, 1
	o.MaxSamplesPerSend = nseries
	series := seriesSet(nseries)

	q := mustQueue(t, o)
	stop := run(t, q)
	for ts := int64(1); ts <= 6; ts++ {
		q.Append(cycle(series, ts))
	}
	stop()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	_ = q.Flush(done) // leaves everything on disk

	// Flip bytes in the middle of the body of the third record (cycle 3).
	segs := segments(t, o.Dir)
	if len(segs) != 1 {
		t.Fatalf("%d segments, want 1", len(segs))
	}
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(bytes.NewReader(b))
	var offs []int64
	var off int64
	for {
		_, n, err := readRecord(br, nil)
		if err != nil {
			break
		}
		offs = append(offs, off)
		off += n
	}
	if len(offs) != 6 {
		t.Fatalf("%d records on disk, want 6", len(offs))
	}
	mid := (offs[2] + offs[3]) / 2
	for i := mid; i < mid+4; i++ {
		b[i] ^= 0xff
	}
	if err := os.WriteFile(segs[0], b, 0o644); err != nil {
		t.Fatal(err)
	}

	rc := newReceiver(t)
	o2 := testOptions(t, rc)
	o2.Dir = o.Dir
	o2.MinShards, o2.MaxShards = 1, 1
	o2.MaxSamplesPerSend = nseries
	var logs syncBuffer
	o2.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	reg := o2.Registerer.(*prometheus.Registry)
	q2 := mustQueue(t, o2)
	stop2 := run(t, q2)
	want := []int64{1, 2, 4, 5, 6}
	waitLong(t, "the records around the damaged one delivered", func() bool {
		return countDelivered(rc) >= len(want)*nseries
	})
	checkDelivered(t, rc.deliveredTimestamps(), nseries, want, true)
	if got, ok := gathered(t, reg, "pushgateway_bridge_remote_write_queue_disk_corrupt_segments_total"); !ok || got != 1 {
		t.Errorf("queue_disk_corrupt_segments_total = %v (found: %v), want 1", got, ok)
	}
	wantLog := fmt.Sprintf("segment=%s offset=%d", filepath.Base(segs[0]), offs[2])
	if n := strings.Count(logs.String(), "corrupt"); n != 1 || !strings.Contains(logs.String(), wantLog) {
		t.Errorf("logged %d lines on corruption, want 1 with %q:\n%s", n, wantLog, logs.String())
	}
	stop2()
	ctx, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := q2.Flush(ctx); err != nil {
		t.Errorf("Flush: %v", err)
	}
}

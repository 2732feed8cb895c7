//go:build unix

package remotewrite

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"
	"syscall"
	"testing"
	"time"
)

// drainSinkEnv, when set, makes the test binary a remote write sink (see
// serveDrainSink) instead of running tests: the drain benchmark runs its
// receiver in another process, so that the CPU it measures is the queue's.
const drainSinkEnv = "PGB_REMOTEWRITE_DRAIN_SINK"

// serveDrainSink answers every request 204, with the 2.0 written-samples
// headers, after reading its body, until its stdin closes. It prints its
// address on stdout first.
func serveDrainSink() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(ln.Addr().String())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		// More than any request holds: a 2.0 request counts as written.
		w.Header().Set(headerSamplesWritten, "1000000000")
		w.Header().Set(headerHistogramsWritten, "1000000000")
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = srv.Close()
	}()
	_ = srv.Serve(ln)
	return 0
}

// startDrainSink starts the test binary as a sink and returns its URL.
func startDrainSink(b *testing.B) *url.URL {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), drainSinkEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("sink address: %v", err)
	}
	u, err := url.Parse("http://" + strings.TrimSpace(addr) + "/api/v1/write")
	if err != nil {
		b.Fatal(err)
	}
	return u
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDrain is the catch-up after a receiver outage at 100k series: 40
// cycles of 100k samples wait in the on-disk queue (appended while nothing
// sends, as during an outage), then the queue runs and sends them to a sink
// in another process that answers 204. It reports the process CPU time of
// the drain (cpu-ns/op: Run's goroutines, the sink excluded) and the
// samples drained per second of wall time.
func BenchmarkDrain(b *testing.B) {
	const (
		cycles = 40
		nser   = 100_000
	)
	series := seriesSet(nser)
	u := startDrainSink(b)
	for _, c := range []struct {
		msg     Message
		perSend int
	}{
		{MessageV1, 2000},
		{MessageV1, 10000},
		{MessageV2, 10000},
	} {
		b.Run(fmt.Sprintf("%s/per-send=%d", c.msg, c.perSend), func(b *testing.B) {
			var cpu time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				q, err := NewQueue(Options{
					URL: u, Name: "bench", Dir: b.TempDir(), Message: c.msg,
					Client:            &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 100}},
					MaxSamplesPerSend: c.perSend,
				})
				if err != nil {
					b.Fatal(err)
				}
				for t := range cycles {
					if err := q.Append(stamped{series, int64(t+1) * 15000}); err != nil {
						b.Fatal(err)
					}
				}
				if p := q.Pending(); p != cycles*nser {
					b.Fatalf("pending %d after filling, want %d", p, cycles*nser)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				b.StartTimer()
				start := cpuTime()
				// Labelled for the profile: -tagfocus=phase=drain shows the
				// drain alone, HTTP transport goroutines included.
				go pprof.Do(ctx, pprof.Labels("phase", "drain"), func(ctx context.Context) { done <- q.Run(ctx) })
				for q.Pending() > 0 {
					time.Sleep(5 * time.Millisecond)
				}
				cpu += cpuTime() - start
				b.StopTimer()
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				if err := q.Flush(context.Background()); err != nil {
					b.Fatal(err)
				}
				if d := q.Status().Dropped; len(d) > 0 {
					b.Fatalf("dropped %v", d)
				}
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(cycles*nser)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}

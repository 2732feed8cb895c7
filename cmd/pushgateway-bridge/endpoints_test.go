package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/oklog/run"

	"github.com/pushgateway-bridge/pushgateway-bridge/pipeline"
	"github.com/pushgateway-bridge/pushgateway-bridge/remotewrite"
)

// downEndpoint is an endpoint whose receiver is down: Flush sends nothing
// and returns when its context ends. It notes when Run and Flush ran.
type downEndpoint struct {
	name string

	mu                       sync.Mutex
	runStopped, flushStarted time.Time
	appended                 int
}

func (e *downEndpoint) Append(pipeline.Samples) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.appended++
	return nil
}

func (e *downEndpoint) Run(ctx context.Context) error {
	<-ctx.Done()
	e.mu.Lock()
	e.runStopped = time.Now()
	e.mu.Unlock()
	return nil
}

func (e *downEndpoint) Flush(ctx context.Context) error {
	e.mu.Lock()
	e.flushStarted = time.Now()
	e.mu.Unlock()
	<-ctx.Done()
	return errors.New("10 samples left unsent on disk")
}

func (e *downEndpoint) Status() remotewrite.QueueStatus { return remotewrite.QueueStatus{Name: e.name} }
func (e *downEndpoint) DiskHealthy() error              { return nil }

// TestShutdownFlushesEndpointsTogether runs the shutdown of serve with
// three endpoints whose receivers are down: the loop stops first (it takes
// a while, as a cycle under way does), then every endpoint flushes at once,
// so shutdown takes one flush deadline, not three; the web server stops
// after the flushes.
func TestShutdownFlushesEndpointsTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const deadline = time.Minute
		eps := []*downEndpoint{{name: "a"}, {name: "b"}, {name: "c"}}
		queues := make([]endpoint, len(eps))
		for i, e := range eps {
			queues[i] = e
		}
		var g run.Group
		stop := make(chan struct{})
		g.Add(func() error { <-stop; return nil }, func(error) {}) // the signal
		loopStopped := make(chan struct{})
		var loopEnd time.Time
		g.Add(func() error {
			<-stop
			time.Sleep(3 * time.Second) // the cycle under way
			for _, e := range eps {
				_ = e.Append(pipeline.SampleSlice{})
			}
			loopEnd = time.Now()
			close(loopStopped)
			return nil
		}, func(error) { <-loopStopped })
		addEndpoints(&g, queues, loopStopped, deadline, slog.New(slog.DiscardHandler))
		webDone := make(chan struct{})
		var webStopped time.Time
		g.Add(func() error { <-webDone; return nil }, func(error) {
			webStopped = time.Now()
			close(webDone)
		})

		start := time.Now()
		close(stop)
		if err := g.Run(); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 3*time.Second+deadline {
			t.Errorf("shutdown took %v with 3 endpoints down, want the loop's 3s and one flush deadline (%v)", took, deadline)
		}
		for _, e := range eps {
			if e.flushStarted.Before(loopEnd) {
				t.Errorf("endpoint %s flushed at %v, before the loop stopped at %v", e.name, e.flushStarted.Sub(start), loopEnd.Sub(start))
			}
			if !e.flushStarted.Equal(eps[0].flushStarted) {
				t.Errorf("endpoint %s flushed at %v, endpoint a at %v, want together", e.name, e.flushStarted.Sub(start), eps[0].flushStarted.Sub(start))
			}
		}
		if webStopped.Before(eps[0].flushStarted.Add(deadline)) {
			t.Errorf("web server stopped at %v, before the flushes ended", webStopped.Sub(start))
		}
	})
}

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"

	"github.com/pushgateway-bridge/pushgateway-bridge/bridge"
	"github.com/pushgateway-bridge/pushgateway-bridge/config"
	"github.com/pushgateway-bridge/pushgateway-bridge/pushgateway"
	"github.com/pushgateway-bridge/pushgateway-bridge/remotewrite"
)

// endpoint is the delivery to one remote_write endpoint: a
// *remotewrite.Queue, or a *remotewrite.Tenants when it sets tenant_label.
type endpoint interface {
	bridge.Sender
	Run(ctx context.Context) error
	Flush(ctx context.Context) error
	Status() remotewrite.QueueStatus
	DiskHealthy() error
}

var (
	_ endpoint            = (*remotewrite.Queue)(nil)
	_ endpoint            = (*remotewrite.Tenants)(nil)
	_ bridge.Source       = (*pushgateway.Client)(nil)
	_ bridge.GroupDeleter = (*pushgateway.Client)(nil)
)

// newQueue builds the queue of one endpoint from its configuration, one
// queue per tenant if it sets tenant_label.
func newQueue(ep config.RemoteWriteConfig, s *settings, userAgent string, logger *slog.Logger, reg prometheus.Registerer) (endpoint, error) {
	client, err := commoncfg.NewClientFromConfig(ep.HTTPClientConfig, "remote_write_"+ep.Name)
	if err != nil {
		return nil, fmt.Errorf("HTTP client: %w", err)
	}
	qc := ep.QueueConfig
	escaping, err := ep.NameEscaping()
	if err != nil {
		return nil, err
	}
	o := remotewrite.Options{
		URL:               ep.URL.URL,
		Name:              ep.Name,
		Dir:               filepath.Join(s.storagePath, "queue", remotewrite.DirName(ep.Name)),
		MaxDiskBytes:      int64(s.queueMaxBytes),
		Client:            client,
		Headers:           ep.Headers,
		Message:           remotewrite.Message(ep.ProtobufMessage),
		ExternalLabels:    s.cfg.Global.ExternalLabels,
		RelabelConfigs:    ep.WriteRelabelConfigs,
		Timeout:           time.Duration(ep.RemoteTimeout),
		MaxSamplesPerSend: qc.MaxSamplesPerSend,
		Capacity:          qc.Capacity,
		MinShards:         qc.MinShards,
		MaxShards:         qc.MaxShards,
		MinBackoff:        time.Duration(qc.MinBackoff),
		MaxBackoff:        time.Duration(qc.MaxBackoff),
		RetryOnHTTP429:    qc.RetryOnHTTP429,
		SendExemplars:     ep.SendExemplars,
		NameEscaping:      escaping,
		Metadata: remotewrite.MetadataOptions{
			Send:       ep.MetadataConfig.Send,
			Interval:   time.Duration(ep.MetadataConfig.SendInterval),
			MaxPerSend: ep.MetadataConfig.MaxSamplesPerSend,
		},
		UserAgent:  userAgent,
		Logger:     logger.With("component", "remotewrite", "remote_name", ep.Name),
		Registerer: reg,
	}
	if ep.TenantLabel == "" {
		q, err := remotewrite.NewQueue(o)
		if err != nil {
			return nil, err
		}
		return q, nil
	}
	t, err := remotewrite.NewTenants(o, remotewrite.TenantOptions{
		Label:      ep.TenantLabel,
		Header:     ep.TenantHeader,
		Default:    ep.DefaultTenant,
		MaxTenants: ep.MaxTenants,
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// addEndpoints adds to g one actor for every endpoint's queue: it runs them
// until interrupted, then, once the loop has stopped (loopStopped closed: no
// cycle appends any more), flushes all of them at once under one shared
// deadline, so that N endpoints take one deadline at most, not N. Its
// interrupt returns when the flushes have ended: actors added after it (the
// web server) stop after them.
func addEndpoints(g *run.Group, eps []endpoint, loopStopped <-chan struct{}, deadline time.Duration, logger *slog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	g.Add(func() error {
		defer close(done)
		return runEndpoints(ctx, eps, loopStopped, deadline, logger)
	}, func(error) {
		cancel()
		<-done
	})
}

// runEndpoints runs every endpoint until ctx ends, then flushes them in
// parallel once loopStopped is closed, under one deadline.
func runEndpoints(ctx context.Context, eps []endpoint, loopStopped <-chan struct{}, deadline time.Duration, logger *slog.Logger) error {
	errs := make([]error, len(eps))
	var wg sync.WaitGroup
	for i, ep := range eps {
		wg.Go(func() { errs[i] = ep.Run(ctx) })
	}
	wg.Wait()
	<-loopStopped
	fctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	for _, ep := range eps {
		wg.Go(func() {
			if err := ep.Flush(fctx); err != nil {
				logger.Warn("samples left unsent at shutdown", "component", "remotewrite", "remote_name", ep.Status().Name, "err", err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

package main

import (
	"context"
	"fmt"
	"hash/crc32"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"

	"github.com/pushgateway-bridge/pushgateway-bridge/bridge"
	"github.com/pushgateway-bridge/pushgateway-bridge/config"
	"github.com/pushgateway-bridge/pushgateway-bridge/remotewrite"
)

// endpoint is the delivery to one remote_write endpoint: a
// *remotewrite.Queue, or a *remotewrite.Tenants when it sets tenant_label.
type endpoint interface {
	bridge.Sender
	Run(ctx context.Context) error
	Flush(ctx context.Context) error
	Status() remotewrite.QueueStatus
}

var (
	_ endpoint = (*remotewrite.Queue)(nil)
	_ endpoint = (*remotewrite.Tenants)(nil)
)

// newQueue builds the queue of one endpoint from its configuration, one
// queue per tenant if it sets tenant_label.
func newQueue(ep config.RemoteWriteConfig, s *settings, userAgent string, logger *slog.Logger, reg prometheus.Registerer) (endpoint, error) {
	client, err := commoncfg.NewClientFromConfig(ep.HTTPClientConfig, "remote_write_"+ep.Name)
	if err != nil {
		return nil, fmt.Errorf("HTTP client: %w", err)
	}
	qc := ep.QueueConfig
	o := remotewrite.Options{
		URL:               ep.URL.URL,
		Name:              ep.Name,
		Dir:               filepath.Join(s.storagePath, "queue", dirName(ep.Name)),
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

// dirName turns an endpoint name into a directory name: safe characters
// kept, others replaced, and a hash of the name so that two names never
// share a directory.
func dirName(name string) string {
	safe := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') {
			return r
		}
		return '_'
	}, name)
	return fmt.Sprintf("%s-%08x", safe, crc32.ChecksumIEEE([]byte(name)))
}

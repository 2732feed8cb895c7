#!/usr/bin/env bash
# demo.sh runs pushgateway-bridge end to end against real local peers:
# Debian's Pushgateway and a Prometheus receiving remote write, both on
# 127.0.0.1 in a temporary folder. It pushes two example batch jobs (one whose
# last push failed), runs the bridge, deletes one group, and prints PromQL
# results along the way. Everything it starts is stopped when it exits.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=$(scripts/peers.sh demo | tail -n 1)
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
  shuf -i 20000-60000 -n 1; }
wait_http() { for _ in $(seq 1 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "demo: $1 did not answer" >&2; exit 1; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

PGW_PORT=$(free_port); PROM_PORT=$(free_port); BRIDGE_PORT=$(free_port)
PGW=http://127.0.0.1:$PGW_PORT PROM=http://127.0.0.1:$PROM_PORT BRIDGE=http://127.0.0.1:$BRIDGE_PORT

echo "demo: building the bridge"
go build -o "$WORK/pushgateway-bridge" ./cmd/pushgateway-bridge

"$BIN/prometheus-pushgateway" --web.listen-address="127.0.0.1:$PGW_PORT" >"$WORK/pushgateway.log" 2>&1 &
PIDS+=($!)
echo 'global: {}' >"$WORK/prometheus.yml"
"$BIN/prometheus" --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --web.enable-remote-write-receiver \
  --enable-feature=native-histograms >"$WORK/prometheus.log" 2>&1 &
PIDS+=($!)
wait_http "$PGW/-/ready"; wait_http "$PROM/-/ready"

say "Two batch jobs push to the Pushgateway at $PGW"
cat <<'EOM' | curl -fsS --data-binary @- "$PGW/metrics/job/nightly_backup/instance/db-7"
# TYPE backup_bytes gauge
backup_bytes 1.2e9
# TYPE backup_duration_seconds gauge
backup_duration_seconds 312
EOM
echo 'report_rows 4200' | curl -fsS --data-binary @- "$PGW/metrics/job/daily_report"
echo 'nightly_backup{instance="db-7"}: ok; daily_report: ok'
echo 'daily_report pushes again, with a timestamp the Pushgateway refuses; it records a failed push:'
echo 'report_rows 4300 1700000000000' | curl -sS --data-binary @- "$PGW/metrics/job/daily_report" || true

say "The bridge scrapes every 2s and remote-writes to Prometheus at $PROM"
echo "By default it adds two series per group (up and age); here also the status and pushes kinds."
"$WORK/pushgateway-bridge" --pushgateway.url="$PGW" --remote-write.url="$PROM/api/v1/write" \
  --synth.series=status,pushes --scrape.interval=2s --web.listen-address="127.0.0.1:$BRIDGE_PORT" --storage.path="$WORK/data" >"$WORK/bridge.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do curl -fsS -o /dev/null "$BRIDGE/-/ready" 2>/dev/null && break; sleep 0.1; done
sleep 3

q() { echo "\$ promtool query instant '$1'"; "$BIN/promtool" query instant "$PROM" "$1" | sed 's/^/  /'; }
say "Per-group up: 1 for the backup, 0 for the report whose last push failed"
q 'up'
say "Why: the status series with value 1 (ok, failed, too_old, missing, expired or over_limit)"
q 'pushgateway_group_status == 1'
say "Freshness: seconds since each group's last successful push"
q 'pushgateway_group_age_seconds'
say "Pushes the bridge observed per group (successful, failed)"
q 'pushgateway_group_pushes_total'
q 'pushgateway_group_failed_pushes_total'
say "The pushed series, without the instance=\"\" the Pushgateway adds"
q '{__name__=~"backup_.*|report_rows"}'
sleep 2
say "Freshness grows with every cycle"
q 'pushgateway_group_age_seconds'

say "The backup group is deleted from the Pushgateway"
curl -fsS -X DELETE "$PGW/metrics/job/nightly_backup/instance/db-7"
sleep 3
say "Its series and its up are gone at once (staleness markers), no 5-minute lookback"
q '{job="nightly_backup"}'
q 'up'
say "The bridge's own view: the status page at $BRIDGE/ and $BRIDGE/metrics"
curl -fsS "$BRIDGE/metrics" | grep -E '^pushgateway_bridge_(cycle_groups|cycle_series|cycle_stale_markers_total|remote_write_samples_sent_total)' | sed 's/^/  /'
echo
echo "demo: done"

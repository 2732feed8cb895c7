#!/usr/bin/env bash
# bench/backfill.sh measures the bridge filling its own downtime at scale:
# a Pushgateway holding BF_GROUPS x BF_SERIES (pgwload), a counting receiver
# (rwsink), the bridge at INTERVAL. The bridge runs a few cycles, is killed
# with SIGKILL, stays down for DOWN and is started again. The script
# reports, from the receiver's per-timestamp counts, how many missed ticks
# arrived and how many of them whole, samples dropped by the bridge, how long
# the fill took, and whether the live cycles kept their interval.
#
# 120 ticks at 2 s hold as many samples as 30 minutes at 15 s (at 1 s a
# scrape of 100k series can miss its timeout on a busy 2-core machine); the groups
# must be pushed before the bridge goes down for the ticks to have anything
# to fill, so the downtime is real, not faked.
#
#   bench/backfill.sh                      # 1000 x 100 (100k series), down 242s at 2s: 120 ticks
#   INTERVAL=15s DOWN=30m bench/backfill.sh # the same ticks in real time
#
# Env: BRIDGE_BIN (default: build ./cmd/pushgateway-bridge), BF_GROUPS, BF_SERIES,
#      INTERVAL (2s), DOWN (242s), LIVE (live cycles to watch after the fill, 3).
# Everything listens on 127.0.0.1 and is stopped when the script ends.
set -euo pipefail
cd "$(dirname "$0")/.."

BF_GROUPS=${BF_GROUPS:-1000} BF_SERIES=${BF_SERIES:-100} INTERVAL=${INTERVAL:-2s} DOWN=${DOWN:-242s} LIVE=${LIVE:-3}
secs() { case $1 in *m) echo $((${1%m} * 60)) ;; *s) echo "${1%s}" ;; *) echo "$1" ;; esac; }
interval_s=$(secs "$INTERVAL") down_s=$(secs "$DOWN")

WORK=$(mktemp -d /tmp/pgw-backfill.XXXXXX)
echo "backfill: work folder $WORK" >&2
PEERS_BIN=$(scripts/peers.sh demo | tail -n 1)
go build -o "$WORK/" ./bench/cmd/pgwload ./bench/cmd/rwsink
bridge=${BRIDGE_BIN:-}
if [ -z "$bridge" ]; then
  go build -o "$WORK/pushgateway-bridge" ./cmd/pushgateway-bridge
  bridge="$WORK/pushgateway-bridge"
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 600); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "backfill: $1 not up" >&2; return 1; }

pgw=127.0.0.1:$(port) sink=127.0.0.1:$(port) web=127.0.0.1:$(port)
"$PEERS_BIN/prometheus-pushgateway" --web.listen-address="$pgw" --persistence.file= --push.disable-consistency-check >"$WORK/pushgateway.log" 2>&1 &
pids+=($!)
"$WORK/rwsink" -listen "$sink" >"$WORK/rwsink.log" 2>&1 &
pids+=($!)
wait_http "http://$pgw/-/ready"
wait_http "http://$sink/stats"
"$WORK/pgwload" -url "http://$pgw" -groups "$BF_GROUPS" -series "$BF_SERIES" | tail -n 1 >"$WORK/load.json"

start_bridge() {
  "$bridge" --pushgateway.url="http://$pgw" --remote-write.url="http://$sink/api/v1/write" \
    --storage.path="$WORK/data" --scrape.interval="$INTERVAL" --backfill.max-window=2h \
    --web.listen-address="$web" >>"$WORK/bridge.log" 2>&1 &
  bridge_pid=$!
  pids+=($bridge_pid)
}
metric() { curl -fsS "http://$web/metrics" | awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $2 } END { print s + 0 }'; }
dropped() { curl -fsS "http://$web/metrics" | awk '/^pushgateway_bridge_remote_write_samples_dropped_total/ { s += $2 } END { print s + 0 }'; }

start_bridge
wait_http "http://$web/-/ready"
# Wait until the first cycle is on the receiver, then kill -9.
for _ in $(seq 1 600); do
  [ "$(curl -fsS "http://$sink/stats" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["cycles"] or []))')" -ge 1 ] && break
  sleep 0.1
done
kill -9 "$bridge_pid"
wait "$bridge_pid" 2>/dev/null || true
curl -fsS -X POST "http://$sink/reset" >/dev/null
last_ms=$(python3 -c "import struct,sys; print(struct.unpack('<Q', open('$WORK/data/state.last-cycle','rb').read())[0])")
new_ms=$last_ms
sleep "$down_s"
t0=$(date +%s.%N)
start_bridge
wait_http "http://$web/-/ready"
t_ready=$(date +%s.%N)
# Wait until the queue has sent everything (at most 5 minutes), then watch
# LIVE live cycles.
for _ in $(seq 1 300); do
  [ "$(metric pushgateway_bridge_remote_write_pending_samples)" = 0 ] && break
  sleep 1
done
t_drained=$(date +%s.%N)
sleep $((interval_s * LIVE + 1))
curl -fsS "http://$sink/stats" >"$WORK/stats.json"
backfilled=$(metric pushgateway_bridge_backfill_samples_total)
drops=$(dropped)
kill -TERM "$bridge_pid"; wait "$bridge_pid" 2>/dev/null || true

python3 - "$WORK/stats.json" "$WORK/load.json" "$new_ms" "$last_ms" "$interval_s" "$BF_GROUPS" "$backfilled" "$drops" "$t0" "$t_ready" "$t_drained" <<'EOF'
import json, sys
stats, load = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
new_ms, last_ms, interval, groups = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
backfilled, drops, t0, t_ready, t_drained = (float(a) for a in sys.argv[7:12])
cycles = sorted(stats["cycles"] or [], key=lambda c: c["timestamp_ms"])
fill = [c for c in cycles if last_ms < c["timestamp_ms"] < t0 * 1000]
live = [c for c in cycles if c["timestamp_ms"] >= t0 * 1000]
# A filled tick holds what a live cycle does (expected_bridge) but
# pushgateway_up: the gateway's reachability then is unknown.
per_tick = load["expected_bridge"] - 1
# Since the start: live cycles (with pushgateway_up) and ticks filled after
# a late live cycle (without it).
live_whole = sum(1 for c in live if c["samples"] == per_tick + 1)
late_fill = sum(1 for c in live if c["samples"] == per_tick)
want_ticks = len(range(new_ms + interval * 1000, int(t0 * 1000) - interval * 500, interval * 1000))
whole = sum(1 for c in fill if c["samples"] == per_tick)
dups = sum(1 for c in fill if c["samples"] > per_tick)
short = sum(1 for c in fill if c["samples"] < per_tick)
gaps = [(b["timestamp_ms"] - a["timestamp_ms"]) / 1000 for a, b in zip(live, live[1:])]
print("| figure | value |")
print("| --- | ---: |")
print(f"| missed ticks (down {t0 - last_ms / 1000:.0f} s at {interval} s) | {want_ticks} |")
print(f"| ticks filled | {len(fill)} |")
print(f"| ticks filled whole ({per_tick} samples each) | {whole} |")
print(f"| ticks with fewer samples (lost) | {short} |")
print(f"| ticks with more samples than a whole one (duplicates) | {dups} |")
print(f"| samples filled (pushgateway_bridge_backfill_samples_total) | {backfilled:.0f} |")
print(f"| samples dropped (pushgateway_bridge_remote_write_samples_dropped_total) | {drops:.0f} |")
print(f"| start to ready (fill and first live cycle handed over) | {t_ready - t0:.1f} s |")
print(f"| start to everything sent | {t_drained - t0:.1f} s |")
print(f"| ticks since the start: live cycles whole, ticks filled after a late cycle, other | {live_whole}, {late_fill}, {len(live) - live_whole - late_fill} |")
print(f"| spacing of the ticks since the start: min, max | {min(gaps, default=0):.3f} s, {max(gaps, default=0):.3f} s |")
EOF

#!/usr/bin/env bash
# bench/run.sh is the one command of the side-by-side benchmark: it builds the
# bridge, the load tool (pgwload), the counting sink (rwsink) and the runner
# (benchrun), builds or reuses the peers (bench/peers.sh: vmagent v1.151.0,
# Prometheus v0.316.0, Debian's Pushgateway 1.5.1), and runs benchrun with
# the flags given; the report (markdown) goes to stdout, progress to stderr.
#
#   bench/run.sh -quick                                  # smoke test, ~1 minute
#   bench/run.sh -sizes 1000x100,10000x100 -interval 15s -rounds 3 -cycles 4
#   bench/run.sh -sizes 1000x100:onefamily,5000x20:batch -forwarders bridge,vmagent   # load shapes
#   bench/run.sh -shape longlabels -sizes 1000x100         # -shape: the shape of sizes that name none
#   bench/run.sh -sizes= -catchup -catchup-size 1000x100 -outage 10m
#   bench/run.sh -h                                      # every flag
#
# Env: BRIDGE_BIN  use this bridge binary instead of building ./cmd/pushgateway-bridge
#      BENCH_WORK  work folder (logs, data; default a new one under /tmp, kept)
# Everything listens on 127.0.0.1 and is stopped when the runner ends.
set -euo pipefail
cd "$(dirname "$0")/.."

WORK=${BENCH_WORK:-$(mktemp -d /tmp/pgw-bench.XXXXXX)}
mkdir -p "$WORK/bin"
echo "bench: work folder $WORK" >&2

PEERS_BIN=$(bench/peers.sh | tail -n 1)

go build -o "$WORK/bin/" ./bench/cmd/pgwload ./bench/cmd/rwsink ./bench/cmd/benchrun
if [ -n "${BRIDGE_BIN:-}" ]; then
  bridge=$BRIDGE_BIN
  version="$BRIDGE_BIN"
else
  go build -o "$WORK/bin/pushgateway-bridge" ./cmd/pushgateway-bridge
  bridge="$WORK/bin/pushgateway-bridge"
  version="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  if [ -n "$(git status --porcelain -- cmd bridge remotewrite pushgateway synth config go.mod 2>/dev/null)" ]; then
    version="$version+uncommitted changes"
  fi
fi

exec "$WORK/bin/benchrun" \
  -bin-dir "$PEERS_BIN" -bridge "$bridge" -bridge-version "$version" \
  -pgwload "$WORK/bin/pgwload" -rwsink "$WORK/bin/rwsink" -work "$WORK" "$@"

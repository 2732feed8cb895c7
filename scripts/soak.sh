#!/usr/bin/env bash
# soak.sh runs the fault soak (e2e TestSoak, issue 19) for a long time: the
# real bridge between a real Pushgateway and a counting receiver, while a
# driver pushes, PUTs and DELETEs groups and injects every kind of fault
# (kill -9, receiver down / 503 / 429 / slow, gateway down, disk full), then
# an oracle checks what arrived. It prints the seed first and the figures
# last; the same seed replays the same choices.
#
#   scripts/soak.sh                       # 30 minutes, every fault, a new seed
#   SOAK_DURATION=1h SOAK_SEED=42 scripts/soak.sh
#   SOAK_FAULTS=kill,rw-503 scripts/soak.sh
#   SOAK_DUMP=/tmp/run.json scripts/soak.sh  # keep the run; check it again with
#     go test ./e2e/ -run TestSoakReplay -v -soak.replay=/tmp/run.json
#
# Runs as root (it mounts a small tmpfs for the bridge's storage). The short
# version, with the faults the bridge survives today, is part of
# scripts/test.sh's go test ./... .
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${SOAK_DURATION:-30m}
PEERS_BIN=${PEERS_BIN:-$(scripts/peers.sh | tail -n 1)}
export PEERS_BIN

exec go test -count=1 -timeout=0 -run '^TestSoak$' -v ./e2e/ \
  -soak.duration="$duration" \
  -soak.seed="${SOAK_SEED:-0}" \
  -soak.faults="${SOAK_FAULTS:-all}" \
  -soak.groups="${SOAK_GROUPS:-6}" \
  -soak.dump="${SOAK_DUMP:-}"

#!/usr/bin/env bash
# test.sh runs every test of pushgateway-bridge: lint, unit tests with the
# race detector, short fuzz runs of the scrape parsers, the config and a whole
# cycle (scrape, state file, remote-write requests), and the end-to-end
# tests against the real peers, which it fetches first (scripts/peers.sh).
# A peer that cannot be fetched or started fails the run; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

STATICCHECK_VERSION=v0.8.2

echo "--- modules"
go mod download
go mod verify >/dev/null

echo "--- peers"
PEERS_BIN=$(scripts/peers.sh | tail -n 1)
export PEERS_BIN

echo "--- lint"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi
go vet ./...
go run "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" ./...

echo "--- fuzz (scrape parsers, config and a whole cycle)"
# Counted runs, not -fuzztime=10s: a timed run that ends while a worker is
# minimizing a new input fails with "context deadline exceeded" on a loaded
# machine (internal/fuzz), which is no finding. Each takes ~10-25 s here.
fuzz() { go test -run='^$' -fuzz="^$1\$" -fuzztime="$2" -fuzzminimizetime=100x "$3"; }
fuzz FuzzParse 40000x ./pushgateway/
fuzz FuzzParseProtoCache 40000x ./pushgateway/
fuzz FuzzParse 30000x ./config/
fuzz FuzzCycle 300x ./bridge/

echo "--- tests"
go test -race -count=1 -timeout=40m ./...

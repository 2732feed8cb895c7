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

echo "--- fuzz (scrape parsers, config and a whole cycle, 10s each)"
go test -run='^$' -fuzz='^FuzzParse$' -fuzztime=10s ./pushgateway/
go test -run='^$' -fuzz='^FuzzParseProtoCache$' -fuzztime=10s ./pushgateway/
go test -run='^$' -fuzz='^FuzzParse$' -fuzztime=10s ./config/
go test -run='^$' -fuzz='^FuzzCycle$' -fuzztime=10s ./bridge/

echo "--- tests"
go test -race -count=1 -timeout=40m ./...

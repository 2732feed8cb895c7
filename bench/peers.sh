#!/usr/bin/env bash
# bench/peers.sh builds the forwarders the benchmark compares the bridge with,
# once, into the project's cache folder, and fetches Debian's Pushgateway:
#
#   vmagent    go install github.com/VictoriaMetrics/VictoriaMetrics/app/vmagent@v1.151.0
#   prometheus go install github.com/prometheus/prometheus/cmd/prometheus@v0.316.0 (Prometheus 3.16, run with --agent)
#   prometheus-pushgateway  Debian's 1.5.1 (apt-get download + dpkg -x, as scripts/peers.sh does)
#
# Each build goes to <cache>/bench-peers/<name>-<version>/ (GOBIN) and is skipped
# when the binary is there. A Prometheus 3 that scripts/peers.sh already linked
# as $PEERS_DIR/bin/prometheus3 is reused instead of building a second one.
# The builds take several minutes on two cores; run this early.
#
# Usage: bench/peers.sh      # prints the bench bin folder on the last line:
#                            # vmagent, prometheus-agent, prometheus-pushgateway
# Env:   BENCH_PEERS_DIR (default: ${XDG_CACHE_HOME:-$HOME/.cache}/pushgateway-bridge/bench-peers)
#        PEERS_DIR       (scripts/peers.sh's folder, same default parent)
set -euo pipefail

CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/pushgateway-bridge
BENCH_PEERS_DIR=${BENCH_PEERS_DIR:-$CACHE/bench-peers}
PEERS_DIR=${PEERS_DIR:-$CACHE/peers}
BIN="$BENCH_PEERS_DIR/bin"
mkdir -p "$BIN"

VMAGENT_MODULE=github.com/VictoriaMetrics/VictoriaMetrics/app/vmagent
VMAGENT_VERSION=v1.151.0
PROM_MODULE=github.com/prometheus/prometheus/cmd/prometheus
PROM_VERSION=v0.316.0

# gobuild NAME MODULE VERSION BINARY: go install MODULE@VERSION into its own
# GOBIN unless the binary is already there; prints the binary's path.
gobuild() {
  local name=$1 module=$2 version=$3 binary=$4
  local dir="$BENCH_PEERS_DIR/$name-$version"
  if [ ! -x "$dir/$binary" ]; then
    echo "bench-peers: go install $module@$version (takes minutes)" >&2
    mkdir -p "$dir"
    # CGO off: both are pure Go; a static binary does not depend on the host's libc.
    GOBIN="$dir" CGO_ENABLED=0 GOFLAGS=-mod=mod go install "$module@$version" >&2
  fi
  echo "$dir/$binary"
}

vmagent=$(gobuild vmagent "$VMAGENT_MODULE" "$VMAGENT_VERSION" vmagent)
ln -sf "$vmagent" "$BIN/vmagent"

# pinned BINARY MODULE VERSION reports whether BINARY was built from MODULE@VERSION.
pinned() {
  go version -m "$1" 2>/dev/null | grep -qE "^[[:space:]]+mod[[:space:]]+$2[[:space:]]+$3[[:space:]]"
}

if [ -x "$PEERS_DIR/bin/prometheus3" ] && pinned "$PEERS_DIR/bin/prometheus3" github.com/prometheus/prometheus "$PROM_VERSION"; then
  # Built by scripts/peers.sh at the same pinned version: reuse it.
  ln -sf "$(readlink -f "$PEERS_DIR/bin/prometheus3")" "$BIN/prometheus-agent"
else
  prom=$(gobuild prometheus "$PROM_MODULE" "$PROM_VERSION" prometheus)
  ln -sf "$prom" "$BIN/prometheus-agent"
fi

# Debian's Pushgateway: reuse scripts/peers.sh's copy when it has one, else
# fetch it the same way (apt-get download + dpkg -x, no service installed).
if [ -x "$PEERS_DIR/bin/prometheus-pushgateway" ]; then
  ln -sf "$(readlink -f "$PEERS_DIR/bin/prometheus-pushgateway")" "$BIN/prometheus-pushgateway"
elif [ ! -x "$BIN/prometheus-pushgateway" ]; then
  mkdir -p "$BENCH_PEERS_DIR/debs" "$BENCH_PEERS_DIR/root"
  if ! apt-cache show prometheus-pushgateway >/dev/null 2>&1; then
    echo "bench-peers: refreshing apt package lists" >&2
    if [ "$(id -u)" = 0 ]; then apt-get update -qq >&2; else sudo apt-get update -qq >&2; fi
  fi
  (cd "$BENCH_PEERS_DIR/debs" && apt-get download -q prometheus-pushgateway >&2)
  for deb in "$BENCH_PEERS_DIR"/debs/prometheus-pushgateway_*.deb; do
    dpkg -x "$deb" "$BENCH_PEERS_DIR/root"
  done
  ln -sf "$BENCH_PEERS_DIR/root/usr/bin/prometheus-pushgateway" "$BIN/prometheus-pushgateway"
fi

for b in vmagent prometheus-agent prometheus-pushgateway; do
  "$BIN/$b" --version >/dev/null 2>&1 || "$BIN/$b" -version >/dev/null 2>&1 ||
    { echo "bench-peers: $BIN/$b does not run" >&2; exit 1; }
done
echo "$BIN"

#!/usr/bin/env bash
# peers.sh fetches the real peers the end-to-end tests and the demo run against,
# into a cache folder, without installing services or touching system paths:
# Debian's prometheus-pushgateway, prometheus (2.x) and victoria-metrics
# (apt-get download + dpkg -x), and Prometheus 3 built from the Go module proxy
# into its own folder, linked as bin/prometheus3 so that it does not clash with
# Debian's prometheus, and the newest Pushgateway the same way, linked as
# bin/pushgateway-1.11.5, and Thanos and Cortex built from their modules'
# folders, linked as bin/thanos and bin/cortex. The first builds of
# Prometheus 3, Thanos and Cortex take several minutes each; later runs
# reuse them.
#
# Debian's chromium, for the status page's browser test, and podman, which
# builds the container image for the image test, are the exceptions: they
# depend on shared libraries, helpers and configuration under /etc that
# apt-get download + dpkg -x cannot bring along, so each is installed
# system-wide with `apt-get install -y` when the script runs as root and it is
# missing; not as root, a missing one fails the script with the command to
# run. bin/chromium and bin/podman link to them.
#
# Usage: scripts/peers.sh            # every peer; prints the bin folder on the last line
#        scripts/peers.sh demo       # only what scripts/demo.sh needs: Debian's
#                                    # prometheus-pushgateway and prometheus
# Env:   PEERS_DIR (default: $XDG_CACHE_HOME/pushgateway-bridge/peers or ~/.cache/...)
set -euo pipefail

PEERS_DIR=${PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pushgateway-bridge/peers}
BIN="$PEERS_DIR/bin"
mkdir -p "$PEERS_DIR/debs" "$PEERS_DIR/root" "$BIN"

MODE=${1:-all}
case "$MODE" in all | demo) ;; *) echo "peers: unknown mode $MODE (all or demo)" >&2; exit 2 ;; esac

# Debian package -> binaries it ships under usr/bin.
declare -A PKG_BINS=(
  [prometheus-pushgateway]="prometheus-pushgateway"
  [prometheus]="prometheus promtool"
)
[ "$MODE" = demo ] || PKG_BINS[victoria-metrics]="victoria-metrics vmagent"

# Prometheus 3 by Go module version: v0.3MM.P is Prometheus 3.MM.P.
PROM3_PKG=github.com/prometheus/prometheus/cmd/prometheus
PROM3_MODULE_VERSION=v0.316.0
PROM3_DIR="$PEERS_DIR/prometheus3"

need=()
for pkg in "${!PKG_BINS[@]}"; do
  for b in ${PKG_BINS[$pkg]}; do
    [ -x "$BIN/$b" ] || { need+=("$pkg"); break; }
  done
done

if [ ${#need[@]} -gt 0 ]; then
  # apt-get download needs package lists; refresh them once if the candidate is unknown.
  for pkg in "${need[@]}"; do
    if ! apt-cache show "$pkg" >/dev/null 2>&1; then
      echo "peers: refreshing apt package lists" >&2
      if [ "$(id -u)" = 0 ]; then apt-get update -qq >&2; else sudo apt-get update -qq >&2; fi
      break
    fi
  done
  (cd "$PEERS_DIR/debs" && apt-get download -q "${need[@]}" >&2)
  for deb in "$PEERS_DIR"/debs/*.deb; do
    dpkg -x "$deb" "$PEERS_DIR/root"
  done
  for pkg in "${need[@]}"; do
    for b in ${PKG_BINS[$pkg]}; do
      src="$PEERS_DIR/root/usr/bin/$b"
      [ -x "$src" ] || { echo "peers: $pkg did not ship usr/bin/$b" >&2; exit 1; }
      ln -sf "$src" "$BIN/$b"
    done
  done
fi

if [ "$MODE" = all ]; then
# A go install build carries no version, so the build stamps it (as the
# Prometheus release builds do); that stamp is what tells a cached binary of
# the pinned version from an older one.
IFS=. read -r _ prom3_minor prom3_patch <<<"${PROM3_MODULE_VERSION#v}"
prom3_version="$((10#$prom3_minor / 100)).$((10#$prom3_minor % 100)).$prom3_patch"
if ! "$PROM3_DIR/prometheus" --version 2>/dev/null | grep -q "^prometheus, version $prom3_version "; then
  command -v go >/dev/null || { echo "peers: go is needed to build prometheus $prom3_version" >&2; exit 1; }
  echo "peers: building prometheus $prom3_version ($PROM3_PKG@$PROM3_MODULE_VERSION); the first build takes minutes" >&2
  mkdir -p "$PROM3_DIR"
  # Outside any module or workspace, with GOFLAGS replaced so that a caller's
  # -mod, -tags or -race cannot leak into this build; pure Go, no cgo.
  (cd "$PROM3_DIR" && GOBIN="$PROM3_DIR" GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
    go install -ldflags "-X github.com/prometheus/common/version.Version=$prom3_version" \
    "$PROM3_PKG@$PROM3_MODULE_VERSION" >&2)
  "$PROM3_DIR/prometheus" --version 2>/dev/null | grep -q "^prometheus, version $prom3_version " ||
    { echo "peers: $PROM3_DIR/prometheus does not report version $prom3_version" >&2; exit 1; }
fi
ln -sfn "$PROM3_DIR/prometheus" "$BIN/prometheus3"

# The newest Pushgateway, for what Debian's 1.5.1 lacks (UTF-8 names with
# --push.enable-utf8-names), built the same way into its own folder and
# linked as bin/pushgateway-$PGW_VERSION.
PGW_PKG=github.com/prometheus/pushgateway
PGW_VERSION=1.11.5
PGW_DIR="$PEERS_DIR/pushgateway-$PGW_VERSION"
if ! "$PGW_DIR/pushgateway" --version 2>&1 | grep -q "^pushgateway, version $PGW_VERSION "; then
  command -v go >/dev/null || { echo "peers: go is needed to build pushgateway $PGW_VERSION" >&2; exit 1; }
  echo "peers: building pushgateway $PGW_VERSION ($PGW_PKG@v$PGW_VERSION)" >&2
  mkdir -p "$PGW_DIR"
  (cd "$PGW_DIR" && GOBIN="$PGW_DIR" GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
    go install -ldflags "-X github.com/prometheus/common/version.Version=$PGW_VERSION" \
    "$PGW_PKG@v$PGW_VERSION" >&2)
  "$PGW_DIR/pushgateway" --version 2>&1 | grep -q "^pushgateway, version $PGW_VERSION " ||
    { echo "peers: $PGW_DIR/pushgateway does not report version $PGW_VERSION" >&2; exit 1; }
fi
ln -sfn "$PGW_DIR/pushgateway" "$BIN/pushgateway-$PGW_VERSION"

# build_module_cmd builds command $4 of Go module $2 at version v$3 into
# $PEERS_DIR/$1-$3/$1 and links it as bin/$1, unless the cached binary already
# reports "$6" on $1 --version; $5 is the -ldflags -X that stamps the version.
# Thanos and Cortex cannot be go install'ed: their go.mod has replace
# directives. So the module is downloaded (go mod download gives its folder
# in the module cache) and built in that folder, with its own go.mod and
# go.sum (-mod=mod: the folder has no vendor/ to use). Both need the
# slicelabels tag (Prometheus' labels as slices; without it they fail on
# the first write) and netgo for a static build.
build_module_cmd() {
  local name=$1 module=$2 version=$3 pkg=$4 stamp=$5 want=$6
  local dir="$PEERS_DIR/$name-$version"
  if ! "$dir/$name" --version 2>&1 | grep -q "^$want"; then
    command -v go >/dev/null || { echo "peers: go is needed to build $name $version" >&2; exit 1; }
    echo "peers: building $name $version ($module@v$version); the first build takes minutes" >&2
    mkdir -p "$dir"
    local src
    src=$(cd "$dir" && GOWORK=off GOFLAGS=-mod=mod go mod download -json "$module@v$version" |
      sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [ -n "$src" ] && [ -d "$src" ] || { echo "peers: go mod download $module@v$version gave no folder" >&2; exit 1; }
    (cd "$src" && GOWORK=off GOFLAGS="-buildvcs=false -mod=mod" CGO_ENABLED=0 \
      go build -tags "netgo slicelabels" -ldflags "-X $stamp=$version" -o "$dir/$name" "./$pkg" >&2)
    "$dir/$name" --version 2>&1 | grep -q "^$want" ||
      { echo "peers: $dir/$name does not report version $version" >&2; exit 1; }
  fi
  ln -sfn "$dir/$name" "$BIN/$name"
}
# Thanos receive and query, and Cortex, as remote-write receivers with
# tenants (and Cortex's HA tracker). Thanos 0.42 needs a newer Go than the
# one CI has.
THANOS_VERSION=0.41.0
CORTEX_VERSION=1.21.1
build_module_cmd thanos github.com/thanos-io/thanos "$THANOS_VERSION" cmd/thanos \
  github.com/prometheus/common/version.Version "thanos, version $THANOS_VERSION "
build_module_cmd cortex github.com/cortexproject/cortex "$CORTEX_VERSION" cmd/cortex \
  main.Version "Cortex, version $CORTEX_VERSION "

# install_system_wide installs Debian's package $1 with apt-get as root unless
# its command $1 is on PATH, and links bin/$1 to it.
install_system_wide() {
  local pkg=$1
  if ! command -v "$pkg" >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
      echo "peers: $pkg is not installed and this is not root: run 'sudo apt-get install -y $pkg'" \
        "(its library dependencies and configuration rule out apt-get download + dpkg -x into $PEERS_DIR)" >&2
      exit 1
    fi
    echo "peers: installing Debian's $pkg system-wide (apt-get install)" >&2
    apt-cache show "$pkg" >/dev/null 2>&1 || apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$pkg" >&2
    command -v "$pkg" >/dev/null 2>&1 || { echo "peers: apt-get install $pkg left no $pkg on PATH" >&2; exit 1; }
  fi
  ln -sf "$(command -v "$pkg")" "$BIN/$pkg"
}
install_system_wide chromium
install_system_wide podman
fi

bins=()
[ "$MODE" = demo ] || bins+=(prometheus3 "pushgateway-$PGW_VERSION" thanos cortex chromium podman)
for pkg in "${!PKG_BINS[@]}"; do
  for b in ${PKG_BINS[$pkg]}; do bins+=("$b"); done
done
for b in "${bins[@]}"; do
  "$BIN/$b" --version >/dev/null 2>&1 || { echo "peers: $BIN/$b does not run" >&2; exit 1; }
done
echo "$BIN"

#!/usr/bin/env bash
# peers.sh fetches the real peers the end-to-end tests and the demo run against,
# into a cache folder, without installing services or touching system paths:
# Debian's prometheus-pushgateway and prometheus (apt-get download + dpkg -x).
#
# Usage: scripts/peers.sh            # prints the bin folder on the last line
# Env:   PEERS_DIR (default: $XDG_CACHE_HOME/pushgateway-bridge/peers or ~/.cache/...)
set -euo pipefail

PEERS_DIR=${PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pushgateway-bridge/peers}
BIN="$PEERS_DIR/bin"
mkdir -p "$PEERS_DIR/debs" "$PEERS_DIR/root" "$BIN"

# Debian package -> binaries it ships under usr/bin.
declare -A PKG_BINS=(
  [prometheus-pushgateway]="prometheus-pushgateway"
  [prometheus]="prometheus promtool"
)

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

for pkg in "${!PKG_BINS[@]}"; do
  for b in ${PKG_BINS[$pkg]}; do
    "$BIN/$b" --version >/dev/null 2>&1 || { echo "peers: $BIN/$b does not run" >&2; exit 1; }
  done
done
echo "$BIN"

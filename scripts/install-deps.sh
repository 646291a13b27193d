#!/usr/bin/env bash
# Installs the Debian packages of scripts/deps.txt (root or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
pkgs=$(grep -v '^\s*#' scripts/deps.txt | tr '\n' ' ')
missing=$(dpkg-query -W -f='${Package} ${Status}\n' $pkgs 2>/dev/null | awk '$4 != "installed" {print $1}' || true)
# dpkg-query lists nothing for packages it has never seen: compare names.
for p in $pkgs; do dpkg-query -W "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "${missing// /}" ]; then
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs
fi

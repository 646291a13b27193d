#!/usr/bin/env bash
# Headless-Chromium test of the `mmada serve` web page (tests/browser). Installs Debian's
# chromium and the npm packages the test needs, then runs it against the built CLI.
#   MMADA_CLI      the mmada binary (default: build/mmada)
#   MMADA_REFDATA  reference data with tiny/ (default: ../shared/refdata)
#   SCREENSHOT_DIR where the screenshots go (default: tests/browser/screenshots)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if ! command -v chromium >/dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get install -y chromium
fi
cd "$root/tests/browser"
npm ci --no-audit --no-fund
export MMADA_CLI="${MMADA_CLI:-$root/build/mmada}"
export MMADA_REFDATA="${MMADA_REFDATA:-$root/../shared/refdata}"
node web_page.test.mjs

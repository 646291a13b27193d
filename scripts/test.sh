#!/usr/bin/env bash
# The whole test suite: a release build with every test and the conformance runner on the
# reference data, then the same tests under AddressSanitizer + UndefinedBehaviorSanitizer.
# Reference data: $MMADA_REFDATA (default ../shared/refdata).
set -euo pipefail
cd "$(dirname "$0")/.."
export MMADA_REFDATA="${MMADA_REFDATA:-$(cd .. && pwd)/shared/refdata}"
JOBS="${JOBS:-$(nproc)}"

echo "== release build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$JOBS"
echo "== conformance: mmada refcheck $MMADA_REFDATA/tiny/manifest.json"
./build/mmada refcheck "$MMADA_REFDATA/tiny/manifest.json"
echo "== unit and integration tests (release)"
(cd build && ctest --output-on-failure -j "$JOBS")
if [ "${MMADA_SKIP_BROWSER:-0}" != 1 ]; then
  echo "== browser test of the web page (headless Chromium)"
  MMADA_CLI="$PWD/build/mmada" bash scripts/browser-test.sh
fi

if [ "${MMADA_SKIP_SANITIZE:-0}" != 1 ]; then
  echo "== sanitizer build (Debug, ASan + UBSan)"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMMADA_SANITIZE=ON -DMMADA_BENCH=OFF >/dev/null
  cmake --build build-asan -j "$JOBS" --target mmada_tests mmada_cli
  # oneDNN's JIT code and OpenMP runtime are not instrumented; leaks there are not ours.
  (cd build-asan && ASAN_OPTIONS=detect_leaks=0 ctest --output-on-failure -j "$JOBS")
fi

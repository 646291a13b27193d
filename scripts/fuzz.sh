#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/*_fuzz.cc, clang + ASan/UBSan) and runs each one in turn
# for SECONDS seconds (default 60), one process at a time.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      TARGET: safetensors config gguf (default: all three)
#   env: MMADA_FUZZ_BUILD (build folder, default build-fuzz), MMADA_FUZZ_JOBS (default 2),
#        MMADA_FUZZ_SKIP_BUILD=1 (run the existing binaries)
#
# Seeds come from fuzz/corpus/<target>/ (read only); new inputs go to build-fuzz/corpus/<target>/
# and crashes to build-fuzz/artifacts/. Exits non-zero if any fuzzer finds a crash.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(safetensors config gguf)
BUILD=${MMADA_FUZZ_BUILD:-build-fuzz}
JOBS=${MMADA_FUZZ_JOBS:-2}

# MMADA_FUZZ_SKIP_BUILD=1 reuses the binaries already in $BUILD.
if [ -z "${MMADA_FUZZ_SKIP_BUILD:-}" ]; then
  if [ ! -f "$BUILD/build.ninja" ]; then
    CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DMMADA_FUZZ=ON -DMMADA_TESTS=OFF \
      -DMMADA_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
  fi
  cmake --build "$BUILD" -j"$JOBS" --target "${TARGETS[@]/%/_fuzz}"
fi

# UBSan findings are crashes too, not just log lines.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
mkdir -p "$BUILD/artifacts"
status=0
for t in "${TARGETS[@]}"; do
  mkdir -p "$BUILD/corpus/$t"
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  echo "== $t: ${SECONDS_PER_TARGET}s"
  if ! "$BUILD/${t}_fuzz" "$BUILD/corpus/$t" "fuzz/corpus/$t" "${dict[@]}" \
      -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -max_len=4096 \
      -artifact_prefix="$BUILD/artifacts/${t}_" -print_final_stats=1; then
    echo "== $t: FOUND A CRASH (see $BUILD/artifacts/)"
    status=1
  fi
done
exit $status

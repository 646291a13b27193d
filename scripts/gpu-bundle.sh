#!/usr/bin/env bash
# Packs what a GPU run needs into carry/gpu (ignored by git, sent with the device call):
# the CUDA build of `mmada`, the Debian shared libraries it needs that the GPU machine
# (Ubuntu) lacks, and the reference data. Usage: scripts/gpu-bundle.sh BUILD_DIR
# On the GPU machine: tar -xJf carry/gpu/libs.tar.xz -C /tmp/mmada-lib and put that folder
# on LD_LIBRARY_PATH; the refdata unpacks the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build-cuda}"
refdata="${MMADA_REFDATA:-$(cd .. && pwd)/shared/refdata}"
out=carry/gpu
rm -rf "$out" && mkdir -p "$out/libs"
cp "$build/mmada" "$out/"
for lib in libdnnl.so.2 libonig.so.5 libicuuc.so.72 libicudata.so.72 libOpenCL.so.1 libzip.so.4 \
           libpng16.so.16 libjpeg.so.62 libopenblas.so.0 libgfortran.so.5; do
  p=$(ldd "$build/mmada" | awk -v l="$lib" '$1 == l {print $3}')
  [ -n "$p" ] && cp -L "$p" "$out/libs/"
done
tar -C "$out/libs" -cJf "$out/libs.tar.xz" . && rm -rf "$out/libs"
tar -C "$refdata" -cJf "$out/refdata.tar.xz" tiny
du -sh "$out"/*

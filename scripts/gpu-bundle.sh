#!/usr/bin/env bash
# Packs what a GPU run needs into carry/gpu (ignored by git, sent with the device call):
# the CUDA build of `mmada`, the Debian shared libraries it needs that the GPU machine
# (Ubuntu) lacks, and the reference data. Usage: [OUT=carry/NAME] scripts/gpu-bundle.sh BUILD_DIR
# (OUT is relative to this checkout's root, default carry/gpu.)
# On the GPU machine: tar -xJf carry/gpu/libs.tar.xz -C /tmp/mmada-lib and put that folder
# on LD_LIBRARY_PATH; the refdata unpacks the same way. cuDNN and NCCL are not packed: the GPU
# machine has them in its Python packages (shared/gpu-notes.md says how to put them on the path).
set -euo pipefail
build="$(realpath "${1:-build-cuda}")"
cd "$(dirname "$0")/.."
refdata="${MMADA_REFDATA:-$(cd .. && pwd)/shared/refdata}"
out="${OUT:-carry/gpu}"
mkdir -p "$out/libs"
cp "$build/mmada" "$out/"
# Every shared library ldd resolves, except the C/C++ runtime and CUDA (present there).
ldd "$build/mmada" | awk '$3 ~ /^\// {print $1, $3}' |
  grep -vE '^(libc|libm|libstdc\+\+|libgcc_s|libpthread|libdl|librt|libcublas[A-Za-z]*|libcudart|libcudnn[A-Za-z_]*|libnccl)\.' |
  while read -r _ path; do cp -L "$path" "$out/libs/"; done
tar -C "$out/libs" -cJf "$out/libs.tar.xz" . && rm -rf "$out/libs"
[ -n "${SKIP_REFDATA:-}" ] || tar -C "$refdata" -cJf "$out/refdata.tar.xz" tiny
du -sh "$out"/*

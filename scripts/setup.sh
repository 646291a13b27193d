#!/usr/bin/env bash
# The first command of the README (before `./build/mmada showcase`): dependencies and a release
# build. The build also writes the tiny random model (the default when models/mmada-demo is absent).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build
echo "built ./build/mmada; next: ./build/mmada showcase"

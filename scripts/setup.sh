#!/usr/bin/env bash
# The first command of the README: dependencies, a release build, and the main job on the
# embedded default model (random weights until the project ships a trained model).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build
./build/mmada generate -p "What is 2+2?" --gen-length 32 --steps 16 --block-length 16 --stats

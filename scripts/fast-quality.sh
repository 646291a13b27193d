#!/bin/sh
# Exact vs fast decoding modes on small trained models (docs/fast-decoding.md, issue 8):
# arithmetic exact match (one block and blocks of 8), describe accuracy, the t2i class proxy
# with code agreement, and a PNG grid of the same generated images in each t2i mode.
#   scripts/fast-quality.sh ARITH_RUN.json IMAGE_RUN.json HELDOUT.jsonl OUT_DIR
# ARITH_RUN / IMAGE_RUN: the `mmada train` configs of the trained runs (their output_dir holds
# the checkpoint); HELDOUT: chat JSONL from scripts/make-arith-chat.py.
set -eu
[ $# -eq 4 ] || { sed -n 2,8p "$0"; exit 2; }
MMADA=${MMADA:-./build/mmada}
arith=$1 image=$2 heldout=$3 out=$4
mkdir -p "$out"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # oneDNN's threads spin on a shared machine
"$MMADA" train -c "$arith" --eval-only --eval "$heldout" --eval-block 0 \
  --eval-modes none,none+t0.95,none+t0.9,none+t0.7,none+f1,prefix,prefix+t0.9 | tee "$out/text-one-block.md"
"$MMADA" train -c "$arith" --eval-only --eval "$heldout" --eval-block 8 \
  --eval-modes none,prefix,dual,none+t0.9,prefix+t0.9,dual+t0.9,dual+f1 | tee "$out/text-block8.md"
"$MMADA" train -c "$image" --eval-only --eval-images 200 --eval-t2i-per-class 10 --eval-guidance 2 \
  --eval-modes none,prefix,none+t0.9,prefix+t0.9,none+t0.7 \
  --eval-t2i-modes none,c2,x3,x3+i1,x15+i1,x3+i1+c2,t0.9 | tee "$out/images.md"
"$MMADA" train -c "$image" --eval-only --eval-t2i-per-class 10 --eval-guidance 2 \
  --eval-t2i-modes none,c2,x3,x3+i1,x15+i1+c2 --eval-grid "$out/t2i-modes.png" | tee "$out/t2i-grid.md"

#!/bin/bash
# Scaling (docs/multi-gpu.md): 1 vs 2 GPUs on the 13.9M and the ~103M-parameter configs.
set -u
# Run from the repository root on the GPU machine; C: the carried folder (env.sh says what it holds).
C=${C:-carry/cuda-train}
source "$(dirname "$0")/env.sh"
nvidia-smi -L; nvidia-smi topo -m | head -4
W=/tmp/w; rm -rf $W; mkdir -p $W
mk() { # template name device compute steps
  sed -e "s|@DATA@|$PWD/$C/data/train.jsonl|" -e "s|@OUT@|$W/$2|" -e "s|@DEVICE@|$3|" \
      -e "s|@COMPUTE@|$4|" -e "s|@STEPS@|$5|" -e "s|@RESUME@|false|" $T/$1 > $W/$2.json; }
step() { echo "=== $1 ($(date +%T))"; }
# 1 and 2 GPUs on the small (13.9M, 4k tokens/update) and the large (~103M, 16k) config.
for cfg in bench bench-big; do
  mk $cfg.json $cfg-1 cuda bf16 60; step $cfg-1; timeout 90 $B train --config $W/$cfg-1.json 2>&1 | tail -1
  mk $cfg.json $cfg-2 cuda bf16 60; step $cfg-2
  NCCL_DEBUG=INFO timeout 90 $B launch -n 2 -- $B train --config $W/$cfg-2.json > $W/$cfg-2.out 2>&1
  grep -m1 -E "via" $W/$cfg-2.out; grep -v NCCL $W/$cfg-2.out | tail -1
done
for d in bench-1 bench-2 bench-big-1 bench-big-2; do [ -f $W/$d/train_log.jsonl ] && cp $W/$d/train_log.jsonl $OUT/$d.jsonl; done
step done

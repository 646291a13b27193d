#!/bin/bash
# mmada rl with device cuda against device cpu, from a tiny model trained on the GPU.
set -u
# Run from the repository root on the GPU machine; C: the carried folder (env.sh says what it holds).
C=${C:-carry/cuda-train}
source "$(dirname "$0")/env.sh"
nvidia-smi -L
W=/tmp/w; rm -rf $W; mkdir -p $W
D=$PWD/$C/data/train.jsonl
sed -e "s|@DATA@|$D|" -e "s|@OUT@|$W/sft|" $T/sft-tiny.json > $W/sft.json
echo "=== sft ($(date +%T))"; timeout 60 $B train --config $W/sft.json 2>&1 | tail -1
for v in "cpu fp32" "cuda fp32" "cuda bf16"; do
  set -- $v
  sed -e "s|@DATA@|$D|" -e "s|@INIT@|$W/sft/checkpoint|" -e "s|@OUT@|$W/rl-$1-$2|" -e "s|@DEVICE@|$1|" -e "s|@COMPUTE@|$2|" $T/rl-tiny.json > $W/rl-$1-$2.json
  echo "=== rl $1 $2 ($(date +%T))"; timeout 90 $B rl --config $W/rl-$1-$2.json 2>&1 | tail -3
  cp $W/rl-$1-$2/rl_log.jsonl $OUT/rl-$1-$2.jsonl
done
cp $W/sft/train_log.jsonl $OUT/sft.jsonl
echo "=== done ($(date +%T))"

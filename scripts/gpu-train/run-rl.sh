#!/bin/bash
# mmada rl with device cuda against device cpu, from a tiny model trained on the GPU.
set -u
# Run from the repository root on the GPU machine. C: the folder with the CUDA build's mmada,
# libs.tar.xz (scripts/gpu-bundle.sh) and data/train.jsonl (scripts/make-arith-chat.py).
C=${C:-carry/cuda-train}
T=$(dirname "$0")   # the config templates beside this script
OUT=${OUT:-/tmp/gpu-train-out}; mkdir -p "$OUT"   # logs copied here
mkdir -p /tmp/ml && tar -xJf $C/libs.tar.xz -C /tmp/ml
export LD_LIBRARY_PATH=/tmp/ml:$(python3 -c 'import nvidia.cudnn,nvidia.nccl,os;print(":".join(os.path.join(list(m.__path__)[0],"lib") for m in (nvidia.cudnn,nvidia.nccl)))'):${LD_LIBRARY_PATH:-}
B=$PWD/$C/mmada
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

#!/bin/bash
# Scaling on a compute-bound config (docs/multi-gpu.md): 1 vs 2 GPUs, ~110M parameters, 16k tokens/step.
set -u
# Run from the repository root on the GPU machine. C: the folder with the CUDA build's mmada,
# libs.tar.xz (scripts/gpu-bundle.sh) and data/train.jsonl (scripts/make-arith-chat.py).
C=${C:-carry/cuda-train}
T=$(dirname "$0")   # the config templates beside this script
OUT=${OUT:-/tmp/gpu-train-out}; mkdir -p "$OUT"   # logs copied here
mkdir -p /tmp/ml && tar -xJf $C/libs.tar.xz -C /tmp/ml
export LD_LIBRARY_PATH=/tmp/ml:$(python3 -c 'import nvidia.cudnn,nvidia.nccl,os;print(":".join(os.path.join(list(m.__path__)[0],"lib") for m in (nvidia.cudnn,nvidia.nccl)))'):${LD_LIBRARY_PATH:-}
B=$PWD/$C/mmada
nvidia-smi -L; nvidia-smi topo -m | head -4
W=/tmp/w; rm -rf $W; mkdir -p $W
mk() { # template name device compute steps
  sed -e "s|@DATA@|$PWD/$C/data/train.jsonl|" -e "s|@OUT@|$W/$2|" -e "s|@DEVICE@|$3|" \
      -e "s|@COMPUTE@|$4|" -e "s|@STEPS@|$5|" -e "s|@RESUME@|false|" $T/$1 > $W/$2.json; }
step() { echo "=== $1 ($(date +%T))"; }
mk bench-big.json b1 cuda bf16 60;  step b1; timeout 90 $B train --config $W/b1.json 2>&1 | tail -2
mk bench-big.json b2 cuda bf16 60;  step b2; NCCL_DEBUG=INFO timeout 90 $B launch -n 2 -- $B train --config $W/b2.json > $W/b2.out 2>&1; grep -E "via|Channel 00|NCCL version" $W/b2.out | head -6; grep -v NCCL $W/b2.out | tail -2
mk bench.json s2 cuda bf16 60;      step s2; NCCL_DEBUG=INFO timeout 60 $B launch -n 2 -- $B train --config $W/s2.json > $W/s2.out 2>&1; grep -E "via" $W/s2.out | head -3; grep -v NCCL $W/s2.out | tail -1
for d in b1 b2 s2; do [ -f $W/$d/train_log.jsonl ] && cp $W/$d/train_log.jsonl $OUT/$d.jsonl; done
step done

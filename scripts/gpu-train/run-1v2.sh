#!/bin/bash
# The cuda-train measurements (docs/multi-gpu.md): parity, CPU vs GPU step time, 1 vs 2 GPUs.
set -u
# Run from the repository root on the GPU machine; C: the carried folder (env.sh says what it holds).
C=${C:-carry/cuda-train}
source "$(dirname "$0")/env.sh"
nvidia-smi -L; nproc
command -v mpirun || echo "no mpirun"
ldd $B | grep -E "nccl|cublas|not found"
W=/tmp/w; rm -rf $W; mkdir -p $W
mk() { # name device compute steps resume [out]
  sed -e "s|@DATA@|$PWD/$C/data/train.jsonl|" -e "s|@OUT@|$W/${6:-$1}|" -e "s|@DEVICE@|$2|" \
      -e "s|@COMPUTE@|$3|" -e "s|@STEPS@|$4|" -e "s|@RESUME@|$5|" $T/bench.json > $W/$1.json; }
step() { echo "=== $1 ($(date +%T))"; }
step check-train; timeout 60 $B check-train 2>&1 | tee $OUT/check-train.txt | tail -40
mk cpu cpu fp32 3 false;            step cpu; timeout 90 $B train --config $W/cpu.json 2>&1 | tail -4
mk g1 cuda bf16 200 false;          step g1; timeout 60 $B train --config $W/g1.json 2>&1 | tail -3
mk g1f cuda fp32 200 false;         step g1f; timeout 60 $B train --config $W/g1f.json 2>&1 | tail -3
mk g2 cuda bf16 200 false;          step g2; timeout 60 $B launch -n 2 -- $B train --config $W/g2.json 2>&1 | tail -5
# A run started on 2 GPUs and resumed on 1 from its step-100 checkpoint.
mk h2 cuda bf16 100 false h;        step h2; timeout 60 $B launch -n 2 -- $B train --config $W/h2.json 2>&1 | tail -3
mk h1 cuda bf16 200 true h;         step h1; timeout 60 $B train --config $W/h1.json 2>&1 | tail -3
if command -v mpirun >/dev/null; then
  mk m2 cuda bf16 20 false;         step mpirun; timeout 40 mpirun --allow-run-as-root -np 2 -x LD_LIBRARY_PATH $B train --config $W/m2.json 2>&1 | tail -3
fi
for d in cpu g1 g1f g2 h m2; do [ -f $W/$d/train_log.jsonl ] && cp $W/$d/train_log.jsonl $OUT/$d.jsonl; done
ls -la $W/g2/checkpoint $W/h/checkpoint 2>&1 | head -20
step done

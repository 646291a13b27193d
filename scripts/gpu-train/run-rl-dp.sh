#!/bin/bash
# mmada rl data-parallel (docs/multi-gpu.md): 1 vs 2 ranks on the same seed and prompts (first
# update's parameters, fp32), the KL reference on the GPU against the CPU run, a resume from a
# 2-rank checkpoint on 1 GPU, steps/s on 1 vs 2 GPUs, and check-train.
set -u
# Run from the repository root on a 2-GPU machine; C: the carried folder (env.sh says what it holds).
C=${C:-carry/rl-dp}
source "$(dirname "$0")/env.sh"
CMP="python3 $T/compare-rl.py"
nvidia-smi -L; nproc
W=/tmp/w; rm -rf $W; mkdir -p $W
D=$PWD/$C/data/train.jsonl
step() { echo "=== $1 ($(date +%T))"; }
# mk NAME DEVICE COMPUTE STEPS BATCH [RESUME [OUTNAME]]: rl-tiny.json with those settings. With
# LEN_REWARD=1 a third reward, the length of the scorer's JSON input (so of the response), makes
# every group's rewards differ: the first run of this script (2026-11-27) had the SFT model give
# every rollout of steps 1-3 format 1 and correctness 0, all groups were dropped and the parity
# runs compared no update at all.
mk() {
  sed -e "s|@DATA@|$D|" -e "s|@INIT@|$W/sft/checkpoint|" -e "s|@OUT@|$W/${7:-$1}|" -e "s|@DEVICE@|$2|" \
      -e "s|@COMPUTE@|$3|" $T/rl-tiny.json |
    python3 -c 'import json,os,sys; c=json.load(sys.stdin); c["steps"]=int(sys.argv[1]); c["unigrpo"]["batch_size"]=int(sys.argv[2]); c["resume"]=sys.argv[3]=="true"
if os.environ.get("LEN_REWARD"): c["rewards"].append({"type": "command", "name": "len", "weight": 0.01, "command": "read x; echo ${#x}"})
print(json.dumps(c))' $4 $5 ${6:-false} > $W/$1.json; }
rl1() { step "$1 (1 rank)"; timeout 60 $B rl --config $W/$1.json 2>&1 | tail -2; }
rl2() { step "$1 (2 ranks)"; timeout 60 $B launch -n 2 -- $B rl --config $W/$1.json 2>&1 | tail -2; }

step check-train; timeout 60 $B check-train 2>&1 | tee $OUT/check-train.txt | tail -6
sed -e "s|@DATA@|$D|" -e "s|@OUT@|$W/sft|" $T/sft-tiny.json > $W/sft.json
step sft; timeout 60 $B train --config $W/sft.json 2>&1 | tail -1

# The first update on 1 and 2 ranks: same seed, same 2 prompts (one per rank), fp32 compute.
export LEN_REWARD=1
mk p1 cuda fp32 1 16; rl1 p1
mk p2 cuda fp32 1 16; rl2 p2
step "first update: 2 ranks vs 1 rank"; $CMP weights $W/p2/checkpoint $W/p1/checkpoint $W/sft/checkpoint
$CMP logs $W/p1/rl_log.jsonl $W/p2/rl_log.jsonl

# 3 steps (the reference differs from θ_old from step 2 on): CPU, 1 GPU, 2 GPUs, fp32; and a
# run of 2 steps on 2 GPUs resumed on 1 GPU for the third.
mk c3 cpu fp32 3 16; rl1 c3
mk g3 cuda fp32 3 16; rl1 g3
mk g3x2 cuda fp32 3 16; rl2 g3x2
mk h2 cuda fp32 2 16 false h; rl2 h2
mk h1 cuda fp32 3 16 true h; rl1 h1
step "3 steps: cpu, 1 GPU, 2 GPUs, 2 GPUs resumed on 1"
$CMP logs $W/c3/rl_log.jsonl $W/g3/rl_log.jsonl $W/g3x2/rl_log.jsonl $W/h/rl_log.jsonl
$CMP weights $W/g3x2/checkpoint $W/g3/checkpoint $W/sft/checkpoint
$CMP weights $W/h/checkpoint $W/g3/checkpoint $W/sft/checkpoint

unset LEN_REWARD
# Speed, bf16: rl-tiny (16 rollouts = 2 prompts) and 4x the batch (64 rollouts = 8 prompts).
for bs in 16 64; do
  mk s1b$bs cuda bf16 20 $bs; rl1 s1b$bs
  mk s2b$bs cuda bf16 20 $bs; rl2 s2b$bs
  $CMP speed $W/s1b$bs/rl_log.jsonl 3; $CMP speed $W/s2b$bs/rl_log.jsonl 3
done
# One file back (the device tool returns a few files only).
for d in p1 p2 c3 g3 g3x2 h s1b16 s2b16 s1b64 s2b64; do
  [ -f $W/$d/rl_log.jsonl ] && sed "s|^|$d |" $W/$d/rl_log.jsonl; done > $OUT/rl-logs.txt
step done

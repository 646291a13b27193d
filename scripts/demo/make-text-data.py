#!/usr/bin/env python3
"""Text data of the demo model (docs/demo-model.md) from the generators, all seeded.

Writes into OUT (default data/demo):
  wp-train.jsonl, wp-heldout.jsonl   two-step word problems (scripts/make-word-problems.py),
                                     <think> steps worked column by column (--cot columns):
                                     stage 2's Mixed-CoT data
  wp-rl.jsonl                        stage 3's prompts: 5,000 more problems (seed 2), none held
                                     out and none whose worked steps (its numbers) occur in
                                     wp-train.jsonl, so the rewards judge problems SFT never saw
  wp-rl-pool.jsonl                   20,000 more such problems (seed 3), none in wp-rl.jsonl
                                     either: where stage 5's prompts are mined (the problems
                                     stage 4's model is unsure of, pick-unsure.py)
  wp-compact.jsonl                   the same training problems with compact steps
                                     ("37 + 28 = 65."): stage 1's corpus and the tokenizer's text
  chat-train.jsonl, chat-heldout.jsonl  class chat (scripts/make-class-chat.py)
  captions.txt                       every caption template and question with every class name
                                     (text the tokenizer must know: t2i and mmu rows use them)
  pretrain-text.jsonl                stage 1's plain-text corpus: each word problem and chat
                                     line as one document "question\\nanswer" (format "text")
The class names, caption templates and questions are read from the stage-1 config.

Usage: make-text-data.py [OUT] [--problems 200000] [--config scripts/demo/stage1.json]
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_QUESTIONS = ["What is in this image?", "What is this?", "Which item is shown?"]


def captions(images):
    lines = []
    groups = images.get("caption_groups", [])
    for label, name in enumerate(images["class_names"]):
        templates = images["captions"]
        for g in groups:
            if g["labels"][0] <= label <= g["labels"][1]:
                templates = g["captions"]
        lines += [t.replace("{name}", name) for t in templates]
        lines += [f"{q} {name}" for q in images.get("questions", DEFAULT_QUESTIONS)]
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", nargs="?", default="data/demo")
    ap.add_argument("--problems", type=int, default=200000, help="training word problems")
    ap.add_argument("--config", default=os.path.join(HERE, "stage1.json"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    o = lambda name: os.path.join(args.out, name)
    scripts = os.path.dirname(HERE)
    run = lambda *a: subprocess.run([sys.executable, *a], check=True)
    for cot, train in (("compact", "wp-compact.jsonl"), ("columns", "wp-train.jsonl")):
        run(os.path.join(scripts, "make-word-problems.py"), o(train), o("wp-heldout.jsonl"),
            "--n", str(args.problems), "--heldout", "500", "--seed", "1", "--cot", cot)
    assistant = lambda line: json.loads(line)["messages"][1]["content"]
    seen = {assistant(line) for line in open(o("wp-train.jsonl"))}
    for name, seed, n, want in (("wp-rl.jsonl", 2, 40000, 5000), ("wp-rl-pool.jsonl", 3, 100000, 20000)):
        rl_all, rl_heldout = o(name + ".all.tmp"), o(name + ".heldout.tmp")
        run(os.path.join(scripts, "make-word-problems.py"), rl_all, rl_heldout,
            "--n", str(n), "--heldout", "1", "--seed", str(seed), "--cot", "columns")
        kept = 0
        with open(o(name), "w") as f:
            for line in open(rl_all):
                if kept < want and assistant(line) not in seen:
                    seen.add(assistant(line))  # distinct among themselves and from the files before
                    f.write(line)
                    kept += 1
        os.remove(rl_all)
        os.remove(rl_heldout)
        if kept < want:
            raise SystemExit(f"{name}: only {kept} unseen problems")
    run(os.path.join(scripts, "make-class-chat.py"), o("chat-train.jsonl"), o("chat-heldout.jsonl"))
    images = json.load(open(args.config))["data"]["images"]
    with open(o("captions.txt"), "w") as f:
        f.write("\n".join(captions(images)) + "\n")
    with open(o("pretrain-text.jsonl"), "w") as f:
        for name in ("wp-compact.jsonl", "chat-train.jsonl"):
            for line in open(o(name)):
                user, assistant = (m["content"] for m in json.loads(line)["messages"])
                f.write(json.dumps({"text": user + "\n" + assistant}) + "\n")


if __name__ == "__main__":
    main()

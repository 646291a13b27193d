#!/usr/bin/env python3
"""Reward curves of `mmada rl` runs as a text table (docs/rl-config.md).

Usage: rl-curves.py [--bucket N] [--key reward_mean] NAME=rl_log.jsonl [NAME=rl_log.jsonl ...]
Each column is one run; each row the mean of `key` over N consecutive RL steps, plus the
run's step-to-step roughness (mean |Δ| between consecutive steps) at the bottom.
"""
import json, sys


def main():
    args = sys.argv[1:]
    bucket, key = 5, "reward_mean"
    if "--bucket" in args:
        i = args.index("--bucket"); bucket = int(args[i + 1]); del args[i:i + 2]
    if "--key" in args:
        i = args.index("--key"); key = args[i + 1]; del args[i:i + 2]
    runs = []
    for a in args:
        name, path = a.split("=", 1)
        with open(path) as f:
            runs.append((name, [json.loads(l)[key] for l in f if l.strip()]))
    n = max(len(v) for _, v in runs)
    print("| steps | " + " | ".join(name for name, _ in runs) + " |")
    print("|---|" + "---|" * len(runs))
    for lo in range(0, n, bucket):
        cells = []
        for _, v in runs:
            part = v[lo:lo + bucket]
            cells.append(f"{sum(part) / len(part):.3f}" if part else "")
        print(f"| {lo + 1}-{min(lo + bucket, n)} | " + " | ".join(cells) + " |")
    rough = [sum(abs(b - a) for a, b in zip(v, v[1:])) / max(1, len(v) - 1) for _, v in runs]
    print("| mean abs step change | " + " | ".join(f"{r:.3f}" for r in rough) + " |")


if __name__ == "__main__":
    main()

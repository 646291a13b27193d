#!/usr/bin/env python3
"""The problems a model is unsure of: those some but not all of its sampled answers solved.

UniGRPO learns only from groups whose rewards differ; a model that gives one answer eight times
on nearly every problem (docs/demo-model.md, sessions 19-25) leaves it almost nothing to learn
from. `mmada train --eval-only --eval POOL --eval-samples 8 --eval-temperature 0.8
--eval-per-problem COUNTS` scores every problem of POOL; this keeps POOL's lines whose count is
strictly between 0 and the number of samples, in file order.

Usage: pick-unsure.py POOL.jsonl COUNTS.jsonl OUT.jsonl
"""
import argparse
import json


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pool")
    ap.add_argument("counts")
    ap.add_argument("out")
    args = ap.parse_args()
    pool = open(args.pool).read().splitlines()
    counts = [json.loads(line) for line in open(args.counts)]
    if len(counts) != len(pool):
        raise SystemExit(f"{args.counts}: {len(counts)} problems scored, {args.pool} has {len(pool)}")
    kept = [pool[c["problem"]] for c in counts if 0 < c["correct"] < c["samples"]]
    with open(args.out, "w") as f:
        f.writelines(line + "\n" for line in kept)
    print(f"{args.out}: {len(kept)} of {len(pool)} problems with some but not all samples right")


if __name__ == "__main__":
    main()

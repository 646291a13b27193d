#!/usr/bin/env python3
"""Are two models' exact-match scores on the same problems really different? A paired sign test.

Two checkpoints scored on one problem file (`mmada train --eval-only --eval FILE --eval-limit 0
--eval-per-problem A.jsonl`, then B.jsonl) differ by a few problems in 500 more often than not
(docs/demo-model.md, sessions 24-27); the unpaired binomial error (about 8.6 problems at 82 %)
overstates the noise when both models get most problems alike. This counts, problem by
problem, where A's count of right answers beats B's and where B's beats A's, and gives the
exact two-sided sign-test p-value on those discordant problems (McNemar's exact test for one
greedy answer per problem; with K samples a problem counts for whichever model got more right).

Usage: compare-evals.py A.jsonl B.jsonl
"""
import argparse
import json
from math import comb


def load(path):
    rows = [json.loads(line) for line in open(path)]
    return {r["problem"]: r for r in rows}


def sign_test_p(wins, losses):
    """Exact two-sided p of `wins` against `losses` under p = 1/2 (ties dropped)."""
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    tail = sum(comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    args = ap.parse_args()
    a, b = load(args.a), load(args.b)
    if a.keys() != b.keys():
        raise SystemExit(f"{args.a} and {args.b} score different problems ({len(a)} and {len(b)})")
    if any(a[p]["samples"] != b[p]["samples"] for p in a):
        raise SystemExit("the two files drew different numbers of samples per problem")
    right_a = sum(r["correct"] for r in a.values())
    right_b = sum(r["correct"] for r in b.values())
    total = sum(r["samples"] for r in a.values())
    a_better = sum(a[p]["correct"] > b[p]["correct"] for p in a)
    b_better = sum(b[p]["correct"] > a[p]["correct"] for p in a)
    print(f"A {args.a}: {right_a} / {total} right; B {args.b}: {right_b} / {total} right")
    print(f"problems: A better {a_better}, B better {b_better}, alike {len(a) - a_better - b_better} (of {len(a)})")
    print(f"sign test on the {a_better + b_better} discordant problems: two-sided p = {sign_test_p(a_better, b_better):.3g}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Two-step arithmetic word problems with step-by-step <think> solutions (issue 11 item 1).

Each line is chat JSONL as `mmada train` reads it (docs/train-config.md, format "chat"):
  {"messages": [{"role": "user", "content": "Mia has 23 stickers. She gets 15 more, then gives
   7 to a friend. How many stickers does Mia have now?"},
                {"role": "assistant", "content": "<think>23 + 15 = 38. 38 - 7 = 31.</think>31"}]}
The answer after </think> is a bare number, as eval_exact_match and the UniGRPO correctness /
format rewards read it.

Every number in a problem, its intermediate result and its answer is in 0..99. Problems come
from eight templates (add/subtract chains, a product then +/-, a quotient then +/-), with
names and objects drawn from short lists.

Split by a rule, not by chance: a problem is held out when (template, a, b, c) hashes to 0 mod
10 (about one in ten of all possible problems), so no held-out problem (as numbers) ever
appears in training, whatever the seed or size. Output is a function of --seed and --n.

Usage: make-word-problems.py OUT_TRAIN OUT_HELDOUT [--n 20000] [--heldout 500] [--seed 1]
"""
import argparse
import json
import random
import zlib

NAMES = ["Mia", "Tom", "Ana", "Ben", "Lea", "Sam", "Ivy", "Max", "Zoe", "Leo"]
OBJECTS = ["apples", "stickers", "marbles", "pencils", "cards", "shells", "coins", "books"]


def pronoun(name):
    return "She" if name in ("Mia", "Ana", "Lea", "Ivy", "Zoe") else "He"


# Each template: (text, needs, steps). `needs(a, b, c)` says whether the numbers make a valid
# problem (all results in 0..99, exact division); `steps(a, b, c)` gives the two steps as
# (left, op, right, result).
def add_sub(a, b, c):
    return [(a, "+", b, a + b), (a + b, "-", c, a + b - c)]


def sub_add(a, b, c):
    return [(a, "-", b, a - b), (a - b, "+", c, a - b + c)]


def add_add(a, b, c):
    return [(a, "+", b, a + b), (a + b, "+", c, a + b + c)]


def sub_sub(a, b, c):
    return [(a, "-", b, a - b), (a - b, "-", c, a - b - c)]


def mul_add(a, b, c):
    return [(a, "*", b, a * b), (a * b, "+", c, a * b + c)]


def mul_sub(a, b, c):
    return [(a, "*", b, a * b), (a * b, "-", c, a * b - c)]


def div_add(a, b, c):
    return [(a, "/", b, a // b), (a // b, "+", c, a // b + c)]


def div_sub(a, b, c):
    return [(a, "/", b, a // b), (a // b, "-", c, a // b - c)]


TEMPLATES = [
    ("{n} has {a} {o}. {p} gets {b} more, then gives {c} to a friend. How many {o} does {n} have now?", add_sub),
    ("A box holds {a} {o}. {n} takes out {b} and later puts in {c}. How many {o} are in the box?", sub_add),
    ("{n} finds {a} {o} on Monday, {b} on Tuesday and {c} on Wednesday. How many {o} did {n} find?", add_add),
    ("{n} has {a} {o}, loses {b} and then gives away {c}. How many {o} are left?", sub_sub),
    ("{n} buys {a} bags with {b} {o} in each, then gets {c} more {o}. How many {o} does {n} have?", mul_add),
    ("There are {a} rows of {b} {o}. {n} takes {c} of them. How many {o} remain?", mul_sub),
    ("{a} {o} are shared equally among {b} friends. Then {n} gives each friend {c} more. How many {o} does each friend have?", div_add),
    ("{n} splits {a} {o} into {b} equal piles and removes {c} from one pile. How many {o} are in that pile now?", div_sub),
]


def valid(steps, b):
    for left, op, right, result in steps:
        if not (0 <= result <= 99):
            return False
        if op == "/" and (right == 0 or left % right != 0):
            return False
    return True


def held_out(t, a, b, c):
    return zlib.crc32(f"{t}:{a}:{b}:{c}".encode()) % 10 == 0


def draw(rng):
    """A random valid problem: (template index, a, b, c)."""
    while True:
        t = rng.randrange(len(TEMPLATES))
        fn = TEMPLATES[t][1]
        if fn in (mul_add, mul_sub):
            a, b = rng.randrange(2, 10), rng.randrange(2, 10)
        elif fn in (div_add, div_sub):
            b = rng.randrange(2, 10)
            a = b * rng.randrange(1, 100 // b + 1)
        else:
            a, b = rng.randrange(1, 100), rng.randrange(1, 100)
        c = rng.randrange(1, 100)
        if a <= 99 and valid(fn(a, b, c), b):
            return t, a, b, c


SYM = {"*": "x", "/": "/", "+": "+", "-": "-"}


def column_step(l, op, r, res):
    """One step worked digit by digit, as a column sum on paper: units first (with the carry or
    borrow it makes), then tens, then the result. A small model learns the 2 x 100 one-digit
    facts far sooner than the ~10,000 two-digit ones the compact form asks it to memorise.
    Products and quotients (single-digit tables) stay compact."""
    if op not in "+-":
        return f"{l} {SYM[op]} {r} = {res}."
    l1, l0, r1, r0 = l // 10, l % 10, r // 10, r % 10
    if op == "+":
        u = l0 + r0
        return f"{l} + {r}: {l0} + {r0} = {u}, {l1} + {r1} + {u // 10} = {l1 + r1 + u // 10}, so {res}."
    borrow = int(l0 < r0)
    return (f"{l} - {r}: {l0 + 10 * borrow} - {r0} = {l0 + 10 * borrow - r0}, "
            f"{l1} - {r1} - {borrow} = {l1 - r1 - borrow}, so {res}.")


def line(rng, t, a, b, c, cot="compact"):
    text, fn = TEMPLATES[t]
    n = rng.choice(NAMES)
    question = text.format(n=n, p=pronoun(n), a=a, b=b, c=c, o=rng.choice(OBJECTS))
    steps = fn(a, b, c)
    if cot == "columns":
        think = " ".join(column_step(*s) for s in steps)
    else:
        think = " ".join(f"{l} {SYM[op]} {r} = {res}." for l, op, r, res in steps)
    answer = f"<think>{think}</think>{steps[-1][3]}"
    return json.dumps({"messages": [{"role": "user", "content": question},
                                    {"role": "assistant", "content": answer}]})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("train")
    ap.add_argument("heldout")
    ap.add_argument("--n", type=int, default=20000, help="training problems")
    ap.add_argument("--heldout", dest="n_heldout", type=int, default=500, help="held-out problems (distinct)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cot", choices=["compact", "columns"], default="compact",
                    help="compact: '37 + 28 = 65.'; columns: each +/- step digit by digit")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with open(args.train, "w") as f:
        written = 0
        while written < args.n:
            p = draw(rng)
            if held_out(*p):
                continue
            f.write(line(rng, *p, cot=args.cot) + "\n")
            written += 1
    seen = set()
    with open(args.heldout, "w") as f:
        tries = 0
        while len(seen) < args.n_heldout:
            tries += 1
            if tries > 1000 * args.n_heldout:
                raise SystemExit(f"only {len(seen)} distinct held-out problems found")
            p = draw(rng)
            if not held_out(*p) or p in seen:
                continue
            seen.add(p)
            f.write(line(rng, *p, cot=args.cot) + "\n")


if __name__ == "__main__":
    main()

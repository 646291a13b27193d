#!/usr/bin/env python3
"""Generated Mixed-CoT arithmetic chat data for the tiny CPU learning run (docs/train-config.md).

Each line: {"messages": [{"role": "user", "content": "37+45"},
                         {"role": "assistant", "content": "<think>7+5=12 c1 3+4+1=8</think>82"}]}
Usage: make-arith-chat.py OUT_TRAIN OUT_HELDOUT [--n 20000] [--seed 1]
Held-out problems (every pair with (7a+13b) % 17 == 0) never appear in the training file.
"""
import json, random, sys


def think(a, b):
    lo = a % 10 + b % 10
    carry = lo // 10
    hi = a // 10 + b // 10 + carry
    return f"{a%10}+{b%10}={lo} c{carry} {a//10}+{b//10}+{carry}={hi}"


def line(a, b):
    return json.dumps({"messages": [{"role": "user", "content": f"{a}+{b}"},
                                    {"role": "assistant", "content": f"<think>{think(a, b)}</think>{a+b}"}]})


def main():
    args = sys.argv[1:]
    n = int(args[args.index("--n") + 1]) if "--n" in args else 20000
    seed = int(args[args.index("--seed") + 1]) if "--seed" in args else 1
    rng = random.Random(seed)
    held = lambda a, b: (a * 7 + b * 13) % 17 == 0
    with open(args[0], "w") as f:
        for _ in range(n):
            while True:
                a, b = rng.randrange(10, 100), rng.randrange(10, 100)
                if not held(a, b):
                    break
            f.write(line(a, b) + "\n")
    with open(args[1], "w") as f:
        pairs = [(a, b) for a in range(10, 100) for b in range(10, 100) if held(a, b)]
        rng.shuffle(pairs)
        for a, b in pairs[:200]:
            f.write(line(a, b) + "\n")


if __name__ == "__main__":
    main()

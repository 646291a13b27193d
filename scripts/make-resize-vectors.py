#!/usr/bin/python3
"""Test vectors for src/vq/preprocess.cc, made with real Pillow (tests/vq/pillow_resize_test.cc).

Run with Debian's Python and Pillow (apt-get install python3-pil python3-numpy):
    /usr/bin/python3 scripts/make-resize-vectors.py [OUT_DIR]   (default tests/data/resize)

MMaDA's image_transform (spec/vq.md §6) is torchvision's Resize(size, BICUBIC) + CenterCrop(size)
on a PIL image; image_transform_squash is Resize((size, size), BICUBIC). On PIL images torchvision
only computes the sizes and calls Pillow, so this reproduces them with Pillow operations alone:
    crop:   new short = size, new long = int(size * long / short); img.resize((w, h), BICUBIC);
            img.crop((left, top, left + size, top + size)) with top/left = int(round((H - size) / 2)).
    squash: img.resize((size, size), BICUBIC).
    resize: img.resize((out_w, out_h), BICUBIC)   (the resampler alone, any output size).

Inputs are uniform random RGB bytes (the worst case for the resampler: large overshoots, clipping)
from a 32-bit LCG that the C++ test repeats: state = state * 1664525 + 1013904223 (mod 2^32),
each byte is state >> 24, row-major RGB. Every case has an `<name>.out.u8` file with the expected
HxWx3 bytes; small inputs are also stored as `<name>.in.u8` (the test checks its generator against
them), the large one only by seed to keep the folder small. index.json lists the cases.
"""
import json, os, sys

import numpy as np
from PIL import Image


def lcg_bytes(seed, n):
    out = bytearray(n)
    s = seed & 0xFFFFFFFF
    for i in range(n):
        s = (s * 1664525 + 1013904223) & 0xFFFFFFFF
        out[i] = s >> 24
    return bytes(out)


def crop_offset(have, want):
    return int(round((have - want) / 2.0))  # torchvision center_crop; Python round: ties to even


def image_transform(img, size):
    w, h = img.size
    if w <= h:
        nw, nh = size, int(size * h / w)
    else:
        nw, nh = int(size * w / h), size
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), Image.BICUBIC)
    top, left = crop_offset(nh, size), crop_offset(nw, size)
    return img.crop((left, top, left + size, top + size))


# name, input w, h, op, target (crop/squash: size; resize: (w, h)), store input bytes
CASES = [
    ("crop_37x23_to16", 37, 23, "crop", 16, True),      # long side int(25.7)=25, offset round(4.5)=4
    ("crop_64x48_to32", 64, 48, "crop", 32, True),
    ("crop_20x50_to16", 20, 50, "crop", 16, True),      # portrait
    ("crop_13x9_to32", 13, 9, "crop", 32, True),        # upscale
    ("crop_513x300_to256", 513, 300, "crop", 256, False),  # long int(437.76)=437, offset round(90.5)=90
    ("crop_48x32_to32", 48, 32, "crop", 32, True),      # shorter side already 32: crop only
    ("squash_37x23_to24", 37, 23, "squash", 24, True),  # down in x, up in y
    ("squash_40x16_to16", 40, 16, "squash", 16, True),  # horizontal pass only
    ("squash_16x40_to16", 16, 40, "squash", 16, True),  # vertical pass only
    ("resize_64x48_to17x61", 64, 48, "resize", (17, 61), True),
    ("resize_5x7_to1x1", 5, 7, "resize", (1, 1), True),
    ("resize_3x2_to29x31", 3, 2, "resize", (29, 31), True),  # tiny source, big upscale factor
]


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests", "data", "resize")
    os.makedirs(out_dir, exist_ok=True)
    index = {"generator": "lcg32: s = s*1664525 + 1013904223 mod 2^32, byte = s >> 24",
             "pillow": Image.__version__, "cases": []}
    for i, (name, w, h, op, target, store_in) in enumerate(CASES):
        seed = 1000 + i
        raw = lcg_bytes(seed, w * h * 3)
        img = Image.frombytes("RGB", (w, h), raw)
        if op == "crop":
            out = image_transform(img, target)
        elif op == "squash":
            out = img.resize((target, target), Image.BICUBIC)
        else:
            out = img.resize(target, Image.BICUBIC)
        arr = np.asarray(out, dtype=np.uint8)
        assert arr.shape == (out.size[1], out.size[0], 3)
        case = {"name": name, "op": op, "width": w, "height": h, "seed": seed,
                "out_width": out.size[0], "out_height": out.size[1]}
        if op != "resize":
            case["size"] = target
        if store_in:
            with open(os.path.join(out_dir, name + ".in.u8"), "wb") as f:
                f.write(raw)
            case["input"] = name + ".in.u8"
        with open(os.path.join(out_dir, name + ".out.u8"), "wb") as f:
            f.write(arr.tobytes())
        case["output"] = name + ".out.u8"
        index["cases"].append(case)
    with open(os.path.join(out_dir, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Times the OFFICIAL MMaDA code's multimodal understanding (MMadaModelLM.mmu_generate, as
inference_mmu.py calls it) with the real 8B shapes and random bf16 weights: the MMU row that
shared/baseline/bench.py does not time. The prompt has the MMU length mmada.cpp's
`bench generate --prompt-len 1100` uses (chat header, <|mmu|> <|soi|> 1024 image codes <|eoi|>,
question); timing does not depend on the token values.

It reuses bench.py (model builder, timer, import stubs); the official code stays in an ignored
folder, as bench.py expects:
  BASELINE=.baseline MMADA_SRC=$PWD/.mmada_src python3 scripts/official-mmu-bench.py --out mmu.json
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.environ.get("BASELINE", ".baseline"))
import bench  # noqa: E402  (sets up the official code's imports)
import torch  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--prompt-len", type=int, default=1100)
    ap.add_argument("--gen-length", type=int, default=256)
    ap.add_argument("--steps", type=int, default=128)
    ap.add_argument("--block-length", type=int, default=32)
    a = ap.parse_args()
    bench.RES["env"] = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__}
    _, model, _ = bench.build_8b()
    g = torch.Generator().manual_seed(5)
    text = torch.randint(0, 126000, (a.prompt_len,), generator=g)
    image = 126349 + torch.randint(0, 8192, (1024,), generator=g)  # image codes sit after the text vocab
    start = min(40, a.prompt_len - 1024)
    text[start:start + 1024] = image
    ids = text.unsqueeze(0).cuda()

    def f():
        with torch.no_grad():
            return model.mmu_generate(ids, max_new_tokens=a.gen_length, steps=a.steps,
                                      block_length=a.block_length, temperature=0.0)
    name = f"mmu_generate_P{a.prompt_len}_gen{a.gen_length}_steps{a.steps}_block{a.block_length}"
    bench.measure(name, f, 1, 2)
    with open(a.out, "w") as fh:
        json.dump(bench.RES, fh, indent=1)


if __name__ == "__main__":
    main()

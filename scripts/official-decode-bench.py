#!/usr/bin/env python3
"""Times the OFFICIAL MMaDA code's decoding rows that issue 8 compares with mmada.cpp's fast
modes, with the real 8B shapes and random bf16 weights, in one process:
  text  generate.generate, prompt 64, gen 256 / 512, one token per step, block 32
  mmu   MMadaModelLM.mmu_generate (as inference_mmu.py calls it), prompt 1100 (chat header,
        <|mmu|> <|soi|> 1024 image codes <|eoi|>, question), gen 256 / 512, two tokens per step
  t2i   MMadaModelLM.t2i_generate, 512x512 (1024 codes), 15 steps, guidance 3.5
shared/baseline/bench.py times a subset of these among other things; timing does not depend on
the token values. It reuses bench.py (model builder, timer, import stubs); the official code
stays in an ignored folder, as bench.py expects:
  BASELINE=.baseline MMADA_SRC=$PWD/.mmada_src python3 scripts/official-decode-bench.py --out o.json
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.environ.get("BASELINE", ".baseline"))
import bench  # noqa: E402  (sets up the official code's imports)
import torch  # noqa: E402


def text_prompt(n):
    chat = [126080, 126346, 3840, 126347, 198, 2372, 341, 220, 17, 10, 17, 30]
    tail = [126348, 126346, 598, 10450, 126347, 198]
    rnd = torch.randint(0, 126000, (n - len(chat) - len(tail),), generator=torch.Generator().manual_seed(3)).tolist()
    return torch.tensor([chat + rnd + tail], device="cuda")


def mmu_prompt(n):
    g = torch.Generator().manual_seed(5)
    text = torch.randint(0, 126000, (n,), generator=g)
    image = 126349 + torch.randint(0, 8192, (1024,), generator=g)  # image codes sit after the text vocab
    start = min(40, n - 1024)
    text[start:start + 1024] = image
    return text.unsqueeze(0).cuda()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--rows", default="text256,text512,mmu256,mmu512,t2i15",
                    help="comma-separated: textG, mmuG (G = gen length), t2iT (T = steps)")
    ap.add_argument("--iters", type=int, default=2)
    a = ap.parse_args()
    bench.RES["env"] = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__}
    _, model, _ = bench.build_8b()
    for row in a.rows.split(","):
        if row.startswith("text"):
            G = int(row[4:])
            ids = text_prompt(64)

            def f(G=G, ids=ids):
                return bench.mm_generate.generate(model, ids, steps=G, gen_length=G, block_length=32,
                                                  temperature=0.0, cfg_scale=0.0, remasking="low_confidence")
            bench.measure(f"generate_P64_gen{G}_steps{G}_block32", f, 1, a.iters)
        elif row.startswith("mmu"):
            G = int(row[3:])
            ids = mmu_prompt(1100)

            def f(G=G, ids=ids):
                with torch.no_grad():
                    return model.mmu_generate(ids, max_new_tokens=G, steps=G // 2, block_length=32, temperature=0.0)
            bench.measure(f"mmu_generate_P1100_gen{G}_steps{G // 2}_block32", f, 1, a.iters)
        elif row.startswith("t2i"):
            T = int(row[3:])
            with bench.quiet():
                up = bench.UniversalPrompting(bench.FakeTokenizer(), max_text_len=512,
                                              special_tokens=("<|soi|>", "<|eoi|>", "<|sov|>", "<|eov|>", "<|t2i|>",
                                                              "<|mmu|>", "<|t2v|>", "<|v2v|>", "<|lvg|>"),
                                              ignore_id=-100, cond_dropout_prob=0.1, use_reserved_token=True)
            prompt_ids = [468, 3901, 13187, 46998, 40977, 997, 268, 27028, 7339, 13]  # as bench.py
            image_tokens = torch.full((1, 1024), bench.TOK["mask"], dtype=torch.long, device="cuda")
            ids, am = up(([list(prompt_ids)], image_tokens), "t2i_gen")
            uids, uam = up(([""], image_tokens), "t2i_gen")
            schedule = bench.get_mask_schedule("cosine")

            def f(T=T, ids=ids, am=am, uids=uids, uam=uam, up=up, schedule=schedule):
                with torch.no_grad():
                    return model.t2i_generate(input_ids=ids.clone(), uncond_input_ids=uids, attention_mask=am,
                                              uncond_attention_mask=uam, guidance_scale=3.5, temperature=1.0,
                                              timesteps=T, noise_schedule=schedule, noise_type="mask",
                                              seq_len=1024, uni_prompting=up)
            bench.measure(f"t2i_generate_512px_N1024_cfg3.5_T{T}", f, 1, a.iters)
        else:
            raise SystemExit(f"unknown row {row!r}")
    with open(a.out, "w") as fh:
        json.dump(bench.RES, fh, indent=1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Reference vectors for mmada.cpp's CLIP-score reward (src/train/clip_*).

No CLIP weights can be downloaded on the project's machines, so this builds a tiny
random-weight transformers.CLIPModel, a tiny CLIP BPE tokenizer (vocab.json + merges.txt
written here, converted to tokenizer.json by CLIPTokenizerFast) and a CLIPImageProcessor,
saves them as a Hugging Face folder (save_pretrained, safetensors) and writes, for a few
images and texts: token ids, preprocessed pixels (also through the real 224-px processor),
pooled outputs, embeddings, logits_per_image and torchmetrics-style CLIP scores.

  python3 scripts/make-clip-vectors.py --out DIR   ->  DIR/clip/{model/, *.png, vectors.json}
"""
import argparse, inspect, json, os, sys

import numpy as np
import torch
from PIL import Image
import transformers
from transformers import (CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizerFast)


def bytes_to_unicode():  # GPT-2 / CLIP byte alphabet
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


MERGES = ["c a", "ca t</w>", "d o", "do g</w>", "p h", "ph o", "pho t", "phot o</w>", "o f</w>",
          "t h", "th e</w>", "r e", "re d</w>", "b l", "bl u", "blu e</w>", "s k", "sk y</w>",
          "h e", "he l", "hel l", "hell o</w>", "w o", "wo r", "wor l", "worl d</w>", "' s</w>",
          "e r</w>", "i n</w>", "a n", "an d</w>"]


def write_tokenizer_files(d):
    chars = list(bytes_to_unicode().values())
    vocab = chars + [c + "</w>" for c in chars] + ["".join(m.split()) for m in MERGES]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    with open(os.path.join(d, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({t: i for i, t in enumerate(vocab)}, f, ensure_ascii=False)
    with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(MERGES) + "\n")
    return len(vocab)


def build_tokenizer(tok_src, vocab_size):
    """The fast CLIP tokenizer from our vocab.json + merges.txt. transformers 4.x takes the file
    names, 5.x the vocabulary and merges themselves; the first construction that really holds our
    vocabulary (and merges "photo") wins."""
    vocab = json.load(open(os.path.join(tok_src, "vocab.json"), encoding="utf-8"))
    files = dict(vocab_file=os.path.join(tok_src, "vocab.json"), merges_file=os.path.join(tok_src, "merges.txt"))
    attempts = [lambda: CLIPTokenizerFast(vocab=vocab, merges=[tuple(m.split()) for m in MERGES]),
                lambda: CLIPTokenizerFast(vocab=vocab, merges=MERGES),
                lambda: CLIPTokenizerFast.from_pretrained(tok_src),
                lambda: CLIPTokenizerFast(**files)]
    for i, make in enumerate(attempts):
        try:
            t = make()
            ids = t("photo")["input_ids"]
            ok = len(t) == vocab_size and vocab["photo</w>"] in ids
            print("tokenizer attempt", i, "len", len(t), "ids(photo)", ids, "ok" if ok else "rejected")
            if ok:
                return t
        except Exception as e:
            print("tokenizer attempt", i, "failed:", repr(e)[:300])
    sys.exit("no tokenizer construction holds the vocabulary")


def to_u8(vals, mean, std):
    """Processor output back to the 8-bit values it came from (exact: checked), so that the
    committed vectors stay small; the C++ test re-normalises them."""
    n = len(vals) // 3
    out = []
    for i, x in enumerate(vals):
        u = (x * std[i // n] + mean[i // n]) * 255
        assert abs(u - round(u)) < 1e-3, u
        out.append(int(round(u)))
    return out


def compact(vec, mean, std):
    r8 = lambda x: [r8(y) for y in x] if isinstance(x, list) else float("%.8g" % x)
    for im in vec["images"]:
        im["pixels224_every7_u8"] = to_u8(im.pop("pixels224_every7"), mean, std)
        px = im.pop("pixels")
        im["pixels_u8"] = to_u8(px, mean, std)
        im["pixels_first16"] = px[:16]
    for t in vec["texts"] + vec["images"]:
        for k in ("pooled", "embeds"):
            t[k] = r8(t[k])
    vec["logits_per_image"] = r8(vec["logits_per_image"])
    vec["clip_score"] = r8(vec["clip_score"])
    for t in vec["texts"]:
        t.pop("ids_slow", None)


def make_image(w, h, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([128 + 100 * np.sin(x / (5 + 3 * c) + y / (7 + c) + c) for c in range(3)], -1)
    img += rng.integers(-12, 13, size=img.shape)  # some high-frequency detail for the resize
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    root = os.path.join(args.out, "clip")
    model_dir = os.path.join(root, "model")
    os.makedirs(model_dir, exist_ok=True)
    torch.manual_seed(1234)
    print("transformers", transformers.__version__, "torch", torch.__version__)

    tok_src = os.path.join(root, "tok_src")
    os.makedirs(tok_src, exist_ok=True)
    vocab_size = write_tokenizer_files(tok_src)
    fast = build_tokenizer(tok_src, vocab_size)
    fast.save_pretrained(model_dir)
    slow = None

    eos = fast.convert_tokens_to_ids("<|endoftext|>")
    bos = fast.convert_tokens_to_ids("<|startoftext|>")
    config = CLIPConfig(
        # eos_token_id 2: the legacy value openai/clip-vit-large-patch14 ships (pool at argmax id).
        text_config=dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu",
                         bos_token_id=bos, eos_token_id=2, pad_token_id=1, projection_dim=16),
        vision_config=dict(hidden_size=24, intermediate_size=40, num_hidden_layers=2, num_attention_heads=4,
                           image_size=32, patch_size=8, hidden_act="gelu", projection_dim=16),
        projection_dim=16, logit_scale_init_value=2.0)
    model = CLIPModel(config).eval()
    with torch.no_grad():  # move every weight off its init pattern so that nothing is trivially 0/1
        for name, p in model.named_parameters():
            if name != "logit_scale":
                p.add_(torch.randn_like(p) * 0.05)
    model.save_pretrained(model_dir, safe_serialization=True)
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor.save_pretrained(model_dir)
    real_processor = CLIPImageProcessor()  # openai defaults: shortest edge 224, crop 224, bicubic

    texts = ["a photo of a cat", "The  Blue SKY!!", "hello world 123", "dog's red\tand blue",
             "caf\u00e9 \u00dcber photo", ""]
    images = [("wide", 64, 45), ("tall", 41, 70), ("big", 251, 240), ("square", 32, 32)]
    vec = {"transformers": transformers.__version__, "torch": torch.__version__,
           "logit_scale": float(model.logit_scale.item()), "texts": [], "images": []}

    with torch.no_grad():
        for t in texts:
            enc = fast(t, return_tensors="pt")
            ids = enc["input_ids"]
            out = model.text_model(input_ids=ids)
            emb = model.get_text_features(input_ids=ids)
            if hasattr(emb, "pooler_output") and not torch.is_tensor(emb):
                emb = emb.pooler_output
            vec["texts"].append({"text": t, "ids": ids[0].tolist(),
                                 "ids_slow": slow(t)["input_ids"] if slow else None,
                                 "pooled": out.pooler_output[0].tolist(), "embeds": emb[0].tolist()})
        for i, (name, w, h) in enumerate(images):
            img = make_image(w, h, i)
            fname = f"{name}.png"
            img.save(os.path.join(root, fname))
            img = Image.open(os.path.join(root, fname))
            px224 = real_processor(images=img, return_tensors="np")["pixel_values"][0]
            px = processor(images=img, return_tensors="pt")["pixel_values"]
            out = model.vision_model(pixel_values=px)
            emb = model.get_image_features(pixel_values=px)
            if hasattr(emb, "pooler_output") and not torch.is_tensor(emb):
                emb = emb.pooler_output
            vec["images"].append({"file": fname, "width": w, "height": h,
                                  "pixels224_every7": px224[:, ::7, ::7].reshape(-1).tolist(),
                                  "pixels224_sum": float(px224.astype(np.float64).sum()),
                                  "pixels224_abs_sum": float(np.abs(px224.astype(np.float64)).sum()),
                                  "pixels": px[0].reshape(-1).tolist(),
                                  "pooled": out.pooler_output[0].tolist(), "embeds": emb[0].tolist()})
        ids = fast(texts[:-1], return_tensors="pt", padding=True)
        pix = torch.cat([processor(images=Image.open(os.path.join(root, d["file"])), return_tensors="pt")["pixel_values"]
                         for d in vec["images"]])
        res = model(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"], pixel_values=pix)
        ie = res.image_embeds / res.image_embeds.norm(dim=-1, keepdim=True)
        te = res.text_embeds / res.text_embeds.norm(dim=-1, keepdim=True)
        vec["logits_per_image"] = res.logits_per_image.tolist()  # [image][text], texts without ""
        # torchmetrics clip_score: 100 * max(0, cos)
        vec["clip_score"] = (100 * (ie @ te.T)).clamp(min=0).tolist()
    compact(vec, processor.image_mean, processor.image_std)
    with open(os.path.join(root, "vectors.json"), "w", encoding="utf-8") as f:
        json.dump(vec, f, ensure_ascii=False)

    # The transformers code the engine follows, for the record.
    try:
        from transformers.models.clip import modeling_clip
        from transformers import image_transforms
        with open(os.path.join(root, "transformers-source.txt"), "w") as f:
            for obj in [modeling_clip, image_transforms.center_crop, image_transforms.resize,
                        CLIPImageProcessor]:
                f.write(inspect.getsource(obj) + "\n\n")
        lines = inspect.getsource(modeling_clip).splitlines()
        for k, l in enumerate(lines):
            if "eos_token_id ==" in l:
                print("\n".join(lines[k - 2:k + 22]))
    except Exception as e:
        print("source dump failed:", e)
    print(json.dumps({k: v for k, v in vec.items() if k in ("logit_scale", "logits_per_image")}))
    for t in vec["texts"]:
        print(repr(t["text"]), t["ids"])


if __name__ == "__main__":
    main()

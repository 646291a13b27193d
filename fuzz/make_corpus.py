#!/usr/bin/env python3
"""Writes the small seed corpora for fuzz/safetensors_fuzz.cc, fuzz/config_fuzz.cc and
fuzz/gguf_fuzz.cc.

Run from the repo root: python3 fuzz/make_corpus.py [tiny_config.json]
"""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def st(header, data=b"", pad=True):
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


def write(folder, name, blob):
    os.makedirs(folder, exist_ok=True)
    assert len(blob) < 4096, name
    with open(os.path.join(folder, name), "wb") as f:
        f.write(blob if isinstance(blob, bytes) else blob.encode())


def safetensors_seeds():
    d = os.path.join(HERE, "corpus", "safetensors")
    f32 = struct.pack("<4f", 1.0, -2.0, 0.5, 3.0)
    write(d, "valid_f32", st({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}, f32))
    write(d, "valid_multi", st({
        "__metadata__": {"format": "pt"},
        "a": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]},
        "b": {"dtype": "U8", "shape": [2], "data_offsets": [6, 8]},
        "c": {"dtype": "I64", "shape": [1, 1], "data_offsets": [8, 16]},
        "e": {"dtype": "F16", "shape": [0, 5], "data_offsets": [16, 16]},
        "f": {"dtype": "BOOL", "shape": [], "data_offsets": [16, 17]},
    }, bytes(range(17))))
    write(d, "valid_empty_header", st({}))
    write(d, "bad_overlap", st({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12)))
    write(d, "bad_offsets", st({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, bytes(8)))
    write(d, "bad_dtype", st({"w": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}}, b"\0"))
    write(d, "bad_shape", st({"w": {"dtype": "U8", "shape": [0, 4294967296, 4294967296],
                                    "data_offsets": [0, 0]}}))
    write(d, "bad_meta", st({"__metadata__": {"n": 1}}))
    write(d, "bad_len", struct.pack("<Q", 1 << 40) + b"{}")
    write(d, "short", b"\x02\0\0")


def gguf_seeds():
    d = os.path.join(HERE, "corpus", "gguf")

    def gstr(x):
        return struct.pack("<Q", len(x)) + x.encode()

    def gguf(kvs, tensors, data, align=32):
        out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
        for k, vtype, payload in kvs:
            out += gstr(k) + struct.pack("<I", vtype) + payload
        for name, dims, ttype, off in tensors:
            out += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", x) for x in dims)
            out += struct.pack("<IQ", ttype, off)
        out += bytes((-len(out)) % align)
        return out + data

    arch = ("general.architecture", 8, gstr("llada"))
    strings = ("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 2) + gstr("a") + gstr("bc"))
    q8 = struct.pack("<e", 0.5) + bytes(range(32))                       # one Q8_0 block
    f32 = struct.pack("<4f", 1.0, -2.0, 0.5, 3.0)
    write(d, "f32_q8", gguf([arch, strings], [("a", [4], 0, 0), ("b", [32, 1], 8, 32)], f32 + bytes(28) + q8))
    write(d, "q4k", gguf([("general.alignment", 4, struct.pack("<I", 64))],
                         [("k", [256], 12, 0)], bytes(144), align=64))
    write(d, "q6k", gguf([], [("k", [256], 14, 0)], bytes(210)))
    write(d, "bf16_q4_0", gguf([arch], [("h", [8], 30, 0), ("q", [32], 2, 32)], bytes(32) + bytes(18)))
    write(d, "overlap", gguf([], [("a", [16], 0, 0), ("b", [16], 0, 32)], bytes(96)))
    write(d, "bad_type", gguf([], [("a", [32], 13, 0)], bytes(64)))
    write(d, "bad_version", b"GGUF" + struct.pack("<IQQ", 4, 0, 0))


def config_seeds(tiny):
    d = os.path.join(HERE, "corpus", "config")
    with open(tiny) as f:
        cfg = json.load(f)
    write(d, "tiny", json.dumps(cfg, indent=1))
    write(d, "minimal", json.dumps({"d_model": 64, "n_heads": 4, "n_layers": 2, "vocab_size": 1000,
                                    "mask_token_id": 5}))
    gqa = dict(cfg, n_kv_heads=1, multi_query_attention=True, mlp_hidden_size=None, embedding_size=None)
    write(d, "mqa_nulls", json.dumps(gqa))
    write(d, "bad_alibi", json.dumps(dict(cfg, alibi=True, block_type="sequential")))
    write(d, "bad_types", json.dumps(dict(cfg, d_model="32", rope_theta=[1], n_kv_heads=-2)))
    write(d, "big_numbers", json.dumps(dict(cfg, d_model=1 << 40, n_heads=2, mlp_hidden_size=None,
                                            mlp_ratio=1 << 40, vocab_size=18446744073709551615)))
    write(d, "array", "[1, 2, {\"d_model\": 4}]")


if __name__ == "__main__":
    safetensors_seeds()
    gguf_seeds()
    config_seeds(sys.argv[1] if len(sys.argv) > 1 else
                 os.path.join(HERE, "..", "..", "shared", "refdata", "tiny", "mmada_tiny", "config.json"))

#!/usr/bin/env python3
"""Compares mmada checkpoints and RL logs for scripts/gpu-train/run-rl-dp.sh (numpy only).

  compare-rl.py weights A B [BASE]   max |A-B|, mean |A-B|; with BASE also mean |A-BASE| (the
                                     update's size) and their ratio
  compare-rl.py logs LOG...          step, reward, loss, kl, clip, |g| of each RL log, side by side
  compare-rl.py speed LOG FROM       median seconds per RL step (rollouts + updates) from step FROM
"""
import json, struct, sys

import numpy as np


def load(folder):
    with open(folder + "/model.safetensors", "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32", (k, v["dtype"])
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(data[a:b], dtype=np.float32).astype(np.float64)
    return out


def weights(a, b, base=None):
    A, B = load(a), load(b)
    assert A.keys() == B.keys()
    d = np.concatenate([np.abs(A[k] - B[k]) for k in sorted(A)])
    print(f"{len(d)} parameters: max |A-B| {d.max():.3e}, mean |A-B| {d.mean():.3e}")
    if base:
        Z = load(base)
        u = np.concatenate([np.abs(A[k] - Z[k]) for k in sorted(A)])
        print(f"update size mean |A-base| {u.mean():.3e}, max {u.max():.3e}; "
              f"mean |A-B| / mean |A-base| = {d.mean() / u.mean():.3e}")


def logs(paths):
    keys = ["reward_mean", "loss", "kl", "clip_frac", "grad_norm", "groups_kept", "len_mean"]
    for p in paths:
        print(p)
        for line in open(p):
            r = json.loads(line)
            print("  step %d " % r["step"] + " ".join(f"{k} {r[k]:.9g}" for k in keys))


def speed(path, first):
    s = [r["rollout_seconds"] + r["update_seconds"] for r in map(json.loads, open(path))
         if r["step"] >= first]
    m = float(np.median(s))
    print(f"{path}: median {m * 1000:.1f} ms per RL step over {len(s)} steps = {1 / m:.2f} steps/s")


if __name__ == "__main__":
    what, args = sys.argv[1], sys.argv[2:]
    {"weights": lambda: weights(*args), "logs": lambda: logs(args),
     "speed": lambda: speed(args[0], int(args[1]))}[what]()

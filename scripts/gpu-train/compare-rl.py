#!/usr/bin/env python3
"""Compares mmada checkpoints and RL logs for scripts/gpu-train/run-rl-dp.sh (standard library only).

  compare-rl.py weights A B [BASE]   max |A-B|, mean |A-B|; with BASE also mean |A-BASE| (the
                                     update's size) and their ratio
  compare-rl.py logs LOG...          step, reward, loss, kl, clip, |g| of each RL log, side by side
  compare-rl.py speed LOG FROM       median seconds per RL step (rollouts + updates) from step FROM
"""
import array, json, statistics, struct, sys


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
        out[k] = array.array("f", data[a:b])  # little-endian float32, as the machines here
    return out


def weights(a, b, base=None):
    A, B = load(a), load(b)
    assert A.keys() == B.keys()
    d = [abs(x - y) for k in sorted(A) for x, y in zip(A[k], B[k])]
    mean = sum(d) / len(d)
    print(f"{len(d)} parameters: max |A-B| {max(d):.3e}, mean |A-B| {mean:.3e}")
    if base:
        Z = load(base)
        u = [abs(x - z) for k in sorted(A) for x, z in zip(A[k], Z[k])]
        size = sum(u) / len(u)
        if size == 0:
            print("A equals base: no update was made (every group dropped?)")
        else:
            print(f"update size mean |A-base| {size:.3e}, max {max(u):.3e}; "
                  f"mean |A-B| / mean |A-base| = {mean / size:.3e}")


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
    m = statistics.median(s)
    print(f"{path}: median {m * 1000:.1f} ms per RL step over {len(s)} steps = {1 / m:.2f} steps/s")


if __name__ == "__main__":
    what, args = sys.argv[1], sys.argv[2:]
    {"weights": lambda: weights(*args), "logs": lambda: logs(args),
     "speed": lambda: speed(args[0], int(args[1]))}[what]()

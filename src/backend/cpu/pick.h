// The text sampler's per-position choice, shared by the host path and the CPU backend:
// token = argmax(l + t·Gumbel) (lowest index on ties; plain argmax at t = 0) and its
// confidence softmax(float64(l))[token] over the un-noised logits (spec/sampling.md §1.2).
#pragma once
#include <cstdint>

#include "sample/rng.h"

namespace mmada {

struct Pick {
  int64_t token;
  double prob;
};

// `stream` keys the Gumbel draws (one uniform per vocabulary entry), so any backend that
// uses the same CounterRng draws the same noise. With bf16_logits the logits are first rounded
// to bf16, as the reference's bf16 model produces them.
Pick pick_token(const float* l, int64_t V, double temperature, const CounterRng& rng,
                uint64_t stream, bool bf16_logits);

}  // namespace mmada

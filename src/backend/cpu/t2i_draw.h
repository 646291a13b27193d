// The text-to-image sampler's per-slot draw (spec/sampling.md §4.2, §4.6), written once for the
// CPU backend (t2i_draw.cc) and the CUDA kernel (cuda/t2i_draw.cu) so both compute the same
// numbers. For one slot's image-code logits c (and u, the unconditional row's, with guidance g):
//   l_j  = bf(bf((1+g)·c_j) − bf(g·u_j))      with guidance, else bf(c_j)
//   e_j  = float(exp(double(l_j − max l)))
//   p_j  = bf(e_j · float(1 / Σ_k e_k))       (Σ in double)
//   code = the fixed code (replay) or argmax_j p_j / E_j, E_j = −ln U(seed, stream, j): the
//          Gumbel-max form of torch.multinomial (§4.6), lowest j on ties
//   prob = p_code
// bf() rounds to bf16 when asked (the reference's bf16 model), else is the identity. Every step is
// a single IEEE operation (no FMA contraction: __fmul_rn on the GPU, -ffp-contract=off for
// t2i_draw.cc), the exp is done in double and rounded, and the draw is an argmax, so the host and
// the GPU agree bit for bit except where the order of the double sum moves 1/Σ across a float
// rounding boundary (~1e-9 per row).
#pragma once
#include <cmath>
#include <cstdint>

#include "core/dtype.h"
#include "sample/rng.h"
#ifdef __CUDACC__
#include <cuda_bf16.h>
#endif

namespace mmada::t2i {

MMADA_HOST_DEVICE inline float bf(float v, bool bf16) {
#ifdef __CUDA_ARCH__
  return bf16 ? __bfloat162float(__float2bfloat16_rn(v)) : v;
#else
  return bf16 ? round_bf16(v) : v;
#endif
}

MMADA_HOST_DEVICE inline float mul(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

// The guided logit; `u` is ignored without guidance. g1 = float(1 + g), g = float(guidance).
MMADA_HOST_DEVICE inline float guided_logit(float c, float u, bool cfg, float g1, float g, bool bf16) {
  if (!cfg) return bf(c, bf16);
#ifdef __CUDA_ARCH__
  return bf(__fsub_rn(bf(__fmul_rn(g1, c), bf16), bf(__fmul_rn(g, u), bf16)), bf16);
#else
  return bf(bf(g1 * c, bf16) - bf(g * u, bf16), bf16);
#endif
}

MMADA_HOST_DEVICE inline float unnormalised_prob(float l, float mx) {
  return float(exp(double(l - mx)));
}

// The Gumbel-max key of code j with probability p (larger wins).
MMADA_HOST_DEVICE inline double draw_key(float p, const CounterRng& rng, uint64_t stream, int64_t j) {
  double u = rng.uniform(stream, uint64_t(j));
  if (u <= 0) u = 0x1p-53;
  return double(p) / -log(u);
}

// The counter-RNG stream of slot (step, row, slot)'s draw.
MMADA_HOST_DEVICE inline uint64_t draw_stream(int64_t step, int64_t row, int64_t slot) {
  return (uint64_t(step) << 40) ^ (uint64_t(row) << 24) ^ uint64_t(slot);
}

struct Draw {
  int64_t code;
  float prob;
};

// One slot on the host: cond/uncond are its C logits (uncond null without guidance); `fixed` >= 0
// replaces the draw; `guided` (C floats, or null) receives l.
Draw draw_row(const float* cond, const float* uncond, int64_t C, double guidance, bool bf16,
              int64_t fixed, const CounterRng& rng, uint64_t stream, float* guided);

}  // namespace mmada::t2i

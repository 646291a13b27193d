// One AdamW element update (torch.optim.AdamW) and its per-step coefficients, shared by the CPU
// optimiser (optimizer.cc), the ZeRO-1 shard update on the host and the CUDA kernel, so the
// arithmetic is written once. Kept C++17 and free of host-only headers: nvcc compiles it too.
#pragma once
#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define MMADA_HOST_DEVICE __host__ __device__
#else
#define MMADA_HOST_DEVICE
#endif

namespace mmada::train {

struct AdamWCoeffs {
  float b1 = 0, b2 = 0, step_size = 0, bc2_sqrt = 0, eps = 0;
};

// Coefficients of update number `step` (1-based, after the increment) at learning rate lr.
inline AdamWCoeffs adamw_coeffs(double beta1, double beta2, double eps, int64_t step, double lr) {
  const double bc1 = 1 - std::pow(beta1, double(step));
  const double bc2 = 1 - std::pow(beta2, double(step));
  return {float(beta1), float(beta2), float(lr / bc1), float(std::sqrt(bc2)), float(eps)};
}

// p *= shrink (decoupled weight decay, 1 − lr·wd or 1); moments; p −= lr/bc1 · m/(√v/√bc2 + eps).
MMADA_HOST_DEVICE inline void adamw_update(float& p, float g, float& m, float& v,
                                           const AdamWCoeffs& c, float shrink) {
  p *= shrink;
  m = c.b1 * m + (1 - c.b1) * g;
  v = c.b2 * v + (1 - c.b2) * g * g;
  p -= c.step_size * m / (sqrtf(v) / c.bc2_sqrt + c.eps);
}

}  // namespace mmada::train

// The text sampler's per-position choice on the GPU (cpu/pick.h): one block per logits row,
// argmax of l + t·Gumbel with the host's counter-based uniforms (lowest index on ties), then
// the float64 softmax probability of the chosen token over the un-noised logits.
#include <cuda_bf16.h>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"
#include "sample/rng.h"

namespace mmada::cuda {

namespace {

constexpr int kThreads = 512;

__device__ __forceinline__ float logit_at(const float* l, int64_t j, bool bf16) {
  return bf16 ? __bfloat162float(__float2bfloat16_rn(l[j])) : l[j];
}

// (value, index) with the larger value winning, the lower index on ties.
__device__ __forceinline__ void better(double& v, int64_t& i, double v2, int64_t i2) {
  if (v2 > v || (v2 == v && i2 < i)) v = v2, i = i2;
}

__global__ void pick_kernel(const float* logits, int64_t V, double t, uint64_t seed,
                            const uint64_t* streams, bool bf16, int64_t* tokens, double* probs) {
  const int64_t r = blockIdx.x;
  const float* l = logits + r * V;
  const CounterRng rng{seed};
  const uint64_t stream = streams[r];
  double best_v = -INFINITY, mx = -INFINITY;
  int64_t best_i = INT64_MAX;
  for (int64_t j = threadIdx.x; j < V; j += blockDim.x) {
    const double v = logit_at(l, j, bf16);
    mx = fmax(mx, v);
    double key = v;
    if (t != 0) {
      double u = rng.uniform(stream, uint64_t(j));
      if (u <= 0) u = 0x1p-53;
      key = v - t * log(-log(u));
    }
    better(best_v, best_i, key, j);
  }
  __shared__ double sv[kThreads / 32], sm[kThreads / 32];
  __shared__ int64_t si[kThreads / 32];
  for (int o = 16; o > 0; o >>= 1) {
    const double v2 = __shfl_xor_sync(0xffffffff, best_v, o);
    const int64_t i2 = __shfl_xor_sync(0xffffffff, best_i, o);
    better(best_v, best_i, v2, i2);
    mx = fmax(mx, __shfl_xor_sync(0xffffffff, mx, o));
  }
  const int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (lane == 0) sv[w] = best_v, si[w] = best_i, sm[w] = mx;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int k = 1; k < kThreads / 32; ++k) {
      better(sv[0], si[0], sv[k], si[k]);
      sm[0] = fmax(sm[0], sm[k]);
    }
  }
  __syncthreads();
  mx = sm[0];
  const int64_t best = si[0];
  double sum = 0;
  for (int64_t j = threadIdx.x; j < V; j += blockDim.x) sum += exp(double(logit_at(l, j, bf16)) - mx);
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffff, sum, o);
  __syncthreads();
  if (lane == 0) sv[w] = sum;
  __syncthreads();
  if (threadIdx.x == 0) {
    double total = 0;
    for (int k = 0; k < kThreads / 32; ++k) total += sv[k];
    tokens[r] = best;
    probs[r] = exp(double(logit_at(l, best, bf16)) - mx) / total;
  }
}

}  // namespace

void pick_tokens(const float* logits, int64_t R, int64_t V, double t, uint64_t seed,
                 const uint64_t* streams, bool bf16, int64_t* tokens, double* probs, cudaStream_t s) {
  if (R == 0) return;
  pick_kernel<<<unsigned(R), kThreads, 0, s>>>(logits, V, t, seed, streams, bf16, tokens, probs);
  MMADA_CUDA_LAUNCHED();
}

}  // namespace mmada::cuda

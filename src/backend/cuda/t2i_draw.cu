// The text-to-image draw on the GPU (cpu/t2i_draw.h): one block per slot, three passes over its
// C logits (guided max, the double sum of exps, the Gumbel-max argmax), recomputing the guided
// logit each pass from the formula shared with the host rather than keeping C floats around.
#include "backend/cpu/t2i_draw.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"

namespace mmada::cuda {

namespace {

constexpr int kThreads = 256, kWarps = kThreads / 32;

// (key, index): the larger key wins, the lower index on ties.
__device__ __forceinline__ void better(double& k, int64_t& i, double k2, int64_t i2) {
  if (k2 > k || (k2 == k && i2 < i)) k = k2, i = i2;
}

__global__ void t2i_draw_kernel(const float* cond, const float* uncond, int64_t C, double guidance,
                                bool bf16, const int64_t* fixed, uint64_t seed,
                                const uint64_t* streams, float* guided, int64_t* codes, float* probs) {
  const int64_t r = blockIdx.x;
  const float* c = cond + r * C;
  const float* u = uncond ? uncond + r * C : nullptr;
  const bool cfg = u != nullptr;
  const float g1 = float(1.0 + guidance), g = float(guidance);
  auto logit = [&](int64_t j) { return t2i::guided_logit(c[j], cfg ? u[j] : 0.0f, cfg, g1, g, bf16); };
  const int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
  __shared__ float smax[kWarps];
  __shared__ double sd[kWarps];
  __shared__ int64_t si[kWarps];

  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < C; j += kThreads) {
    const float l = logit(j);
    if (guided) guided[r * C + j] = l;
    mx = fmaxf(mx, l);
  }
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffff, mx, o));
  if (lane == 0) smax[w] = mx;
  __syncthreads();
  mx = smax[0];
  for (int k = 1; k < kWarps; ++k) mx = fmaxf(mx, smax[k]);

  double sum = 0;
  for (int64_t j = threadIdx.x; j < C; j += kThreads) sum += t2i::unnormalised_prob(logit(j), mx);
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffff, sum, o);
  if (lane == 0) sd[w] = sum;
  __syncthreads();
  sum = 0;
  for (int k = 0; k < kWarps; ++k) sum += sd[k];
  const float inv = float(1.0 / sum);
  auto prob = [&](int64_t j) { return t2i::bf(t2i::mul(t2i::unnormalised_prob(logit(j), mx), inv), bf16); };

  int64_t code = fixed ? fixed[r] : -1;
  if (!fixed) {
    const CounterRng rng{seed};
    const uint64_t stream = streams[r];
    double best = -1;
    int64_t bi = INT64_MAX;
    for (int64_t j = threadIdx.x; j < C; j += kThreads) better(best, bi, t2i::draw_key(prob(j), rng, stream, j), j);
    for (int o = 16; o > 0; o >>= 1) {
      const double k2 = __shfl_xor_sync(0xffffffff, best, o);
      const int64_t i2 = __shfl_xor_sync(0xffffffff, bi, o);
      better(best, bi, k2, i2);
    }
    __syncthreads();  // sd is reused
    if (lane == 0) sd[w] = best, si[w] = bi;
    __syncthreads();
    best = sd[0], code = si[0];
    for (int k = 1; k < kWarps; ++k) better(best, code, sd[k], si[k]);
    if (best < 0) code = 0;  // only for NaN logits, as on the host
  }
  if (threadIdx.x == 0) {
    codes[r] = code;
    probs[r] = prob(code);
  }
}

}  // namespace

void t2i_draw(const float* cond, const float* uncond, int64_t R, int64_t C, double guidance,
              bool bf16, const int64_t* fixed, uint64_t seed, const uint64_t* streams,
              float* guided, int64_t* codes, float* probs, cudaStream_t s) {
  if (R == 0) return;
  t2i_draw_kernel<<<unsigned(R), kThreads, 0, s>>>(cond, uncond, C, guidance, bf16, fixed, seed,
                                                   streams, guided, codes, probs);
  MMADA_CUDA_LAUNCHED();
}

}  // namespace mmada::cuda

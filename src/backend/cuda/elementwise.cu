// Memory-bound kernels of the forward pass: embedding, RMSNorm, RoPE, SiLU gate, row gather,
// and the float32 -> bf16 cast in front of the tensor-core GEMMs.
#include <cuda_fp16.h>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"

namespace mmada::cuda {

namespace {

__global__ void embedding_kernel(const void* table, int tt, int64_t d, const int64_t* ids, float* out) {
  const int64_t r = blockIdx.x, id = ids[r];
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
    float v;
    if (tt == 0) v = static_cast<const float*>(table)[id * d + i];
    else if (tt == 1) v = __bfloat162float(static_cast<const __nv_bfloat16*>(table)[id * d + i]);
    else v = __half2float(static_cast<const __half*>(table)[id * d + i]);
    out[r * d + i] = v;
  }
}

// One block per row; float32 sum of squares reduced across the block.
__global__ void rmsnorm_kernel(const float* x, const float* w, float* y, int64_t n, float eps) {
  const float* xr = x + blockIdx.x * n;
  float* yr = y + blockIdx.x * n;
  float ss = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) ss += xr[i] * xr[i];
  __shared__ float part[32];
  for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffff, ss, o);
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = ss;
  __syncthreads();
  if (threadIdx.x < 32) {
    ss = threadIdx.x < (blockDim.x >> 5) ? part[threadIdx.x] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffff, ss, o);
    if (threadIdx.x == 0) part[0] = ss;
  }
  __syncthreads();
  const float inv = 1.0f / sqrtf(part[0] / float(n) + eps);
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] = w[i] * (xr[i] * inv);
}

__global__ void rope_kernel(float* x, int64_t L, int64_t heads, int64_t d, const int64_t* pos,
                            const float* cs, const float* sn) {
  const int64_t r = blockIdx.x, p = pos ? pos[r] : r % L, half = d / 2;
  for (int64_t t = threadIdx.x; t < heads * half; t += blockDim.x) {
    const int64_t h = t / half, i = t % half;
    float* u = x + r * heads * d + h * d;
    const float u1 = u[i], u2 = u[i + half];
    u[i] = u1 * cs[p * d + i] + (-u2) * sn[p * d + i];
    u[i + half] = u2 * cs[p * d + i + half] + u1 * sn[p * d + i + half];
  }
}

__global__ void silu_gate_kernel(const float* gu, int64_t F, int64_t n, float* out) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / F, c = i % F;
    const float x = gu[r * 2 * F + c];
    out[i] = x / (1.0f + expf(-x)) * gu[r * 2 * F + F + c];
  }
}

__global__ void gather_kernel(const float* x, const int64_t* rows, int64_t d, float* out) {
  const int64_t r = rows[blockIdx.x];
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) out[blockIdx.x * d + i] = x[r * d + i];
}

__global__ void f32_to_bf16_kernel(const float* x, __nv_bfloat16* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = __float2bfloat16_rn(x[i]);
}

int grid_for(int64_t n) { return int(std::min<int64_t>((n + 255) / 256, 65535)); }

}  // namespace

void embedding(const void* table, TableType tt, int64_t d, const int64_t* ids, int64_t n, float* out, cudaStream_t s) {
  if (n == 0) return;
  embedding_kernel<<<unsigned(n), 256, 0, s>>>(table, int(tt), d, ids, out);
  MMADA_CUDA_LAUNCHED();
}

void rmsnorm(const float* x, const float* w, float* y, int64_t rows, int64_t n, float eps, cudaStream_t s) {
  if (rows == 0) return;
  rmsnorm_kernel<<<unsigned(rows), n >= 1024 ? 512 : 128, 0, s>>>(x, w, y, n, eps);
  MMADA_CUDA_LAUNCHED();
}

void rope(float* x, int64_t B, int64_t L, int64_t heads, int64_t d, const int64_t* positions,
          const float* cs, const float* sn, cudaStream_t s) {
  if (B * L == 0) return;
  rope_kernel<<<unsigned(B * L), 256, 0, s>>>(x, L, heads, d, positions, cs, sn);
  MMADA_CUDA_LAUNCHED();
}

void silu_gate(const float* gu, int64_t rows, int64_t F, float* out, cudaStream_t s) {
  if (rows * F == 0) return;
  silu_gate_kernel<<<grid_for(rows * F), 256, 0, s>>>(gu, F, rows * F, out);
  MMADA_CUDA_LAUNCHED();
}

void gather_rows(const float* x, const int64_t* rows, int64_t n, int64_t d, float* out, cudaStream_t s) {
  if (n == 0) return;
  gather_kernel<<<unsigned(n), 256, 0, s>>>(x, rows, d, out);
  MMADA_CUDA_LAUNCHED();
}

void f32_to_bf16(const float* x, __nv_bfloat16* y, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  f32_to_bf16_kernel<<<grid_for(n), 256, 0, s>>>(x, y, n);
  MMADA_CUDA_LAUNCHED();
}

}  // namespace mmada::cuda

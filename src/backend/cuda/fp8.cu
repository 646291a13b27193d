// E4M3 quantisation with a dynamic per-tensor scale, for the FP8 GEMMs (--gpu-weights fp8).
// Two kernels and no host round trip, so it records into CUDA graphs: the first writes one
// partial |x| maximum per block, the second reduces those (every block redoes the small
// reduction rather than waiting for one block), scales x into E4M3's range and converts.
#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include <algorithm>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"

namespace mmada::cuda {

namespace {

constexpr int kThreads = 256;
constexpr float kE4M3Max = 448.0f;

__device__ __forceinline__ float load(const float* x, int64_t i) { return x[i]; }
__device__ __forceinline__ float load(const __nv_bfloat16* x, int64_t i) { return __bfloat162float(x[i]); }

__device__ float block_max(float v) {
  __shared__ float warp_max[kThreads / 32];
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  if ((threadIdx.x & 31) == 0) warp_max[threadIdx.x >> 5] = v;
  __syncthreads();
  v = threadIdx.x < kThreads / 32 ? warp_max[threadIdx.x] : 0.0f;
  if (threadIdx.x < 32)
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  __shared__ float result;
  if (threadIdx.x == 0) result = v;
  __syncthreads();
  return result;
}

// Four elements at a time where the pointer allows it (float4 / 4 x bf16), then the tail.
template <typename T>
__global__ void amax_partial_kernel(const T* __restrict__ x, int64_t n, float* __restrict__ partial) {
  float m = 0.0f;
  const int64_t stride = int64_t(gridDim.x) * kThreads;
  const bool vec = (reinterpret_cast<uintptr_t>(x) % (4 * sizeof(T))) == 0;
  const int64_t n4 = vec ? n / 4 : 0;
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < n4; i += stride) {
    if constexpr (sizeof(T) == 4) {
      const float4 v = reinterpret_cast<const float4*>(x)[i];
      m = fmaxf(m, fmaxf(fmaxf(fabsf(v.x), fabsf(v.y)), fmaxf(fabsf(v.z), fabsf(v.w))));
    } else {
      const uint2 u = reinterpret_cast<const uint2*>(x)[i];
      const __nv_bfloat162 a = *reinterpret_cast<const __nv_bfloat162*>(&u.x);
      const __nv_bfloat162 b = *reinterpret_cast<const __nv_bfloat162*>(&u.y);
      const float2 fa = __bfloat1622float2(a), fb = __bfloat1622float2(b);
      m = fmaxf(m, fmaxf(fmaxf(fabsf(fa.x), fabsf(fa.y)), fmaxf(fabsf(fb.x), fabsf(fb.y))));
    }
  }
  for (int64_t i = n4 * 4 + int64_t(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride)
    m = fmaxf(m, fabsf(load(x, i)));
  m = block_max(m);
  if (threadIdx.x == 0) partial[blockIdx.x] = m;
}

template <typename T>
__global__ void quantize_kernel(const T* __restrict__ x, int64_t n, const float* __restrict__ partial,
                                int parts, uint8_t* __restrict__ q, float* __restrict__ scale) {
  float m = 0.0f;
  for (int i = threadIdx.x; i < parts; i += kThreads) m = fmaxf(m, partial[i]);
  m = block_max(m);
  // amax maps to 448; an all-zero (or non-finite) tensor keeps scale 1.
  const bool ok = m > 0.0f && isfinite(m);
  const float inv = ok ? kE4M3Max / m : 1.0f;
  if (blockIdx.x == 0 && threadIdx.x == 0) *scale = ok ? m / kE4M3Max : 1.0f;
  const int64_t stride = int64_t(gridDim.x) * kThreads;
  const bool vec = (reinterpret_cast<uintptr_t>(x) % (4 * sizeof(T))) == 0 &&
                   (reinterpret_cast<uintptr_t>(q) % 4) == 0;
  const int64_t n4 = vec ? n / 4 : 0;
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < n4; i += stride) {
    float2 a, b;
    if constexpr (sizeof(T) == 4) {
      const float4 v = reinterpret_cast<const float4*>(x)[i];
      a = make_float2(v.x * inv, v.y * inv), b = make_float2(v.z * inv, v.w * inv);
    } else {
      const uint2 u = reinterpret_cast<const uint2*>(x)[i];
      a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u.x));
      b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u.y));
      a.x *= inv, a.y *= inv, b.x *= inv, b.y *= inv;
    }
    // Round to nearest even, saturating at ±448 (a value can exceed amax·inv by a rounding).
    const __nv_fp8x2_storage_t lo = __nv_cvt_float2_to_fp8x2(a, __NV_SATFINITE, __NV_E4M3);
    const __nv_fp8x2_storage_t hi = __nv_cvt_float2_to_fp8x2(b, __NV_SATFINITE, __NV_E4M3);
    reinterpret_cast<uint32_t*>(q)[i] = uint32_t(lo) | (uint32_t(hi) << 16);
  }
  for (int64_t i = n4 * 4 + int64_t(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride)
    q[i] = __nv_cvt_float_to_fp8(load(x, i) * inv, __NV_SATFINITE, __NV_E4M3);
}

__global__ void fp8_to_bf16_kernel(const __nv_fp8_e4m3* __restrict__ q, const float* __restrict__ scale,
                                   int64_t n, __nv_bfloat16* __restrict__ y) {
  const float s = *scale;
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < n; i += int64_t(gridDim.x) * kThreads)
    y[i] = __float2bfloat16(float(q[i]) * s);
}

int grid_for(int64_t n, int cap) {
  const int64_t g = (n / 4 + kThreads - 1) / kThreads;
  return int(std::max<int64_t>(1, std::min<int64_t>(g, cap)));
}

template <typename T>
void quantize(const T* x, int64_t n, uint8_t* q, float* scale, float* partial, cudaStream_t s) {
  if (n == 0) return;
  const int parts = grid_for(n, kFp8AmaxParts);
  amax_partial_kernel<T><<<parts, kThreads, 0, s>>>(x, n, partial);
  MMADA_CUDA_CHECK(cudaGetLastError());
  // Enough blocks to fill the GPU several times over; each first re-reduces `parts` floats.
  quantize_kernel<T><<<grid_for(n, 132 * 8), kThreads, 0, s>>>(x, n, partial, parts, q, scale);
  MMADA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void quantize_fp8(const float* x, int64_t n, uint8_t* q, float* scale, float* partial, cudaStream_t s) {
  quantize(x, n, q, scale, partial, s);
}
void quantize_fp8(const __nv_bfloat16* x, int64_t n, uint8_t* q, float* scale, float* partial,
                  cudaStream_t s) {
  quantize(x, n, q, scale, partial, s);
}

void fp8_to_bf16(const uint8_t* q, const float* scale, int64_t n, __nv_bfloat16* y, cudaStream_t s) {
  if (n == 0) return;
  fp8_to_bf16_kernel<<<grid_for(n * 4, 132 * 8), kThreads, 0, s>>>(reinterpret_cast<const __nv_fp8_e4m3*>(q),
                                                                  scale, n, y);
  MMADA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace mmada::cuda

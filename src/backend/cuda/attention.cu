// Bidirectional attention with MMaDA's padding masks (spec/model.md §4.5, §5).
//
// Visibility of key j from query i with token mask m: pair mode m_i && m_j; hf-causal mode
// j <= i && m_j. A query that sees no key at all attends uniformly to all keys (the reference
// adds float32 min to every score of such a row). Both kernels first decide, per query row,
// whether it is such a "uniform" row, then treat it as "every key visible, every score 0".
//
// Queries may be a span [q0, q0 + Lq) of each row (the KV-cached steps): q and out then hold
// Lq rows per sequence, k and v all L; positions i below are absolute (the mask is by position).
#include <mma.h>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"

namespace mmada::cuda {

namespace {

__device__ bool row_is_uniform(const uint8_t* m, int64_t L, int64_t i, int mode) {
  if (!m) return false;
  if (mode == 0) {
    if (!m[i]) return true;
    for (int64_t j = 0; j < L; ++j)
      if (m[j]) return false;
    return true;
  }
  for (int64_t j = 0; j <= i; ++j)
    if (m[j]) return false;
  return true;
}

__device__ __forceinline__ bool visible(const uint8_t* m, int64_t i, int64_t j, int mode) {
  if (!m) return true;
  return mode == 0 ? (m[i] && m[j]) : (j <= i && m[j]);
}

// Exact float32 reference: one block per (query, head, batch); scores in shared memory.
__global__ void attention_f32_kernel(const float* q, const float* k, const float* v, float* out,
                                     int64_t L, int64_t q0, int64_t Lq, int64_t H, int64_t KVH,
                                     int64_t d, const uint8_t* mask, int mode, float scale) {
  extern __shared__ float sc[];  // L scores, then 32 partials
  const int64_t r = blockIdx.x, i = q0 + r, h = blockIdx.y, b = blockIdx.z, g = h / (H / KVH);
  const uint8_t* m = mask ? mask + b * L : nullptr;
  const float* qi = q + (b * Lq + r) * H * d + h * d;
  __shared__ bool uniform;
  if (threadIdx.x == 0) uniform = row_is_uniform(m, L, i, mode);
  __syncthreads();
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < L; j += blockDim.x) {
    float s = -INFINITY;
    if (uniform) {
      s = 0.0f;
    } else if (visible(m, i, j, mode)) {
      const float* kj = k + (b * L + j) * KVH * d + g * d;
      float acc = 0;
      for (int64_t e = 0; e < d; ++e) acc += qi[e] * kj[e];
      s = acc * scale;
    }
    sc[j] = s;
    mx = fmaxf(mx, s);
  }
  __shared__ float red[32];
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffff, mx, o));
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = mx;
  __syncthreads();
  if (threadIdx.x == 0) {
    float t = -INFINITY;
    for (int w = 0; w < int(blockDim.x >> 5); ++w) t = fmaxf(t, red[w]);
    red[0] = t;
  }
  __syncthreads();
  mx = red[0];
  __syncthreads();
  float sum = 0;
  for (int64_t j = threadIdx.x; j < L; j += blockDim.x) {
    const float p = sc[j] == -INFINITY ? 0.0f : expf(sc[j] - mx);
    sc[j] = p;
    sum += p;
  }
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffff, sum, o);
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = sum;
  __syncthreads();
  if (threadIdx.x == 0) {
    float t = 0;
    for (int w = 0; w < int(blockDim.x >> 5); ++w) t += red[w];
    red[0] = t;
  }
  __syncthreads();
  const float inv = 1.0f / red[0];
  for (int64_t e = threadIdx.x; e < d; e += blockDim.x) {
    float acc = 0;
    for (int64_t j = 0; j < L; ++j) acc += sc[j] * v[(b * L + j) * KVH * d + g * d + e];
    out[(b * Lq + r) * H * d + h * d + e] = acc * inv;
  }
}

namespace wmma = nvcuda::wmma;
using bf16 = __nv_bfloat16;

constexpr int kTile = 64;  // queries per block and keys per step; 4 warps x 16 query rows

template <int D>
struct FlashSmem {
  static constexpr int ldq = D + 8, lds = kTile + 4, ldp = kTile + 8, ldo = D + 4;
  static constexpr size_t bytes = size_t(3 * kTile * ldq) * sizeof(bf16) + size_t(kTile * lds) * 4 +
                                  size_t(kTile * ldp) * sizeof(bf16) + size_t(kTile * ldo) * 4 +
                                  3 * kTile * 4;
};

// Flash attention on bf16 tensor cores (wmma 16x16x16, float32 accumulation). Each warp owns
// 16 query rows: it computes their scores against a 64-key tile, updates the running max and
// sum (online softmax, float32), rescales its rows of O in shared memory and adds P·V.
template <int D>
__global__ void __launch_bounds__(128) flash_attention_kernel(
    const bf16* __restrict__ q, const bf16* __restrict__ k, const bf16* __restrict__ v,
    float* __restrict__ out, int64_t L, int64_t q0, int64_t Lq, int64_t H, int64_t KVH,
    const uint8_t* mask, int mode, float scale) {
  using S = FlashSmem<D>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* Qs = reinterpret_cast<bf16*>(smem);
  bf16* Ks = Qs + kTile * S::ldq;
  bf16* Vs = Ks + kTile * S::ldq;
  float* Ss = reinterpret_cast<float*>(Vs + kTile * S::ldq);
  bf16* Ps = reinterpret_cast<bf16*>(Ss + kTile * S::lds);
  float* Os = reinterpret_cast<float*>(Ps + kTile * S::ldp);
  float* row_m = Os + kTile * S::ldo;
  float* row_l = row_m + kTile;
  int* row_u = reinterpret_cast<int*>(row_l + kTile);

  // Tile rows are query positions i0 .. i0 + 63 of the span [q0, qe).
  const int64_t i0 = q0 + int64_t(blockIdx.x) * kTile, qe = q0 + Lq, h = blockIdx.y, b = blockIdx.z,
                g = h / (H / KVH);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const uint8_t* m = mask ? mask + b * L : nullptr;
  const int64_t qstride = H * D, kstride = KVH * D;

  for (int t = threadIdx.x; t < kTile * D; t += blockDim.x) {
    const int r = t / D, c = t % D;
    const int64_t i = i0 + r;
    Qs[r * S::ldq + c] = i < qe ? q[(b * Lq + i - q0) * qstride + h * D + c] : __float2bfloat16(0.0f);
    Os[r * S::ldo + c] = 0.0f;
  }
  if (threadIdx.x < kTile) {
    const int64_t i = i0 + threadIdx.x;
    row_m[threadIdx.x] = -INFINITY;
    row_l[threadIdx.x] = 0.0f;
    row_u[threadIdx.x] = i < qe ? row_is_uniform(m, L, i, mode) : 0;
  }
  __syncthreads();

  for (int64_t j0 = 0; j0 < L; j0 += kTile) {
    for (int t = threadIdx.x; t < kTile * D; t += blockDim.x) {
      const int r = t / D, c = t % D;
      const int64_t j = j0 + r;
      const bool in = j < L;
      Ks[r * S::ldq + c] = in ? k[(b * L + j) * kstride + g * D + c] : __float2bfloat16(0.0f);
      Vs[r * S::ldq + c] = in ? v[(b * L + j) * kstride + g * D + c] : __float2bfloat16(0.0f);
    }
    __syncthreads();

    // S[16 rows of this warp, 64 keys] = Q · Kᵀ
    for (int ct = 0; ct < kTile / 16; ++ct) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.0f);
      for (int kk = 0; kk < D / 16; ++kk) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> bm;
        wmma::load_matrix_sync(a, Qs + (warp * 16) * S::ldq + kk * 16, S::ldq);
        wmma::load_matrix_sync(bm, Ks + (ct * 16) * S::ldq + kk * 16, S::ldq);
        wmma::mma_sync(acc, a, bm, acc);
      }
      wmma::store_matrix_sync(Ss + (warp * 16) * S::lds + ct * 16, acc, S::lds, wmma::mem_row_major);
    }
    __syncwarp();

    // Online softmax over the warp's 16 rows; each lane takes keys lane and lane + 32.
    for (int rr = 0; rr < 16; ++rr) {
      const int r = warp * 16 + rr;
      const int64_t i = i0 + r;
      const bool uni = row_u[r] != 0;
      float s[2];
      float mx = -INFINITY;
      for (int e = 0; e < 2; ++e) {
        const int c = lane + 32 * e;
        const int64_t j = j0 + c;
        const bool ok = i < qe && j < L && (uni || visible(m, i, j, mode));
        s[e] = ok ? (uni ? 0.0f : Ss[r * S::lds + c] * scale) : -INFINITY;
        mx = fmaxf(mx, s[e]);
      }
      for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffff, mx, o));
      const float m_old = row_m[r], m_new = fmaxf(m_old, mx);
      float sum = 0;
      for (int e = 0; e < 2; ++e) {
        const float p = (m_new == -INFINITY || s[e] == -INFINITY) ? 0.0f : __expf(s[e] - m_new);
        Ps[r * S::ldp + lane + 32 * e] = __float2bfloat16(p);
        sum += p;
      }
      for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffff, sum, o);
      const float alpha = m_old == -INFINITY ? 0.0f : __expf(m_old - m_new);
      for (int c = lane; c < D; c += 32) Os[r * S::ldo + c] *= alpha;
      __syncwarp();
      if (lane == 0) {
        row_l[r] = row_l[r] * alpha + sum;
        row_m[r] = m_new;
      }
    }
    __syncwarp();

    // O[16 rows] += P · V
    for (int nt = 0; nt < D / 16; ++nt) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::load_matrix_sync(acc, Os + (warp * 16) * S::ldo + nt * 16, S::ldo, wmma::mem_row_major);
      for (int kk = 0; kk < kTile / 16; ++kk) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> bm;
        wmma::load_matrix_sync(a, Ps + (warp * 16) * S::ldp + kk * 16, S::ldp);
        wmma::load_matrix_sync(bm, Vs + (kk * 16) * S::ldq + nt * 16, S::ldq);
        wmma::mma_sync(acc, a, bm, acc);
      }
      wmma::store_matrix_sync(Os + (warp * 16) * S::ldo + nt * 16, acc, S::ldo, wmma::mem_row_major);
    }
    __syncthreads();
  }

  for (int t = threadIdx.x; t < kTile * D; t += blockDim.x) {
    const int r = t / D, c = t % D;
    const int64_t i = i0 + r;
    if (i < qe) out[(b * Lq + i - q0) * qstride + h * D + c] = Os[r * S::ldo + c] / row_l[r];
  }
}

// One block per (row, head): float32 max and sum, normalised P rounded to bf16 once (as the
// CPU bf16 path does).
__global__ void masked_softmax_kernel(const float* S, bf16* P, int64_t L, int64_t q0, int64_t Lq,
                                      const uint8_t* m, int mode, float scale) {
  const int64_t r = blockIdx.x, i = q0 + r, h = blockIdx.y;
  const float* s = S + (h * Lq + r) * L;
  bf16* p = P + (h * Lq + r) * L;
  __shared__ int uniform;
  __shared__ float red[32];
  if (threadIdx.x == 0) uniform = row_is_uniform(m, L, i, mode);
  __syncthreads();
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < L; j += blockDim.x)
    if (uniform || visible(m, i, j, mode)) mx = fmaxf(mx, uniform ? 0.0f : s[j] * scale);
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffff, mx, o));
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = mx;
  __syncthreads();
  if (threadIdx.x < 32) {
    float t = threadIdx.x < (blockDim.x >> 5) ? red[threadIdx.x] : -INFINITY;
    for (int o = 16; o > 0; o >>= 1) t = fmaxf(t, __shfl_xor_sync(0xffffffff, t, o));
    if (threadIdx.x == 0) red[0] = t;
  }
  __syncthreads();
  mx = red[0];
  __syncthreads();
  float sum = 0;
  for (int64_t j = threadIdx.x; j < L; j += blockDim.x)
    if (uniform || visible(m, i, j, mode)) sum += __expf((uniform ? 0.0f : s[j] * scale) - mx);
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffff, sum, o);
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = sum;
  __syncthreads();
  if (threadIdx.x < 32) {
    float t = threadIdx.x < (blockDim.x >> 5) ? red[threadIdx.x] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) t += __shfl_xor_sync(0xffffffff, t, o);
    if (threadIdx.x == 0) red[0] = t;
  }
  __syncthreads();
  const float inv = 1.0f / red[0];
  for (int64_t j = threadIdx.x; j < L; j += blockDim.x) {
    const bool ok = uniform || visible(m, i, j, mode);
    p[j] = __float2bfloat16(ok ? __expf((uniform ? 0.0f : s[j] * scale) - mx) * inv : 0.0f);
  }
}

template <int D>
void launch_flash(const bf16* q, const bf16* k, const bf16* v, float* out, int64_t B, int64_t L,
                  int64_t q0, int64_t Lq, int64_t H, int64_t KVH, const uint8_t* mask, int mode,
                  cudaStream_t s) {
  const size_t bytes = FlashSmem<D>::bytes;
  static bool configured = false;
  if (!configured) {
    MMADA_CUDA_CHECK(cudaFuncSetAttribute(flash_attention_kernel<D>,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
    configured = true;
  }
  dim3 grid(unsigned((Lq + kTile - 1) / kTile), unsigned(H), unsigned(B));
  flash_attention_kernel<D><<<grid, 128, bytes, s>>>(q, k, v, out, L, q0, Lq, H, KVH, mask, mode,
                                                     1.0f / sqrtf(float(D)));
  MMADA_CUDA_LAUNCHED();
}

}  // namespace

void attention_f32(const float* q, const float* k, const float* v, float* out, int64_t B, int64_t L,
                   int64_t q0, int64_t Lq, int64_t H, int64_t KVH, int64_t d, const uint8_t* mask,
                   int mode, cudaStream_t s) {
  const size_t smem = size_t(L) * 4;
  if (smem > 48 * 1024)
    MMADA_CUDA_CHECK(cudaFuncSetAttribute(attention_f32_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          int(std::min<size_t>(smem, 200 * 1024))));
  MMADA_CHECK(smem <= 200 * 1024, "float32 CUDA attention supports sequences up to 51200 tokens");
  attention_f32_kernel<<<dim3(unsigned(Lq), unsigned(H), unsigned(B)), 128, smem, s>>>(
      q, k, v, out, L, q0, Lq, H, KVH, d, mask, mode, 1.0f / sqrtf(float(d)));
  MMADA_CUDA_LAUNCHED();
}

void masked_softmax_rows(const float* S, bf16* P, int64_t H, int64_t L, int64_t q0, int64_t Lq,
                         const uint8_t* mask, int mode, float scale, cudaStream_t s) {
  masked_softmax_kernel<<<dim3(unsigned(Lq), unsigned(H)), 256, 0, s>>>(S, P, L, q0, Lq, mask, mode, scale);
  MMADA_CUDA_LAUNCHED();
}

bool attention_bf16_supports(int64_t d) { return d == 16 || d == 32 || d == 64 || d == 128; }

void attention_bf16(const bf16* q, const bf16* k, const bf16* v, float* out, int64_t B, int64_t L,
                    int64_t q0, int64_t Lq, int64_t H, int64_t KVH, int64_t d, const uint8_t* mask,
                    int mode, cudaStream_t s) {
  switch (d) {
    case 16: return launch_flash<16>(q, k, v, out, B, L, q0, Lq, H, KVH, mask, mode, s);
    case 32: return launch_flash<32>(q, k, v, out, B, L, q0, Lq, H, KVH, mask, mode, s);
    case 64: return launch_flash<64>(q, k, v, out, B, L, q0, Lq, H, KVH, mask, mode, s);
    case 128: return launch_flash<128>(q, k, v, out, B, L, q0, Lq, H, KVH, mask, mode, s);
    default: fail("bf16 CUDA attention supports head dims 16, 32, 64, 128; got ", d);
  }
}

}  // namespace mmada::cuda

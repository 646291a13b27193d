// Bidirectional attention with MMaDA's padding masks (spec/model.md §4.5, §5).
//
// Visibility of key j from query i with token mask m: pair mode m_i && m_j; hf-causal mode
// j <= i && m_j. A query that sees no key at all attends uniformly to all keys (the reference
// adds float32 min to every score of such a row). Both kernels first decide, per query row,
// whether it is such a "uniform" row, then treat it as "every key visible, every score 0".
//
// Queries may be a span [q0, q0 + Lq) of each row (the KV-cached steps): q and out then hold
// Lq rows per sequence, k and v all L; positions i below are absolute (the mask is by position).
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

using bf16 = __nv_bfloat16;

// ---- Flash attention on mma.sync (m16n8k16 bf16, float32 accumulation) -----------------
// A block of 4 warps owns 64 query rows (16 per warp) of one (batch, head). Key/value tiles of
// 64 rows stream through shared memory (cp.async, two stages); scores, the online-softmax
// state and the output accumulators stay in registers, so no L x L matrix exists anywhere.
// Fragment layouts are PTX's for mma.m16n8k16: thread (g = lane/4, t = lane%4) holds rows g
// and g+8, columns 2t and 2t+1 of each 8-wide accumulator tile; two adjacent score tiles are
// exactly one A operand of the P·V product, so P never leaves the registers either.
constexpr int kFlashRows = 64, kFlashKeys = 64;

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}
__device__ __forceinline__ void ldmatrix_x4(unsigned (&r)[4], const bf16* p) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}
__device__ __forceinline__ void ldmatrix_x4_trans(unsigned (&r)[4], const bf16* p) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}
__device__ __forceinline__ void mma_bf16(float (&c)[4], const unsigned (&a)[4], unsigned b0,
                                         unsigned b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ unsigned pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const unsigned*>(&v);
}

template <int D>
constexpr size_t flash_smem_bytes() {
  return size_t(2) * 2 * kFlashKeys * (D + 8) * sizeof(bf16);  // K and V, two stages each
}

template <int D>
__global__ void __launch_bounds__(128) flash_attention_kernel(
    const bf16* __restrict__ q, const bf16* __restrict__ k, const bf16* __restrict__ v,
    float* __restrict__ out, int64_t L, int64_t q0, int64_t Lq, int64_t H, int64_t KVH,
    const uint8_t* __restrict__ mask, int mode, float scale_log2) {
  constexpr int ld = D + 8;  // smem row stride: 16-byte aligned rows, conflict-free ldmatrix
  extern __shared__ __align__(16) unsigned char flash_smem[];
  bf16* Ks = reinterpret_cast<bf16*>(flash_smem);
  bf16* Vs = Ks + 2 * kFlashKeys * ld;

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int64_t b = blockIdx.z, h = blockIdx.y, kvh = h / (H / KVH);
  const uint8_t* m = mask ? mask + b * L : nullptr;
  // This thread's two query rows, as absolute positions of the span [q0, qe).
  const int64_t qe = q0 + Lq;
  const int64_t row[2] = {q0 + int64_t(blockIdx.x) * kFlashRows + warp * 16 + g,
                          q0 + int64_t(blockIdx.x) * kFlashRows + warp * 16 + g + 8};
  bool uniform[2];
  for (int r = 0; r < 2; ++r) uniform[r] = row[r] < qe && row_is_uniform(m, L, row[r], mode);

  // This warp's 16 query rows as A fragments, straight from global memory (read once).
  unsigned qa[D / 16][4];
  for (int kk = 0; kk < D / 16; ++kk)
    for (int e = 0; e < 4; ++e) {
      const int64_t i = row[e & 1];
      const int col = kk * 16 + 2 * t + (e >> 1) * 8;
      qa[kk][e] = i < qe ? *reinterpret_cast<const unsigned*>(q + (b * Lq + i - q0) * H * D + h * D + col) : 0u;
    }

  float o[D / 8][4];
  for (int n = 0; n < D / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f};

  const int64_t tiles = (L + kFlashKeys - 1) / kFlashKeys;
  const auto load_tile = [&](int64_t tile, int stage) {
    constexpr int chunks = D / 8;  // 16-byte pieces per row
    for (int c = threadIdx.x; c < kFlashKeys * chunks; c += blockDim.x) {
      const int r = c / chunks, col = (c % chunks) * 8;
      const int64_t j = tile * kFlashKeys + r;
      const bool ok = j < L;
      const int64_t off = ok ? ((b * L + j) * KVH + kvh) * D + col : 0;
      cp_async16(Ks + (stage * kFlashKeys + r) * ld + col, k + off, ok);
      cp_async16(Vs + (stage * kFlashKeys + r) * ld + col, v + off, ok);
    }
    cp_async_commit();
  };

  load_tile(0, 0);
  for (int64_t tile = 0; tile < tiles; ++tile) {
    const int stage = int(tile & 1);
    if (tile + 1 < tiles) {
      load_tile(tile + 1, stage ^ 1);
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const bf16* Kt = Ks + stage * kFlashKeys * ld;
    const bf16* Vt = Vs + stage * kFlashKeys * ld;

    // S[16 x 64] = Q · Kᵀ: B fragments of two key tiles per ldmatrix.x4.
    float s[kFlashKeys / 8][4];
    for (int n = 0; n < kFlashKeys / 8; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
    for (int kk = 0; kk < D / 16; ++kk)
      for (int n = 0; n < kFlashKeys / 8; n += 2) {
        unsigned bk[4];
        ldmatrix_x4(bk, Kt + (n * 8 + (lane & 7) + ((lane >> 4) << 3)) * ld + kk * 16 + ((lane >> 3) & 1) * 8);
        mma_bf16(s[n], qa[kk], bk[0], bk[1]);
        mma_bf16(s[n + 1], qa[kk], bk[2], bk[3]);
      }

    // Visibility, scale (log2 domain) and the running max of each row (a quad shares a row).
    const int64_t j0 = tile * kFlashKeys;
    float tile_max[2] = {-INFINITY, -INFINITY};
    for (int n = 0; n < kFlashKeys / 8; ++n)
      for (int e = 0; e < 4; ++e) {
        const int r = e >> 1;
        const int64_t i = row[r], j = j0 + n * 8 + 2 * t + (e & 1);
        const bool ok = i < qe && j < L && (uniform[r] || visible(m, i, j, mode));
        s[n][e] = !ok ? -INFINITY : uniform[r] ? 0.0f : s[n][e] * scale_log2;
        tile_max[r] = fmaxf(tile_max[r], s[n][e]);
      }
    float alpha[2];
    for (int r = 0; r < 2; ++r) {
      tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffff, tile_max[r], 1));
      tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffff, tile_max[r], 2));
      const float m_new = fmaxf(row_max[r], tile_max[r]);
      alpha[r] = row_max[r] == -INFINITY ? 0.0f : exp2f(row_max[r] - m_new);
      row_max[r] = m_new;
      row_sum[r] *= alpha[r];
    }
    for (int n = 0; n < D / 8; ++n) {
      o[n][0] *= alpha[0], o[n][1] *= alpha[0];
      o[n][2] *= alpha[1], o[n][3] *= alpha[1];
    }
    for (int n = 0; n < kFlashKeys / 8; ++n)
      for (int e = 0; e < 4; ++e) {
        const int r = e >> 1;
        const float p = s[n][e] == -INFINITY ? 0.0f : exp2f(s[n][e] - row_max[r]);
        s[n][e] = p;
        row_sum[r] += p;
      }

    // O[16 x D] += P · V: P (bf16) from the score registers, V through ldmatrix.trans.
    for (int kk = 0; kk < kFlashKeys / 16; ++kk) {
      const unsigned pa[4] = {pack_bf16(s[2 * kk][0], s[2 * kk][1]), pack_bf16(s[2 * kk][2], s[2 * kk][3]),
                              pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                              pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3])};
      for (int n = 0; n < D / 8; n += 2) {
        unsigned bv[4];
        ldmatrix_x4_trans(bv, Vt + (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * ld + n * 8 + (lane >> 4) * 8);
        mma_bf16(o[n], pa, bv[0], bv[1]);
        mma_bf16(o[n + 1], pa, bv[2], bv[3]);
      }
    }
    __syncthreads();  // every warp is done with this stage before it is refilled
  }

  for (int r = 0; r < 2; ++r) {
    row_sum[r] += __shfl_xor_sync(0xffffffff, row_sum[r], 1);
    row_sum[r] += __shfl_xor_sync(0xffffffff, row_sum[r], 2);
  }
  for (int r = 0; r < 2; ++r) {
    if (row[r] >= qe) continue;
    const float inv = 1.0f / row_sum[r];
    float* dst = out + (b * Lq + row[r] - q0) * H * D + h * D + 2 * t;
    for (int n = 0; n < D / 8; ++n)
      *reinterpret_cast<float2*>(dst + n * 8) = make_float2(o[n][2 * r] * inv, o[n][2 * r + 1] * inv);
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
  constexpr size_t bytes = flash_smem_bytes<D>();
  static bool configured = false;
  if (!configured) {
    MMADA_CUDA_CHECK(cudaFuncSetAttribute(flash_attention_kernel<D>,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
    configured = true;
  }
  dim3 grid(unsigned((Lq + kFlashRows - 1) / kFlashRows), unsigned(H), unsigned(B));
  flash_attention_kernel<D><<<grid, 128, bytes, s>>>(q, k, v, out, L, q0, Lq, H, KVH, mask, mode,
                                                     1.4426950408889634f / sqrtf(float(D)));
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

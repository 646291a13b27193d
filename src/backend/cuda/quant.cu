// Block-quantized weights on the GPU (core/quant.h layouts, byte for byte GGUF's): weight-only
// kernels, so an 8B model held at 4-8 bits per weight fits a small card and the memory-bound
// steps (few tokens per call: KV-cached decoding) read 2-4x fewer bytes than bf16.
//
// Every kernel decodes a weight with the same float operations as the CPU's dequantize
// (core/quant.cc: Q4_K's fused multiply-add included), so the bf16 tiles made here are the CPU's
// bits and the embedding rows equal the CPU's.
#include <cuda_fp16.h>

#include <algorithm>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"

namespace mmada::cuda {

namespace {

__device__ __forceinline__ float load_f16(const uint8_t* p) {
  return __half2float(__ushort_as_half(uint16_t(p[0] | (p[1] << 8))));
}

// Weight 32s + l of one row (row: its first block), for lane l of a warp: the lanes of a warp
// decode one 32-weight slice together, so their byte loads are contiguous (coalesced) and the
// scales are one broadcast load.
template <QuantType T>
__device__ __forceinline__ float decode(const uint8_t* row, int64_t s, int l) {
  if constexpr (T == QuantType::Q8_0) {
    const uint8_t* b = row + s * 34;
    return load_f16(b) * float(int8_t(b[2 + l]));
  } else if constexpr (T == QuantType::Q4_0) {
    const uint8_t* b = row + s * 18;
    const uint8_t q = b[2 + (l & 15)];
    return load_f16(b) * float(int(l < 16 ? q & 0xF : q >> 4) - 8);
  } else if constexpr (T == QuantType::Q4_K) {
    const uint8_t* b = row + (s >> 3) * 144;
    const int j = int(s & 7);  // sub-block: the low (even j) or high nibbles of 32 quant bytes
    const uint8_t* sc = b + 4;
    int scale, mn;
    if (j < 4) {
      scale = sc[j] & 63;
      mn = sc[j + 4] & 63;
    } else {
      scale = (sc[j + 4] & 0xF) | ((sc[j - 4] >> 6) << 4);
      mn = (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4);
    }
    const uint8_t q = b[16 + 32 * (j >> 1) + l];
    return fmaf(load_f16(b) * float(scale), float((q >> ((j & 1) * 4)) & 0xF), -(load_f16(b + 2) * float(mn)));
  } else {  // Q6_K: half h of 128 weights, quarter of 32 within it
    const uint8_t* b = row + (s >> 3) * 210;
    const int j = int(s & 7), h = j >> 2, quarter = j & 3;
    const uint8_t ql = b[64 * h + 32 * (quarter & 1) + l], qh = b[128 + 32 * h + l];
    const int q = ((ql >> ((quarter >> 1) * 4)) & 0xF) | (((qh >> (2 * quarter)) & 3) << 4);
    const int8_t sc = int8_t(b[192 + 2 * j + (l >> 4)]);
    return (load_f16(b + 208) * float(sc)) * float(q - 32);
  }
}

// One thread per weight: thread t of the grid decodes weight t % K of row t / K.
template <QuantType T>
__global__ void dequant_bf16_kernel(const uint8_t* src, int64_t rows, int64_t K, size_t row_bytes,
                                    __nv_bfloat16* dst) {
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= rows * K) return;
  const int64_t r = t / K, k = t % K;
  dst[t] = __float2bfloat16_rn(decode<T>(src + r * row_bytes, k >> 5, int(k & 31)));
}

template <QuantType T>
__global__ void embedding_kernel(const uint8_t* table, int64_t K, size_t row_bytes, const int64_t* ids,
                                 float* out) {
  const int64_t r = blockIdx.x;
  const uint8_t* row = table + ids[r] * row_bytes;
  for (int64_t k = threadIdx.x; k < K; k += blockDim.x) out[r * K + k] = decode<T>(row, k >> 5, int(k & 31));
}

// y[m, n] (+)= Σ_k x[m, k]·W[n, k] for M ≤ MaxM input rows. A block owns kBlockRows weight
// rows (two per warp) and one split of K; it walks its split in tiles of kTile weights: the tile
// of all M inputs goes to shared memory (one coalesced read serves 16 rows), then lane l of a
// warp takes weight l of each 32-weight slice of the warp's two rows (contiguous byte loads) and
// multiplies it into every input. Splitting K keeps enough warps in flight to cover the memory
// latency when N is small; the splits' partial sums are added in a fixed order afterwards, so
// results do not depend on scheduling. The weights are read once per call. float32 throughout.
constexpr int kWarps = 8, kWarpRows = 2, kBlockRows = kWarps * kWarpRows, kTile = 512;
template <QuantType T, int MaxM>
__global__ void __launch_bounds__(kWarps * 32)
    linear_small_kernel(const uint8_t* W, size_t row_bytes, const float* __restrict__ x, int M, int64_t K,
                        int64_t N, int64_t split_len, float* out, int64_t ldo, bool accumulate) {
  __shared__ float xs[MaxM][kTile];
  const int lane = threadIdx.x & 31;
  const int64_t n0 = int64_t(blockIdx.x) * kBlockRows + (threadIdx.x >> 5) * kWarpRows;
  const uint8_t* rows[kWarpRows];
#pragma unroll
  for (int r = 0; r < kWarpRows; ++r) rows[r] = W + min(n0 + r, N - 1) * row_bytes;  // clamped: never stored
  float acc[kWarpRows][MaxM];
#pragma unroll
  for (int r = 0; r < kWarpRows; ++r)
#pragma unroll
    for (int m = 0; m < MaxM; ++m) acc[r][m] = 0.0f;
  const int64_t k_begin = int64_t(blockIdx.y) * split_len, k_end = min(K, k_begin + split_len);
  for (int64_t k0 = k_begin; k0 < k_end; k0 += kTile) {
    const int width = int(min(int64_t(kTile), k_end - k0));  // a multiple of 32
    __syncthreads();  // the previous tile is used up
    for (int i = threadIdx.x; i < MaxM * kTile; i += kWarps * 32) {
      const int m = i / kTile, c = i % kTile;
      xs[m][c] = m < M && c < width ? x[m * K + k0 + c] : 0.0f;
    }
    __syncthreads();
    if (n0 >= N) continue;  // still takes part in the barriers
    for (int c = 0; c < width; c += 32) {
      const int64_t s = (k0 + c) >> 5;
      float w[kWarpRows];
#pragma unroll
      for (int r = 0; r < kWarpRows; ++r) w[r] = decode<T>(rows[r], s, lane);
#pragma unroll
      for (int m = 0; m < MaxM; ++m) {
        const float xv = xs[m][c + lane];
#pragma unroll
        for (int r = 0; r < kWarpRows; ++r) acc[r][m] = fmaf(w[r], xv, acc[r][m]);
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kWarpRows; ++r) {
#pragma unroll
    for (int m = 0; m < MaxM; ++m) {
      float a = acc[r][m];
      for (int o = 16; o > 0; o >>= 1) a += __shfl_xor_sync(0xffffffff, a, o);
      const int64_t n = n0 + r;
      if (lane != 0 || m >= M || n >= N) continue;
      if (gridDim.y == 1) out[m * ldo + n] = accumulate ? out[m * ldo + n] + a : a;
      else out[(int64_t(blockIdx.y) * M + m) * N + n] = a;  // the split's partial sum
    }
  }
}

__global__ void add_splits_kernel(const float* partial, int splits, int M, int64_t N, float* y, int64_t ldy,
                                  bool accumulate) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= int64_t(M) * N) return;
  const int64_t m = i / N, n = i % N;
  float a = 0.0f;
  for (int sp = 0; sp < splits; ++sp) a += partial[(int64_t(sp) * M + m) * N + n];
  y[m * ldy + n] = accumulate ? y[m * ldy + n] + a : a;
}

// K split into this many ranges of whole tiles: about 1024 blocks in all where N alone gives fewer.
int64_t split_count(int64_t N, int64_t K, int64_t* split_len) {
  const int64_t tiles = (K + kTile - 1) / kTile, blocks_n = (N + kBlockRows - 1) / kBlockRows;
  const int64_t want = std::max<int64_t>(1, std::min(tiles, (1024 + blocks_n - 1) / blocks_n));
  const int64_t per = (tiles + want - 1) / want;
  *split_len = per * kTile;
  return (tiles + per - 1) / per;
}

template <QuantType T, int MaxM>
void launch_small(const uint8_t* W, size_t row_bytes, const float* x, int M, int64_t K, int64_t N, float* y,
                  int64_t ldy, bool accumulate, float* partial, cudaStream_t s) {
  int64_t split_len = 0;
  const int64_t splits = split_count(N, K, &split_len);
  const dim3 grid(unsigned((N + kBlockRows - 1) / kBlockRows), unsigned(splits));
  if (splits == 1) {
    linear_small_kernel<T, MaxM><<<grid, kWarps * 32, 0, s>>>(W, row_bytes, x, M, K, N, split_len, y, ldy, accumulate);
    return;
  }
  linear_small_kernel<T, MaxM><<<grid, kWarps * 32, 0, s>>>(W, row_bytes, x, M, K, N, split_len, partial, N, false);
  const int64_t n = int64_t(M) * N;
  add_splits_kernel<<<unsigned((n + 255) / 256), 256, 0, s>>>(partial, int(splits), M, N, y, ldy, accumulate);
}

template <template <QuantType> class F, class... Args>
void dispatch(QuantType t, Args&&... args) {
  switch (t) {
    case QuantType::Q8_0: F<QuantType::Q8_0>::run(args...); break;
    case QuantType::Q4_0: F<QuantType::Q4_0>::run(args...); break;
    case QuantType::Q4_K: F<QuantType::Q4_K>::run(args...); break;
    case QuantType::Q6_K: F<QuantType::Q6_K>::run(args...); break;
  }
}

template <QuantType T>
struct DequantOp {
  static void run(const uint8_t* src, int64_t rows, int64_t K, size_t row_bytes, __nv_bfloat16* dst,
                  cudaStream_t s) {
    const int64_t n = rows * K;
    dequant_bf16_kernel<T><<<unsigned((n + 255) / 256), 256, 0, s>>>(src, rows, K, row_bytes, dst);
  }
};
template <QuantType T>
struct EmbeddingOp {
  static void run(const uint8_t* table, int64_t K, size_t row_bytes, const int64_t* ids, int64_t n,
                  float* out, cudaStream_t s) {
    embedding_kernel<T><<<unsigned(n), 256, 0, s>>>(table, K, row_bytes, ids, out);
  }
};
template <QuantType T>
struct SmallOp {
  // One pass over the weights for up to 16 inputs: the smallest instantiated MaxM >= M.
  static void run(const uint8_t* W, size_t row_bytes, const float* x, int64_t M, int64_t K, int64_t N,
                  float* y, int64_t ldy, bool accumulate, float* partial, cudaStream_t s) {
    const int m = int(M);
    if (m <= 1) launch_small<T, 1>(W, row_bytes, x, m, K, N, y, ldy, accumulate, partial, s);
    else if (m <= 2) launch_small<T, 2>(W, row_bytes, x, m, K, N, y, ldy, accumulate, partial, s);
    else if (m <= 4) launch_small<T, 4>(W, row_bytes, x, m, K, N, y, ldy, accumulate, partial, s);
    else if (m <= 8) launch_small<T, 8>(W, row_bytes, x, m, K, N, y, ldy, accumulate, partial, s);
    else launch_small<T, 16>(W, row_bytes, x, m, K, N, y, ldy, accumulate, partial, s);
  }
};

}  // namespace

void quant_to_bf16(QuantType t, const uint8_t* src, int64_t rows, int64_t K, size_t row_bytes,
                   __nv_bfloat16* dst, cudaStream_t s) {
  if (rows == 0) return;
  dispatch<DequantOp>(t, src, rows, K, row_bytes, dst, s);
  MMADA_CUDA_LAUNCHED();
}

void quant_embedding(QuantType t, const uint8_t* table, int64_t K, size_t row_bytes, const int64_t* ids,
                     int64_t n, float* out, cudaStream_t s) {
  if (n == 0) return;
  dispatch<EmbeddingOp>(t, table, K, row_bytes, ids, n, out, s);
  MMADA_CUDA_LAUNCHED();
}

int64_t quant_small_scratch(int64_t M, int64_t K, int64_t N) {
  int64_t split_len = 0;
  const int64_t splits = split_count(N, K, &split_len);
  return splits == 1 ? 0 : splits * M * N;
}

void quant_linear_small(QuantType t, const uint8_t* W, size_t row_bytes, const float* x, int64_t M,
                        int64_t K, int64_t N, float* y, int64_t ldy, bool accumulate, float* scratch,
                        cudaStream_t s) {
  if (M == 0 || N == 0) return;
  dispatch<SmallOp>(t, W, row_bytes, x, M, K, N, y, ldy, accumulate, scratch, s);
  MMADA_CUDA_LAUNCHED();
}

}  // namespace mmada::cuda

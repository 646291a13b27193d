#include "train/cuda/train_kernels.h"

#include <cmath>

#include "backend/cuda/cuda_check.h"

namespace mmada::train::cuda {

namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n, int threads = kThreads) {
  const int64_t b = (n + threads - 1) / threads;
  return unsigned(b < 1 ? 1 : (b > 65535 * 16 ? 65535 * 16 : b));
}

// Block-wide sum of a double (blockDim.x a multiple of 32, at most 1024).
__device__ double block_sum(double v) {
  __shared__ double warp_sums[32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();  // warp_sums may still be read by a previous call
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  double t = 0;
  if (warp == 0) {
    t = lane < int(blockDim.x >> 5) ? warp_sums[lane] : 0.0;
    for (int o = 16; o > 0; o >>= 1) t += __shfl_down_sync(0xffffffffu, t, o);
    if (lane == 0) warp_sums[0] = t;
  }
  __syncthreads();
  return warp_sums[0];
}

__device__ float block_max(float v) {
  __shared__ float warp_max[32];
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) warp_max[warp] = v;
  __syncthreads();
  if (warp == 0) {
    float t = lane < int(blockDim.x >> 5) ? warp_max[lane] : -INFINITY;
    for (int o = 16; o > 0; o >>= 1) t = fmaxf(t, __shfl_down_sync(0xffffffffu, t, o));
    if (lane == 0) warp_max[0] = t;
  }
  __syncthreads();
  return warp_max[0];
}

__global__ void embedding_forward_k(const float* table, int64_t D, const int64_t* ids, int64_t n,
                                    float* out) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n * D;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = table[ids[i / D] * D + i % D];
}

__global__ void embedding_backward_k(const float* dout, const int64_t* ids, int64_t n, int64_t D,
                                     float* dtable) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n * D;
       i += int64_t(gridDim.x) * blockDim.x)
    atomicAdd(&dtable[ids[i / D] * D + i % D], dout[i]);
}

// One block per row.
__global__ void rmsnorm_forward_k(const float* x, const float* w, float* y, float* inv, int64_t n,
                                  float eps) {
  const float* xr = x + blockIdx.x * n;
  double ss = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) ss += double(xr[i]) * double(xr[i]);
  ss = block_sum(ss);
  // As the CPU: mean in double, rsqrt in float.
  const float iv = 1.0f / sqrtf(float(ss / double(n)) + eps);
  if (threadIdx.x == 0) inv[blockIdx.x] = iv;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) y[blockIdx.x * n + i] = w[i] * (xr[i] * iv);
}

__global__ void rmsnorm_backward_dx_k(const float* dy, const float* x, const float* w,
                                      const float* inv, float* dx, int64_t n) {
  const float* xr = x + blockIdx.x * n;
  const float* g = dy + blockIdx.x * n;
  double dot = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    dot += double(g[i]) * double(w[i]) * double(xr[i]);
  dot = block_sum(dot);
  const float iv = inv[blockIdx.x];
  const float c = float(dot / double(n)) * iv * iv * iv;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    dx[blockIdx.x * n + i] += iv * g[i] * w[i] - xr[i] * c;
}

// dw[i] += Σ_r dy[r,i]·x[r,i]·inv[r]: a thread per column, rows in order (fixed sums).
__global__ void rmsnorm_backward_dw_k(const float* dy, const float* x, const float* inv, float* dw,
                                      int64_t rows, int64_t n) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  float s = 0;
  for (int64_t r = 0; r < rows; ++r) s += dy[r * n + i] * x[r * n + i] * inv[r];
  dw[i] += s;
}

__global__ void rope_k(float* x, int64_t rows, int64_t L, int64_t heads, int64_t d,
                       const float* cos, const float* sin, bool transpose) {
  const int64_t half = d / 2, total = rows * heads * half;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = t % half, h = (t / half) % heads, r = t / (half * heads);
    const float* c = cos + (r % L) * d;
    const float* s = sin + (r % L) * d;
    float* u = x + r * heads * d + h * d;
    const float u1 = u[i], u2 = u[i + half];
    if (!transpose) {
      u[i] = u1 * c[i] + (-u2) * s[i];
      u[i + half] = u2 * c[i + half] + u1 * s[i + half];
    } else {
      u[i] = u1 * c[i] + u2 * s[i + half];
      u[i + half] = -u1 * s[i] + u2 * c[i + half];
    }
  }
}

__device__ inline bool visible(const uint8_t* m, int mode, int64_t i, int64_t j) {
  return mode != 1 || !m || (m[i] && m[j]);
}

// One block per (b, h, i) row of S.
__global__ void attention_softmax_k(float* S, int64_t H, int64_t L, float scale,
                                    const uint8_t* mask, int mode) {
  const int64_t row = blockIdx.x, i = row % L, b = row / (H * L);
  const uint8_t* m = mask ? mask + b * L : nullptr;
  float* s = S + row * L;
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < L; j += blockDim.x) {
    float z = s[j] * scale;
    if (mode == 2 && m && m[i] && m[j]) z += 1.0f;
    s[j] = z;
    if (visible(m, mode, i, j)) mx = fmaxf(mx, z);
  }
  mx = block_max(mx);
  if (mx == -INFINITY) {  // no visible key: uniform, as the inference forward does
    for (int64_t j = threadIdx.x; j < L; j += blockDim.x) s[j] = 1.0f / float(L);
    return;
  }
  double sum = 0;
  for (int64_t j = threadIdx.x; j < L; j += blockDim.x) {
    const float e = visible(m, mode, i, j) ? expf(s[j] - mx) : 0.0f;
    s[j] = e;
    sum += e;
  }
  sum = block_sum(sum);
  const float invs = float(1.0 / sum);
  for (int64_t j = threadIdx.x; j < L; j += blockDim.x) s[j] *= invs;
}

__global__ void attention_softmax_backward_k(float* dS, const float* P, int64_t H, int64_t L,
                                             float scale, const uint8_t* mask, int mode) {
  const int64_t row = blockIdx.x, i = row % L, b = row / (H * L);
  const uint8_t* m = mask ? mask + b * L : nullptr;
  float* ds = dS + row * L;
  const float* p = P + row * L;
  double dot = 0, any = 0;
  for (int64_t j = threadIdx.x; j < L; j += blockDim.x) {
    dot += double(ds[j]) * double(p[j]);
    any += visible(m, mode, i, j) ? 1.0 : 0.0;
  }
  dot = block_sum(dot);
  any = block_sum(any);
  for (int64_t j = threadIdx.x; j < L; j += blockDim.x)
    ds[j] = any == 0 ? 0.0f : p[j] * (ds[j] - float(dot)) * scale;
}

__global__ void silu_mul_forward_k(const float* g, const float* u, float* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

__global__ void silu_mul_backward_k(const float* dout, const float* g, const float* u, float* dg,
                                    float* du, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float s = 1.0f / (1.0f + expf(-g[i]));
    const float silu = g[i] * s;
    dg[i] += dout[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
    du[i] += dout[i] * silu;
  }
}

__global__ void gather_rows_k(const float* x, const int64_t* rows, int64_t n, int64_t D, float* out) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < n * D;
       t += int64_t(gridDim.x) * blockDim.x)
    out[t] = x[rows[t / D] * D + t % D];
}

__global__ void scatter_add_rows_k(const float* d, const int64_t* rows, int64_t n, int64_t D, float* dx) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < n * D;
       t += int64_t(gridDim.x) * blockDim.x)
    atomicAdd(&dx[rows[t / D] * D + t % D], d[t]);
}

__global__ void sum_squares_k(const float* x, int64_t n, double* partial) {
  double s = 0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    s += double(x[i]) * double(x[i]);
  s = block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void scale_k(float* x, int64_t n, float c) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    x[i] *= c;
}

__global__ void adamw_k(float* p, const float* g, float* m, float* v, int64_t n, AdamWCoeffs c,
                        float shrink) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    adamw_update(p[i], g[i], m[i], v[i], c, shrink);
}

int row_threads(int64_t n) {
  int t = 32;
  while (t < 1024 && t < n) t *= 2;
  return t;
}

}  // namespace

void embedding_forward(const float* table, int64_t D, const int64_t* ids, int64_t n, float* out,
                       cudaStream_t s) {
  if (n * D == 0) return;
  embedding_forward_k<<<blocks_for(n * D), kThreads, 0, s>>>(table, D, ids, n, out);
  MMADA_CUDA_LAUNCHED();
}
void embedding_backward(const float* dout, const int64_t* ids, int64_t n, int64_t D,
                        float* dtable, cudaStream_t s) {
  if (n * D == 0) return;
  embedding_backward_k<<<blocks_for(n * D), kThreads, 0, s>>>(dout, ids, n, D, dtable);
  MMADA_CUDA_LAUNCHED();
}
void rmsnorm_forward(const float* x, const float* w, float* y, float* inv, int64_t rows,
                     int64_t n, double eps, cudaStream_t s) {
  if (rows == 0) return;
  rmsnorm_forward_k<<<unsigned(rows), row_threads(n), 0, s>>>(x, w, y, inv, n, float(eps));
  MMADA_CUDA_LAUNCHED();
}
void rmsnorm_backward(const float* dy, const float* x, const float* w, const float* inv,
                      float* dx, float* dw, int64_t rows, int64_t n, cudaStream_t s) {
  if (rows == 0) return;
  rmsnorm_backward_dx_k<<<unsigned(rows), row_threads(n), 0, s>>>(dy, x, w, inv, dx, n);
  MMADA_CUDA_LAUNCHED();
  rmsnorm_backward_dw_k<<<unsigned((n + 127) / 128), 128, 0, s>>>(dy, x, inv, dw, rows, n);
  MMADA_CUDA_LAUNCHED();
}
void rope(float* x, int64_t B, int64_t L, int64_t heads, int64_t d, const float* cos,
          const float* sin, bool transpose, cudaStream_t s) {
  const int64_t total = B * L * heads * (d / 2);
  if (total == 0) return;
  rope_k<<<blocks_for(total), kThreads, 0, s>>>(x, B * L, L, heads, d, cos, sin, transpose);
  MMADA_CUDA_LAUNCHED();
}
void attention_softmax(float* S, int64_t B, int64_t H, int64_t L, float scale, const uint8_t* mask,
                       int mode, cudaStream_t s) {
  if (B * H * L == 0) return;
  attention_softmax_k<<<unsigned(B * H * L), row_threads(L), 0, s>>>(S, H, L, scale, mask, mode);
  MMADA_CUDA_LAUNCHED();
}
void attention_softmax_backward(float* dS, const float* P, int64_t B, int64_t H, int64_t L,
                                float scale, const uint8_t* mask, int mode, cudaStream_t s) {
  if (B * H * L == 0) return;
  attention_softmax_backward_k<<<unsigned(B * H * L), row_threads(L), 0, s>>>(dS, P, H, L, scale,
                                                                              mask, mode);
  MMADA_CUDA_LAUNCHED();
}
void silu_mul_forward(const float* g, const float* u, float* out, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  silu_mul_forward_k<<<blocks_for(n), kThreads, 0, s>>>(g, u, out, n);
  MMADA_CUDA_LAUNCHED();
}
void silu_mul_backward(const float* dout, const float* g, const float* u, float* dg, float* du,
                       int64_t n, cudaStream_t s) {
  if (n == 0) return;
  silu_mul_backward_k<<<blocks_for(n), kThreads, 0, s>>>(dout, g, u, dg, du, n);
  MMADA_CUDA_LAUNCHED();
}
void gather_rows(const float* x, const int64_t* rows, int64_t n, int64_t D, float* out,
                 cudaStream_t s) {
  if (n * D == 0) return;
  gather_rows_k<<<blocks_for(n * D), kThreads, 0, s>>>(x, rows, n, D, out);
  MMADA_CUDA_LAUNCHED();
}
void scatter_add_rows(const float* d, const int64_t* rows, int64_t n, int64_t D, float* dx,
                      cudaStream_t s) {
  if (n * D == 0) return;
  scatter_add_rows_k<<<blocks_for(n * D), kThreads, 0, s>>>(d, rows, n, D, dx);
  MMADA_CUDA_LAUNCHED();
}
int sum_squares_partial(const float* x, int64_t n, double* partial, cudaStream_t s) {
  const int b = int(std::min<int64_t>(kSumSquaresBlocks, std::max<int64_t>(1, (n + kThreads - 1) / kThreads)));
  sum_squares_k<<<unsigned(b), kThreads, 0, s>>>(x, n, partial);
  MMADA_CUDA_LAUNCHED();
  return b;
}
void scale(float* x, int64_t n, float c, cudaStream_t s) {
  if (n == 0) return;
  scale_k<<<blocks_for(n), kThreads, 0, s>>>(x, n, c);
  MMADA_CUDA_LAUNCHED();
}
void adamw(float* p, const float* g, float* m, float* v, int64_t n, const AdamWCoeffs& c,
           float shrink, cudaStream_t s) {
  if (n == 0) return;
  adamw_k<<<blocks_for(n), kThreads, 0, s>>>(p, g, m, v, n, c, shrink);
  MMADA_CUDA_LAUNCHED();
}

}  // namespace mmada::train::cuda

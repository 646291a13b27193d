#include "train/train_ops.h"

#include <cmath>
#include <type_traits>
#include <vector>

#include "backend/cpu/gemm.h"
#include "core/error.h"

namespace mmada::train {

template <class T>
void gemm(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, bool ta, const T* B,
          int64_t ldb, bool tb, T* C, int64_t ldc, bool acc) {
  if (M == 0 || N == 0) return;
  if constexpr (std::is_same_v<T, float>) {
    if (K == 0) {
      if (!acc)
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = 0;
      return;
    }
    cpu::matmul(M, N, K, cpu::MatRef{A, DType::F32, lda, ta}, cpu::MatRef{B, DType::F32, ldb, tb},
                C, ldc, acc);
  } else {
#pragma omp parallel for if (M * N * K > 100000)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        T s = 0;
        for (int64_t p = 0; p < K; ++p)
          s += (ta ? A[p * lda + i] : A[i * lda + p]) * (tb ? B[j * ldb + p] : B[p * ldb + j]);
        C[i * ldc + j] = acc ? C[i * ldc + j] + s : s;
      }
  }
}

template <class T>
void embedding_forward(const T* table, int64_t D, const int64_t* ids, int64_t n, T* out) {
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < D; ++c) out[r * D + c] = table[ids[r] * D + c];
}

template <class T>
void embedding_backward(const T* dout, const int64_t* ids, int64_t n, int64_t D, T* dtable) {
  // Serial: two rows may share an id, so the += order must be fixed (reproducible sums).
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < D; ++c) dtable[ids[r] * D + c] += dout[r * D + c];
}

template <class T>
void rmsnorm_forward(const T* x, const T* w, T* y, T* inv, int64_t rows, int64_t n, double eps) {
#pragma omp parallel for if (rows * n > 65536)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * n;
    double ss = 0;
    for (int64_t i = 0; i < n; ++i) ss += double(xr[i]) * double(xr[i]);
    // Same rounding order as cpu::rmsnorm for float: mean in double, rsqrt in T.
    const T iv = T(1) / std::sqrt(T(ss / double(n)) + T(eps));
    inv[r] = iv;
    for (int64_t i = 0; i < n; ++i) y[r * n + i] = w[i] * (xr[i] * iv);
  }
}

template <class T>
void rmsnorm_backward(const T* dy, const T* x, const T* w, const T* inv, T* dx, T* dw,
                      int64_t rows, int64_t n) {
#pragma omp parallel for if (rows * n > 65536)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * n;
    const T* g = dy + r * n;
    double dot = 0;  // Σ_i dy_i w_i x_i
    for (int64_t i = 0; i < n; ++i) dot += double(g[i]) * double(w[i]) * double(xr[i]);
    const T iv = inv[r];
    const T c = T(dot / double(n)) * iv * iv * iv;
    for (int64_t i = 0; i < n; ++i) dx[r * n + i] += iv * g[i] * w[i] - xr[i] * c;
  }
  // dw: column sums, parallel over columns so every sum has a fixed order.
#pragma omp parallel for if (rows * n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    T s = 0;
    for (int64_t r = 0; r < rows; ++r) s += dy[r * n + i] * x[r * n + i] * inv[r];
    dw[i] += s;
  }
}

template <class T>
void linear_forward(const T* x, const T* W, T* y, int64_t M, int64_t K, int64_t N, bool acc) {
  gemm<T>(M, N, K, x, K, false, W, K, true, y, N, acc);
}

template <class T>
void linear_backward(const T* dy, const T* x, const T* W, T* dx, T* dW, int64_t M, int64_t K,
                     int64_t N) {
  gemm<T>(M, K, N, dy, N, false, W, K, false, dx, K, true);  // dx[M,K] += dy[M,N]·W[N,K]
  gemm<T>(N, K, M, dy, N, true, x, K, false, dW, K, true);   // dW[N,K] += dyᵀ[N,M]·x[M,K]
}

namespace {
inline bool visible(const uint8_t* m, AttnMask mode, int64_t i, int64_t j) {
  return mode != AttnMask::Pair || !m || (m[i] && m[j]);
}
}  // namespace

template <class T>
void rope_forward(T* x, int64_t B, int64_t L, int64_t n_heads, int64_t d, const cpu::RopeTable& t) {
  cpu::apply_rope(x, B, L, n_heads, d, t, /*transpose=*/false);
}
template <class T>
void rope_backward(T* dx, int64_t B, int64_t L, int64_t n_heads, int64_t d,
                   const cpu::RopeTable& t) {
  cpu::apply_rope(dx, B, L, n_heads, d, t, /*transpose=*/true);
}

template <class T>
void attention_forward(const T* q, const T* k, const T* v, T* out, T* P, int64_t B, int64_t L,
                       int64_t n_heads, int64_t n_kv, int64_t d, const uint8_t* token_mask,
                       AttnMask mode) {
  const int64_t qw = n_heads * d, kw = n_kv * d, group = n_heads / n_kv;
  const T scale = T(1) / std::sqrt(T(d));
  for (int64_t b = 0; b < B; ++b) {
    const uint8_t* m = token_mask ? token_mask + b * L : nullptr;
    for (int64_t h = 0; h < n_heads; ++h) {
      const int64_t koff = b * L * kw + (h / group) * d, qoff = b * L * qw + h * d;
      T* S = P + (b * n_heads + h) * L * L;
      gemm<T>(L, L, d, q + qoff, qw, false, k + koff, kw, true, S, L, false);  // Q·Kᵀ [L, L]
#pragma omp parallel for if (L * L > 16384)
      for (int64_t i = 0; i < L; ++i) {
        T* s = S + i * L;
        T mx = -INFINITY;
        for (int64_t j = 0; j < L; ++j) {
          T z = s[j] * scale;
          if (mode == AttnMask::AdditiveUnit && m && m[i] && m[j]) z += T(1);
          s[j] = z;
          if (visible(m, mode, i, j)) mx = std::max(mx, z);
        }
        if (mx == -INFINITY) {  // no visible key: uniform, as the inference forward does
          for (int64_t j = 0; j < L; ++j) s[j] = T(1) / T(L);
          continue;
        }
        double sum = 0;
        for (int64_t j = 0; j < L; ++j) {
          const T e = visible(m, mode, i, j) ? std::exp(s[j] - mx) : T(0);
          s[j] = e;
          sum += e;
        }
        const T invs = T(1.0 / sum);
        for (int64_t j = 0; j < L; ++j) s[j] *= invs;
      }
      gemm<T>(L, d, L, S, L, false, v + koff, kw, false, out + qoff, qw, false);  // P·V
    }
  }
}

template <class T>
void attention_backward(const T* dout, const T* q, const T* k, const T* v, const T* P, T* dq,
                        T* dk, T* dv, int64_t B, int64_t L, int64_t n_heads, int64_t n_kv,
                        int64_t d, const uint8_t* token_mask, AttnMask mode) {
  const int64_t qw = n_heads * d, kw = n_kv * d, group = n_heads / n_kv;
  const T scale = T(1) / std::sqrt(T(d));
  std::vector<T> dS(size_t(L * L));
  for (int64_t b = 0; b < B; ++b) {
    const uint8_t* m = token_mask ? token_mask + b * L : nullptr;
    for (int64_t h = 0; h < n_heads; ++h) {
      const int64_t koff = b * L * kw + (h / group) * d, qoff = b * L * qw + h * d;
      const T* Ph = P + (b * n_heads + h) * L * L;
      gemm<T>(L, d, L, Ph, L, true, dout + qoff, qw, false, dv + koff, kw, true);  // dV += Pᵀ dO
      gemm<T>(L, L, d, dout + qoff, qw, false, v + koff, kw, true, dS.data(), L, false);  // dP
#pragma omp parallel for if (L * L > 16384)
      for (int64_t i = 0; i < L; ++i) {
        T* ds = dS.data() + i * L;
        const T* p = Ph + i * L;
        bool any = false;
        for (int64_t j = 0; j < L && !any; ++j) any = visible(m, mode, i, j);
        if (!any) {
          for (int64_t j = 0; j < L; ++j) ds[j] = 0;
          continue;
        }
        double dot = 0;
        for (int64_t j = 0; j < L; ++j) dot += double(ds[j]) * double(p[j]);
        // Masked pairs have p = 0, so their dS is 0 too. The 1/sqrt(d) of the scores is
        // folded in here (the +1 bias has no gradient).
        for (int64_t j = 0; j < L; ++j) ds[j] = p[j] * (ds[j] - T(dot)) * scale;
      }
      gemm<T>(L, d, L, dS.data(), L, false, k + koff, kw, false, dq + qoff, qw, true);  // dQ
      gemm<T>(L, d, L, dS.data(), L, true, q + qoff, qw, false, dk + koff, kw, true);   // dK
    }
  }
}

template <class T>
void silu_mul_forward(const T* g, const T* u, T* out, int64_t n) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) out[i] = g[i] / (T(1) + std::exp(-g[i])) * u[i];
}

template <class T>
void silu_mul_backward(const T* dout, const T* g, const T* u, T* dg, T* du, int64_t n) {
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) {
    const T s = T(1) / (T(1) + std::exp(-g[i]));
    const T silu = g[i] * s;
    dg[i] += dout[i] * u[i] * s * (T(1) + g[i] * (T(1) - s));
    du[i] += dout[i] * silu;
  }
}

template <class T>
double cross_entropy(const T* logits, const int64_t* labels, const double* weight, int64_t R,
                     int64_t V, double ls, T* dlogits, double* ce) {
  std::vector<double> row_loss(static_cast<size_t>(R));
#pragma omp parallel for if (R * V > 65536)
  for (int64_t r = 0; r < R; ++r) {
    const T* z = logits + r * V;
    T* dz = dlogits + r * V;
    double mx = -INFINITY;
    for (int64_t j = 0; j < V; ++j) mx = std::max(mx, double(z[j]));
    double sum = 0, mean_z = 0;
    for (int64_t j = 0; j < V; ++j) {
      sum += std::exp(double(z[j]) - mx);
      mean_z += double(z[j]);
    }
    mean_z /= double(V);
    const double lse = mx + std::log(sum);
    // −log p[label] = lse − z[label];  −mean log p = lse − mean z
    const double l = (1 - ls) * (lse - double(z[labels[r]])) + ls * (lse - mean_z);
    row_loss[size_t(r)] = l;
    const double w = weight[r];
    for (int64_t j = 0; j < V; ++j)
      dz[j] = T(w * (std::exp(double(z[j]) - lse) - ls / double(V)));
    dz[labels[r]] -= T(w * (1 - ls));
  }
  double total = 0;
  for (int64_t r = 0; r < R; ++r) {
    total += weight[r] * row_loss[size_t(r)];
    if (ce) ce[r] = row_loss[size_t(r)];
  }
  return total;
}

#define MMADA_TRAIN_OPS(T)                                                                       \
  template void gemm<T>(int64_t, int64_t, int64_t, const T*, int64_t, bool, const T*, int64_t,   \
                        bool, T*, int64_t, bool);                                                \
  template void embedding_forward<T>(const T*, int64_t, const int64_t*, int64_t, T*);            \
  template void embedding_backward<T>(const T*, const int64_t*, int64_t, int64_t, T*);           \
  template void rmsnorm_forward<T>(const T*, const T*, T*, T*, int64_t, int64_t, double);        \
  template void rmsnorm_backward<T>(const T*, const T*, const T*, const T*, T*, T*, int64_t,     \
                                    int64_t);                                                    \
  template void linear_forward<T>(const T*, const T*, T*, int64_t, int64_t, int64_t, bool);      \
  template void linear_backward<T>(const T*, const T*, const T*, T*, T*, int64_t, int64_t,       \
                                   int64_t);                                                     \
  template void rope_forward<T>(T*, int64_t, int64_t, int64_t, int64_t, const cpu::RopeTable&);  \
  template void rope_backward<T>(T*, int64_t, int64_t, int64_t, int64_t, const cpu::RopeTable&); \
  template void attention_forward<T>(const T*, const T*, const T*, T*, T*, int64_t, int64_t,     \
                                     int64_t, int64_t, int64_t, const uint8_t*, AttnMask);       \
  template void attention_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*,  \
                                      T*, int64_t, int64_t, int64_t, int64_t, int64_t,           \
                                      const uint8_t*, AttnMask);                                 \
  template void silu_mul_forward<T>(const T*, const T*, T*, int64_t);                            \
  template void silu_mul_backward<T>(const T*, const T*, const T*, T*, T*, int64_t);             \
  template double cross_entropy<T>(const T*, const int64_t*, const double*, int64_t, int64_t,    \
                                   double, T*, double*);

MMADA_TRAIN_OPS(float)
MMADA_TRAIN_OPS(double)

}  // namespace mmada::train

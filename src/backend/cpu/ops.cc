#include "backend/cpu/ops.h"

#include <cmath>
#include <cstring>

#include "backend/cpu/gemm.h"
#include "core/error.h"
#include "core/quant.h"

namespace mmada::cpu {

void rmsnorm(const float* x, const float* w, float* y, int64_t rows, int64_t n, float eps) {
#pragma omp parallel for if (rows * n > 65536)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    double ss = 0;
    for (int64_t i = 0; i < n; ++i) ss += double(xr[i]) * double(xr[i]);
    const float inv = 1.0f / std::sqrt(float(ss / double(n)) + eps);
    for (int64_t i = 0; i < n; ++i) yr[i] = w[i] * (xr[i] * inv);
  }
}

RopeTable make_rope_table(int64_t L, int64_t d, double theta) {
  RopeTable t;
  t.L = L;
  t.d = d;
  t.cos.resize(size_t(L * d));
  t.sin.resize(size_t(L * d));
  const int64_t half = d / 2;
  std::vector<float> inv_freq(static_cast<size_t>(half));
  for (int64_t m = 0; m < half; ++m) {
    const float expo = float(2 * m) / float(d);
    inv_freq[size_t(m)] = 1.0f / std::pow(float(theta), expo);
  }
  for (int64_t p = 0; p < L; ++p)
    for (int64_t c = 0; c < d; ++c) {
      const float a = float(p) * inv_freq[size_t(c % half)];
      t.cos[size_t(p * d + c)] = std::cos(a);
      t.sin[size_t(p * d + c)] = std::sin(a);
    }
  return t;
}

template <class T>
void apply_rope(T* x, int64_t B, int64_t L, int64_t n_heads, int64_t d, const RopeTable& t,
                bool transpose, const int64_t* positions) {
  MMADA_CHECK(t.d == d && (positions || t.L >= L), "rope table too small");
  if (positions)
    for (int64_t r = 0; r < B * L; ++r)
      MMADA_CHECK(positions[r] >= 0 && positions[r] < t.L, "rope position ", positions[r],
                  " outside the table [0, ", t.L, ")");
  const int64_t half = d / 2, width = n_heads * d;
#pragma omp parallel for if (B * L * width > 65536)
  for (int64_t r = 0; r < B * L; ++r) {
    const int64_t p = positions ? positions[r] : r % L;
    const float* c = &t.cos[size_t(p * d)];
    const float* s = &t.sin[size_t(p * d)];
    for (int64_t h = 0; h < n_heads; ++h) {
      T* u = x + r * width + h * d;
      for (int64_t i = 0; i < half; ++i) {
        const T u1 = u[i], u2 = u[i + half];
        if (!transpose) {  // u·cos + rotate_half(u)·sin, rotate_half(u) = (-u2, u1)
          u[i] = u1 * T(c[i]) + (-u2) * T(s[i]);
          u[i + half] = u2 * T(c[i + half]) + u1 * T(s[i + half]);
        } else {  // du1 = dy1 c1 + dy2 s2 ; du2 = −dy1 s1 + dy2 c2
          u[i] = u1 * T(c[i]) + u2 * T(s[i + half]);
          u[i + half] = -u1 * T(s[i]) + u2 * T(c[i + half]);
        }
      }
    }
  }
}
template void apply_rope<float>(float*, int64_t, int64_t, int64_t, int64_t, const RopeTable&, bool, const int64_t*);
template void apply_rope<double>(double*, int64_t, int64_t, int64_t, int64_t, const RopeTable&, bool, const int64_t*);

void attention(const float* q, const float* k, const float* v, float* out, int64_t B, int64_t L,
               int64_t q0, int64_t Lq, int64_t n_heads, int64_t n_kv, int64_t d,
               const uint8_t* token_mask, MaskMode mode, bool bf16) {
  MMADA_CHECK(q0 >= 0 && Lq >= 1 && q0 + Lq <= L, "attention: query span [", q0, ", ", q0 + Lq,
              ") outside the row [0, ", L, ")");
  const int64_t qw = n_heads * d, kw = n_kv * d, group = n_heads / n_kv;
  const float scale = 1.0f / std::sqrt(float(d));
  const DType dt = bf16 ? DType::BF16 : DType::F32;
  std::vector<uint16_t> qb, kb, vb;
  if (bf16) {  // round q, k, v to bf16 once, as the reference's bf16 activations are
    qb.resize(size_t(B * Lq * qw));
    kb.resize(size_t(B * L * kw));
    vb.resize(size_t(B * L * kw));
    convert_f32_to_bf16(q, qb.data(), qb.size());
    convert_f32_to_bf16(k, kb.data(), kb.size());
    convert_f32_to_bf16(v, vb.data(), vb.size());
  }
  auto ptr = [&](const float* f, const std::vector<uint16_t>& h, int64_t off) -> const void* {
    return bf16 ? static_cast<const void*>(h.data() + off) : static_cast<const void*>(f + off);
  };
  // One (row, head) per thread at a time, its GEMMs single-threaded (oneDNN runs serially
  // inside a parallel region): a few parallel regions per layer instead of three per head,
  // whose fork/join waits dominated when the cores are shared.
#pragma omp parallel
  {
    std::vector<float> S(size_t(Lq * L));
    std::vector<uint16_t> pb(bf16 ? size_t(Lq * L) : 0);
#pragma omp for schedule(dynamic)
    for (int64_t bh = 0; bh < B * n_heads; ++bh) {
      const int64_t b = bh / n_heads, h = bh % n_heads;
      const uint8_t* m = token_mask ? token_mask + b * L : nullptr;
      const int64_t g = h / group;
      const int64_t qoff = b * Lq * qw + h * d, koff = b * L * kw + g * d;
      // S = Q_h · K_hᵀ : [Lq, L]
      matmul(Lq, L, d, MatRef{ptr(q, qb, qoff), dt, qw}, MatRef{ptr(k, kb, koff), dt, kw, true},
             S.data(), L);
      for (int64_t r = 0; r < Lq; ++r) {
        const int64_t i = q0 + r;  // the query's position in the row
        float* s = &S[size_t(r * L)];
        auto allowed = [&](int64_t j) {
          if (!m) return true;
          return mode == MaskMode::Pair ? (m[i] && m[j]) : (j <= i && m[j]);
        };
        float mx = -INFINITY;
        for (int64_t j = 0; j < L; ++j)
          if (allowed(j)) mx = std::max(mx, s[j] * scale);
        if (mx == -INFINITY) {  // no visible key: uniform weights, like all-float32-min scores
          for (int64_t j = 0; j < L; ++j) s[j] = 1.0f / float(L);
        } else {
          double sum = 0;
          for (int64_t j = 0; j < L; ++j) {
            const float e = allowed(j) ? std::exp(s[j] * scale - mx) : 0.0f;
            s[j] = e;
            sum += e;
          }
          const float inv = float(1.0 / sum);
          for (int64_t j = 0; j < L; ++j) s[j] *= inv;
        }
        if (bf16)
          for (int64_t j = 0; j < L; ++j) pb[size_t(r * L + j)] = f32_to_bf16(s[j]);
      }
      // O_h = P · V_h : [Lq, d], written into the head's columns of `out`.
      const void* P = bf16 ? static_cast<const void*>(pb.data()) : static_cast<const void*>(S.data());
      matmul(Lq, d, L, MatRef{P, dt, L}, MatRef{ptr(v, vb, koff), dt, kw}, out + b * Lq * qw + h * d,
             qw);
    }
  }
}

void silu_gate(const float* gu, int64_t rows, int64_t F, float* out) {
#pragma omp parallel for if (rows * F > 65536)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < F; ++i) {
      const float x = gu[r * 2 * F + i];
      out[r * F + i] = x / (1.0f + std::exp(-x)) * gu[r * 2 * F + F + i];
    }
}

void embedding(const Tensor& table, const int64_t* ids, int64_t n, float* out) {
  const int64_t V = table.size(0), d = table.size(1);
  for (int64_t r = 0; r < n; ++r) {
    const int64_t id = ids[r];
    MMADA_CHECK(id >= 0 && id < V, "token id ", id, " is outside the vocabulary (", V, " rows)");
    float* o = out + r * d;
    switch (table.dtype) {
      case DType::F32: std::memcpy(o, table.ptr<float>() + id * d, size_t(d) * 4); break;
      case DType::BF16: convert_bf16_to_f32(table.ptr<uint16_t>() + id * d, o, size_t(d)); break;
      case DType::F16: convert_f16_to_f32(table.ptr<uint16_t>() + id * d, o, size_t(d)); break;
      case DType::Q8_0:
      case DType::Q4_0:
      case DType::Q4_K:
      case DType::Q6_K:
        dequantize(table.dtype, table.ptr<uint8_t>() + dtype_nbytes(table.dtype, id * d), o, d);
        break;
      default: fail("embedding table of dtype ", dtype_name(table.dtype));
    }
  }
}

}  // namespace mmada::cpu

#include "vq/feature_ops.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <cmath>
#include <vector>

#include "core/error.h"

namespace mmada {

Tensor group_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, int64_t groups,
                  float eps, bool swish) {
  MMADA_CHECK(x.dim() == 4 && x.dtype == DType::F32 && x.contiguous(),
              "group_norm: input must be float32 NCHW, got ", shape_str(x.shape));
  const int64_t n = x.size(0), c = x.size(1), hw = x.size(2) * x.size(3);
  MMADA_CHECK(groups > 0 && c % groups == 0, "group_norm: ", c, " channels not divisible into ",
              groups, " groups");
  MMADA_CHECK(gamma.numel() == c && beta.numel() == c && gamma.dtype == DType::F32 &&
                  beta.dtype == DType::F32,
              "group_norm: affine parameters must be float32 [", c, "]");
  const int64_t cg = c / groups, len = cg * hw;
  Tensor y = Tensor::empty(DType::F32, x.shape);
  const float* g = gamma.ptr<float>();
  const float* b = beta.ptr<float>();
  // Parallel over (sample, group) when there are enough of them, else inside each group.
#pragma omp parallel for schedule(dynamic)
  for (int64_t ng = 0; ng < n * groups; ++ng) {
    const float* xs = x.ptr<float>() + ng * len;
    float* ys = y.ptr<float>() + ng * len;
    double sum = 0, sq = 0;
#pragma omp simd reduction(+ : sum, sq)
    for (int64_t i = 0; i < len; ++i) {
      const double v = xs[i];
      sum += v;
      sq += v * v;
    }
    const double mean = sum / double(len);
    const double var = std::max(0.0, sq / double(len) - mean * mean);
    const double rstd = 1.0 / std::sqrt(var + double(eps));
    const int64_t c0 = (ng % groups) * cg;
    for (int64_t ci = 0; ci < cg; ++ci) {
      // y = x * scale + shift with scale = rstd * gamma, shift = beta - mean * scale.
      const float scale = float(rstd * double(g[c0 + ci]));
      const float shift = float(double(b[c0 + ci]) - mean * rstd * double(g[c0 + ci]));
      const float* xc = xs + ci * hw;
      float* yc = ys + ci * hw;
      if (swish) {
#pragma omp simd
        for (int64_t i = 0; i < hw; ++i) {
          const float t = xc[i] * scale + shift;
          yc[i] = t / (1.f + std::exp(-t));
        }
      } else {
#pragma omp simd
        for (int64_t i = 0; i < hw; ++i) yc[i] = xc[i] * scale + shift;
      }
    }
  }
  return y;
}

Tensor upsample_nearest2x(const Tensor& x) {
  MMADA_CHECK(x.dim() == 4 && x.dtype == DType::F32 && x.contiguous(),
              "upsample_nearest2x: input must be float32 NCHW, got ", shape_str(x.shape));
  const int64_t nc = x.size(0) * x.size(1), h = x.size(2), w = x.size(3);
  Tensor y = Tensor::empty(DType::F32, {x.size(0), x.size(1), 2 * h, 2 * w});
#pragma omp parallel for
  for (int64_t p = 0; p < nc * h; ++p) {
    const float* src = x.ptr<float>() + p * w;
    float* d0 = y.ptr<float>() + p * 4 * w;  // output rows 2r and 2r+1 of plane p / h
    float* d1 = d0 + 2 * w;
    for (int64_t j = 0; j < w; ++j) d0[2 * j] = d0[2 * j + 1] = src[j];
    for (int64_t j = 0; j < 2 * w; ++j) d1[j] = d0[j];
  }
  return y;
}

Tensor spatial_attention(const Tensor& q, const Tensor& k, const Tensor& v) {
  MMADA_CHECK(q.dim() == 4 && q.shape == k.shape && q.shape == v.shape && q.dtype == DType::F32,
              "spatial_attention: q, k, v must be float32 NCHW of one shape");
  const int64_t n = q.size(0), c = q.size(1), len = q.size(2) * q.size(3);
  const float scale = float(std::pow(double(c), -0.5));
  Tensor o = Tensor::empty(DType::F32, q.shape);
  std::vector<float> s(size_t(len * len));
  for (int64_t b = 0; b < n; ++b) {
    const float* qb = q.ptr<float>() + b * c * len;
    const float* kb = k.ptr<float>() + b * c * len;
    const float* vb = v.ptr<float>() + b * c * len;
    // s[i, j] = sum_c q[c, i] k[c, j]; then scaled, as the reference scales after the product.
    dnnl::sgemm('T', 'N', len, len, c, 1.f, qb, len, kb, len, 0.f, s.data(), len);
#pragma omp parallel for
    for (int64_t i = 0; i < len; ++i) {
      float* row = s.data() + i * len;
      float mx = -INFINITY;
      for (int64_t j = 0; j < len; ++j) mx = std::max(mx, row[j] *= scale);
      float sum = 0.f;
      for (int64_t j = 0; j < len; ++j) sum += (row[j] = std::exp(row[j] - mx));
      const float inv = 1.f / sum;
      for (int64_t j = 0; j < len; ++j) row[j] *= inv;
    }
    // o[c, i] = sum_j v[c, j] s[i, j]
    dnnl::sgemm('N', 'T', c, len, len, 1.f, vb, len, s.data(), len, 0.f,
                o.ptr<float>() + b * c * len, len);
  }
  return o;
}

}  // namespace mmada

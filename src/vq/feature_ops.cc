#include "vq/feature_ops.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"

namespace mmada {

namespace {

void check_4d_f32(const Tensor& x, const char* what) {
  MMADA_CHECK(x.dim() == 4 && x.dtype == DType::F32 && x.contiguous(), what,
              ": expected a float32 contiguous 4-D tensor, got ", shape_str(x.shape));
}

// exp(x) for float32 in a form the compiler vectorises (glibc's expf is scalar without
// -ffast-math): Cody-Waite reduction x = n ln2 + r and the Cephes degree-6 polynomial,
// ~1 ulp over the clamped range.
inline float exp_vec(float x) {
  x = std::min(88.3f, std::max(-87.3f, x));
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  return p * std::bit_cast<float>((int32_t(n) + 127) << 23);
}

}  // namespace

Tensor nchw_to_nhwc(const Tensor& x) {
  check_4d_f32(x, "nchw_to_nhwc");
  const int64_t n = x.size(0), c = x.size(1), hw = x.size(2) * x.size(3);
  Tensor y = Tensor::empty(DType::F32, {n, x.size(2), x.size(3), c});
#pragma omp parallel for
  for (int64_t p = 0; p < n * hw; ++p)
    for (int64_t ch = 0; ch < c; ++ch)
      y.ptr<float>()[p * c + ch] = x.ptr<float>()[((p / hw) * c + ch) * hw + p % hw];
  return y;
}

Tensor nhwc_to_nchw(const Tensor& x) {
  check_4d_f32(x, "nhwc_to_nchw");
  const int64_t n = x.size(0), hw = x.size(1) * x.size(2), c = x.size(3);
  Tensor y = Tensor::empty(DType::F32, {n, c, x.size(1), x.size(2)});
#pragma omp parallel for
  for (int64_t plane = 0; plane < n * c; ++plane) {
    const int64_t b = plane / c, ch = plane % c;
    for (int64_t p = 0; p < hw; ++p)
      y.ptr<float>()[plane * hw + p] = x.ptr<float>()[(b * hw + p) * c + ch];
  }
  return y;
}

Tensor group_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, int64_t groups,
                  float eps, bool swish) {
  check_4d_f32(x, "group_norm");
  const int64_t n = x.size(0), hw = x.size(1) * x.size(2), c = x.size(3);
  MMADA_CHECK(groups > 0 && c % groups == 0, "group_norm: ", c, " channels not divisible into ",
              groups, " groups");
  MMADA_CHECK(gamma.numel() == c && beta.numel() == c && gamma.dtype == DType::F32 &&
                  beta.dtype == DType::F32,
              "group_norm: affine parameters must be float32 [", c, "]");
  const int64_t cg = c / groups;
  Tensor y = Tensor::empty(DType::F32, x.shape);
  std::vector<float> scale(static_cast<size_t>(c)), shift(static_cast<size_t>(c));
  for (int64_t b = 0; b < n; ++b) {
    const float* xb = x.ptr<float>() + b * hw * c;
    float* yb = y.ptr<float>() + b * hw * c;
    // Per-channel sums over the pixels (float64), one partial array per thread.
    std::vector<double> sum(static_cast<size_t>(c)), sq(static_cast<size_t>(c));
#pragma omp parallel
    {
      std::vector<double> s(static_cast<size_t>(c)), q(static_cast<size_t>(c));
#pragma omp for nowait
      for (int64_t p = 0; p < hw; ++p) {
        const float* xp = xb + p * c;
#pragma omp simd
        for (int64_t ch = 0; ch < c; ++ch) {
          const double v = xp[ch];
          s[size_t(ch)] += v;
          q[size_t(ch)] += v * v;
        }
      }
#pragma omp critical
      for (int64_t ch = 0; ch < c; ++ch) sum[size_t(ch)] += s[size_t(ch)], sq[size_t(ch)] += q[size_t(ch)];
    }
    // y = x * scale + shift per channel, scale = rstd * gamma, shift = beta - mean * scale.
    for (int64_t g = 0; g < groups; ++g) {
      double gs = 0, gq = 0;
      for (int64_t ch = g * cg; ch < (g + 1) * cg; ++ch) gs += sum[size_t(ch)], gq += sq[size_t(ch)];
      const double count = double(hw * cg), mean = gs / count;
      const double rstd = 1.0 / std::sqrt(std::max(0.0, gq / count - mean * mean) + double(eps));
      for (int64_t ch = g * cg; ch < (g + 1) * cg; ++ch) {
        const double sc = rstd * double(gamma.ptr<float>()[ch]);
        scale[size_t(ch)] = float(sc);
        shift[size_t(ch)] = float(double(beta.ptr<float>()[ch]) - mean * sc);
      }
    }
    const float* sc = scale.data();
    const float* sh = shift.data();
#pragma omp parallel for
    for (int64_t p = 0; p < hw; ++p) {
      const float* xp = xb + p * c;
      float* yp = yb + p * c;
      if (swish) {
#pragma omp simd
        for (int64_t ch = 0; ch < c; ++ch) {
          const float t = xp[ch] * sc[ch] + sh[ch];
          yp[ch] = t / (1.f + exp_vec(-t));
        }
      } else {
#pragma omp simd
        for (int64_t ch = 0; ch < c; ++ch) yp[ch] = xp[ch] * sc[ch] + sh[ch];
      }
    }
  }
  return y;
}

Tensor upsample_nearest2x(const Tensor& x) {
  check_4d_f32(x, "upsample_nearest2x");
  const int64_t n = x.size(0), h = x.size(1), w = x.size(2), c = x.size(3);
  Tensor y = Tensor::empty(DType::F32, {n, 2 * h, 2 * w, c});
  const size_t pixel = size_t(c) * sizeof(float);
#pragma omp parallel for
  for (int64_t row = 0; row < n * h; ++row) {  // input row -> output rows 2r and 2r+1
    const float* src = x.ptr<float>() + row * w * c;
    float* d0 = y.ptr<float>() + row * 4 * w * c;
    for (int64_t j = 0; j < w; ++j) {
      std::memcpy(d0 + (2 * j) * c, src + j * c, pixel);
      std::memcpy(d0 + (2 * j + 1) * c, src + j * c, pixel);
    }
    std::memcpy(d0 + 2 * w * c, d0, 2 * w * pixel);
  }
  return y;
}

Tensor spatial_attention(const Tensor& q, const Tensor& k, const Tensor& v) {
  MMADA_CHECK(q.dim() == 4 && q.shape == k.shape && q.shape == v.shape && q.dtype == DType::F32 &&
                  k.dtype == DType::F32 && v.dtype == DType::F32,
              "spatial_attention: q, k, v must be float32 NHWC of one shape");
  const int64_t n = q.size(0), len = q.size(1) * q.size(2), c = q.size(3);
  const float scale = float(std::pow(double(c), -0.5));
  Tensor o = Tensor::empty(DType::F32, q.shape);
  std::vector<float> s(size_t(len * len));
  for (int64_t b = 0; b < n; ++b) {
    const float* qb = q.ptr<float>() + b * len * c;
    const float* kb = k.ptr<float>() + b * len * c;
    const float* vb = v.ptr<float>() + b * len * c;
    // s[i, j] = q_i . k_j, scaled afterwards as the reference does.
    dnnl::sgemm('N', 'T', len, len, c, 1.f, qb, c, kb, c, 0.f, s.data(), len);
#pragma omp parallel for
    for (int64_t i = 0; i < len; ++i) {
      float* row = s.data() + i * len;
      float mx = -INFINITY;
      for (int64_t j = 0; j < len; ++j) mx = std::max(mx, row[j] *= scale);
      float sum = 0.f;
      for (int64_t j = 0; j < len; ++j) sum += (row[j] = std::exp(row[j] - mx));
      for (int64_t j = 0; j < len; ++j) row[j] /= sum;
    }
    // o_i = sum_j s[i, j] v_j
    dnnl::sgemm('N', 'N', len, c, len, 1.f, s.data(), len, vb, c, 0.f, o.ptr<float>() + b * len * c,
                c);
  }
  return o;
}

}  // namespace mmada

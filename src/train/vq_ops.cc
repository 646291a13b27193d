#include "train/vq_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "train/train_ops.h"

namespace mmada::train {

namespace {

// Column buffers stay around this many elements (images are processed in chunks).
constexpr int64_t kColumnBudget = int64_t(8) << 20;

// The weight as [O, (dy, dx, i)]: with channels-last input the columns then copy whole runs of
// `in` channels, instead of gathering one value per (i, dy, dx).
template <class T>
std::vector<T> weight_dxdy_major(const ConvShape& s, const T* W) {
  const int64_t kk = s.k * s.k, K = kk * s.in;
  std::vector<T> r(static_cast<size_t>(s.out * K));
  for (int64_t o = 0; o < s.out; ++o)
    for (int64_t i = 0; i < s.in; ++i)
      for (int64_t t = 0; t < kk; ++t) r[size_t(o * K + t * s.in + i)] = W[(o * s.in + i) * kk + t];
  return r;
}

bool is_pointwise(const ConvShape& s) {
  return s.k == 1 && s.stride == 1 && s.pad_lt == 0 && s.pad_rb == 0;
}

// Rows p = ((n − n0)·OH + oy)·OW + ox of images [n0, n1), columns (dy, dx, i).
template <class T>
void im2col(const ConvShape& s, const T* x, int64_t n0, int64_t n1, T* col) {
  const int64_t OH = s.out_h(), OW = s.out_w(), K = s.k * s.k * s.in, P = (n1 - n0) * OH * OW;
#pragma omp parallel for if (P * K > 65536)
  for (int64_t p = 0; p < P; ++p) {
    const int64_t n = n0 + p / (OH * OW), oy = (p / OW) % OH, ox = p % OW;
    T* dst = col + p * K;
    for (int64_t dy = 0; dy < s.k; ++dy)
      for (int64_t dx = 0; dx < s.k; ++dx, dst += s.in) {
        const int64_t iy = oy * s.stride - s.pad_lt + dy, ix = ox * s.stride - s.pad_lt + dx;
        if (iy >= 0 && iy < s.h && ix >= 0 && ix < s.w)
          std::memcpy(dst, x + ((n * s.h + iy) * s.w + ix) * s.in, size_t(s.in) * sizeof(T));
        else
          std::fill_n(dst, s.in, T(0));
      }
  }
}

// dx += the columns scattered back; parallel over images (columns of one image overlap).
template <class T>
void col2im_add(const ConvShape& s, const T* col, int64_t n0, int64_t n1, T* dx) {
  const int64_t OH = s.out_h(), OW = s.out_w(), K = s.k * s.k * s.in;
#pragma omp parallel for if (n1 - n0 > 1)
  for (int64_t n = n0; n < n1; ++n)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        const T* src = col + (((n - n0) * OH + oy) * OW + ox) * K;
        for (int64_t dy = 0; dy < s.k; ++dy)
          for (int64_t ddx = 0; ddx < s.k; ++ddx, src += s.in) {
            const int64_t iy = oy * s.stride - s.pad_lt + dy, ix = ox * s.stride - s.pad_lt + ddx;
            if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
            T* d = dx + ((n * s.h + iy) * s.w + ix) * s.in;
            for (int64_t i = 0; i < s.in; ++i) d[i] += src[i];
          }
      }
}

int64_t images_per_chunk(const ConvShape& s) {
  const int64_t per_image = s.out_h() * s.out_w() * s.k * s.k * s.in;
  return std::clamp<int64_t>(kColumnBudget / std::max<int64_t>(1, per_image), 1, s.n);
}

inline double softplus(double t) { return t > 0 ? t + std::log1p(std::exp(-t)) : std::log1p(std::exp(t)); }

}  // namespace

template <class T>
void conv2d_forward(const ConvShape& s, const T* x, const T* W, const T* b, T* y) {
  const int64_t OH = s.out_h(), OW = s.out_w(), K = s.k * s.k * s.in;
  MMADA_CHECK(OH > 0 && OW > 0, "conv2d_forward: input ", s.h, "x", s.w, " smaller than the kernel");
  const std::vector<T> wr = weight_dxdy_major(s, W);
  const int64_t chunk = images_per_chunk(s);
  std::vector<T> col(is_pointwise(s) ? 0 : static_cast<size_t>(chunk * OH * OW * K));
  for (int64_t n0 = 0; n0 < s.n; n0 += chunk) {
    const int64_t n1 = std::min(s.n, n0 + chunk), P = (n1 - n0) * OH * OW;
    const T* a = x + n0 * s.h * s.w * s.in;
    if (!is_pointwise(s)) im2col(s, x, n0, n1, col.data()), a = col.data();
    gemm<T>(P, s.out, K, a, K, false, wr.data(), K, true, y + n0 * OH * OW * s.out, s.out, false);
  }
  const int64_t P = s.n * OH * OW;
#pragma omp parallel for if (P * s.out > 65536)
  for (int64_t p = 0; p < P; ++p)
    for (int64_t o = 0; o < s.out; ++o) y[p * s.out + o] += b[o];
}

template <class T>
void conv2d_backward(const ConvShape& s, const T* dy, const T* x, const T* W, T* dx, T* dW,
                     T* db) {
  const int64_t OH = s.out_h(), OW = s.out_w(), kk = s.k * s.k, K = kk * s.in;
  const std::vector<T> wr = weight_dxdy_major(s, W);
  std::vector<T> dwr(wr.size(), T(0));
  const int64_t chunk = images_per_chunk(s);
  const bool pw = is_pointwise(s);
  std::vector<T> col(pw ? 0 : static_cast<size_t>(chunk * OH * OW * K));
  std::vector<T> dcol(pw || !dx ? 0 : col.size());
  for (int64_t n0 = 0; n0 < s.n; n0 += chunk) {
    const int64_t n1 = std::min(s.n, n0 + chunk), P = (n1 - n0) * OH * OW;
    const T* dyc = dy + n0 * OH * OW * s.out;
    const T* a = x + n0 * s.h * s.w * s.in;
    if (!pw) im2col(s, x, n0, n1, col.data()), a = col.data();
    gemm<T>(s.out, K, P, dyc, s.out, true, a, K, false, dwr.data(), K, true);  // dW += dyᵀ·col
    if (!dx) continue;
    if (pw) {  // the columns are the input itself
      gemm<T>(P, K, s.out, dyc, s.out, false, wr.data(), K, false, dx + n0 * s.h * s.w * s.in, K,
              true);
    } else {
      gemm<T>(P, K, s.out, dyc, s.out, false, wr.data(), K, false, dcol.data(), K, false);
      col2im_add(s, dcol.data(), n0, n1, dx);
    }
  }
  for (int64_t o = 0; o < s.out; ++o)
    for (int64_t i = 0; i < s.in; ++i)
      for (int64_t t = 0; t < kk; ++t) dW[(o * s.in + i) * kk + t] += dwr[size_t(o * K + t * s.in + i)];
  // db: column sums, parallel over channels so each sum has a fixed order.
  const int64_t P = s.n * OH * OW;
#pragma omp parallel for if (P * s.out > 65536)
  for (int64_t o = 0; o < s.out; ++o) {
    double acc = 0;
    for (int64_t p = 0; p < P; ++p) acc += double(dy[p * s.out + o]);
    db[o] += T(acc);
  }
}

template <class T>
void group_norm_forward(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* rstd,
                        int64_t n, int64_t hw, int64_t c, int64_t groups, double eps) {
  const int64_t cg = c / groups;
#pragma omp parallel for if (n * hw * c > 65536)
  for (int64_t ng = 0; ng < n * groups; ++ng) {
    const int64_t b = ng / groups, g = ng % groups;
    const T* xb = x + b * hw * c + g * cg;
    double s = 0, q = 0;
    for (int64_t p = 0; p < hw; ++p)
      for (int64_t j = 0; j < cg; ++j) {
        const double v = xb[p * c + j];
        s += v, q += v * v;
      }
    const double count = double(hw * cg), mu = s / count;
    const double rs = 1.0 / std::sqrt(std::max(0.0, q / count - mu * mu) + eps);
    mean[ng] = T(mu), rstd[ng] = T(rs);
    T* yb = y + b * hw * c + g * cg;
    for (int64_t p = 0; p < hw; ++p)
      for (int64_t j = 0; j < cg; ++j) {
        const int64_t ch = g * cg + j;
        yb[p * c + j] = T((double(xb[p * c + j]) - mu) * rs) * gamma[ch] + beta[ch];
      }
  }
}

template <class T>
void group_norm_backward(const T* dy, const T* x, const T* gamma, const T* mean, const T* rstd,
                         T* dx, T* dgamma, T* dbeta, int64_t n, int64_t hw, int64_t c,
                         int64_t groups) {
  const int64_t cg = c / groups;
#pragma omp parallel for if (n * hw * c > 65536)
  for (int64_t ng = 0; ng < n * groups; ++ng) {
    const int64_t b = ng / groups, g = ng % groups, off = b * hw * c + g * cg;
    const double mu = mean[ng], rs = rstd[ng];
    double sd = 0, sdx = 0;  // Σ dx̂, Σ dx̂·x̂ over the group
    for (int64_t p = 0; p < hw; ++p)
      for (int64_t j = 0; j < cg; ++j) {
        const int64_t i = off + p * c + j;
        const double d = double(dy[i]) * double(gamma[g * cg + j]);
        sd += d, sdx += d * (double(x[i]) - mu) * rs;
      }
    const double count = double(hw * cg), md = sd / count, mdx = sdx / count;
    for (int64_t p = 0; p < hw; ++p)
      for (int64_t j = 0; j < cg; ++j) {
        const int64_t i = off + p * c + j;
        const double xh = (double(x[i]) - mu) * rs;
        dx[i] += T(rs * (double(dy[i]) * double(gamma[g * cg + j]) - md - xh * mdx));
      }
  }
#pragma omp parallel for if (n * hw * c > 65536)
  for (int64_t ch = 0; ch < c; ++ch) {
    double sg = 0, sb = 0;
    for (int64_t b = 0; b < n; ++b) {
      const int64_t ng = b * groups + ch / cg;
      for (int64_t p = 0; p < hw; ++p) {
        const int64_t i = (b * hw + p) * c + ch;
        sg += double(dy[i]) * (double(x[i]) - double(mean[ng])) * double(rstd[ng]);
        sb += double(dy[i]);
      }
    }
    dgamma[ch] += T(sg), dbeta[ch] += T(sb);
  }
}

template <class T>
void swish_forward(const T* x, T* y, int64_t count) {
#pragma omp parallel for if (count > 65536)
  for (int64_t i = 0; i < count; ++i) y[i] = x[i] / (T(1) + std::exp(-x[i]));
}

template <class T>
void swish_backward(const T* dy, const T* x, T* dx, int64_t count) {
#pragma omp parallel for if (count > 65536)
  for (int64_t i = 0; i < count; ++i) {
    const T s = T(1) / (T(1) + std::exp(-x[i]));
    dx[i] += dy[i] * (s + x[i] * s * (T(1) - s));
  }
}

template <class T>
void upsample2x_forward(const T* x, T* y, int64_t n, int64_t h, int64_t w, int64_t c) {
#pragma omp parallel for if (n * h * w * c > 65536)
  for (int64_t row = 0; row < n * h; ++row)
    for (int64_t r = 0; r < 2; ++r)
      for (int64_t j = 0; j < 2 * w; ++j)
        std::memcpy(y + ((row * 2 + r) * 2 * w + j) * c, x + (row * w + j / 2) * c,
                    size_t(c) * sizeof(T));
}

template <class T>
void upsample2x_backward(const T* dy, T* dx, int64_t n, int64_t h, int64_t w, int64_t c) {
#pragma omp parallel for if (n * h * w * c > 65536)
  for (int64_t row = 0; row < n * h; ++row)
    for (int64_t j = 0; j < w; ++j) {
      T* d = dx + (row * w + j) * c;
      for (int64_t r = 0; r < 2; ++r)
        for (int64_t e = 0; e < 2; ++e) {
          const T* s = dy + ((row * 2 + r) * 2 * w + 2 * j + e) * c;
          for (int64_t ch = 0; ch < c; ++ch) d[ch] += s[ch];
        }
    }
}

template <class T>
LfqLossTerms lfq_losses(const T* z, int64_t rows, int64_t bits, const LfqLossWeights& wt, T* dz) {
  MMADA_CHECK(bits >= 1 && bits <= 20, "lfq_losses: ", bits, " bits (the codebook entropy enumerates 2^bits codes)");
  const int64_t codes = int64_t(1) << bits, count = rows * bits;
  const double tscale = 4.0 * wt.inv_temperature;  // logit of bit b: 4·t·z_b
  LfqLossTerms out;
  std::vector<double> u(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const double zi = z[i], q = zi > 0 ? 1.0 : -1.0;
    out.commitment += (zi - q) * (zi - q);
    const double t = tscale * zi;
    u[size_t(i)] = 1.0 / (1.0 + std::exp(-t));
    // h(u) = −u log u − (1−u) log(1−u) = u·softplus(−t) + (1−u)·softplus(t)
    out.sample_entropy += u[size_t(i)] * softplus(-t) + (1 - u[size_t(i)]) * softplus(t);
  }
  out.commitment /= double(count);
  out.sample_entropy /= double(rows);

  // p(k | row) for every code k, built bit by bit (bit 0 ends up the most significant).
  auto code_probs = [&](int64_t r, std::vector<double>& p) {
    p.assign(1, 1.0);
    for (int64_t b = 0; b < bits; ++b) {
      const double ub = u[size_t(r * bits + b)];
      std::vector<double> next(p.size() * 2);
      for (size_t j = 0; j < p.size(); ++j) next[2 * j] = p[j] * (1 - ub), next[2 * j + 1] = p[j] * ub;
      p.swap(next);
    }
  };
  std::vector<double> avg(static_cast<size_t>(codes), 0.0), p;
  for (int64_t r = 0; r < rows; ++r) {
    code_probs(r, p);
    for (int64_t k = 0; k < codes; ++k) avg[size_t(k)] += p[size_t(k)];
  }
  for (double& a : avg) {
    a /= double(rows);
    if (a > 0) out.codebook_entropy -= a * std::log(a);
  }
  if (!dz) return out;

  const double we = wt.entropy;
  // ∂(−gamma·H(avg))/∂p(k|row) = gamma·(log avg_k + 1)/rows; through the product form,
  // ∂p(k|row)/∂t_b = p(k|row)·(bit_b(k) − u_b).
  std::vector<double> G(static_cast<size_t>(codes));
  for (int64_t k = 0; k < codes; ++k)
    G[size_t(k)] = avg[size_t(k)] > 0 ? wt.gamma * (std::log(avg[size_t(k)]) + 1) / double(rows) : 0.0;
  std::vector<double> Sb(static_cast<size_t>(bits));
  for (int64_t r = 0; r < rows; ++r) {
    code_probs(r, p);
    double S = 0;
    std::fill(Sb.begin(), Sb.end(), 0.0);
    for (int64_t k = 0; k < codes; ++k) {
      const double wk = G[size_t(k)] * p[size_t(k)];
      if (wk == 0) continue;
      S += wk;
      for (int64_t b = 0; b < bits; ++b)
        if ((k >> (bits - 1 - b)) & 1) Sb[size_t(b)] += wk;
    }
    for (int64_t b = 0; b < bits; ++b) {
      const int64_t i = r * bits + b;
      const double ub = u[size_t(i)], t = tscale * double(z[i]);
      const double d_sample = -t * ub * (1 - ub) / double(rows);  // ∂ mean_rows h(u)/∂t
      const double d_t = d_sample + (Sb[size_t(b)] - ub * S);
      const double q = z[i] > 0 ? 1.0 : -1.0;
      dz[i] += T(we * d_t * tscale + wt.commitment * 2 * (double(z[i]) - q) / double(count));
    }
  }
  return out;
}

template <class T>
double recon_loss(const T* xhat, const T* x, int64_t count, ReconLoss kind, double weight,
                  T* dxhat) {
  double loss = 0;
  for (int64_t i = 0; i < count; ++i) {
    const double d = double(xhat[i]) - double(x[i]);
    loss += kind == ReconLoss::L2 ? d * d : std::abs(d);
    if (dxhat)
      dxhat[i] += T(weight * (kind == ReconLoss::L2 ? 2 * d : (d > 0) - (d < 0)) / double(count));
  }
  return loss / double(count);
}

#define MMADA_VQ_OPS(T)                                                                          \
  template void conv2d_forward<T>(const ConvShape&, const T*, const T*, const T*, T*);            \
  template void conv2d_backward<T>(const ConvShape&, const T*, const T*, const T*, T*, T*, T*);   \
  template void group_norm_forward<T>(const T*, const T*, const T*, T*, T*, T*, int64_t, int64_t, \
                                      int64_t, int64_t, double);                                 \
  template void group_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*,  \
                                       T*, int64_t, int64_t, int64_t, int64_t);                  \
  template void swish_forward<T>(const T*, T*, int64_t);                                         \
  template void swish_backward<T>(const T*, const T*, T*, int64_t);                              \
  template void upsample2x_forward<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t);          \
  template void upsample2x_backward<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t);         \
  template LfqLossTerms lfq_losses<T>(const T*, int64_t, int64_t, const LfqLossWeights&, T*);    \
  template double recon_loss<T>(const T*, const T*, int64_t, ReconLoss, double, T*);
MMADA_VQ_OPS(float)
MMADA_VQ_OPS(double)
#undef MMADA_VQ_OPS

}  // namespace mmada::train

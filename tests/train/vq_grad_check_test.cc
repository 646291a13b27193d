// Gradient checks of the MAGVIT-v2 training ops (train/vq_ops.h) and of the whole tokenizer
// (train/vq_model.h) against float64 central finite differences, and the float training forward
// against the engine's inference forward (vq/magvit.h) on the same weights.
//
// Error measure: max |analytic − numeric| / max(max |numeric|, 1e-3) over the checked entries.
// Tolerances: 1e-6 for the float64 backward (FD step 1e-5: truncation ~h²·f''' ~ 1e-10,
// rounding ~1e-16/h ~ 1e-11, so 1e-6 leaves room for the few larger third derivatives);
// 2e-3 for the float32 backward against the float64 numbers (float32 rounding of sums over a
// few hundred terms).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

#include "core/error.h"
#include "train/vq_model.h"
#include "train/vq_ops.h"
#include "train/finite_differences.h"
#include "vq/lfq.h"
#include "vq/magvit.h"

namespace mmada::train {
namespace {

using test::check;
using test::dot;
using test::kTolF64;
using test::randn;
using test::Vec;
constexpr double kTolF32 = 2e-3;

void check_conv(const ConvShape& s, uint32_t seed) {
  Vec x = randn(size_t(s.n * s.h * s.w * s.in), seed), W = randn(size_t(s.out * s.in * s.k * s.k), seed + 1),
      b = randn(size_t(s.out), seed + 2);
  const size_t ny = size_t(s.n * s.out_h() * s.out_w() * s.out);
  const Vec r = randn(ny, seed + 3);  // loss = Σ r·y
  auto loss = [&] {
    Vec y(ny);
    conv2d_forward(s, x.data(), W.data(), b.data(), y.data());
    return dot(r, y);
  };
  Vec dx(x.size(), 0.0), dW(W.size(), 0.0), db(b.size(), 0.0);
  conv2d_backward(s, r.data(), x.data(), W.data(), dx.data(), dW.data(), db.data());
  EXPECT_LT(check(x, loss, dx), kTolF64);
  EXPECT_LT(check(W, loss, dW), kTolF64);
  EXPECT_LT(check(b, loss, db), kTolF64);

  // float32 backward against the float64 gradient.
  std::vector<float> xf(x.begin(), x.end()), Wf(W.begin(), W.end()), rf(r.begin(), r.end());
  std::vector<float> dxf(x.size(), 0.f), dWf(W.size(), 0.f), dbf(b.size(), 0.f);
  conv2d_backward(s, rf.data(), xf.data(), Wf.data(), dxf.data(), dWf.data(), dbf.data());
  double err = 0, scale = 1e-3;
  for (size_t i = 0; i < dW.size(); ++i) err = std::max(err, std::abs(dWf[i] - dW[i])), scale = std::max(scale, std::abs(dW[i]));
  for (size_t i = 0; i < dx.size(); ++i) err = std::max(err, std::abs(dxf[i] - dx[i])), scale = std::max(scale, std::abs(dx[i]));
  EXPECT_LT(err / scale, kTolF32);
}

// The kernel / stride / padding combinations the MAGVIT blocks use.
TEST(VqGradCheck, Conv3x3Pad1) { check_conv({2, 5, 4, 3, 4, 3, 1, 1, 1}, 10); }
TEST(VqGradCheck, Conv3x3Stride2Downsample) { check_conv({2, 6, 6, 3, 2, 3, 2, 0, 1}, 20); }
TEST(VqGradCheck, Conv1x1) { check_conv({2, 3, 3, 5, 4, 1, 1, 0, 0}, 30); }

TEST(VqGradCheck, Conv2dMatchesDirectSum) {
  // The forward against the definition written out (catches a consistent layout mistake that a
  // gradient check alone would not).
  const ConvShape s{1, 4, 5, 2, 3, 3, 2, 0, 1};
  const Vec x = randn(size_t(4 * 5 * 2), 1), W = randn(size_t(3 * 2 * 9), 2), b = randn(3, 3);
  Vec y(size_t(s.out_h() * s.out_w() * 3));
  conv2d_forward(s, x.data(), W.data(), b.data(), y.data());
  double err = 0;
  for (int64_t oy = 0; oy < s.out_h(); ++oy)
    for (int64_t ox = 0; ox < s.out_w(); ++ox)
      for (int64_t o = 0; o < 3; ++o) {
        double want = b[size_t(o)];
        for (int64_t i = 0; i < 2; ++i)
          for (int64_t dy = 0; dy < 3; ++dy)
            for (int64_t dx = 0; dx < 3; ++dx) {
              const int64_t iy = oy * 2 + dy, ix = ox * 2 + dx;
              if (iy < 4 && ix < 5) want += W[size_t(((o * 2 + i) * 3 + dy) * 3 + dx)] * x[size_t((iy * 5 + ix) * 2 + i)];
            }
        err = std::max(err, std::abs(y[size_t((oy * s.out_w() + ox) * 3 + o)] - want));
      }
  EXPECT_LT(err, 1e-12);
}

TEST(VqGradCheck, GroupNorm) {
  const int64_t n = 2, hw = 6, c = 4, groups = 2;
  Vec x = randn(size_t(n * hw * c), 1, 2.0), gm = randn(size_t(c), 2), bt = randn(size_t(c), 3);
  const Vec r = randn(x.size(), 4);
  auto loss = [&] {
    Vec y(x.size()), mean(size_t(n * groups)), rstd(mean.size());
    group_norm_forward(x.data(), gm.data(), bt.data(), y.data(), mean.data(), rstd.data(), n, hw, c, groups, 1e-6);
    return dot(r, y);
  };
  Vec y(x.size()), mean(size_t(n * groups)), rstd(mean.size());
  group_norm_forward(x.data(), gm.data(), bt.data(), y.data(), mean.data(), rstd.data(), n, hw, c, groups, 1e-6);
  Vec dx(x.size(), 0.0), dg(size_t(c), 0.0), db(size_t(c), 0.0);
  group_norm_backward(r.data(), x.data(), gm.data(), mean.data(), rstd.data(), dx.data(), dg.data(), db.data(), n, hw, c, groups);
  EXPECT_LT(check(x, loss, dx), kTolF64);
  EXPECT_LT(check(gm, loss, dg), kTolF64);
  EXPECT_LT(check(bt, loss, db), kTolF64);
}

TEST(VqGradCheck, SwishAndUpsample) {
  Vec x = randn(2 * 3 * 2 * 3, 5, 2.0);
  const Vec r = randn(x.size(), 6), r4 = randn(x.size() * 4, 7);
  auto swish_loss = [&] {
    Vec y(x.size());
    swish_forward(x.data(), y.data(), int64_t(x.size()));
    return dot(r, y);
  };
  Vec dx(x.size(), 0.0);
  swish_backward(r.data(), x.data(), dx.data(), int64_t(x.size()));
  EXPECT_LT(check(x, swish_loss, dx), kTolF64);

  auto up_loss = [&] {
    Vec y(x.size() * 4);
    upsample2x_forward(x.data(), y.data(), 2, 3, 2, 3);
    return dot(r4, y);
  };
  Vec du(x.size(), 0.0);
  upsample2x_backward(r4.data(), du.data(), 2, 3, 2, 3);
  EXPECT_LT(check(x, up_loss, du), kTolF64);
}

TEST(VqGradCheck, LfqLosses) {
  const int64_t rows = 6, bits = 4;
  // |z| >= 0.2 so a finite-difference step never flips a sign (the commitment target q jumps).
  Vec z = randn(size_t(rows * bits), 8);
  for (double& v : z) v = v > 0 ? v + 0.2 : v - 0.2;
  // A soft temperature so both entropies have non-vanishing gradients.
  LfqLossWeights w{0.25, 0.1, 1.3, 0.4};
  auto loss = [&] {
    const LfqLossTerms t = lfq_losses(z.data(), rows, bits, w, static_cast<double*>(nullptr));
    return w.commitment * t.commitment + w.entropy * (t.sample_entropy - w.gamma * t.codebook_entropy);
  };
  Vec dz(z.size(), 0.0);
  const LfqLossTerms t = lfq_losses(z.data(), rows, bits, w, dz.data());
  EXPECT_LT(check(z, loss, dz), kTolF64);

  // The terms against their definitions, enumerating the 2^bits codes directly.
  std::vector<double> avg(size_t(1) << bits, 0.0);
  double sample = 0, commit = 0;
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<double> logits(avg.size());
    double mx = -1e300;
    for (size_t k = 0; k < avg.size(); ++k) {
      double d2 = 0;  // ‖z − c_k‖²
      for (int64_t b = 0; b < bits; ++b) {
        const double c = ((k >> (bits - 1 - b)) & 1) ? 1.0 : -1.0;
        d2 += (z[size_t(r * bits + b)] - c) * (z[size_t(r * bits + b)] - c);
      }
      logits[k] = -d2 * w.inv_temperature;
      mx = std::max(mx, logits[k]);
    }
    double sum = 0;
    for (double& l : logits) sum += (l = std::exp(l - mx));
    for (size_t k = 0; k < avg.size(); ++k) {
      const double p = logits[k] / sum;
      avg[k] += p / double(rows);
      if (p > 0) sample -= p * std::log(p) / double(rows);
    }
    for (int64_t b = 0; b < bits; ++b) {
      const double v = z[size_t(r * bits + b)], q = v > 0 ? 1 : -1;
      commit += (v - q) * (v - q) / double(rows * bits);
    }
  }
  double codebook = 0;
  for (double a : avg) codebook -= a > 0 ? a * std::log(a) : 0.0;
  EXPECT_NEAR(t.sample_entropy, sample, 1e-12);
  EXPECT_NEAR(t.codebook_entropy, codebook, 1e-12);
  EXPECT_NEAR(t.commitment, commit, 1e-12);
}

TEST(VqGradCheck, ReconLosses) {
  Vec xh = randn(20, 9), x = randn(20, 10);
  for (ReconLoss kind : {ReconLoss::L2, ReconLoss::L1}) {
    auto loss = [&] { return 0.7 * recon_loss(xh.data(), x.data(), 20, kind, 0.0, static_cast<double*>(nullptr)); };
    Vec d(xh.size(), 0.0);
    recon_loss(xh.data(), x.data(), 20, kind, 0.7, d.data());
    EXPECT_LT(check(xh, loss, d), kTolF64);
  }
}

// A tiny tokenizer: 2 levels (x2), 32 channels, 1 ResnetBlock per level, 4 bits; 8x8 images.
// The attention blocks of the middle run too, and a level attention block is switched on
// (attn_resolutions) so AttnBlock's path is covered at a level as well.
MagvitConfig tiny_config() {
  MagvitConfig c = MagvitConfig::small(32, 2, 1, 4);
  c.encoder.resolution = c.decoder.resolution = 8;
  c.encoder.attn_resolutions = c.decoder.attn_resolutions = {4};
  return c;
}

TEST(VqGradCheck, EndToEnd) {
  VqNet<double> net(tiny_config(), 3);
  const int64_t n = 1, size = 8;
  const Vec px = randn(size_t(n * size * size * 3), 11, 0.5);
  VqLossConfig lc;
  lc.quantize = false;  // identity in place of the straight-through sign (see VqLossConfig)
  lc.lfq = LfqLossWeights{0.25, 0.1, 1.0, 1.0};
  auto& w = net.weights();
  std::fill(net.grads().begin(), net.grads().end(), 0.0);
  net.step(px.data(), n, size, lc, true);
  const Vec analytic = net.grads();
  // One entry of every parameter tensor (the middle one): every layer is on the path. (The
  // float64 forward uses plain loops; more entries cost seconds each.)
  std::vector<size_t> which;
  for (const auto& p : net.params()) which.push_back(size_t(p.offset + p.numel / 2));
  auto loss = [&] { return net.step(px.data(), n, size, lc, false).loss; };
  EXPECT_LT(check(w, loss, analytic, which), kTolF64);
}

TEST(VqGradCheck, StraightThroughPassesTheDecoderGradient) {
  // With the sign quantiser the true derivative of the loss w.r.t. the encoder is zero almost
  // everywhere; the straight-through estimator copies the decoder's input gradient to z
  // instead. Checked: the encoder does receive gradient (only through that copy, as the LFQ
  // loss terms are off), and the decoder's gradient, which does not involve the estimator,
  // matches finite differences with the sign quantiser in place.
  VqNet<double> net(tiny_config(), 4);
  const int64_t n = 1, size = 8;
  const Vec px = randn(size_t(n * size * size * 3), 12, 0.5);
  VqLossConfig lc;
  lc.lfq = LfqLossWeights{0.0, 0.0, 1.0, 1.0};  // reconstruction only
  std::fill(net.grads().begin(), net.grads().end(), 0.0);
  net.step(px.data(), n, size, lc, true);
  const auto& conv_in = net.param("encoder.conv_in.weight");
  double enc = 0;
  for (int64_t i = 0; i < conv_in.numel; ++i) enc += std::abs(net.grads()[size_t(conv_in.offset + i)]);
  EXPECT_GT(enc, 0.0);  // without the straight-through path the encoder gets nothing
  // The decoder's gradient does not depend on the estimator: a finite-difference check of the
  // decoder weights alone is exact with the sign quantiser in place.
  std::vector<size_t> which;
  for (const auto& p : net.params())
    if (p.name.starts_with("decoder.")) which.push_back(size_t(p.offset + p.numel - 1));
  const Vec analytic = net.grads();
  auto loss = [&] { return net.step(px.data(), n, size, lc, false).loss; };
  EXPECT_LT(check(net.weights(), loss, analytic, which), kTolF64);
}

TEST(VqGradCheck, FloatBackwardMatchesDouble) {
  VqNet<double> nd(tiny_config(), 5);
  VqNet<float> nf(tiny_config(), 5);
  const int64_t n = 2, size = 8;
  const Vec px = randn(size_t(n * size * size * 3), 13, 0.5);
  const std::vector<float> pxf(px.begin(), px.end());
  VqLossConfig lc;
  lc.quantize = false;
  lc.lfq = LfqLossWeights{0.25, 0.1, 1.0, 1.0};
  std::fill(nd.grads().begin(), nd.grads().end(), 0.0);
  std::fill(nf.grads().begin(), nf.grads().end(), 0.f);
  nd.step(px.data(), n, size, lc, true);
  nf.step(pxf.data(), n, size, lc, true);
  double err = 0, scale = 1e-3;
  for (size_t i = 0; i < nd.grads().size(); ++i) {
    err = std::max(err, std::abs(double(nf.grads()[i]) - nd.grads()[i]));
    scale = std::max(scale, std::abs(nd.grads()[i]));
  }
  EXPECT_LT(err / scale, kTolF32);
}

// The training forward (float) against the engine's inference forward on the same weights.
// Tolerance: the two run float32 sums in different orders (oneDNN vs im2col + gemm) through
// ~25 layers, so latents agree to ~1e-5 relative; 1e-4 (relative to the largest |z|) leaves
// margin. Codes are compared where |z| > 1e-3 of the largest |z| (a sign that close to 0 may
// differ between the two orders).
TEST(VqTrainForward, MatchesEngineInference) {
  const MagvitConfig cfg = MagvitConfig::small(32, 3, 1, 10);
  VqNet<float> net(cfg, 7);
  const Magvit engine = net.engine_model();
  const int64_t n = 2, size = 32;
  const Vec px = randn(size_t(n * size * size * 3), 14, 0.5);
  std::vector<float> nhwc(px.size());
  Tensor nchw = Tensor::empty(DType::F32, {n, 3, size, size});
  for (int64_t b = 0; b < n; ++b)
    for (int64_t y = 0; y < size; ++y)
      for (int64_t x = 0; x < size; ++x)
        for (int64_t c = 0; c < 3; ++c) {
          const float v = float(px[size_t(((b * size + y) * size + x) * 3 + c)]);
          nhwc[size_t(((b * size + y) * size + x) * 3 + c)] = v;
          nchw.ptr<float>()[((b * 3 + c) * size + y) * size + x] = v;
        }
  const VqStepResult r = net.step(nhwc.data(), n, size, VqLossConfig{}, false, true);
  Tensor latent;
  const Tensor codes = engine.encode(nchw, &latent);  // latent [n, bits, 8, 8]
  const int64_t bits = 10, hw = 64;
  double zmax = 0, zerr = 0;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t p = 0; p < hw; ++p)
      for (int64_t c = 0; c < bits; ++c) {
        const double e = latent.ptr<float>()[(b * bits + c) * hw + p];
        zmax = std::max(zmax, std::abs(e));
        zerr = std::max(zerr, std::abs(e - r.latent[size_t((b * hw + p) * bits + c)]));
      }
  EXPECT_LT(zerr, 1e-4 * zmax);
  int64_t compared = 0;
  for (int64_t i = 0; i < n * hw; ++i) {
    bool clear = true;
    for (int64_t c = 0; c < bits; ++c)
      clear = clear && std::abs(r.latent[size_t(i * bits + c)]) > 1e-3 * zmax;
    if (!clear) continue;
    ++compared;
    EXPECT_EQ(codes.ptr<int64_t>()[i], r.codes[size_t(i)]) << "position " << i;
  }
  EXPECT_GT(compared, n * hw / 2);  // the comparison is not vacuous

  // Decoding the training forward's codes with the engine gives the training forward's x̂.
  Tensor tc = Tensor::empty(DType::I64, {n, hw});
  for (int64_t i = 0; i < n * hw; ++i) tc.ptr<int64_t>()[i] = r.codes[size_t(i)];
  const Tensor dec = engine.decode(tc);  // [n, 3, 32, 32]
  double derr = 0, dmax = 0;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t y = 0; y < size; ++y)
      for (int64_t x = 0; x < size; ++x)
        for (int64_t c = 0; c < 3; ++c) {
          const double e = dec.ptr<float>()[((b * 3 + c) * size + y) * size + x];
          dmax = std::max(dmax, std::abs(e));
          derr = std::max(derr, std::abs(e - r.recon_pixels[size_t(((b * size + y) * size + x) * 3 + c)]));
        }
  EXPECT_LT(derr, 1e-4 * std::max(dmax, 1e-3));
}

TEST(VqTrainForward, RefusesUntrainableConfigs) {
  MagvitConfig big = MagvitConfig::small(32, 2, 1, 13);
  big.codebook_dim = big.encoder.z_channels = big.decoder.z_channels = 17;
  try {
    VqNet<float> net(big, 1);
    FAIL() << "a 17-bit quantiser was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("codebook_dim 17"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mmada::train

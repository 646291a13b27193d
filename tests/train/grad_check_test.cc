// Gradient checks of the training backward against float64 central finite differences, op by
// op and end to end, on tiny configs; and the training forward against Transformer::forward.
//
// Error measure: max |analytic − numeric| / max(max |numeric|, 1e-3) over the checked entries.
// Tolerances: 1e-6 for the float64 backward (FD step 1e-5, truncation ~1e-10, rounding ~1e-11);
// 2e-3 for the float32 backward against the float64 numbers (float32 rounding of sums over a
// few hundred terms).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <random>

#include "model/transformer.h"
#include "tiny_model.h"
#include "train/train_model.h"
#include "train/train_ops.h"
#include "train/finite_differences.h"

namespace mmada::train {
namespace {

using test::check;
using test::dot;
using test::kTolF64;
using test::randn;
using test::Vec;

TEST(GradCheck, RmsNorm) {
  const int64_t R = 3, n = 8;
  Vec x = randn(R * n, 1), w = randn(n, 2), r = randn(R * n, 3);
  Vec y(R * n), inv(R);
  auto f = [&] {
    rmsnorm_forward<double>(x.data(), w.data(), y.data(), inv.data(), R, n, 1e-5);
    return dot(y, r);
  };
  f();
  Vec dx(R * n), dw(n);
  rmsnorm_backward<double>(r.data(), x.data(), w.data(), inv.data(), dx.data(), dw.data(), R, n);
  const double ex = check(x, f, dx), ew = check(w, f, dw);
  std::printf("rmsnorm: dx %.2e dw %.2e\n", ex, ew);
  EXPECT_LT(ex, kTolF64);
  EXPECT_LT(ew, kTolF64);
}

TEST(GradCheck, Linear) {
  const int64_t M = 4, K = 5, N = 3;
  Vec x = randn(M * K, 1), W = randn(N * K, 2), r = randn(M * N, 3), y(M * N);
  auto f = [&] {
    linear_forward<double>(x.data(), W.data(), y.data(), M, K, N);
    return dot(y, r);
  };
  Vec dx(M * K), dW(N * K);
  linear_backward<double>(r.data(), x.data(), W.data(), dx.data(), dW.data(), M, K, N);
  const double ex = check(x, f, dx), ew = check(W, f, dW);
  std::printf("linear: dx %.2e dW %.2e\n", ex, ew);
  EXPECT_LT(ex, kTolF64);
  EXPECT_LT(ew, kTolF64);
}

TEST(GradCheck, Embedding) {
  const int64_t V = 5, D = 3, n = 6;
  const std::vector<int64_t> ids = {0, 3, 3, 1, 4, 0};
  Vec table = randn(V * D, 1), r = randn(n * D, 2), out(n * D);
  auto f = [&] {
    embedding_forward<double>(table.data(), D, ids.data(), n, out.data());
    return dot(out, r);
  };
  Vec dt(V * D);
  embedding_backward<double>(r.data(), ids.data(), n, D, dt.data());
  const double e = check(table, f, dt);
  std::printf("embedding: dtable %.2e\n", e);
  EXPECT_LT(e, kTolF64);
}

TEST(GradCheck, Rope) {
  const int64_t B = 2, L = 5, H = 2, d = 8;
  const cpu::RopeTable t = cpu::make_rope_table(L, d, 10000.0);
  Vec x = randn(B * L * H * d, 1), r = randn(B * L * H * d, 2);
  auto f = [&] {
    Vec y = x;
    rope_forward<double>(y.data(), B, L, H, d, t);
    return dot(y, r);
  };
  Vec dx = r;
  rope_backward<double>(dx.data(), B, L, H, d, t);
  const double e = check(x, f, dx);
  std::printf("rope: dx %.2e\n", e);
  EXPECT_LT(e, kTolF64);
}

TEST(GradCheck, SiluMul) {
  const int64_t n = 10;
  Vec g = randn(n, 1, 2.0), u = randn(n, 2), r = randn(n, 3), out(n);
  auto f = [&] {
    silu_mul_forward<double>(g.data(), u.data(), out.data(), n);
    return dot(out, r);
  };
  Vec dg(n), du(n);
  silu_mul_backward<double>(r.data(), g.data(), u.data(), dg.data(), du.data(), n);
  const double eg = check(g, f, dg), eu = check(u, f, du);
  std::printf("silu_mul: dg %.2e du %.2e\n", eg, eu);
  EXPECT_LT(eg, kTolF64);
  EXPECT_LT(eu, kTolF64);
}

void attention_case(AttnMask mode, const char* name) {
  const int64_t B = 2, L = 5, H = 4, KVH = 2, d = 4;
  Vec q = randn(B * L * H * d, 1), k = randn(B * L * KVH * d, 2), v = randn(B * L * KVH * d, 3),
      r = randn(B * L * H * d, 4), out(B * L * H * d), P(B * H * L * L);
  // Row 0: one pad (position 1); row 1: two pads. Under Pair, pad queries see no key and
  // attend uniformly; this case is part of the check.
  const std::vector<uint8_t> m = {1, 0, 1, 1, 1, 0, 1, 1, 0, 1};
  auto f = [&] {
    attention_forward<double>(q.data(), k.data(), v.data(), out.data(), P.data(), B, L, H, KVH, d,
                              m.data(), mode);
    return dot(out, r);
  };
  f();
  Vec dq(q.size()), dk(k.size()), dv(v.size());
  attention_backward<double>(r.data(), q.data(), k.data(), v.data(), P.data(), dq.data(),
                             dk.data(), dv.data(), B, L, H, KVH, d, m.data(), mode);
  const double eq = check(q, f, dq), ek = check(k, f, dk), ev = check(v, f, dv);
  std::printf("attention (%s): dq %.2e dk %.2e dv %.2e\n", name, eq, ek, ev);
  EXPECT_LT(eq, kTolF64);
  EXPECT_LT(ek, kTolF64);
  EXPECT_LT(ev, kTolF64);
}

TEST(GradCheck, AttentionPairMask) { attention_case(AttnMask::Pair, "pair"); }
TEST(GradCheck, AttentionAdditiveUnit) { attention_case(AttnMask::AdditiveUnit, "additive"); }
TEST(GradCheck, AttentionNoMask) { attention_case(AttnMask::None, "none"); }

TEST(GradCheck, CrossEntropyWithSmoothing) {
  const int64_t R = 3, V = 7;
  Vec z = randn(R * V, 1, 2.0), dz(R * V);
  const std::vector<int64_t> labels = {2, 0, 6};
  const std::vector<double> wt = {0.5, 1.5, 0.25};
  for (double ls : {0.0, 0.1}) {
    auto f = [&] {
      Vec tmp(R * V);
      return cross_entropy<double>(z.data(), labels.data(), wt.data(), R, V, ls, tmp.data(), nullptr);
    };
    cross_entropy<double>(z.data(), labels.data(), wt.data(), R, V, ls, dz.data(), nullptr);
    const double e = check(z, f, dz);
    std::printf("cross_entropy (smoothing %.1f): dlogits %.2e\n", ls, e);
    EXPECT_LT(e, kTolF64);
  }
}

// A tiny config: grouped-query attention, 2 layers.
ModelConfig tiny_config() { return test::tiny_model_config({16, 4, 2, 2, 24, 19}); }  // [MASK] 18

TrainBatch tiny_batch(AttnMask mode) {
  TrainBatch b;
  b.B = 2;
  b.L = 6;
  b.ids = {1, 5, 18, 7, 17, 17, 16, 16, 3, 18, 18, 9};
  b.token_mask = {1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1};
  b.mask_mode = mode;
  b.rows = {2, 4, 9, 10, 0, 6};  // includes a pad row (6) and unmasked rows
  return b;
}

struct E2E {
  ModelConfig cfg = tiny_config();
  ModelWeights w64;
  TrainBatch b;
  cpu::RopeTable rope;
  std::vector<int64_t> labels = {3, 17, 12, 4, 1, 16};
  std::vector<double> wt = {0.3, 0.2, 0.7, 0.1, 0.05, 0.4};

  explicit E2E(AttnMask mode) : b(tiny_batch(mode)) {
    Transformer t = Transformer::random(cfg, Precision::F32, 7);
    w64 = cast_weights(cfg, t.weights(), DType::F64);
    rope = cpu::make_rope_table(b.L, cfg.head_dim(), cfg.rope_theta);
  }
  template <class T>
  double loss_and_grad(ModelWeights& w, ModelWeights* grads) {
    Activations<T> acts;
    const std::vector<T> logits = train_forward<T>(cfg, w, b, rope, acts);
    std::vector<T> dl(logits.size());
    const double loss = cross_entropy<T>(logits.data(), labels.data(), wt.data(),
                                         int64_t(b.rows.size()), cfg.vocab, 0.0, dl.data(), nullptr);
    if (grads) train_backward<T>(cfg, w, b, rope, acts, dl, *grads);
    return loss;
  }
};

void end_to_end(AttnMask mode, const char* name) {
  E2E e(mode);
  ModelWeights g64 = zero_weights(e.cfg, DType::F64);
  e.loss_and_grad<double>(e.w64, &g64);
  ModelWeights w32 = cast_weights(e.cfg, e.w64, DType::F32);
  ModelWeights g32 = zero_weights(e.cfg, DType::F32);
  e.loss_and_grad<float>(w32, &g32);

  std::vector<TensorSlot> ws, gs, fs;
  for_each_tensor(e.cfg, e.w64, [&](const TensorSlot& s) { ws.push_back(s); });
  for_each_tensor(e.cfg, g64, [&](const TensorSlot& s) { gs.push_back(s); });
  for_each_tensor(e.cfg, g32, [&](const TensorSlot& s) { fs.push_back(s); });
  double worst64 = 0, worst32 = 0;
  for (size_t t = 0; t < ws.size(); ++t) {
    double* p = ws[t].tensor->ptr<double>();
    const int64_t n = ws[t].tensor->numel();
    double err64 = 0, err32 = 0, mx = 1e-3;
    // Every entry of small tensors, a strided sample of the larger ones.
    for (size_t i : test::sampled_entries(size_t(n), 64, 7)) {
      const double num = test::central_difference(p[i], [&] { return e.loss_and_grad<double>(e.w64, nullptr); });
      err64 = std::max(err64, std::abs(num - gs[t].tensor->ptr<double>()[i]));
      err32 = std::max(err32, std::abs(num - double(fs[t].tensor->ptr<float>()[i])));
      mx = std::max(mx, std::abs(num));
    }
    std::printf("end-to-end (%s) %-44s f64 %.2e f32 %.2e\n", name, ws[t].name.c_str(), err64 / mx,
                err32 / mx);
    worst64 = std::max(worst64, err64 / mx);
    worst32 = std::max(worst32, err32 / mx);
  }
  EXPECT_LT(worst64, kTolF64);
  EXPECT_LT(worst32, 2e-3);
}

TEST(GradCheck, EndToEndPairMask) { end_to_end(AttnMask::Pair, "pair"); }
TEST(GradCheck, EndToEndNoMask) { end_to_end(AttnMask::None, "none"); }

// The training forward's logits equal Transformer::forward (F32) on the same weights, with the
// pair padding mask (including a row whose queries are all pads).
TEST(TrainForward, MatchesInferenceForward) {
  ModelConfig cfg = tiny_config();
  Transformer t = Transformer::random(cfg, Precision::F32, 11);
  TrainBatch b = tiny_batch(AttnMask::Pair);
  b.rows.clear();
  for (int64_t i = 0; i < b.B * b.L; ++i) b.rows.push_back(i);
  ModelWeights w32 = cast_weights(cfg, t.weights(), DType::F32);
  Activations<float> acts;
  const cpu::RopeTable rope = cpu::make_rope_table(b.L, cfg.head_dim(), cfg.rope_theta);
  const std::vector<float> mine = train_forward<float>(cfg, w32, b, rope, acts);

  ForwardRequest req;
  req.ids = b.ids.data();
  req.B = b.B;
  req.L = b.L;
  req.token_mask = b.token_mask.data();
  req.mask_mode = cpu::MaskMode::Pair;
  const Tensor ref = t.forward(req);
  ASSERT_EQ(ref.numel(), int64_t(mine.size()));
  double worst = 0;
  for (size_t i = 0; i < mine.size(); ++i)
    worst = std::max(worst, double(std::abs(mine[i] - ref.ptr<float>()[i])));
  std::printf("train vs inference logits: max abs diff %.2e\n", worst);
  EXPECT_LT(worst, 1e-4);
}

}  // namespace
}  // namespace mmada::train

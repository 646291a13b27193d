// The CPU forward pass against a plain float64 transcription of spec/model.md §4-5.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/safetensors.h"
#include "model/packing.h"
#include "model/transformer.h"
#include "tiny_model.h"

namespace mmada {
namespace {

using test::small_model_config;

std::vector<double> as_f64(const Tensor& t) {
  Tensor f = t.to_f32();
  return std::vector<double>(f.ptr<float>(), f.ptr<float>() + f.numel());
}

// Logits [B*L, V] in float64. mask: per token (1 = real) or empty; pair mode; a query with no
// visible key averages all values (the reference's float32-min bias).
std::vector<double> reference_forward(Transformer& m, const std::vector<int64_t>& ids, int64_t B,
                                      int64_t L, const std::vector<uint8_t>& mask) {
  const ModelConfig& c = m.config();
  ModelWeights& w = m.weights();
  const int64_t D = c.d_model, H = c.n_heads, Dh = c.head_dim(), KV = c.kv_dim(), F = c.mlp_hidden,
                V = c.vocab, N = B * L, group = c.n_heads / c.n_kv_heads;
  const double eps = c.rms_norm_eps;
  auto matvec = [](const std::vector<double>& W, const double* x, int64_t out, int64_t in, double* y) {
    for (int64_t o = 0; o < out; ++o) {
      double s = 0;
      for (int64_t i = 0; i < in; ++i) s += W[size_t(o * in + i)] * x[i];
      y[o] = s;
    }
  };
  auto rms = [&](const double* x, const std::vector<double>& g, double* y) {
    double ss = 0;
    for (int64_t i = 0; i < D; ++i) ss += x[i] * x[i];
    const double inv = 1.0 / std::sqrt(ss / double(D) + eps);
    for (int64_t i = 0; i < D; ++i) y[i] = x[i] * inv * g[size_t(i)];
  };
  auto rope = [&](double* u, int64_t pos) {
    for (int64_t i = 0; i < Dh / 2; ++i) {
      const double f = 1.0 / std::pow(c.rope_theta, double(2 * i) / double(Dh));
      const double a = double(pos) * f, u1 = u[i], u2 = u[i + Dh / 2];
      u[i] = u1 * std::cos(a) - u2 * std::sin(a);
      u[i + Dh / 2] = u2 * std::cos(a) + u1 * std::sin(a);
    }
  };
  const std::vector<double> wte = as_f64(w.wte);
  std::vector<double> x(static_cast<size_t>(N * D));
  for (int64_t r = 0; r < N; ++r)
    for (int64_t i = 0; i < D; ++i) x[size_t(r * D + i)] = wte[size_t(ids[size_t(r)] * D + i)];
  for (auto& l : w.layers) {
    const auto qw = as_f64(l.q_proj), kw = as_f64(l.k_proj), vw = as_f64(l.v_proj),
               ow = as_f64(l.attn_out), gw = as_f64(l.ff_proj), uw = as_f64(l.up_proj),
               dw = as_f64(l.ff_out), an = as_f64(l.attn_norm), fn = as_f64(l.ff_norm);
    std::vector<double> h(static_cast<size_t>(D)), q(static_cast<size_t>(N * D)), k(static_cast<size_t>(N * KV)), v(static_cast<size_t>(N * KV)),
        a(size_t(N * D));
    for (int64_t r = 0; r < N; ++r) {
      rms(&x[size_t(r * D)], an, h.data());
      matvec(qw, h.data(), D, D, &q[size_t(r * D)]);
      matvec(kw, h.data(), KV, D, &k[size_t(r * KV)]);
      matvec(vw, h.data(), KV, D, &v[size_t(r * KV)]);
      for (int64_t hh = 0; hh < H; ++hh) rope(&q[size_t(r * D + hh * Dh)], r % L);
      for (int64_t hh = 0; hh < c.n_kv_heads; ++hh) rope(&k[size_t(r * KV + hh * Dh)], r % L);
    }
    for (int64_t b = 0; b < B; ++b)
      for (int64_t hh = 0; hh < H; ++hh)
        for (int64_t i = 0; i < L; ++i) {
          std::vector<double> s(static_cast<size_t>(L));
          std::vector<bool> ok(static_cast<size_t>(L), true);
          bool any = false;
          double mx = -INFINITY;
          for (int64_t j = 0; j < L; ++j) {
            if (!mask.empty()) ok[size_t(j)] = mask[size_t(b * L + i)] && mask[size_t(b * L + j)];
            double d = 0;
            for (int64_t e = 0; e < Dh; ++e)
              d += q[size_t((b * L + i) * D + hh * Dh + e)] * k[size_t((b * L + j) * KV + (hh / group) * Dh + e)];
            s[size_t(j)] = d / std::sqrt(double(Dh));
            if (ok[size_t(j)]) any = true, mx = std::max(mx, s[size_t(j)]);
          }
          double sum = 0;
          for (int64_t j = 0; j < L; ++j) {
            s[size_t(j)] = !any ? 1.0 : ok[size_t(j)] ? std::exp(s[size_t(j)] - mx) : 0.0;
            sum += s[size_t(j)];
          }
          for (int64_t e = 0; e < Dh; ++e) {
            double o = 0;
            for (int64_t j = 0; j < L; ++j)
              o += s[size_t(j)] / sum * v[size_t((b * L + j) * KV + (hh / group) * Dh + e)];
            a[size_t((b * L + i) * D + hh * Dh + e)] = o;
          }
        }
    std::vector<double> t(static_cast<size_t>(std::max(D, F))), g(static_cast<size_t>(F)), u(static_cast<size_t>(F));
    for (int64_t r = 0; r < N; ++r) {
      matvec(ow, &a[size_t(r * D)], D, D, t.data());
      for (int64_t i = 0; i < D; ++i) x[size_t(r * D + i)] += t[size_t(i)];
      rms(&x[size_t(r * D)], fn, h.data());
      matvec(gw, h.data(), F, D, g.data());
      matvec(uw, h.data(), F, D, u.data());
      for (int64_t i = 0; i < F; ++i) g[size_t(i)] = g[size_t(i)] / (1 + std::exp(-g[size_t(i)])) * u[size_t(i)];
      matvec(dw, g.data(), D, F, t.data());
      for (int64_t i = 0; i < D; ++i) x[size_t(r * D + i)] += t[size_t(i)];
    }
  }
  const auto lnf = as_f64(w.ln_f), head = as_f64(w.head);
  std::vector<double> out(static_cast<size_t>(N * V)), h(static_cast<size_t>(D));
  for (int64_t r = 0; r < N; ++r) {
    rms(&x[size_t(r * D)], lnf, h.data());
    matvec(head, h.data(), V, D, &out[size_t(r * V)]);
  }
  return out;
}

double max_abs_diff(const Tensor& got, const std::vector<double>& want) {
  double m = 0;
  for (int64_t i = 0; i < got.numel(); ++i)
    m = std::max(m, std::fabs(double(got.ptr<float>()[i]) - want[size_t(i)]));
  return m;
}

struct Case {
  int64_t n_kv;
  bool padded;
};

class ForwardVsFloat64 : public ::testing::TestWithParam<Case> {};

TEST_P(ForwardVsFloat64, F32MatchesWithin1e4) {
  const Case k = GetParam();
  Transformer m = Transformer::random(small_model_config(k.n_kv), Precision::F32, 7);
  const int64_t B = 2, L = 9;
  std::vector<int64_t> ids(static_cast<size_t>(B * L));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int64_t((i * 37 + 11) % 97);
  std::vector<uint8_t> mask;
  if (k.padded) {  // row 1 left-padded by 3
    mask.assign(size_t(B * L), 1);
    for (int i = 0; i < 3; ++i) mask[size_t(L + i)] = 0;
  }
  ForwardRequest r;
  r.ids = ids.data();
  r.B = B;
  r.L = L;
  r.token_mask = mask.empty() ? nullptr : mask.data();
  const Tensor got = m.forward(r);
  const auto want = reference_forward(m, ids, B, L, mask);
  // float32 accumulation over d=32..48 terms with logits of magnitude ~3: 1e-4 absolute.
  EXPECT_LT(max_abs_diff(got, want), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Shapes, ForwardVsFloat64,
                         ::testing::Values(Case{4, false}, Case{4, true}, Case{2, false},
                                           Case{1, true}));

TEST(Transformer, Bf16StaysCloseToFloat64) {
  ModelConfig c = small_model_config(4);
  Transformer m = Transformer::random(c, Precision::BF16, 3);
  std::vector<int64_t> ids = {1, 5, 9, 13, 17, 21, 25, 29};
  ForwardRequest r;
  r.ids = ids.data();
  r.L = 8;
  const Tensor got = m.forward(r);
  const auto want = reference_forward(m, ids, 1, 8, {});
  double scale = 0;
  for (double v : want) scale = std::max(scale, std::fabs(v));
  // bf16 GEMM inputs carry a relative rounding error of 2^-9 per operand; over two layers the
  // logits stay within 3% of their range.
  EXPECT_LT(max_abs_diff(got, want), 0.03 * scale);
}

TEST(Transformer, HeadOnSelectedRowsAndColumnsMatchesFullHead) {
  Transformer m = Transformer::random(small_model_config(2), Precision::F32, 5);
  std::vector<int64_t> ids = {3, 1, 4, 1, 5, 9, 2, 6};
  ForwardRequest full;
  full.ids = ids.data();
  full.L = 8;
  const Tensor all = m.forward(full);
  ForwardRequest part = full;
  part.rows = {6, 2};
  part.col_begin = 10;
  part.col_end = 40;
  const Tensor sub = m.forward(part);
  ASSERT_EQ(sub.shape, (Shape{2, 30}));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 30; ++j)
      EXPECT_NEAR(sub.ptr<float>()[i * 30 + j], all.ptr<float>()[part.rows[size_t(i)] * 97 + 10 + j], 1e-5);
}

// Dropping the pair-masked padding (model/packing.h) and giving RoPE the padded positions
// leaves the real positions' logits as they were (spec/model.md §5: no real query sees a pad).
// Rows with different pad counts share one packed batch, the shorter one left-filled.
class PackedForward : public ::testing::TestWithParam<Precision> {};

TEST_P(PackedForward, MatchesPaddedForwardAtRealPositions) {
  Transformer m = Transformer::random(small_model_config(2), GetParam(), 13);
  const int64_t B = 3, L = 20;
  const int64_t pads[B] = {7, 3, 0};
  std::vector<int64_t> ids(static_cast<size_t>(B * L));
  std::vector<uint8_t> mask(static_cast<size_t>(B * L), 1);
  std::vector<int64_t> rows;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < L; ++i) {
      ids[size_t(b * L + i)] = i < pads[b] ? 90 : (b * 31 + i * 7 + 1) % 97;
      if (i < pads[b]) mask[size_t(b * L + i)] = 0;
      else if (i % 3 != 1) rows.push_back(b * L + i);
    }
  ForwardRequest padded;
  padded.ids = ids.data();
  padded.B = B;
  padded.L = L;
  padded.token_mask = mask.data();
  padded.rows = rows;
  const Tensor want = m.forward(padded);

  const PackedRows p = pack_real_tokens(ids.data(), mask.data(), B, L, rows);
  ASSERT_EQ(p.L, L);  // the unpadded row sets the length; the others are left-filled
  ForwardRequest packed = padded;
  packed.ids = p.ids.data();
  packed.L = p.L;
  packed.token_mask = p.mask.data();
  packed.positions = p.positions.data();
  packed.rows = p.rows;
  const Tensor got = m.forward(packed);
  ASSERT_EQ(got.shape, want.shape);
  // Same operations on the same real rows; only the summation order inside GEMMs of another M
  // and the attention over another key count differ: float32 rounding, well under 1e-5 on logits
  // of magnitude ~3 (f32); bf16 rounds the same GEMM inputs, so the same bound holds.
  double worst = 0;
  for (int64_t i = 0; i < got.numel(); ++i)
    worst = std::max(worst, double(std::fabs(got.ptr<float>()[i] - want.ptr<float>()[i])));
  EXPECT_LT(worst, 1e-5);

  // Without the unpadded row the batch shrinks to the longest real row (17).
  const PackedRows two = pack_real_tokens(ids.data(), mask.data(), 2, L, {7, 19, 20 + 3});
  EXPECT_EQ(two.L, 17);
  EXPECT_EQ(two.rows, (std::vector<int64_t>{4, 16, 17}));  // row 0 starts after 4 fillers
  EXPECT_EQ(two.positions[size_t(two.rows[2])], 3);
  EXPECT_EQ(two.mask[3], 0);
  EXPECT_EQ(two.mask[4], 1);
  EXPECT_THROW(pack_real_tokens(ids.data(), mask.data(), 2, L, {2}), Error);  // a pad
}

INSTANTIATE_TEST_SUITE_P(Precisions, PackedForward, ::testing::Values(Precision::F32, Precision::BF16));

TEST(Transformer, RejectsOutOfRangeTokenIds) {
  Transformer m = Transformer::random(small_model_config(4), Precision::F32, 1);
  std::vector<int64_t> ids = {1, 97};
  ForwardRequest r;
  r.ids = ids.data();
  r.L = 2;
  EXPECT_THROW(m.forward(r), Error);
  ids[1] = -1;
  EXPECT_THROW(m.forward(r), Error);
}

// A checkpoint folder written by our own writer, then damaged in one way at a time.
class CheckpointErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("mmada_ckpt_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    cfg_ = small_model_config(4);
    model_ = std::make_unique<Transformer>(Transformer::random(cfg_, Precision::BF16, 2));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::function<void(std::vector<std::pair<std::string, Tensor>>&)>& damage) {
    std::vector<std::pair<std::string, Tensor>> ts;
    for_each_tensor(cfg_, model_->weights(), [&](const TensorSlot& s) { ts.emplace_back(s.name, *s.tensor); });
    damage(ts);
    write_safetensors((dir_ / "model.safetensors").string(), ts);
    std::ofstream((dir_ / "config.json").string()) << cfg_.to_json();
  }
  std::string load_error() {
    try {
      Transformer::load(dir_.string(), Precision::BF16);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  std::filesystem::path dir_;
  ModelConfig cfg_;
  std::unique_ptr<Transformer> model_;
};

TEST_F(CheckpointErrors, IntactFolderLoadsAndRunsLikeTheOriginal) {
  write([](auto&) {});
  Transformer back = Transformer::load(dir_.string(), Precision::BF16);
  std::vector<int64_t> ids = {4, 8, 15, 16};
  ForwardRequest r;
  r.ids = ids.data();
  r.L = 4;
  const Tensor a = model_->forward(r), b = back.forward(r);
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a.ptr<float>()[i], b.ptr<float>()[i]);
}

TEST_F(CheckpointErrors, MissingTensorIsNamed) {
  write([](auto& ts) { ts.erase(ts.begin() + 3); });
  EXPECT_NE(load_error().find("missing tensor 'model.transformer.blocks.0.k_proj.weight'"), std::string::npos);
}

TEST_F(CheckpointErrors, WrongShapeIsNamed) {
  write([](auto& ts) { ts[2].second = ts[2].second.reshape({16, 64}); });
  const std::string e = load_error();
  EXPECT_NE(e.find("q_proj.weight' has shape [16, 64]"), std::string::npos) << e;
}

TEST_F(CheckpointErrors, IntegerWeightsAreRefused) {
  write([](auto& ts) {
    Tensor t = Tensor::empty(DType::I32, ts[1].second.shape);
    ts[1].second = t;
  });
  EXPECT_NE(load_error().find("dtype I32"), std::string::npos);
}

TEST_F(CheckpointErrors, MissingConfigIsExplained) {
  write([](auto&) {});
  std::filesystem::remove(dir_ / "config.json");
  EXPECT_NE(load_error().find("no config.json"), std::string::npos);
}

}  // namespace
}  // namespace mmada

// The approximate KV cache of block decoding (docs/fast-decoding.md): the span attention op
// against float64, the cached forward against the full one on a freshly refreshed cache, and
// generation through the cache against exact mode.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "backend/cpu/ops.h"
#include "core/error.h"
#include "model/cached_network.h"
#include "model/logits_fn.h"
#include "model/transformer.h"
#include "sample/text_sampler.h"
#include "tiny_model.h"

namespace mmada {
namespace {

using test::small_model_config;

std::vector<float> random_vec(size_t n, uint64_t seed, float scale) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = u(g);
  return v;
}

// Attention of queries at positions [q0, q0 + Lq) in float64, straight from cpu/ops.h's
// definition (pair or hf-causal visibility; a query that sees no key averages all values).
std::vector<double> attention_f64(const std::vector<float>& q, const std::vector<float>& k,
                                  const std::vector<float>& v, int64_t B, int64_t L, int64_t q0,
                                  int64_t Lq, int64_t H, int64_t KV, int64_t d,
                                  const std::vector<uint8_t>& m, cpu::MaskMode mode) {
  std::vector<double> out(static_cast<size_t>(B * Lq * H * d));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const int64_t g = h / (H / KV);
      for (int64_t r = 0; r < Lq; ++r) {
        const int64_t i = q0 + r;
        auto seen = [&](int64_t j) {
          if (m.empty()) return true;
          const uint8_t* mb = &m[size_t(b * L)];
          return mode == cpu::MaskMode::Pair ? (mb[i] && mb[j]) : (j <= i && mb[j]);
        };
        bool any = false;
        for (int64_t j = 0; j < L; ++j) any = any || seen(j);
        std::vector<double> w(static_cast<size_t>(L));
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < L; ++j) {
          double s = 0;
          for (int64_t e = 0; e < d; ++e)
            s += double(q[size_t((b * Lq + r) * H * d + h * d + e)]) * double(k[size_t((b * L + j) * KV * d + g * d + e)]);
          w[size_t(j)] = any ? (seen(j) ? s / std::sqrt(double(d)) : -INFINITY) : 0.0;
          mx = std::max(mx, w[size_t(j)]);
        }
        for (double& x : w) sum += x = std::exp(x - mx);
        for (int64_t e = 0; e < d; ++e) {
          double acc = 0;
          for (int64_t j = 0; j < L; ++j) acc += w[size_t(j)] * double(v[size_t((b * L + j) * KV * d + g * d + e)]);
          out[size_t((b * Lq + r) * H * d + h * d + e)] = acc / sum;
        }
      }
    }
  return out;
}

struct SpanCase {
  int64_t q0, Lq;
  bool padded;
  cpu::MaskMode mode;
};

class SpanAttention : public ::testing::TestWithParam<SpanCase> {};

TEST_P(SpanAttention, F32MatchesFloat64AndTheFullRows) {
  const SpanCase c = GetParam();
  const int64_t B = 2, L = 23, H = 4, KV = 2, d = 16;
  const auto q = random_vec(size_t(B * L * H * d), 1, 2.0f), k = random_vec(size_t(B * L * KV * d), 2, 2.0f),
             v = random_vec(size_t(B * L * KV * d), 3, 1.0f);
  std::vector<uint8_t> m;
  if (c.padded) {  // row 1 left-padded by 7: queries 0..6 of that row see nothing (pair mode)
    m.assign(size_t(B * L), 1);
    for (int64_t i = 0; i < 7; ++i) m[size_t(L + i)] = 0;
  }
  // The span's queries, taken out of the full rows.
  std::vector<float> qs(static_cast<size_t>(B * c.Lq * H * d));
  for (int64_t b = 0; b < B; ++b)
    std::copy_n(q.begin() + (b * L + c.q0) * H * d, c.Lq * H * d, qs.begin() + b * c.Lq * H * d);
  std::vector<float> got(qs.size()), full(q.size());
  const uint8_t* mp = m.empty() ? nullptr : m.data();
  cpu::attention(qs.data(), k.data(), v.data(), got.data(), B, L, c.q0, c.Lq, H, KV, d, mp, c.mode, false);
  cpu::attention(q.data(), k.data(), v.data(), full.data(), B, L, 0, L, H, KV, d, mp, c.mode, false);
  const auto want = attention_f64(qs, k, v, B, L, c.q0, c.Lq, H, KV, d, m, c.mode);
  double err = 0, err_full = 0;
  for (size_t i = 0; i < got.size(); ++i) err = std::max(err, std::fabs(double(got[i]) - want[i]));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t x = 0; x < c.Lq * H * d; ++x)
      err_full = std::max(err_full, std::fabs(double(got[size_t(b * c.Lq * H * d + x)]) -
                                              double(full[size_t((b * L + c.q0) * H * d + x)])));
  // float32 dot products of 16 terms of magnitude <= 4 and a softmax over 23 keys: 1e-5.
  EXPECT_LT(err, 1e-5);
  // The same rows of the full attention: the same arithmetic per query row (float32 rounding
  // of the GEMM may differ with the row count; measured 0).
  EXPECT_LT(err_full, 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Spans, SpanAttention,
                         ::testing::Values(SpanCase{0, 23, false, cpu::MaskMode::Pair},
                                           SpanCase{8, 9, false, cpu::MaskMode::Pair},
                                           SpanCase{3, 20, true, cpu::MaskMode::Pair},
                                           SpanCase{0, 5, true, cpu::MaskMode::Pair},
                                           SpanCase{15, 8, true, cpu::MaskMode::HfCausal},
                                           SpanCase{2, 1, true, cpu::MaskMode::HfCausal}));

TEST(SpanAttention, RejectsASpanOutsideTheRow) {
  std::vector<float> x(4 * 16);
  EXPECT_THROW(cpu::attention(x.data(), x.data(), x.data(), x.data(), 1, 4, 3, 2, 1, 1, 16, nullptr,
                              cpu::MaskMode::Pair, false),
               Error);
}

double max_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape, b.shape);
  double e = 0;
  for (int64_t i = 0; i < a.numel(); ++i) e = std::max(e, std::fabs(double(a.ptr<float>()[i]) - double(b.ptr<float>()[i])));
  return e;
}

class CachedForward : public ::testing::TestWithParam<Precision> {};

// On a freshly refreshed cache the canvas has not changed, so every cached key/value is what
// the full forward computes: the span's logits must be the full forward's.
TEST_P(CachedForward, FreshCacheGivesTheFullForwardLogits) {
  Transformer m = Transformer::random(small_model_config(), GetParam(), 11);
  const int64_t B = 2, L = 14;
  std::vector<int64_t> ids(static_cast<size_t>(B * L));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int64_t((i * 41 + 5) % 97);
  std::vector<uint8_t> mask(static_cast<size_t>(B * L), 1);
  for (int i = 0; i < 4; ++i) mask[size_t(L + i)] = 0;  // row 1 left-padded
  ForwardRequest full;
  full.ids = ids.data();
  full.B = B;
  full.L = L;
  full.token_mask = mask.data();
  const Tensor want = m.forward(full);

  KvCache kv = m.new_kv_cache(B, L);
  ForwardRequest refresh = full;
  refresh.kv = &kv;
  // The refresh runs the same ops as the plain forward (its keys/values are also copied out).
  EXPECT_EQ(max_diff(m.forward(refresh), want), 0.0);
  ASSERT_TRUE(kv.filled());
  for (auto [s, e] : {std::pair<int64_t, int64_t>{6, 10}, {6, 14}, {0, 3}, {13, 14}}) {
    ForwardRequest span = refresh;
    span.span_begin = s;
    span.span_end = e;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = s; i < e; ++i) span.rows.push_back(b * L + i);
    const Tensor got = m.forward(span);
    Tensor ref = Tensor::empty(DType::F32, got.shape);
    const int64_t V = want.size(1);
    for (size_t r = 0; r < span.rows.size(); ++r)
      std::copy_n(want.ptr<float>() + span.rows[r] * V, V, ref.ptr<float>() + int64_t(r) * V);
    // Per-row arithmetic equals the full forward's; GEMMs over fewer rows may round float32
    // differently: 1e-5 of logits of magnitude ~3 (measured 0 on this CPU).
    EXPECT_LT(max_diff(got, ref), 1e-5) << "span [" << s << ", " << e << ")";
  }
}

INSTANTIATE_TEST_SUITE_P(Precisions, CachedForward, ::testing::Values(Precision::F32, Precision::BF16));

TEST(CachedForward, BadRequestsAreErrors) {
  Transformer m = Transformer::random(small_model_config(), Precision::F32, 11);
  std::vector<int64_t> ids(10, 3);
  ForwardRequest r;
  r.ids = ids.data();
  r.L = 10;
  r.span_begin = 2;
  r.span_end = 5;
  EXPECT_THROW(m.forward(r), Error);  // a span without a cache
  KvCache kv = m.new_kv_cache(1, 10);
  r.kv = &kv;
  EXPECT_THROW(m.forward(r), Error);  // a span on an empty cache
  ForwardRequest whole = r;
  whole.span_begin = 0;
  whole.span_end = -1;
  m.forward(whole);
  r.rows = {1};
  EXPECT_THROW(m.forward(r), Error);  // a row outside the span
  r.rows = {};
  r.span_end = 11;
  EXPECT_THROW(m.forward(r), Error);  // a span past the row
  KvCache other = m.new_kv_cache(1, 12);
  whole.kv = &other;
  EXPECT_THROW(m.forward(whole), Error);  // a cache of another shape
}

TextSamplerParams tiny_params() {
  TextSamplerParams p = test::sampler_params(16, 4, 8, 96);
  p.end_ids = {95};
  p.end_fill_id = 95;
  return p;
}

// Refreshing at every step recomputes everything: token for token the exact sampler, for both
// caches, with and without guidance and temperature.
TEST(CachedGeneration, RefreshEveryStepIsExactMode) {
  Transformer m = Transformer::random(small_model_config(), Precision::F32, 21);
  const std::vector<int64_t> prompt = {5, 17, 33, 2, 64, 8};
  for (double cfg : {0.0, 1.5})
    for (double temp : {0.0, 1.0})
      for (CacheMode mode : {CacheMode::Prefix, CacheMode::Dual}) {
        TextSamplerParams p = tiny_params();
        p.cfg_scale = cfg;
        p.temperature = temp;
        p.seed = 3;
        const auto exact = generate_text(make_logits_fn(m), prompt, 1, 6, nullptr, p, {}, make_pick_fn(m));
        p.cache = mode;
        p.cache_refresh = 1;
        const auto cached = generate_text(make_logits_fn(m), prompt, 1, 6, nullptr, p, {}, make_pick_fn(m),
                                          make_cached_network(m));
        EXPECT_EQ(cached.ids, exact.ids) << cache_mode_name(mode) << " cfg " << cfg << " t " << temp;
        EXPECT_EQ(cached.cache_refreshes, cached.network_calls);
      }
}

// Without per-step refreshes: one whole-canvas run per block, the other steps over the span;
// every position gets committed. (How close the tokens stay to exact mode is measured on real
// weights, docs/fast-decoding.md, not asserted on random ones.)
TEST(CachedGeneration, RefreshesOncePerBlockAndCompletesTheCanvas) {
  Transformer m = Transformer::random(small_model_config(), Precision::F32, 21);
  const std::vector<int64_t> prompt = {5, 17, 33, 2, 64, 8, 1, 2, 3, 4};  // B = 2, P = 5
  std::vector<uint8_t> pmask = {1, 1, 1, 1, 1, 0, 0, 1, 1, 1};         // row 1 left-padded
  for (CacheMode mode : {CacheMode::Prefix, CacheMode::Dual})
    for (int64_t refresh : {0, 2}) {
      TextSamplerParams p = tiny_params();
      p.steps = 16;  // 4 per block
      p.cache = mode;
      p.cache_refresh = refresh;
      int64_t committed = 0;
      auto count = [&](const TextStep& st) {
        for (int64_t t : st.transferred) committed += t;
        return true;
      };
      const auto r = generate_text(make_logits_fn(m), prompt, 2, 5, &pmask, p, count, make_pick_fn(m),
                                   make_cached_network(m));
      EXPECT_EQ(r.network_calls, 16);
      EXPECT_EQ(r.cache_refreshes, refresh ? 8 : 4) << cache_mode_name(mode);  // steps 0 (and 2)
      EXPECT_EQ(committed, 2 * 16);  // every generated position of both rows
    }
}

TEST(CachedGeneration, CacheWithoutACachedNetworkIsAnError) {
  Transformer m = Transformer::random(small_model_config(), Precision::F32, 21);
  TextSamplerParams p = tiny_params();
  p.cache = CacheMode::Prefix;
  EXPECT_THROW(generate_text(make_logits_fn(m), {1, 2}, 1, 2, nullptr, p), Error);
}

}  // namespace
}  // namespace mmada

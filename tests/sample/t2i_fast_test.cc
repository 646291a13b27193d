// Fast text-to-image sampling (docs/fast-decoding.md): the KV-cached span forward with explicit
// positions against the full forward, the step flags the sampler sends for the prompt cache and
// the reused guidance branch, the threshold's early end, and the refused settings.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "model/logits_fn.h"
#include "model/packing.h"
#include "model/transformer.h"
#include "sample/t2i_sampler.h"
#include "serve/api_error.h"
#include "serve/api_requests.h"
#include "tiny_model.h"

namespace mmada {
namespace {

// Vocabulary 64: text ids below 20, image codes 20..51 (codebook 32), [MASK] 63.
constexpr int64_t kOffset = 20, kCodebook = 32, kMask = 63;

ModelConfig small_config() { return test::tiny_model_config({32, 4, 2, 2, 48, 64}); }

// T2I rows [pad]* text | N masked image slots | end token; mask 0 on the pads.
struct Rows {
  std::vector<int64_t> ids;
  std::vector<uint8_t> mask;
};
Rows t2i_rows(const std::vector<std::vector<int64_t>>& texts, int64_t text_len, int64_t N) {
  Rows r;
  for (const auto& t : texts) {
    const int64_t pad = text_len - int64_t(t.size());
    for (int64_t i = 0; i < pad; ++i) r.ids.push_back(0), r.mask.push_back(0);
    for (int64_t id : t) r.ids.push_back(id), r.mask.push_back(1);
    for (int64_t n = 0; n < N; ++n) r.ids.push_back(kMask), r.mask.push_back(1);
    r.ids.push_back(19), r.mask.push_back(1);
  }
  return r;
}

T2iParams params() {
  T2iParams p;
  p.timesteps = 6;
  p.guidance = 2.0;
  p.codebook = kCodebook;
  p.image_offset = kOffset;
  p.mask_id = kMask;
  return p;
}

// A freshly refreshed cache holds what the full forward computes, so the span forward of a
// packed row (explicit RoPE positions) must give the full forward's logits.
TEST(T2iFast, PackedSpanOnFreshCacheMatchesFullForward) {
  const Transformer m = Transformer::random(small_config(), Precision::F32, 5);
  const int64_t N = 6, text_len = 7;
  Rows rows = t2i_rows({{3, 4, 5, 6}, {7, 8}}, text_len, N);
  const int64_t L = text_len + N + 1;
  for (int64_t n = 0; n < N; n += 2) rows.ids[size_t(text_len + n)] = kOffset + n;  // some codes drawn
  std::vector<int64_t> slots;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t n = 0; n < N; ++n) slots.push_back(b * L + text_len + n);
  const PackedRows pk = pack_real_tokens(rows.ids.data(), rows.mask.data(), 2, L, slots);
  ForwardRequest r;
  r.ids = pk.ids.data();
  r.B = 2;
  r.L = pk.L;
  r.token_mask = pk.mask.data();
  r.positions = pk.positions.data();
  r.rows = pk.rows;
  const Tensor want = m.forward(r);
  KvCache kv = m.new_kv_cache(2, pk.L);
  r.kv = &kv;
  m.forward(r);  // refresh
  r.span_begin = pk.L - N - 1;
  const Tensor got = m.forward(r);
  ASSERT_EQ(got.shape, want.shape);
  double err = 0;
  for (int64_t i = 0; i < got.numel(); ++i)
    err = std::max(err, std::fabs(double(got.ptr<float>()[i]) - double(want.ptr<float>()[i])));
  // The same per-row float32 arithmetic over fewer rows (measured 0 on this CPU).
  EXPECT_LT(err, 1e-5);
}

// With every refresh period 1 the fast path (cond and uncond rows apart, each behind a cache) is
// the exact computation: the same codes for the same seed.
TEST(T2iFast, RefreshEveryStepGivesTheExactCodes) {
  const Transformer m = Transformer::random(small_config(), Precision::F32, 6);
  const int64_t N = 8, text_len = 6, L = text_len + N + 1;
  const Rows c = t2i_rows({{3, 4, 5}, {9, 10, 11, 12}}, text_len, N), u = t2i_rows({{1}, {1}}, text_len, N);
  T2iParams p = params();
  auto draw = [&](const T2iParams& q) {
    SeededT2iRandom rng(42);
    return generate_image(make_t2i_fn(m, kOffset, kOffset + kCodebook), c.ids, c.mask, u.ids, u.mask, 2, L, N, q,
                          rng).codes;
  };
  const std::vector<int64_t> exact = draw(p);
  p.context_refresh = 1;
  p.cfg_refresh = 1;
  EXPECT_EQ(draw(p), exact);
  // The image cache lays each row out anew (committed codes first, RoPE positions moved with the
  // tokens) and draws only the masked slots: a float32 refresh every step reorders sums only, far
  // below any gap between drawn codes here.
  p.cache_image = true;
  EXPECT_EQ(draw(p), exact);
  p.context_refresh = 3;  // approximate: valid codes, reproducible
  p.cfg_refresh = 2;
  for (bool image : {false, true}) {
    p.cache_image = image;
    const std::vector<int64_t> fast = draw(p);
    EXPECT_EQ(draw(p), fast);
    for (int64_t code : fast) EXPECT_TRUE(code >= 0 && code < kCodebook) << code;
  }
}

// A stand-in network: every slot draws code 1 with probability `prob`; it records the flags.
struct FlagRecorder {
  float prob = 0.5f;
  std::vector<std::string> flags;
  T2iModelFn fn() {
    return [this](const T2iDrawRequest& q) {
      flags.push_back(std::string(q.context_cache ? "c" : "-") + (q.reuse_context ? "R" : "-") +
                      (q.keep_uncond ? "k" : "-") + (q.reuse_uncond ? "U" : "-"));
      const size_t R = q.slots.size() / (q.cfg ? 2 : 1);
      T2iDrawResult out;
      out.codes.assign(R, 1);
      out.probs.assign(R, prob);
      return out;
    };
  }
};

TEST(T2iFast, StepsAskForCachedContextAndReusedGuidanceOnSchedule) {
  const int64_t N = 8, text_len = 4, L = text_len + N + 1;
  const Rows c = t2i_rows({{3}}, text_len, N), u = t2i_rows({{1}}, text_len, N);
  T2iParams p = params();
  p.context_refresh = 3;
  p.cfg_refresh = 2;
  FlagRecorder rec;
  SeededT2iRandom rng(1);
  generate_image(rec.fn(), c.ids, c.mask, u.ids, u.mask, 1, L, N, p, rng);
  // Steps 0..5: the context is recomputed on steps 0 and 3, the guidance branch on 0, 2, 4.
  EXPECT_EQ(rec.flags, (std::vector<std::string>{"c-k-", "cRkU", "cRk-", "c-kU", "cRk-", "cRkU"}));
  rec.flags.clear();
  generate_image(rec.fn(), c.ids, c.mask, u.ids, u.mask, 1, L, N, params(), rng);
  EXPECT_EQ(rec.flags, std::vector<std::string>(6, "----"));  // exact mode asks for nothing
}

TEST(T2iFast, ThresholdCommitsConfidentSlotsAndEndsEarly) {
  const int64_t N = 8, text_len = 4, L = text_len + N + 1;
  const Rows c = t2i_rows({{3}}, text_len, N), u = t2i_rows({{1}}, text_len, N);
  T2iParams p = params();
  p.threshold = 0.9;
  FlagRecorder sure;
  sure.prob = 0.95f;
  SeededT2iRandom rng(1);
  T2iResult r = generate_image(sure.fn(), c.ids, c.mask, u.ids, u.mask, 1, L, N, p, rng);
  EXPECT_EQ(r.steps_run, 1);  // every slot passed the threshold on the first step
  for (int64_t n = 0; n < N; ++n) EXPECT_EQ(r.input_ids[size_t(text_len + n)], kOffset + 1);
  FlagRecorder unsure;  // below the threshold: the fixed schedule, every step
  r = generate_image(unsure.fn(), c.ids, c.mask, u.ids, u.mask, 1, L, N, p, rng);
  EXPECT_EQ(r.steps_run, p.timesteps);
}

TEST(T2iFast, ImpossibleSettingsAreRefused) {
  T2iParams p = params();
  p.cfg_refresh = 2;
  p.guidance = 0;
  EXPECT_THROW(p.validate(), Error);  // nothing to reuse without guidance
  p = params();
  p.cache_image = true;  // the image cache lives in the context cache
  EXPECT_THROW(p.validate(), Error);
  p = params();
  p.threshold = 1.5;
  EXPECT_THROW(p.validate(), Error);
  p = params();
  p.context_refresh = -1;
  EXPECT_THROW(p.validate(), Error);
  const serve::RequestLimits lim;
  EXPECT_THROW(serve::parse_image_request(R"({"prompt":"a cat","guidance_scale":0,"cfg_refresh":2})", lim),
               serve::ApiError);
  EXPECT_THROW(serve::parse_image_request(R"({"prompt":"a cat","threshold":2})", lim), serve::ApiError);
  EXPECT_THROW(serve::parse_image_request(R"({"prompt":"a cat","cache_image":true})", lim), serve::ApiError);
  const serve::ImageGenerationRequest ok =
      serve::parse_image_request(R"({"prompt":"a cat","context_cache":4,"cfg_refresh":2,"threshold":0.9})", lim);
  EXPECT_EQ(ok.context_cache, 4);
  EXPECT_EQ(ok.cfg_refresh, 2);
  EXPECT_DOUBLE_EQ(ok.threshold, 0.9);
}

// A small tokenizer may put [MASK] below the codebook size (ids: mask 5 < offset 20, codes
// 0..31): a slot committed to code 5 stays committed. The sampler tracks undrawn slots by their
// own flags; judging them by code == mask id would redraw such slots at every step.
TEST(T2iSampler, CodeEqualToTheMaskIdStaysCommitted) {
  const int64_t N = 8, text_len = 4, L = text_len + N + 1, low_mask = 5;
  Rows c = t2i_rows({{3}}, text_len, N), u = t2i_rows({{1}}, text_len, N);
  for (Rows* r : {&c, &u})
    for (int64_t& id : r->ids)
      if (id == kMask) id = low_mask;
  T2iParams p = params();
  p.mask_id = low_mask;
  FlagRecorder rec;  // every slot draws code 1 ...
  const T2iModelFn draw_mask_code = [&](const T2iDrawRequest& q) {
    T2iDrawResult out = rec.fn()(q);
    std::fill(out.codes.begin(), out.codes.end(), low_mask);  // ... here the code equal to the mask id
    return out;
  };
  std::vector<uint8_t> committed(static_cast<size_t>(N), 0);
  int64_t steps = 0;
  const T2iStepCallback check = [&](const T2iStep& st) {
    ++steps;
    for (int64_t n = 0; n < N; ++n) {
      if (committed[size_t(n)]) {
        EXPECT_FALSE(st.masking[size_t(n)]) << "slot " << n << " re-masked at step " << st.step;
      }
      committed[size_t(n)] = committed[size_t(n)] || !st.masking[size_t(n)];
    }
    return true;
  };
  SeededT2iRandom rng(1);
  const T2iResult r = generate_image(draw_mask_code, c.ids, c.mask, u.ids, u.mask, 1, L, N, p, rng, check);
  EXPECT_EQ(steps, p.timesteps);
  for (int64_t n = 0; n < N; ++n) EXPECT_EQ(r.input_ids[size_t(text_len + n)], kOffset + low_mask);
}

}  // namespace
}  // namespace mmada


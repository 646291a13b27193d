// Sampler building blocks: schedules against the reference's float32 tables, the transfer
// split, parameter validation, the T2I layout and early stop.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "sample/t2i_sampler.h"
#include "sample/text_sampler.h"
#include "test_util.h"
#include "tiny_model.h"

namespace mmada {
namespace {

TEST(Schedules, MatchTheReferenceTablesExactly) {
  // Tables made by the reference (spec/data/t2i_mask_schedules.json), found next to refdata.
  const std::string path = test::refdata_dir() + "/../spec/data/t2i_mask_schedules.json";
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << path;
  const auto j = nlohmann::json::parse(in);
  int checked = 0;
  for (const auto& [name, by_steps] : j["schedules"].items()) {
    const ScheduleSpec f = schedule_from_name(name);
    for (const auto& [steps, ks] : by_steps.items()) {
      const int64_t S = std::stoll(steps);
      for (int64_t s = 0; s < S; ++s, ++checked)
        ASSERT_EQ(schedule_mask_len(f, s, S, 1024), ks[size_t(s)].get<int64_t>())
            << name << " S=" << S << " step " << s;
    }
  }
  EXPECT_GT(checked, 3000);
}

TEST(Schedules, UnknownNameIsAnError) {
  EXPECT_THROW(schedule_from_name("cosine2"), Error);
  EXPECT_EQ(schedule_from_name("pow3").power, 3.0f);
}

TEST(TextSampler, SplitsTransfersRemainderFirst) {
  EXPECT_EQ(split_transfers(8, 3), (std::vector<int64_t>{3, 3, 2}));
  EXPECT_EQ(split_transfers(2, 4), (std::vector<int64_t>{1, 1, 0, 0}));
}

TEST(TextSampler, RejectsImpossibleSettings) {
  TextSamplerParams p;
  p.gen_length = 30;
  p.block_length = 8;
  EXPECT_THROW(p.validate(), Error);  // 30 % 8
  p.gen_length = 32;
  p.steps = 6;
  EXPECT_THROW(p.validate(), Error);  // 6 steps over 4 blocks
  p.steps = 8;
  EXPECT_NO_THROW(p.validate());
  p.temperature = -1;
  EXPECT_THROW(p.validate(), Error);
  EXPECT_THROW(remasking_from_name("lowest"), Error);
}

// A fake network whose argmax at position i is token (i % 5) + 10, except that from position
// `end_at` on it prefers end-of-text: enough to watch the scheduler commit and stop.
LogitsFn fake_model(int64_t V, int64_t end_at, int64_t* calls) {
  return [=](const std::vector<int64_t>&, int64_t, int64_t L, const uint8_t*,
             const std::vector<int64_t>& rows) {
    ++*calls;
    Tensor t = Tensor::empty(DType::F32, {int64_t(rows.size()), V});
    for (size_t r = 0; r < rows.size(); ++r) {
      const int64_t pos = rows[r] % L;
      const int64_t tok = pos >= end_at ? 2 : 10 + pos % 5;
      t.ptr<float>()[int64_t(r) * V + tok] = 5.0f + 0.01f * float(pos);
    }
    return t;
  };
}

TEST(TextSampler, EarlyStopFillsTheRestWithoutNetworkCalls) {
  TextSamplerParams p = test::sampler_params(32, 8, 16, 99);
  p.end_ids = {2};
  p.end_fill_id = 2;
  const std::vector<int64_t> prompt = {20, 21, 22};
  int64_t calls_full = 0, calls_fast = 0;
  auto full = generate_text(fake_model(100, 3 + 6, &calls_full), prompt, 1, 3, nullptr, p);
  p.early_stop = true;
  auto fast = generate_text(fake_model(100, 3 + 6, &calls_fast), prompt, 1, 3, nullptr, p);
  EXPECT_EQ(full.ids, fast.ids);  // the fake model would have produced end tokens anyway
  EXPECT_EQ(calls_full, 16);
  EXPECT_EQ(calls_fast, 4);  // the first block ends the answer
  EXPECT_EQ(fast.steps_skipped, 12);
}

TEST(TextSampler, ThresholdCommitsConfidentTokensInFewerSteps) {
  TextSamplerParams p = test::sampler_params(16, 8, 16, 99);
  p.temperature = 0;
  const std::vector<int64_t> prompt = {20, 21};
  int64_t exact_calls = 0, fast_calls = 0;
  const auto exact = generate_text(fake_model(100, 100, &exact_calls), prompt, 1, 2, nullptr, p);
  p.threshold = 0.001;  // the fake logits give every position a confident token
  const auto fast = generate_text(fake_model(100, 100, &fast_calls), prompt, 1, 2, nullptr, p);
  EXPECT_EQ(exact.ids, fast.ids);  // position-independent argmax: same tokens either way
  EXPECT_EQ(exact_calls, 16);
  EXPECT_EQ(fast_calls, 2);  // one step per block
  p.remasking = Remasking::Random;
  EXPECT_THROW(p.validate(), Error);
}

TEST(TextSampler, SameSeedSameOutputWithTemperature) {
  TextSamplerParams p = test::sampler_params(8, 8, 4, 99);
  p.temperature = 1.0;
  p.seed = 42;
  int64_t calls = 0;
  auto a = generate_text(fake_model(100, 100, &calls), {1, 2}, 1, 2, nullptr, p);
  auto b = generate_text(fake_model(100, 100, &calls), {1, 2}, 1, 2, nullptr, p);
  EXPECT_EQ(a.ids, b.ids);
}

TEST(T2iLayout, MatchesPromptingSpec) {
  const T2iRow r = build_t2i_row({500, 501}, 513, 1024, SpecialTokens{});
  ASSERT_EQ(r.ids.size(), 1539u);
  const size_t npad = 513 - 5;  // <|t2i|> BOS 500 501 EOS
  EXPECT_EQ(r.ids[npad - 1], mmada_tokens::kIPad);
  EXPECT_EQ(r.ids[npad], mmada_tokens::kT2i);
  EXPECT_EQ(r.ids[npad + 1], mmada_tokens::kSot);
  EXPECT_EQ(r.ids[512], mmada_tokens::kEot);
  EXPECT_EQ(r.ids[513], mmada_tokens::kSoi);
  EXPECT_EQ(r.ids[514], 126336);
  EXPECT_EQ(r.ids[1538], mmada_tokens::kEoi);
  EXPECT_EQ(r.mask[npad - 1], 0);
  EXPECT_EQ(r.mask[npad], 1);
  // The empty prompt gives [<|t2i|>, BOS, EOS] after 510 pads.
  const T2iRow u = build_t2i_row({}, 513, 1024, SpecialTokens{});
  EXPECT_EQ(u.ids[509], mmada_tokens::kIPad);
  EXPECT_EQ(u.ids[510], mmada_tokens::kT2i);
  // Long prompts keep <|t2i|>, BOS and the first 510 text tokens, then EOS.
  const T2iRow l = build_t2i_row(std::vector<int64_t>(600, 7), 513, 1024, SpecialTokens{});
  EXPECT_EQ(l.ids[0], mmada_tokens::kT2i);
  EXPECT_EQ(l.ids[511], 7);
  EXPECT_EQ(l.ids[512], mmada_tokens::kEot);
}

TEST(T2iLayout, TakesEveryIdFromTheModelsSpecialTokens) {
  SpecialTokens tk;  // a small model's own ids
  tk.bos = 1, tk.eos = 2, tk.mask = 3, tk.t2i = 4, tk.soi = 5, tk.eoi = 6, tk.ipad = 7;
  const T2iRow r = build_t2i_row({40}, 6, 4, tk);
  EXPECT_EQ(r.ids, (std::vector<int64_t>{7, 7, 4, 1, 40, 2, 5, 3, 3, 3, 3, 6}));
  EXPECT_EQ(r.mask, (std::vector<uint8_t>{0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}));
}

}  // namespace
}  // namespace mmada

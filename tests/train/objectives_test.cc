// The training objectives of spec/training.md §3-§4: row layouts, noising rules and the worked
// example of §4.5, recomputed by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "train/objectives.h"

namespace mmada::train {
namespace {

NoisedRow made_row(Task task, bool chat, int64_t L, double p, int64_t answer_len,
                   std::vector<int64_t> positions) {
  NoisedRow r;
  r.task = task;
  r.chat = chat;
  r.ids.assign(size_t(L), 0);
  r.p = p;
  r.answer_len = answer_len;
  r.positions = positions;
  r.labels.assign(positions.size(), 0);
  return r;
}

double weighted(const std::vector<NoisedRow>& rows, const std::vector<double>& ce, Task task,
                LmNormaliser norm = LmNormaliser::RowLength) {
  const std::vector<double> w = task_weights(rows, norm);
  double s = 0;
  size_t k = 0;
  for (const NoisedRow& r : rows)
    for (size_t j = 0; j < r.positions.size(); ++j, ++k)
      if (r.task == task) s += w[k] * ce[k];
  return s;
}

// §4.5, every number of the worked example.
TEST(Objectives, WorkedExample) {
  std::vector<NoisedRow> rows;
  // t2i: row 1 = soi, two masked images, eoi; row 2 = soi, one masked image, eoi.
  rows.push_back(made_row(Task::T2i, false, 12, 0.7, 0, {5, 6, 8, 11}));
  rows.push_back(made_row(Task::T2i, false, 12, 0.3, 0, {5, 7, 11}));
  // lm (pretraining), L = 10, p = 0.25, two masked positions.
  rows.push_back(made_row(Task::Lm, false, 10, 0.25, 10, {2, 7}));
  // mmu, L = 10, prompt 6 (A = 4): row 1 p = 0.5 CE {2, 1}; row 2 p = 0.5 CE {1} -> 0.5.
  rows.push_back(made_row(Task::Mmu, false, 10, 0.5, 4, {6, 8}));
  rows.push_back(made_row(Task::Mmu, false, 10, 0.5, 4, {9}));
  const std::vector<double> ce = {0.1, 2.0, 4.0, 0.1, 0.1, 6.0, 0.1, 1.0, 3.0, 2.0, 1.0, 1.0};
  const double t2i = weighted(rows, ce, Task::T2i), lm = weighted(rows, ce, Task::Lm),
               mmu = weighted(rows, ce, Task::Mmu);
  EXPECT_NEAR(t2i, 12.4 / 7, 1e-12);
  EXPECT_NEAR(t2i, 1.771429, 1e-6);
  EXPECT_NEAR(lm, 1.6, 1e-12);
  EXPECT_NEAR(mmu, 1.0, 1e-12);
  EXPECT_NEAR(1.0 * t2i + 0.1 * lm + 0.5 * mmu, 2.431429, 1e-6);  // stage-1.2 coefficients
}

TEST(Objectives, LmContentLengthAndChatNormalisers) {
  // Stage-2.2 plain text: Σ CE/(p·n_b)/B; chat: Σ CE/(p·A_b)/B.
  NoisedRow lm = made_row(Task::Lm, false, 10, 0.5, 10, {1, 2});
  lm.content_len = 4;
  EXPECT_NEAR(weighted({lm}, {1.0, 1.0}, Task::Lm, LmNormaliser::ContentLength), 2 / (0.5 * 4), 1e-12);
  NoisedRow chat = made_row(Task::Lm, true, 10, 0.5, 5, {6});
  NoisedRow chat2 = made_row(Task::Lm, true, 10, 0.25, 8, {9});
  EXPECT_NEAR(weighted({chat, chat2}, {2.0, 1.0}, Task::Lm),
              (2.0 / (0.5 * 5) + 1.0 / (0.25 * 8)) / 2, 1e-12);
}

const RowTokens tk;  // MMaDA ids

TEST(Objectives, T2iRowLayoutTruncationAndDropout) {
  const std::vector<int64_t> img = {1000, 1001, 1002, 1003};
  // T = 6: text part is 7 positions: [iPAD]*2 <|t2i|> BOS c1 c2 EOS.
  CleanRow r = t2i_row({11, 12}, img, 6, false, tk);
  EXPECT_EQ(r.ids, (std::vector<int64_t>{tk.ipad, tk.ipad, tk.t2i, tk.bos, 11, 12, tk.eos, tk.soi,
                                         1000, 1001, 1002, 1003, tk.eoi}));
  EXPECT_EQ(r.real, (std::vector<uint8_t>{0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}));
  // Too long: first T tokens then EOS (no padding).
  CleanRow l = t2i_row({11, 12, 13, 14, 15, 16}, img, 6, false, tk);
  EXPECT_EQ(std::vector<int64_t>(l.ids.begin(), l.ids.begin() + 7),
            (std::vector<int64_t>{tk.t2i, tk.bos, 11, 12, 13, 14, tk.eos}));
  // CFG dropout: <|t2i|> BOS EOS, left-padded.
  CleanRow d = t2i_row({11, 12}, img, 6, true, tk);
  EXPECT_EQ(std::vector<int64_t>(d.ids.begin(), d.ids.begin() + 7),
            (std::vector<int64_t>{tk.ipad, tk.ipad, tk.ipad, tk.ipad, tk.t2i, tk.bos, tk.eos}));
}

TEST(Objectives, T2iMaskingAtLeastOneAndLabels) {
  const std::vector<int64_t> img = {1000, 1001, 1002, 1003};
  CleanRow r = t2i_row({11}, img, 4, false, tk);
  for (uint64_t s = 0; s < 200; ++s) {
    const NoisedRow n = noise_t2i(r, 4, 0.0, RowDraws{CounterRng{s}, 1}, tk);
    const int64_t masked = int64_t(n.positions.size()) - 2;
    ASSERT_GE(masked, 1);  // n = max(1, round(N r))
    EXPECT_EQ(masked, std::max<int64_t>(1, int64_t(std::nearbyint(4 * n.p))));
    EXPECT_EQ(n.labels.front(), tk.soi);
    EXPECT_EQ(n.labels.back(), tk.eoi);
    for (size_t j = 1; j + 1 < n.positions.size(); ++j) {
      EXPECT_EQ(n.ids[size_t(n.positions[j])], tk.mask);
      EXPECT_EQ(n.labels[j], r.ids[size_t(n.positions[j])]);
    }
  }
}

TEST(Objectives, ChatPromptRestoredAndEosPaddingCounted) {
  // BOS user-header-ish tokens ... <|end_header_id|> answer, EOS padding up to L = 12.
  const std::vector<int64_t> text = {5, tk.end_header, 6, 7, tk.end_header, 8, 9};
  CleanRow r = chat_row(text, 12, tk);
  EXPECT_EQ(r.prompt_len, 6);  // BOS 5 EH 6 7 EH
  EXPECT_EQ(r.ids.back(), tk.eos);
  for (uint64_t s = 0; s < 50; ++s) {
    const NoisedRow n = noise_text(r, 1e-3, RowDraws{CounterRng{s}, 3}, tk);
    EXPECT_EQ(n.answer_len, 6);
    for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(n.ids[size_t(i)], r.ids[size_t(i)]);
    for (int64_t pos : n.positions) EXPECT_GE(pos, 6);
    EXPECT_GE(n.p, 1e-3);
  }
  // No <|end_header_id|>: the whole row is answer.
  EXPECT_EQ(chat_row({5, 6}, 8, tk).prompt_len, 0);
}

TEST(Objectives, LmRowMasksEverythingIncludingBosAndPadding) {
  CleanRow r = lm_row({5, 6, 7}, 8, tk);
  EXPECT_EQ(r.ids, (std::vector<int64_t>{tk.bos, 5, 6, 7, tk.eos, tk.eos, tk.eos, tk.eos}));
  EXPECT_EQ(r.content_len, 5);
  EXPECT_EQ(lm_row({1, 2, 3, 4, 5, 6, 7, 8, 9}, 8, tk).content_len, 8);  // truncated, no EOS
  // With t -> close to 1 every position is masked, BOS and EOS padding included.
  int64_t seen_bos = 0, seen_pad = 0;
  for (uint64_t s = 0; s < 100; ++s) {
    const NoisedRow n = noise_text(r, 1e-3, RowDraws{CounterRng{s}, 9}, tk);
    for (int64_t pos : n.positions) {
      seen_bos += pos == 0;
      seen_pad += pos == 7;
    }
  }
  EXPECT_GT(seen_bos, 0);
  EXPECT_GT(seen_pad, 0);
}

TEST(Objectives, MmuRowPrompt) {
  const std::vector<int64_t> img = {1000, 1001};
  CleanRow r = mmu_row(img, {5, tk.end_header, 8}, 6, tk);
  EXPECT_EQ(r.ids, (std::vector<int64_t>{tk.mmu, tk.soi, 1000, 1001, tk.eoi, tk.bos, 5,
                                         tk.end_header, 8, tk.eos, tk.eos}));
  EXPECT_EQ(r.prompt_len, 8);  // N+3 + BOS 5 EH
  EXPECT_EQ(mmu_row(img, {5, 8}, 6, tk).prompt_len, 5);  // image prefix only
  // Too long text: first T−1 tokens then EOS.
  CleanRow l = mmu_row(img, {1, 2, 3, 4, 5, 6, 7}, 4, tk);
  EXPECT_EQ(std::vector<int64_t>(l.ids.end() - 4, l.ids.end()),
            (std::vector<int64_t>{tk.bos, 1, 2, tk.eos}));
}

}  // namespace
}  // namespace mmada::train

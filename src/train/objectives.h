// MMaDA's training rows, noising and loss normalisers, exactly as spec/training.md §3-§4 state
// them (HEAD code), including its quirks:
//   t2i   (§3.1, §4.1): MaskGIT cosine ratio r = max(cos(πu/2), min_rate), n = max(1, round(N r))
//                       image tokens masked; loss = token mean over masked images + soi + eoi of
//                       the whole t2i sub-batch; CFG dropout replaces the caption by nothing.
//   lm    (§3.2, §4.2): p = (1−ε)t + ε, every position (BOS, EOS padding) masked w.p. p;
//                       Σ CE/p / (B·L)  — or, the stage-2.2 variant, Σ CE/(p·n_b) / B.
//   chat  (§3.3, §4.3): mask as lm, then restore the prompt (up to the last <|end_header_id|>);
//                       Σ CE/(p·A_b) / B with A_b = L − prompt_len (EOS padding counted).
//   mmu   (§3.4, §4.4): as chat, the prompt being the image prefix plus the user turn.
// Every loss is a weighted sum of per-position cross-entropies; this file computes the
// positions and the weights, train_ops' cross_entropy the rest.
#pragma once
#include <cstdint>
#include <vector>

#include "sample/rng.h"

namespace mmada::train {

// Token ids the rows use. Defaults: MMaDA / LLaDA (spec training.md §1.4).
struct RowTokens {
  int64_t bos = 126080, eos = 126081, mask = 126336, end_header = 126347;
  int64_t t2i = 126088, mmu = 126089, soi = 126084, eoi = 126085, ipad = 126093;
};

enum class Task { T2i = 0, Lm = 1, Mmu = 2 };
inline constexpr int kNumTasks = 3;
const char* task_name(Task t);

// How a plain-text lm row is normalised (§4.2): by the row length L (stages 1.1/1.2), or by
// n_b, its non-padding length (stage 2.2's RefinedWeb rows).
enum class LmNormaliser { RowLength, ContentLength };

// A clean row of length L, before noising.
struct CleanRow {
  Task task = Task::Lm;
  bool chat = false;             // lm rows: chat/SFT objective (§4.3) instead of pretraining
  std::vector<int64_t> ids;      // [L]
  std::vector<uint8_t> real;     // [L] 1 = real token (0 only for t2i [iPAD])
  int64_t prompt_len = 0;        // chat/mmu: positions never masked; t2i: T+1 (the text part)
  int64_t content_len = 0;       // lm: BOS…EOS positions (at least 1)
};

// Rows (text ids WITHOUT BOS; BOS is prepended, §3). T = text slots, N = image tokens.
CleanRow lm_row(const std::vector<int64_t>& text, int64_t L, const RowTokens& tk);
CleanRow chat_row(const std::vector<int64_t>& text, int64_t L, const RowTokens& tk);
CleanRow t2i_row(const std::vector<int64_t>& caption, const std::vector<int64_t>& image_ids,
                 int64_t T, bool drop_caption, const RowTokens& tk);
CleanRow mmu_row(const std::vector<int64_t>& image_ids, const std::vector<int64_t>& text,
                 int64_t T, const RowTokens& tk);

// A noised row: the model input, the positions that carry a loss with their labels, and
// the numbers its normaliser needs.
struct NoisedRow {
  Task task = Task::Lm;
  bool chat = false;
  std::vector<int64_t> ids;          // [L] with [MASK] substituted
  std::vector<uint8_t> real;         // [L]
  std::vector<int64_t> positions;    // loss positions (sorted)
  std::vector<int64_t> labels;       // clean ids at those positions
  double p = 1.0;                    // masking probability (lm/chat/mmu)
  int64_t answer_len = 0;            // A_b = L − prompt_len
  int64_t content_len = 0;           // n_b
};

// Draws for one row come from a counter RNG stream: index 0 drives t (or u), 1.. positions.
struct RowDraws {
  CounterRng rng;
  uint64_t stream = 0;
  double operator()(uint64_t i) const { return rng.uniform(stream, i); }
};

NoisedRow noise_t2i(const CleanRow& row, int64_t N, double min_masking_rate, const RowDraws& d,
                    const RowTokens& tk);
// lm (pretraining), chat and mmu rows: Bernoulli(p) masking with p = (1−eps)t + eps; prompt
// positions restored for chat and mmu.
NoisedRow noise_text(const CleanRow& row, double eps, const RowDraws& d, const RowTokens& tk);

// Per-target weights WITHOUT the task coefficient, in the order rows then positions:
// Σ weight·CE over a task's targets is that task's loss L_task of §4.
std::vector<double> task_weights(const std::vector<NoisedRow>& rows, LmNormaliser lm_norm);

}  // namespace mmada::train

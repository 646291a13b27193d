// JSONL training text, tokenised once at start-up, and the mixed loader that draws each
// micro-step's lm sub-batch.
//   format "text": {"text": "..."}                         -> lm rows (training.md §3.2, §4.2)
//   format "chat": {"messages": [{"role","content"}, ...]} -> lm_chat rows (§3.3, §4.3); the
//     last message must be the assistant's. Mixed-CoT data puts "<think>reasoning</think>
//     answer" in that message; the whole assistant span (think part included, EOS padding
//     included) is the answer, everything up to its header is prompt (§9).
// Malformed lines are skipped with a count (and the first few reasons printed) or stop the
// run, as the config says; never silently.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sample/rng.h"
#include "train/objectives.h"
#include "train/text_encoder.h"

namespace mmada::train {

enum class DataFormat { Text, Chat };
enum class OnMalformed { Skip, Stop };

struct SourceSpec {
  std::string path;
  DataFormat format = DataFormat::Text;
  double weight = 1.0;
  bool require_think = false;  // chat: the answer must contain <think>…</think>
};

// The chat markup of prompting.md §5.1 (one newline after each header), every turn closed by
// <|eot_id|>. BOS is not included (rows add it).
std::string render_chat_turns(const std::vector<std::pair<std::string, std::string>>& turns);

class JsonlSource {
 public:
  // Examples longer than max_tokens (BOS included) are dropped for chat (training.md §7.1) and
  // truncated later by the row builder for text; both are counted.
  static JsonlSource load(const SourceSpec& spec, const TextEncoder& enc, OnMalformed policy,
                          int64_t max_tokens);

  const SourceSpec& spec() const { return spec_; }
  size_t size() const { return examples_.size(); }
  const std::vector<int64_t>& example(size_t i) const { return examples_[i]; }
  int64_t malformed() const { return malformed_; }
  int64_t too_long() const { return too_long_; }

 private:
  SourceSpec spec_;
  std::vector<std::vector<int64_t>> examples_;
  int64_t malformed_ = 0, too_long_ = 0;
};

// Per micro-step: one source drawn by weight for the whole sub-batch (training.md §7, stage
// 2.2), then `rows` examples drawn uniformly with replacement. Every draw is a function of
// (seed, micro_step), so a resumed run draws exactly what an uninterrupted one would.
class MixedTextLoader {
 public:
  explicit MixedTextLoader(std::vector<JsonlSource> sources);
  std::vector<CleanRow> draw(const CounterRng& rng, int64_t micro_step, int64_t rows, int64_t L,
                             const RowTokens& tk, size_t* source_index = nullptr) const;
  const std::vector<JsonlSource>& sources() const { return sources_; }

 private:
  std::vector<JsonlSource> sources_;
  std::vector<double> cumulative_;  // normalised weights
};

}  // namespace mmada::train

// Exact-match evaluation of a trained chat model on held-out JSONL chat problems: the answer
// canvas (row length minus prompt) starts fully masked and is decoded greedily, one token per
// step, committing the most confident masked position (low-confidence remasking, one block).
// A problem counts as correct when the text after "</think>" (or the whole answer) equals the
// reference's, up to <|eot_id|>/EOS.
#pragma once
#include <string>
#include <vector>

#include "model/config.h"
#include "model/weights.h"
#include "train/text_encoder.h"

namespace mmada::train {

struct ExactMatchResult {
  int64_t total = 0, correct = 0;
  std::vector<std::string> examples;  // first few "prompt => decoded answer" lines
};

ExactMatchResult eval_exact_match(const ModelConfig& cfg, const ModelWeights& w,
                                  const TextEncoder& enc, const std::string& jsonl_path,
                                  int64_t row_length, int64_t max_problems);

}  // namespace mmada::train

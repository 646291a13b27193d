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
#include "sample/text_sampler.h"
#include "train/text_encoder.h"

namespace mmada::train {

struct ExactMatchResult {
  int64_t total = 0, correct = 0;
  std::vector<std::string> examples;  // first few "prompt => decoded answer" lines
  std::vector<std::string> answers;   // every decoded answer, in problem order
  int64_t network_calls = 0;          // eval_exact_match_sampled: forwards over all problems
  double seconds = 0;                 // eval_exact_match_sampled: decoding time
};

ExactMatchResult eval_exact_match(const ModelConfig& cfg, const ModelWeights& w,
                                  const TextEncoder& enc, const std::string& jsonl_path,
                                  int64_t row_length, int64_t max_problems);

// The same problems and scoring, decoded by the engine's text sampler (sample/text_sampler.h)
// on `checkpoint_dir` loaded as an engine Transformer, so that its fast settings (KV caches,
// threshold, factor: docs/fast-decoding.md) can be measured on a model that solves the task.
// Each answer canvas is the row's slots after the prompt, rounded up to whole blocks of
// sp.block_length (0: one block), decoded with one step per token on the fixed schedule,
// temperature 0, low-confidence remasking; sp's cache/threshold/factor/early_stop apply.
// `backend` names the engine backend it runs on ("cpu", "cuda"; backend/backend.h).
// max_problems: the file's first N problems (0: all of them).
ExactMatchResult eval_exact_match_sampled(const std::string& checkpoint_dir, const TextEncoder& enc,
                                          const std::string& jsonl_path, int64_t row_length,
                                          int64_t max_problems, const TextSamplerParams& sp,
                                          const std::string& backend = "cpu");

}  // namespace mmada::train

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
  int64_t network_calls = 0;          // eval_exact_match_sampled: forwards over all answers (a call
                                      // over B rows counts B)
  double seconds = 0;                 // eval_exact_match_sampled: decoding time
  // eval_exact_match_sampled: per problem, in file order, how many of its samples were right
  // (total and correct above count answers: problems × samples).
  std::vector<int64_t> problem_correct;
};

// How eval_exact_match_sampled draws its answers: `samples` per problem at `temperature`
// (0: greedy, every sample the same answer), the sampler's noise from `seed`; `batch` problems
// share a network call when their prompts have the same length (their canvases then do too).
// Each row has its own noise stream (its position in the call), so sampled answers depend on
// seed and batch; greedy ones on neither. `bf16`: the engine's bf16 weights and kernels (tensor
// cores on a GPU: several times faster for large batches; answers may differ from float32's).
struct SampledEval {
  int64_t samples = 1;
  double temperature = 0;
  uint64_t seed = 0;
  int64_t batch = 1;
  bool bf16 = false;
};

ExactMatchResult eval_exact_match(const ModelConfig& cfg, const ModelWeights& w,
                                  const TextEncoder& enc, const std::string& jsonl_path,
                                  int64_t row_length, int64_t max_problems);

// The same problems and scoring, decoded by the engine's text sampler (sample/text_sampler.h)
// on `checkpoint_dir` loaded as an engine Transformer, so that its fast settings (KV caches,
// threshold, factor: docs/fast-decoding.md) can be measured on a model that solves the task.
// Each answer canvas is the row's slots after the prompt, rounded up to whole blocks of
// sp.block_length (0: one block), decoded with one step per token on the fixed schedule,
// low-confidence remasking at how.temperature; sp's cache/threshold/factor/early_stop apply.
// `backend` names the engine backend it runs on ("cpu", "cuda"; backend/backend.h).
// max_problems: the file's first N problems (0: all of them). `how` > one greedy answer per
// problem: several sampled ones (pass@k, or which problems a model is unsure of — UniGRPO's
// groups only learn from those, docs/demo-model.md).
ExactMatchResult eval_exact_match_sampled(const std::string& checkpoint_dir, const TextEncoder& enc,
                                          const std::string& jsonl_path, int64_t row_length,
                                          int64_t max_problems, const TextSamplerParams& sp,
                                          const std::string& backend = "cpu", const SampledEval& how = {});

}  // namespace mmada::train

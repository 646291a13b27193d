// `mmada rl --config rl.json`: the UniGRPO run's settings, parsed and validated (unknown keys
// and impossible values are errors naming the key; the group size must divide the batch).
// docs/rl-config.md documents every key.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "sample/text_sampler.h"
#include "train/jsonl_data.h"
#include "train/optimizer.h"
#include "train/run_settings.h"
#include "train/unigrpo.h"

namespace mmada::train {

struct RewardSpec {
  std::string type;   // "correctness", "format", "command", "http", "clip"
  std::string name;   // log name (defaults to the type)
  double weight = 1.0;
  std::string command;   // command only
  std::string url;       // http only
  double timeout_s = 10;  // command and http
  std::string model;           // clip only: the Hugging Face CLIP folder
  std::string text = "prompt";  // clip only: compare the image with the "prompt" or the "response"
};

struct RlConfig {
  std::string init_from;          // the SFT'd model folder (required); also the KL reference
  std::string tokenizer = "byte";

  std::string prompts_path;       // JSONL chat problems
  OnMalformed on_malformed = OnMalformed::Stop;

  // Rollouts with the engine's block-diffusion text sampler (spec/sampling.md §1).
  int64_t row_length = 0;   // prompt + response fills this many positions (gen = L − prompt)...
  int64_t gen_length = 0;   // ...or a fixed response length (exactly one of the two)
  int64_t block_length = 0; // 0 = the whole response is one block
  int64_t sampler_steps = 0;  // 0 = one token per step (gen_length steps)
  double temperature = 0.8;
  Remasking remasking = Remasking::LowConfidence;
  double threshold = 0;

  int64_t batch_size = 16;  // responses per RL step (prompts = batch_size / group_size)
  UniGrpoConfig unigrpo;
  std::vector<RewardSpec> rewards;

  OptimConfig optim;        // lr, warmup, betas, eps, weight decay (default 0), grad clip
  bool cosine = false;      // lr schedule: constant after warm-up, or cosine to 0 at the end

  int64_t steps = 0;        // RL steps in the whole run (a resumed run counts the earlier ones)
  RunSettings run;          // seed, output_dir, checkpoints, log (default rl_log.jsonl)

  int64_t prompts_per_step() const { return batch_size / unigrpo.group_size; }

  static RlConfig from_json_text(const std::string& text, const std::string& where);
  static RlConfig load(const std::string& path);
};

}  // namespace mmada::train

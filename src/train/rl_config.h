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
#include "train/image_data.h"
#include "train/rl_rewards.h"
#include "train/unigrpo.h"

namespace mmada::train {

struct RewardSpec {
  std::string type;   // "correctness", "format", "command", "http", "clip", "class_name", "classifier"
  std::string name;   // log name (defaults to the type)
  double weight = 1.0;
  std::string command;   // command only
  std::string url;       // http only
  double timeout_s = 10;  // command and http
  std::string model;           // clip: the Hugging Face CLIP folder; classifier: its folder
  std::string text = "prompt";  // clip only: compare the image with the "prompt" or the "response"
  std::string score = "correct";  // classifier only: "correct" (arg-max = class) or "prob" (p(class))
  RlTaskSet tasks = kAllRlTasks;  // the rollout tasks it scores (default by type, rl_config.cc)
};

// Text-to-image rollouts: the engine's MaskGIT sampler (sample/t2i_sampler.h).
struct T2iRolloutConfig {
  int64_t timesteps = 12;   // sampler steps (the t2i proxy's default)
  double guidance = 0.0;    // classifier-free guidance (0: off; the log-probabilities never use it)
  double temperature = 1.0; // MaskGIT's annealed remasking noise
  bool hard_pad_attention = false;  // [iPAD] hidden (the model was trained with t2i_pad_attention "hard")
};

struct RlConfig {
  std::string init_from;          // the SFT'd model folder (required); also the KL reference
  std::string tokenizer = "byte";

  // Rollout tasks and their shares of each step's prompts (text = the JSONL problems; t2i and mmu
  // from the class-labelled images of data.images).
  double task_share[kNumRlTasks] = {1, 0, 0};
  bool has_task(RlTask t) const { return task_share[int(t)] > 0; }

  std::string prompts_path;       // JSONL chat problems (text task)
  OnMalformed on_malformed = OnMalformed::Stop;
  bool has_images = false;        // data.images: the t2i / mmu prompts
  ImageSourceSpec images;
  int64_t text_slots = 128;       // image rows: L = text_slots + image tokens + 3 (as mmada train)
  T2iRolloutConfig t2i;

  // Rollouts with the engine's block-diffusion text sampler (spec/sampling.md §1).
  int64_t row_length = 0;   // prompt + response fills this many positions (gen = L − prompt)...
  int64_t gen_length = 0;   // ...or a fixed response length (exactly one of the two)
  int64_t block_length = 0; // 0 = the whole response is one block
  int64_t sampler_steps = 0;  // 0 = one token per step (gen_length steps)
  double temperature = 0.8;
  Remasking remasking = Remasking::LowConfidence;
  double threshold = 0;
  // The rollouts' text sampler: the settings above with the run's [MASK], end tokens (EOS fills
  // after the end) and one rollout's seed; the caller sets gen_length, block_length and steps.
  TextSamplerParams rollout_sampler(int64_t mask_id, const std::vector<int64_t>& end_ids, int64_t eos,
                                    uint64_t seed) const;

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

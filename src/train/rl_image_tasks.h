// UniGRPO rollouts beyond text (spec/unigrpo.md §1, §7): text-to-image and image understanding
// on the class-labelled images `mmada train` uses (image_data.h), with the engine's own samplers
// driven by the training forward, G responses per prompt, batched.
//   t2i  prompt: a class drawn uniformly, its caption from the caption templates ("a photo of a
//        {name}", ...) in the T2I row of training ([iPAD]* <|t2i|> BOS caption EOS <|soi|>);
//        response: the N image codes, drawn by the MaskGIT cosine sampler (sample/t2i_sampler.h)
//        over the image-code columns, CFG optional; suffix <|eoi|>. The caption is never masked.
//   mmu  prompt: <|mmu|><|soi|> codes of a drawn training image <|eoi|> BOS + a question in the
//        chat markup; response: the answer, filling the image row (L = text_slots + N + 3) after
//        the prompt, by the block-diffusion text sampler (as describe).
// Log-probabilities (ℓ^θ, ℓ^old, ℓ^ref) are all the training forward's full-vocabulary
// log-softmax at masked response positions, without guidance: for t2i that is the policy the SFT
// loss trained, while the sampler draws from the softmax over the codebook columns (with CFG when
// guidance > 0). The ratio's π_old is therefore the unguided, unrestricted model, not the exact
// sampling distribution (spec §7 asks to record which; dLLM-RL's text rollouts differ the same
// way through their temperature).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/weights.h"
#include "sample/t2i_sampler.h"
#include "sample/text_sampler.h"
#include "train/classifier_reward.h"
#include "train/image_data.h"
#include "train/rl_config.h"
#include "train/rl_rewards.h"
#include "train/text_encoder.h"
#include "train/train_model.h"
#include "train/unigrpo.h"
#include "vq/magvit.h"

namespace mmada::train {

// One prompt's G rollouts, as the objective needs them: the row is prefix + response + suffix,
// only the response is ever masked.
struct RolloutGroup {
  RlTask task = RlTask::Text;
  std::vector<int64_t> prefix, suffix;
  std::vector<uint8_t> real;  // [row length] 1 = visible (pair attention); empty = all visible
  std::vector<std::vector<int64_t>> responses;
  std::vector<int64_t> eligible;      // |o_i|: positions of response i that take part in the loss
  std::vector<RewardInput> inputs;    // what the rewards see, one per response
  std::string label;                  // the prompt in warnings and logs
};

// Response i masked at `ratio` (mask_response: tail pads [MASK], prefix untouched), the suffix
// appended and the group's token mask attached.
MaskedRow masked_rollout_row(const RolloutGroup& g, size_t i, double ratio, MaskSampling sampling,
                             int64_t mask_id, const CounterRng& rng, uint64_t stream);

// The task of prompt p of NP in a step: the shares (any positive scale) laid out in order over [0, 1), prompt p
// taking the task at (p + ½)/NP — deterministic, so every step has the same mix (with shares
// t2i 1 : mmu 1 and 8 prompts, 4 of each).
RlTask task_of_prompt(const double share[kNumRlTasks], int64_t p, int64_t NP);

// The training forward the rollouts sample with: logits [rows, vocab] of a batch — the run's
// TrainCompute (CPU or CUDA) in `mmada rl`, or the CPU trainer's forward on weights `w`.
using TrainForwardFn = std::function<std::vector<float>(const TrainBatch&)>;
TrainForwardFn cpu_train_forward(const ModelConfig& cfg, const ModelWeights& w);

// The samplers' network over a training forward.
LogitsFn training_logits_fn(const ModelConfig& cfg, TrainForwardFn forward);
// The T2I sampler's step: logits of the image-code columns [offset, offset + K) of the slots,
// guided when asked, drawn per slot by the engine's draw (backend/cpu/t2i_draw.h).
T2iModelFn training_t2i_fn(const ModelConfig& cfg, TrainForwardFn forward, int64_t offset, int64_t K);

class ImageRollouts {
 public:
  // Tokenises data.images once (the codes cache of mmada train) and checks the row layout.
  ImageRollouts(const RlConfig& cfg, const TextEncoder& enc, const ModelConfig& mcfg);
  ~ImageRollouts();

  // The prompt of draw index `p` of RL step `step` (a function of both), G rollouts sampled with
  // `forward`.
  RolloutGroup t2i(const TrainForwardFn& forward, int64_t step, int64_t p, uint64_t seed) const;
  RolloutGroup mmu(const TrainForwardFn& forward, int64_t step, int64_t p, uint64_t seed,
                   const std::vector<int64_t>& end_ids, int64_t post_num) const;

  const std::vector<std::string>& class_names() const;
  ClassifierRewardContext reward_context() const;
  // Also decode every t2i rollout with the run's VQ into RewardInput::image_png (for rewards
  // that read pixels through a PNG: clip).
  void want_png();
  int64_t row_length() const { return cfg_.text_slots + image_tokens() + 3; }
  int64_t image_tokens() const;

 private:
  RlConfig cfg_;
  const TextEncoder& enc_;
  ModelConfig mcfg_;
  std::unique_ptr<ImageTaskData> data_;
  std::vector<std::vector<std::vector<int64_t>>> captions_;  // [template][class] ids
  std::vector<std::vector<int64_t>> questions_;              // [question] BOS + prompt ids
  std::unique_ptr<Magvit> png_vq_;                           // set by want_png()
};

}  // namespace mmada::train

// The training loop (training.md §2, §5): per micro-step draw the t2i, lm and mmu sub-batches,
// build rows of the shared length L stacked in that order, noise them, one forward/backward with the per-task weights scaled by
// 1/accumulation; per update clip, AdamW, schedule. Checkpoints under <output_dir>/checkpoint;
// a non-finite loss stops the run naming the step and batch, keeping the last good checkpoint.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "train/checkpoint.h"
#include "train/image_data.h"
#include "train/jsonl_data.h"
#include "train/optimizer.h"
#include "train/text_encoder.h"
#include "train/train_config.h"
#include "train/training_run.h"

namespace mmada::train {

struct StepRecord {
  int64_t step = 0;           // updates done after this one
  double loss = 0;            // Σ coeff·L_task, mean over micro-steps
  double task_loss[kNumTasks] = {0, 0, 0};  // L_task (without coefficient), mean over micro-steps
  double lr = 0, grad_norm = 0;
  double tokens_per_s = 0, step_seconds = 0;
};

class Trainer {
 public:
  explicit Trainer(const TrainConfig& cfg);
  ~Trainer();

  // Runs updates until `cfg.steps` (or `until_step` if smaller and > 0); calls on_step after
  // each. Saves every save_every steps and at the end.
  void run(const std::function<void(const StepRecord&)>& on_step = nullptr, int64_t until_step = 0);

  const ModelConfig& model_config() const { return run_.mcfg; }
  // The run's config with what the data decided filled in (image_tokens).
  const TrainConfig& config() const { return cfg_; }
  const TextEncoder& encoder() const { return *enc_; }
  const ImageTaskData* image_data() const { return images_.get(); }
  // The host weights; with device cuda they are current after run() (its last checkpoint).
  ModelWeights& params() { return run_.params; }
  // False on data-parallel ranks other than 0: they write no log, checkpoint or evaluation.
  bool writes_files() const { return run_.writes_files(); }
  const TrainerState& state() const { return run_.state; }
  std::string checkpoint_dir() const { return run_.checkpoint_dir(); }
  void save() { run_.save(); }

 private:
  StepRecord update();

  TrainConfig cfg_;
  std::unique_ptr<TextEncoder> enc_;
  std::unique_ptr<MixedTextLoader> loader_;  // null without lm rows
  std::unique_ptr<ImageTaskData> images_;    // null without t2i/mmu rows
  TrainingRun run_;                          // model config, weights, AdamW, step counters
  CounterRng rng_;
};

// Deterministic N(0, std²) fill of matrices and the embedding, ones for norms.
ModelWeights random_init(const ModelConfig& cfg, double std, uint64_t seed);
// Embedding rows offset..offset+codebook-1 (the image codes) rebuilt from each code's LFQ bits:
// row(c) = sum_k (bit k of c ? +1 : -1) v_k / sqrt(bits), v_k ~ N(0, std²) seeded. Codes that
// share bits start close (an LFQ code is the signs of its latent), where independent rows
// would make the model learn 1,024 unrelated ids (docs/demo-model.md, session 22).
void init_image_codes_from_bits(Tensor& wte, int64_t offset, int64_t codebook, double std, uint64_t seed);

}  // namespace mmada::train

// The UniGRPO loop (spec/unigrpo.md §2, §11) on the CPU trainer's fp32 weights:
//   per RL step: draw batch_size / G prompts, each of one task (text, t2i, mmu: the config's
//   shares, rl_image_tasks.h); G rollouts each with the engine's samplers (generate_text,
//   generate_image) driven by the training forward; rewards (RewardSet) and group
//   advantages; then, with θ_old = θ, record ℓ^old (and ℓ^ref from the frozen initial model) for
//   every response at each of the µ scheduled masks, before any update; then µ optimiser
//   updates, update n re-running θ on mask n. Checkpoints as `mmada train`'s (resumable), a
//   JSONL line per step.
// Data-parallel (several ranks, docs/multi-gpu.md): rank r rolls out, scores and trains a
// contiguous range of the step's prompts (whole groups); every draw is a function of (seed,
// step, global prompt index, ...), so the ranks' draws differ and N ranks reproduce the one-rank
// step; the objective's 1/B counts the responses of every rank, the gradients are summed by the
// compute (ZeRO-1), and the logged statistics are reduced over the ranks.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "train/checkpoint.h"
#include "train/communicator.h"
#include "train/optimizer.h"
#include "train/rl_config.h"
#include "train/rl_image_tasks.h"
#include "train/rl_rewards.h"
#include "train/text_encoder.h"
#include "train/training_run.h"

namespace mmada::train {

// One RL problem: the chat prompt (BOS + turns + the assistant header) and its reference.
struct RlPrompt {
  std::vector<int64_t> ids;
  std::string question;   // last user message
  std::string reference;  // "answer" field, else the last assistant message ("" if none)
};

// JSONL {"messages": [...]} (a final assistant message is the reference, not the prompt) with
// an optional "answer" string overriding it. Malformed lines stop or are skipped and counted.
std::vector<RlPrompt> load_rl_prompts(const std::string& path, const TextEncoder& enc,
                                      OnMalformed policy);

struct RlStepRecord {
  int64_t step = 0;
  double reward_mean = 0, reward_std = 0;             // weighted total over valid rollouts
  std::vector<double> each_mean, each_std;            // per reward (unweighted), over the rollouts it scored
  double task_reward_mean[kNumRlTasks] = {0, 0, 0};    // weighted total per task (mixed runs)
  int64_t task_rollouts[kNumRlTasks] = {0, 0, 0};
  int64_t task_groups_kept[kNumRlTasks] = {0, 0, 0};   // groups with a reward spread, per task
  double loss = 0, policy = 0, kl = 0, clip_frac = 0;  // means over the µ updates (kl per token)
  double len_mean = 0;
  int64_t len_min = 0, len_max = 0;                    // |o| of the rollouts
  int64_t rollouts = 0, skipped = 0, groups_kept = 0, groups_dropped = 0;
  int64_t groups_redrawn = 0;                          // unigrpo.redraw_equal_groups draws
  double lr = 0, grad_norm = 0;                        // last update's
  double rollout_seconds = 0, update_seconds = 0;
  std::vector<std::string> samples;                    // a few decoded responses
};

// The prompts (groups) of an RL step that rank `rank` of `world` rolls out, scores and trains:
// [first, end) of the step's `prompts`, contiguous, whole groups (group-relative advantages never
// cross ranks), sizes differing by at most one (the later ranks take the extra ones). Fewer
// prompts than ranks is an error naming the settings.
struct RlPromptRange {
  int64_t first = 0, end = 0;
};
RlPromptRange rank_prompts(int64_t prompts, int rank, int world);

// Mean and population std of values added one by one.
struct RunningStat {
  double sum = 0, sq = 0;
  int64_t n = 0;
  void add(double v);
  double mean() const;
  double sd() const;
};

// What a rank counts while it rolls out and scores its groups. reduce() sums it over the ranks
// (minimum and maximum through all_gather_values), after which fill() writes the same record
// one process would.
struct RlRolloutTally {
  explicit RlRolloutTally(size_t rewards) : each(rewards) {}
  RunningStat total, task[kNumRlTasks], len;
  std::vector<RunningStat> each;  // per reward, over the rollouts it scored
  int64_t len_min = 0, len_max = 0;  // over this rank's rollouts (len.n of them)
  int64_t rollouts = 0, skipped = 0, groups_kept = 0, groups_dropped = 0, groups_redrawn = 0;
  int64_t task_groups_kept[kNumRlTasks] = {0, 0, 0};

  void add_length(int64_t eligible);
  void reduce(Communicator& comm);
  void fill(RlStepRecord& rec) const;
};

class RlTrainer {
 public:
  // `comm`: the ranks as an in-process world (tests: ThreadWorld on the CPU trainer); null: the
  // environment's (one process, or NCCL ranks under `mmada launch` / mpirun with device cuda).
  explicit RlTrainer(const RlConfig& cfg, std::unique_ptr<Communicator> comm = nullptr);
  ~RlTrainer();

  void run(const std::function<void(const RlStepRecord&)>& on_step = nullptr, int64_t until_step = 0);
  RlStepRecord step();  // one RL step (no checkpoint, no log line)

  const ModelConfig& model_config() const { return run_.mcfg; }
  ModelWeights& params() { return run_.params; }
  const TrainerState& state() const { return run_.state; }
  const RewardSet& rewards() const { return rewards_; }
  const TextEncoder& encoder() const { return *enc_; }
  const RlConfig& config() const { return cfg_; }
  std::string checkpoint_dir() const { return run_.checkpoint_dir(); }
  bool writes_files() const { return run_.writes_files(); }  // rank 0
  void save() { run_.save(); }
  int64_t warnings() const { return warnings_; }  // this rank's

 private:
  // Text task: prompt draw p of RL step s, G responses by the text sampler.
  RolloutGroup text_rollout(const LogitsFn& network, int64_t s, int64_t p, uint64_t seed) const;

  RlConfig cfg_;
  std::unique_ptr<TextEncoder> enc_;
  std::vector<RlPrompt> prompts_;            // text task
  std::unique_ptr<ImageRollouts> images_;    // t2i and mmu tasks
  RewardSet rewards_;
  TrainingRun run_;   // model config, policy weights, AdamW, step counters (as the Trainer's);
                      // its compute also holds the frozen KL reference (set_reference)
  CounterRng rng_;
  std::vector<int64_t> end_ids_;
  int64_t warnings_ = 0;
};

}  // namespace mmada::train

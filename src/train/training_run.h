// What both training loops (`mmada train`'s Trainer and `mmada rl`'s RlTrainer) keep besides
// their data: the model's fp32 master weights and gradients, AdamW and the step counters,
// resumed exactly from <output_dir>/checkpoint or started from the caller's weights; the loop
// that logs a JSON line per step and writes the checkpoints; the TrainCompute (CPU or CUDA,
// settings.cuda) that runs forward, backward and AdamW. With several data-parallel ranks
// (DistEnv) every rank runs the loop and only rank 0 writes the log and the checkpoints.
#pragma once
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "model/config.h"
#include "model/weights.h"
#include "train/checkpoint.h"
#include "train/optimizer.h"
#include "train/run_settings.h"
#include "train/train_compute.h"

namespace mmada::train {

class TrainingRun {
 public:
  TrainingRun() = default;
  // Moves are for setting a loop's member up; the compute keeps a reference to its run, so a
  // run is moved only before compute() is first called.
  TrainingRun(TrainingRun&& o) noexcept { *this = std::move(o); }
  TrainingRun& operator=(TrainingRun&& o) noexcept;
  // With settings.resume and a checkpoint holding a trainer state, continues from it (its seed
  // must equal settings.seed; `tool` names the command in the message); otherwise the weights
  // are init()'s. Gradients start at zero, AdamW's moments too unless resumed.
  // `comm`: the ranks as an in-process world of host collectives (tests: ThreadWorld with the
  // CPU trainer);
  // null: the DistEnv of the environment (NCCL when it names several ranks).
  TrainingRun(const ModelConfig& mcfg, const OptimConfig& optim, const RunSettings& settings,
              const char* tool, const std::function<ModelWeights()>& init,
              std::unique_ptr<Communicator> comm = nullptr);

  // The checkpoint, atomically (checkpoint.h): the compute's state synced to the host first
  // (collective), written by rank 0 only.
  void save();
  // The forward/backward/update engine, made at first use from settings (device, compute) and
  // the DistEnv: the CUDA one selects GPU local_rank and, with several ranks, NCCL through a
  // rendezvous file in output_dir (or the communicator given to the constructor).
  TrainCompute& compute();
  bool writes_files() const { return dist.rank == 0; }
  std::string checkpoint_dir() const { return settings.checkpoint_dir(); }

  // Calls step() until state.step reaches `last`; after each: the record's JSON line appended
  // to the log (flushed), on_step, a checkpoint every save_every steps; at the end a
  // checkpoint unless the last step wrote one. `what` names the log in the open error.
  template <class Record>
  void run_steps(int64_t last, const char* what, const std::function<Record()>& step,
                 const std::function<nlohmann::json(const Record&)>& log_line,
                 const std::function<void(const Record&)>& on_step) {
    std::filesystem::create_directories(settings.output_dir);
    std::ofstream log;
    if (writes_files()) {
      keep_log_through_step(settings.log_path, state.step);
      log.open(settings.log_path, std::ios::app);
      MMADA_CHECK(log.good(), settings.log_path, ": cannot open the ", what);
    }
    while (state.step < last) {
      const Record r = step();
      if (writes_files()) {
        log << log_line(r).dump() << "\n";
        log.flush();
        if (on_step) on_step(r);
      }
      if (settings.save_every > 0 && r.step % settings.save_every == 0) save();
    }
    if (settings.save_every == 0 || state.step % settings.save_every != 0) save();
  }

  ModelConfig mcfg;
  RunSettings settings;
  std::string tokenizer_dir;  // copied into every checkpoint ("" = none, the byte encoder)
  ModelWeights params, grads;
  std::unique_ptr<AdamW> opt;
  TrainerState state;
  OptimConfig optim;
  DistEnv dist;

 private:
  std::unique_ptr<Communicator> comm_;  // given to the constructor, until compute() takes it
  std::unique_ptr<TrainCompute> compute_;
};

}  // namespace mmada::train

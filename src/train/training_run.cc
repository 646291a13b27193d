#include "train/training_run.h"

#include <exception>

#include "train/train_model.h"

namespace mmada::train {

namespace fs = std::filesystem;

TrainingRun::TrainingRun(const ModelConfig& m, const OptimConfig& optim, const RunSettings& s,
                         const char* tool, const std::function<ModelWeights()>& init,
                         std::unique_ptr<Communicator> comm)
    : mcfg(m), settings(s), optim(optim), comm_(std::move(comm)) {
  if (comm_) {
    dist.rank = dist.local_rank = comm_->rank();
    dist.world = comm_->world();
  } else {
    dist = DistEnv::from_environment();
    MMADA_CHECK(dist.world == 1 || settings.cuda, tool, ": ", dist.world,
                " data-parallel ranks need \"device\": \"cuda\" (the CPU trainer runs one process)");
  }
  opt = std::make_unique<AdamW>(mcfg, optim);
  state.seed = settings.seed;
  const std::string ck = checkpoint_dir();
  if (settings.resume && fs::exists(fs::path(ck) / "trainer_state.json")) {
    params = load_master_weights(ck, mcfg);
    load_optimizer_state(ck, mcfg, *opt, state);
    MMADA_CHECK(state.seed == settings.seed, ck, ": checkpoint seed ", state.seed,
                " differs from the config's ", settings.seed, " (the resumed run would not match)");
    std::fprintf(stderr, "%s: resumed from %s at step %lld\n", tool, ck.c_str(), (long long)state.step);
  } else {
    params = init();
  }
  if (!settings.cuda) grads = zero_weights(mcfg, DType::F32);  // the GPU keeps its own
}

TrainingRun& TrainingRun::operator=(TrainingRun&& o) noexcept {
  // A compute made already would still point at `o`: moving then is a programming error.
  if (o.compute_) std::terminate();
  mcfg = std::move(o.mcfg);
  settings = std::move(o.settings);
  params = std::move(o.params);
  grads = std::move(o.grads);
  opt = std::move(o.opt);
  state = o.state;
  optim = o.optim;
  dist = std::move(o.dist);
  comm_ = std::move(o.comm_);
  compute_.reset();
  return *this;
}

TrainCompute& TrainingRun::compute() {
  if (compute_) return *compute_;
  std::unique_ptr<Communicator> comm = std::move(comm_);
  if (!comm && dist.world == 1) {
    comm = std::make_unique<SoloCommunicator>();
  } else if (!comm) {
    fs::create_directories(settings.output_dir);
    comm = make_nccl_communicator(dist, settings.output_dir);
  }
  if (!settings.cuda)
    compute_ = make_cpu_train_compute(*this, optim, std::move(comm));
  else
    compute_ = make_cuda_train_compute(*this, optim,
                                       settings.bf16_compute ? GemmCompute::Bf16 : GemmCompute::Fp32,
                                       dist.local_rank, std::move(comm));
  return *compute_;
}

void TrainingRun::save() {
  if (compute_) compute_->sync_to_host();
  if (writes_files())
    save_checkpoint(checkpoint_dir(), mcfg, params, settings.save_dtype, opt.get(), &state, tokenizer_dir);
}

}  // namespace mmada::train

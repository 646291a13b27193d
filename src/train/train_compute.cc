#include "train/train_compute.h"

#include "core/error.h"
#include "train/training_run.h"

namespace mmada::train {

namespace {

// Today's CPU path: train_forward / train_backward on the run's host weights, clip_grad_norm,
// AdamW. One process only (data parallelism needs the CUDA compute).
class CpuTrainCompute final : public TrainCompute {
 public:
  CpuTrainCompute(TrainingRun& run, const OptimConfig& oc) : run_(run), oc_(oc) {}

  std::vector<float> forward(const TrainBatch& b) override {
    batch_ = b;
    if (rope_.L < b.L || rope_.d != run_.mcfg.head_dim())
      rope_ = cpu::make_rope_table(b.L, run_.mcfg.head_dim(), run_.mcfg.rope_theta);
    return train_forward<float>(run_.mcfg, run_.params, batch_, rope_, acts_);
  }
  void backward(const std::vector<float>& dlogits) override {
    train_backward<float>(run_.mcfg, run_.params, batch_, rope_, acts_, dlogits, run_.grads);
  }
  void zero_grads() override { train::zero_grads(run_.mcfg, run_.grads); }
  double reduce_and_clip() override { return clip_grad_norm(run_.mcfg, run_.grads, oc_.grad_clip); }
  void step(double lr) override { run_.opt->step(run_.params, run_.grads, lr); }
  int64_t optimizer_steps() const override { return run_.opt->steps(); }
  void sync_to_host() override {}
  Communicator& comm() override { return comm_; }
  ModelWeights gradients() override { return cast_weights(run_.mcfg, run_.grads, DType::F32); }

 private:
  TrainingRun& run_;
  OptimConfig oc_;
  TrainBatch batch_;
  cpu::RopeTable rope_;
  Activations<float> acts_;
  SoloCommunicator comm_;
};

}  // namespace

std::unique_ptr<TrainCompute> make_cpu_train_compute(TrainingRun& run, const OptimConfig& oc) {
  return std::make_unique<CpuTrainCompute>(run, oc);
}

#ifndef MMADA_WITH_CUDA
std::unique_ptr<TrainCompute> make_cuda_train_compute(TrainingRun&, const OptimConfig&, GemmCompute,
                                                      int, std::unique_ptr<Communicator>) {
  fail("\"device\": \"cuda\" needs a CUDA build of mmada (configure with -DMMADA_CUDA=ON)");
}
#endif

}  // namespace mmada::train

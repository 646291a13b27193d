#include "train/train_compute.h"

#include "core/error.h"
#include "train/flat_layout.h"
#include "train/training_run.h"
#include "train/zero_adamw.h"

namespace mmada::train {

namespace {

// ZeRO-1 AdamW over host flat buffers for a world of several in-process ranks: this rank's
// shard of the moments, the gradients packed flat and reduce-scattered, the parameters
// all-gathered and unpacked back into the run's weights.
class HostZero {
 public:
  HostZero(TrainingRun& run, const OptimConfig& oc, Communicator& comm)
      : run_(run), layout_(FlatLayout::of(run.mcfg, comm.world())), zero_(layout_, oc, comm, math_),
        flat_(static_cast<size_t>(layout_.padded)), shard_(static_cast<size_t>(layout_.shard_size())) {
    const int64_t lo = zero_.shard_begin(), n = zero_.shard_size();
    layout_.pack(run.mcfg, run.opt->m(), flat_.data());
    m_.assign(flat_.begin() + lo, flat_.begin() + lo + n);
    layout_.pack(run.mcfg, run.opt->v(), flat_.data());
    v_.assign(flat_.begin() + lo, flat_.begin() + lo + n);
    zero_.set_steps(run.opt->steps());
  }
  double reduce_and_clip() {
    layout_.pack(run_.mcfg, run_.grads, flat_.data());
    return zero_.reduce_and_clip(flat_.data(), shard_.data());
  }
  void step(double lr) {
    layout_.pack(run_.mcfg, run_.params, flat_.data());
    zero_.step(flat_.data(), shard_.data(), m_.data(), v_.data(), lr);
    layout_.unpack(run_.mcfg, flat_.data(), run_.params);
  }
  int64_t steps() const { return zero_.steps(); }
  // The moments of every shard gathered into the run's AdamW (collective), for checkpoints.
  void sync_to_host(Communicator& comm) {
    for (int which = 0; which < 2; ++which) {
      comm.all_gather(which == 0 ? m_.data() : v_.data(), flat_.data(), zero_.shard_size());
      layout_.unpack(run_.mcfg, flat_.data(), which == 0 ? run_.opt->m() : run_.opt->v());
    }
    run_.opt->set_steps(zero_.steps());
  }

 private:
  TrainingRun& run_;
  FlatLayout layout_;
  HostFlatMath math_;
  ZeroAdamW zero_;
  std::vector<float> flat_, shard_, m_, v_;
};

// train_forward / train_backward on the run's host weights; with one rank clip_grad_norm and
// optimizer.h's AdamW, with several the HostZero above.
class CpuTrainCompute final : public TrainCompute {
 public:
  CpuTrainCompute(TrainingRun& run, const OptimConfig& oc, std::unique_ptr<Communicator> comm)
      : run_(run), oc_(oc), comm_(std::move(comm)) {
    if (comm_->world() > 1) zero_ = std::make_unique<HostZero>(run, oc, *comm_);
  }

  std::vector<float> forward(const TrainBatch& b) override {
    backward_ready_ = true;
    return forward_on(run_.params, b);
  }
  void backward(const std::vector<float>& dlogits) override {
    MMADA_CHECK(backward_ready_, "train backward: the last forward was not of the trained weights");
    train_backward<float>(run_.mcfg, run_.params, batch_, rope_, acts_, dlogits, run_.grads);
  }
  void zero_grads() override { train::zero_grads(run_.mcfg, run_.grads); }
  double reduce_and_clip() override {
    return zero_ ? zero_->reduce_and_clip() : clip_grad_norm(run_.mcfg, run_.grads, oc_.grad_clip);
  }
  void step(double lr) override {
    if (zero_) zero_->step(lr);
    else run_.opt->step(run_.params, run_.grads, lr);
  }
  int64_t optimizer_steps() const override { return zero_ ? zero_->steps() : run_.opt->steps(); }
  void sync_to_host() override {
    if (zero_) zero_->sync_to_host(*comm_);
  }
  Communicator& comm() override { return *comm_; }
  ModelWeights gradients() override { return cast_weights(run_.mcfg, run_.grads, DType::F32); }
  void set_reference(ModelWeights w) override { reference_ = std::move(w); }
  std::vector<float> forward_reference(const TrainBatch& b) override {
    MMADA_CHECK(!reference_.layers.empty(), "forward_reference: no reference weights set");
    backward_ready_ = false;
    return forward_on(reference_, b);
  }

 private:
  std::vector<float> forward_on(const ModelWeights& w, const TrainBatch& b) {
    batch_ = b;
    if (rope_.L < b.L || rope_.d != run_.mcfg.head_dim())
      rope_ = cpu::make_rope_table(b.L, run_.mcfg.head_dim(), run_.mcfg.rope_theta);
    return train_forward<float>(run_.mcfg, w, batch_, rope_, acts_);
  }

  TrainingRun& run_;
  OptimConfig oc_;
  std::unique_ptr<Communicator> comm_;
  std::unique_ptr<HostZero> zero_;
  ModelWeights reference_;
  TrainBatch batch_;
  cpu::RopeTable rope_;
  Activations<float> acts_;
  bool backward_ready_ = false;
};

}  // namespace

std::unique_ptr<TrainCompute> make_cpu_train_compute(TrainingRun& run, const OptimConfig& oc,
                                                     std::unique_ptr<Communicator> comm) {
  return std::make_unique<CpuTrainCompute>(run, oc, std::move(comm));
}

#ifndef MMADA_WITH_CUDA
std::unique_ptr<TrainCompute> make_cuda_train_compute(TrainingRun&, const OptimConfig&, GemmCompute,
                                                      int, std::unique_ptr<Communicator>) {
  fail("\"device\": \"cuda\" needs a CUDA build of mmada (configure with -DMMADA_CUDA=ON)");
}
#endif

}  // namespace mmada::train

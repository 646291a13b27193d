// Where a training loop's forward, backward and update run: one small interface that `mmada
// train` (trainer.cc) and `mmada rl` (rl_trainer.cc) drive, so the loops are written once for
// the CPU and the GPU. The CPU implementation is train_model.h's forward/backward over the
// TrainingRun's host weights with optimizer.h's AdamW; the CUDA one (cuda/train_compute.cu)
// keeps fp32 master weights, gradients and ZeRO-1 AdamW moments on the device. The losses stay
// on the host in both (cross_entropy over downloaded logits), so the objectives are described
// once (objectives.h, unigrpo.h).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "train/communicator.h"
#include "train/optimizer.h"
#include "train/train_model.h"

namespace mmada::train {

class TrainingRun;

class TrainCompute {
 public:
  virtual ~TrainCompute() = default;
  // Logits [R, vocab] of b.rows (row-major) under the current weights; the activations are kept
  // for the backward() that follows.
  virtual std::vector<float> forward(const TrainBatch& b) = 0;
  // Accumulates d loss / d weights of the last forward's batch from dlogits [R, vocab].
  virtual void backward(const std::vector<float>& dlogits) = 0;
  virtual void zero_grads() = 0;
  // Sums the gradients over the ranks, clips them by global L2 norm (grad_clip, as
  // clip_grad_norm does) and returns the norm before clipping. Collective.
  virtual double reduce_and_clip() = 0;
  // One AdamW update at learning rate lr. Collective.
  virtual void step(double lr) = 0;
  // AdamW updates done (the schedule's step counter).
  virtual int64_t optimizer_steps() const = 0;
  // Makes the run's host params, AdamW moments and step count equal the compute's state (for
  // checkpoints and evaluation). Collective.
  virtual void sync_to_host() = 0;
  virtual Communicator& comm() = 0;
  // A host copy of this rank's gradient sum (before reduce_and_clip): for parity checks.
  virtual ModelWeights gradients() = 0;

  // A second, frozen weight set beside the trained one (mmada rl's KL reference), placed where
  // the compute runs (uploaded once on the GPU). forward_reference gives its logits like
  // forward(); no backward may follow it (the last forward's activations are overwritten).
  virtual void set_reference(ModelWeights w) = 0;
  virtual std::vector<float> forward_reference(const TrainBatch& b) = 0;
};

// `comm`: the ranks (a SoloCommunicator for one process). With several — an in-process world
// such as ThreadWorld, which the CI tests use — the gradients are reduced and AdamW runs as
// ZeRO-1 over host flat buffers (zero_adamw.h), as the CUDA compute does on the device.
std::unique_ptr<TrainCompute> make_cpu_train_compute(TrainingRun& run, const OptimConfig& oc,
                                                     std::unique_ptr<Communicator> comm);

// fp32: every GEMM in exact fp32 (CUBLAS_COMPUTE_32F, parity tests); bf16: GEMM operands
// rounded to bf16 on the tensor cores with fp32 accumulation (CUBLAS_COMPUTE_32F_FAST_16BF), the
// default. Element-wise kernels, master weights and optimizer state are fp32 in both.
enum class GemmCompute { Fp32, Bf16 };

// Uploads the run's params, AdamW moments and step count to GPU `device`; `comm` (a world of
// one, or NCCL) decides the ZeRO-1 shard. Fails plainly in a build without CUDA.
std::unique_ptr<TrainCompute> make_cuda_train_compute(TrainingRun& run, const OptimConfig& oc,
                                                      GemmCompute compute, int device,
                                                      std::unique_ptr<Communicator> comm);

}  // namespace mmada::train

// AdamW with ZeRO-1 sharding over a Communicator (spec/training.md §5; issue 7 item 6): every
// rank holds the full flat parameters and its own gradient sum; gradients are reduce-scattered
// so rank r owns shard r of the flat buffer (FlatLayout), the global norm is the all-reduced sum
// of the shards' squares, clipping and AdamW run on the shard only (moments exist only for it),
// and the parameters are all-gathered back. With one rank this is exactly AdamW + clip_grad_norm.
// Element loops go through FlatMath so the same code drives host buffers (tests) and device
// buffers (the CUDA trainer).
#pragma once
#include <cstdint>

#include "train/adamw_math.h"
#include "train/communicator.h"
#include "train/flat_layout.h"
#include "train/optimizer.h"

namespace mmada::train {

class FlatMath {
 public:
  virtual ~FlatMath() = default;
  virtual double sum_squares(const float* x, int64_t n) = 0;  // accumulated in double
  virtual void scale(float* x, int64_t n, float c) = 0;
  virtual void adamw(float* p, const float* g, float* m, float* v, int64_t n, const AdamWCoeffs& c,
                     float shrink) = 0;
};

class HostFlatMath final : public FlatMath {
 public:
  double sum_squares(const float* x, int64_t n) override;
  void scale(float* x, int64_t n, float c) override;
  void adamw(float* p, const float* g, float* m, float* v, int64_t n, const AdamWCoeffs& c,
             float shrink) override;
};

class ZeroAdamW {
 public:
  ZeroAdamW(const FlatLayout& layout, const OptimConfig& oc, Communicator& comm, FlatMath& math);

  int64_t shard_size() const { return layout_.shard_size(); }
  int64_t shard_begin() const { return layout_.shard_begin(comm_.rank()); }

  // grads: this rank's gradient sum [padded]; grad_shard [shard_size] receives the sum over
  // ranks of this rank's shard (with one rank it may be grads itself), clipped to
  // oc.grad_clip by the global norm, which is returned (before clipping).
  double reduce_and_clip(const float* grads, float* grad_shard);

  // AdamW on this rank's shard of params [padded] with its moments [shard_size], then the
  // all-gather that gives every rank the full new parameters.
  void step(float* params, const float* grad_shard, float* m_shard, float* v_shard, double lr);

  int64_t steps() const { return steps_; }
  void set_steps(int64_t s) { steps_ = s; }

 private:
  FlatLayout layout_;
  OptimConfig oc_;
  Communicator& comm_;
  FlatMath& math_;
  int64_t steps_ = 0;
};

}  // namespace mmada::train

// AdamW with fp32 master weights and moments, the warm-up + cosine schedule, and gradient
// clipping by global L2 norm — spec/training.md §5, §8. Every loop walks the tensor table of
// weights.h (for_each_tensor), so parameters, gradients and moments can never disagree.
#pragma once
#include <cstdint>

#include "model/config.h"
#include "model/weights.h"

namespace mmada::train {

struct OptimConfig {
  double lr = 5e-5;                // peak
  int64_t warmup_steps = 5000;
  int64_t max_train_steps = 1000000;  // schedule length S (the cosine reaches 0 at S)
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.01;      // on every parameter (the reference's no-decay filter matches nothing)
  bool no_decay_norms_embeddings = false;  // option: exempt RMSNorm weights and wte
  double grad_clip = 1.0;          // global L2 norm; <= 0 disables
};

// lr(s) = peak·s/W for s < W, else peak·½(1 + cos(π(s−W)/(S−W))); s = optimiser steps done
// before this one, so the first update runs at lr 0 (min_lr_scale is ignored, §8).
double lr_at(const OptimConfig& c, int64_t step);

// Global L2 norm of all gradients (summed in double, in table order); if above max_norm the
// gradients are scaled by max_norm/(norm + 1e-6) like torch's clip_grad_norm_. Returns the
// norm before clipping.
double clip_grad_norm(const ModelConfig& cfg, ModelWeights& grads, double max_norm);

// The decoupled weight-decay factor of a tensor of this role: 1 − lr·wd, or 1 for the
// no-decay groups (norms and wte) when no_decay_norms_embeddings is set.
float decay_shrink(const OptimConfig& c, TensorRole role, double lr);

// Sets every gradient to zero.
void zero_grads(const ModelConfig& cfg, ModelWeights& grads);

// One AdamW update of one float32 tensor of n values (torch.optim.AdamW); `step` counts this
// update (1 = the first); `role` decides the weight decay (decay_shrink). AdamW::step walks the
// model's tensor table with it; other small models
// (the image classifier, image_classifier.h) call it on their own tensors.
void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, const OptimConfig& oc,
                  int64_t step, double lr, TensorRole role = TensorRole::Matrix);

class AdamW {
 public:
  AdamW(const ModelConfig& cfg, const OptimConfig& oc);

  // One update (torch.optim.AdamW): p *= 1 − lr·wd; m, v moments; p −= lr/bc1 · m/(√v/√bc2 + eps).
  void step(ModelWeights& params, ModelWeights& grads, double lr);

  int64_t steps() const { return steps_; }
  void set_steps(int64_t s) { steps_ = s; }
  ModelWeights& m() { return m_; }
  ModelWeights& v() { return v_; }

 private:
  ModelConfig cfg_;
  OptimConfig oc_;
  ModelWeights m_, v_;  // F32, zero-initialised
  int64_t steps_ = 0;
};

}  // namespace mmada::train

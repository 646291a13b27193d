// The MAGVIT-v2 tokenizer as a trainable network: the same layers, tensor names and shapes as
// the engine's (src/vq/vqgan_nets.cc, magvit_blocks.cc), run by the ops of vq_ops.h on a small
// tape that records each op's backward. T = float for training, double for gradient checks.
//
// One training step: pixels x -> encoder -> latent z -> q = sign(z) (straight-through) ->
// decoder -> x̂;  loss = recon(x̂, x) + commitment·mean(z − q)² + entropy·(per-sample entropy −
// gamma·codebook entropy)  (vq_ops.h: lfq_losses, recon_loss).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "train/vq_ops.h"
#include "vq/magvit.h"
#include "vq/magvit_config.h"

namespace mmada::train {

struct VqLossConfig {
  ReconLoss recon = ReconLoss::L2;
  double recon_weight = 1.0;
  LfqLossWeights lfq;
  // false: the decoder sees z itself instead of sign(z). Only for gradient checks: the
  // straight-through estimator is by design not the derivative of the quantised loss, so an
  // end-to-end finite-difference check runs with the identity in its place.
  bool quantize = true;
};

struct VqStepResult {
  double loss = 0, recon = 0;
  LfqLossTerms lfq;
  std::vector<int64_t> codes;  // [n, h*w] raster order, the engine's code numbering
  std::vector<double> recon_pixels;  // x̂ as [n, H, W, C] when asked for (keep)
  std::vector<double> latent;        // z as [n, h, w, bits] when asked for (keep)
};

// Refuses (mmada::Error with the reason) a config the trainer cannot train: the engine's own
// checks plus a quantiser small enough for the exact codebook entropy (bits <= 16).
void check_trainable(const MagvitConfig& cfg, const std::string& where);

template <class T>
class VqNet {
 public:
  struct Param {
    std::string name;
    Shape shape;
    int64_t offset = 0, numel = 0;
  };

  // Parameters in the engine's load order, initialised to Magvit::random_tensors(cfg, seed)
  // (so a fresh net equals `mmada make-vq --seed seed`).
  VqNet(const MagvitConfig& cfg, uint64_t seed);

  const MagvitConfig& config() const { return cfg_; }
  const std::vector<Param>& params() const { return params_; }
  std::vector<T>& weights() { return w_; }
  const std::vector<T>& weights() const { return w_; }
  std::vector<T>& grads() { return g_; }
  int64_t num_parameters() const { return int64_t(w_.size()); }
  const Param& param(const std::string& name) const;  // throws for an unknown name

  // Forward (and, with `backward`, the gradients ACCUMULATED into grads()) of one batch:
  // pixels channels-last [n, size, size, in_ch] in [-1, 1].
  VqStepResult step(const T* pixels, int64_t n, int64_t size, const VqLossConfig& loss,
                    bool backward, bool keep = false);

  // The checkpoint tensors (float32, names as the engine loads them) plus the quantiser buffers.
  std::vector<std::pair<std::string, Tensor>> tensors() const;
  // Sets the weights from checkpoint tensors (names and shapes must match).
  void set_from(const std::map<std::string, Tensor>& tensors, const std::string& where);
  // The engine's inference model on the current weights (a copy).
  Magvit engine_model() const;

 private:
  MagvitConfig cfg_;
  std::vector<Param> params_;
  std::map<std::string, size_t> index_;
  std::vector<T> w_, g_;
  Tensor quant_embedding_, quant_power_vals_;
};

}  // namespace mmada::train

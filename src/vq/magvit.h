// MAGVIT-v2 image tokenizer (showlab/magvitv2, used by Show-o and MMaDA), float32, on the CPU
// or on the GPU (use_backend):
//   encode: pixels [B, 3, H, W] in [-1, 1] -> codes [B, (H/16)*(W/16)] in [0, 8192)
//   decode: codes [B, h*w] -> image [B, 3, 16h, 16w], nominally in [-1, 1] (not clamped).
// The API is NCHW like the reference; internally feature maps are NHWC. See shared/spec/vq.md.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "vq/feature_backend.h"
#include "vq/magvit_config.h"
#include "vq/vqgan_nets.h"

namespace mmada {

class Magvit {
 public:
  // `path`: a folder with config.json and pytorch_model.safetensors (or model.safetensors /
  // one *.safetensors), or a .safetensors file. Every tensor the config implies must be present
  // with its shape; the error names the first one that is not.
  static Magvit load(const std::string& path);
  // The same network with seeded random weights (torch-default-like init, norms perturbed
  // around 1/0), built in memory: for benchmarks and tests.
  static Magvit random(const MagvitConfig& cfg, uint64_t seed);
  // The same seeded weights as named checkpoint tensors, plus the quantizer buffers: what
  // `mmada make-vq` writes, so load() of that folder gives exactly random(cfg, seed).
  static std::vector<std::pair<std::string, Tensor>> random_tensors(const MagvitConfig& cfg,
                                                                    uint64_t seed);
  // Writes <dir>/config.json and <dir>/model.safetensors of random_tensors(cfg, seed);
  // returns the number of learnable parameters.
  static int64_t write_random(const std::string& dir, const MagvitConfig& cfg, uint64_t seed);
  // Builds from any tensor source (throws whatever `get` throws for a missing/mis-shaped one).
  static Magvit build(const MagvitConfig& cfg, const WeightFn& get);

  // Runs the networks on `be`'s device from now on (CPU by default). Inputs and outputs stay
  // host tensors: only pixels / codes cross, the feature maps live on the device. `decode_math`
  // chooses the decoder's GPU convolutions (feature_backend.h); encoding is always Exact.
  void use_backend(const std::shared_ptr<Backend>& be, ConvMath decode_math = ConvMath::Exact);
  const FeatureBackend& decoder_backend() const { return *dec_fb_; }

  const MagvitConfig& config() const { return cfg_; }
  int64_t num_parameters() const { return num_params_; }  // learnable, buffers excluded

  // Pre-quantisation latent [B, 13, H/16, W/16]; H and W must be multiples of 16.
  Tensor encode_latent(const Tensor& pixels) const;
  // Codes [B, h*w] int64 in raster order; optionally also returns the latent.
  Tensor encode(const Tensor& pixels, Tensor* latent = nullptr) const;
  // codes [B, h*w] (int64 or int32) on an h x w grid -> image [B, 3, 16h, 16w].
  Tensor decode(const Tensor& codes, int64_t h, int64_t w) const;
  // Square grid of side sqrt(codes per image), which must be a perfect square.
  Tensor decode(const Tensor& codes) const;

 private:
  MagvitConfig cfg_;
  int64_t num_params_ = 0;
  std::shared_ptr<const VqganEncoder> encoder_;
  std::shared_ptr<const VqganDecoder> decoder_;
  std::shared_ptr<FeatureBackend> enc_fb_ = cpu_feature_backend(), dec_fb_ = enc_fb_;
};

}  // namespace mmada

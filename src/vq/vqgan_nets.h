// The convolutional encoder and decoder of MAGVIT-v2 (official VQGANEncoder / VQGANDecoder,
// vq.md §3 and §5), built from a VqganNetConfig and loaded by the showlab tensor names.
#pragma once
#include <string>
#include <vector>

#include "vq/magvit_blocks.h"
#include "vq/magvit_config.h"

namespace mmada {

// One resolution level: ResnetBlocks (each followed by an AttnBlock where the config's running
// resolution is in attn_resolutions, which never happens for the real model) and an optional
// resampling step.
struct VqganLevel {
  std::vector<ResnetBlock> blocks;
  std::vector<AttnBlock> attn;  // empty, or one per block
  bool has_resample = false;
  Downsample down;  // encoder
  Upsample up;      // decoder
  Tensor run_blocks(FeatureBackend& fb, Tensor h) const;
};

// Feature maps are NHWC in the FeatureBackend's memory.
// pixels [B, H, W, in_ch] -> pre-quantisation latent [B, H/2^(L-1), W/2^(L-1), z_channels].
struct VqganEncoder {
  Conv2d conv_in;
  std::vector<VqganLevel> down;
  ResnetBlock mid_block_1, mid_block_2;
  AttnBlock mid_attn_1;
  GroupNorm32 norm_out;
  Conv2d conv_out, quant_conv;

  static VqganEncoder load(const WeightFn& get, const VqganNetConfig& cfg,
                           const std::string& prefix);
  Tensor operator()(FeatureBackend& fb, const Tensor& x) const;
};

// quantised latent [B, h, w, z_channels] -> image [B, h*2^(L-1), w*2^(L-1), out_ch].
struct VqganDecoder {
  Conv2d post_quant_conv, conv_in;
  ResnetBlock mid_block_1, mid_block_2;
  AttnBlock mid_attn_1;
  std::vector<VqganLevel> up;  // stored order; executed from the last level down to 0
  GroupNorm32 norm_out;
  Conv2d conv_out;

  static VqganDecoder load(const WeightFn& get, const VqganNetConfig& cfg,
                           const std::string& prefix);
  Tensor operator()(FeatureBackend& fb, const Tensor& z) const;
};

}  // namespace mmada

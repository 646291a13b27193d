// Hyper-parameters of the MAGVIT-v2 tokenizer (showlab/magvitv2 = Show-o / MMaDA):
// a VQGAN-style encoder and decoder around a lookup-free quantizer of `z_channels` bits.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mmada {

// Arguments of the official VQGANEncoder / VQGANDecoder classes.
struct VqganNetConfig {
  int64_t ch = 128;
  std::vector<int64_t> ch_mult;         // channel multiplier per level
  std::vector<int64_t> num_res_blocks;  // ResnetBlocks per level (not +1 in the decoder)
  std::vector<int64_t> attn_resolutions{5};
  int64_t in_ch = 3;
  int64_t out_ch = 3;
  int64_t resolution = 256;  // only decides where level attention blocks would go
  int64_t z_channels = 13;
  bool double_z = false;

  int64_t num_levels() const { return int64_t(ch_mult.size()); }
};

struct MagvitConfig {
  VqganNetConfig encoder;
  VqganNetConfig decoder;
  int64_t codebook_dim = 13;  // LFQ bits; codebook size 2^codebook_dim

  // The hard-coded defaults of MAGViTv2() (vq.md §3, §5): 95.4 M parameters.
  static MagvitConfig real();
  // A small same-architecture config: `levels` levels (down-sampling 2^(levels-1)), channels
  // ch, 2ch, 2ch, ..., `res_blocks` ResnetBlocks per level, an LFQ of `bits` bits.
  static MagvitConfig small(int64_t ch, int64_t levels, int64_t res_blocks, int64_t bits);
  // From a config.json object: spelled-out "encoder"/"decoder" args if present, else real().
  // Rejects a "_class_name" other than MAGVITv2 / MAGViTv2.
  static MagvitConfig from_json(const nlohmann::json& j, const std::string& where);
  // Reads <dir>/config.json; a folder without one gets real().
  static MagvitConfig load(const std::string& dir);
  // config.json with the encoder/decoder arguments and the quantizer spelled out (from_json
  // reads it back to the same config).
  nlohmann::json to_json() const;

  int64_t codebook_size() const { return int64_t(1) << codebook_dim; }
  // Spatial factor between image and token grid: 2^(levels-1) (16 for the real model).
  int64_t downsample_factor() const { return int64_t(1) << (encoder.num_levels() - 1); }
  void validate(const std::string& where) const;  // throws mmada::Error
};

}  // namespace mmada

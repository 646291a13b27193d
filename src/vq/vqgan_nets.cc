#include "vq/vqgan_nets.h"

#include <algorithm>

namespace mmada {

namespace {

bool has_attn(const VqganNetConfig& cfg, int64_t res) {
  return std::find(cfg.attn_resolutions.begin(), cfg.attn_resolutions.end(), res) !=
         cfg.attn_resolutions.end();
}

}  // namespace

Tensor VqganLevel::run_blocks(FeatureBackend& fb, Tensor h) const {
  for (size_t i = 0; i < blocks.size(); ++i) {
    h = blocks[i](fb, h);
    if (!attn.empty()) h = attn[i](fb, h);
  }
  return h;
}

VqganEncoder VqganEncoder::load(const WeightFn& get, const VqganNetConfig& cfg,
                                const std::string& pre) {
  VqganEncoder e;
  const int64_t levels = cfg.num_levels();
  e.conv_in = load_conv(get, pre + ".conv_in", cfg.in_ch, cfg.ch, 3, 1, 1, 1);
  int64_t res = cfg.resolution, block_in = cfg.ch;
  for (int64_t i = 0; i < levels; ++i) {
    VqganLevel lv;
    const int64_t block_out = cfg.ch * cfg.ch_mult[size_t(i)];
    const std::string lp = pre + ".down." + std::to_string(i);
    for (int64_t j = 0; j < cfg.num_res_blocks[size_t(i)]; ++j) {
      lv.blocks.push_back(
          ResnetBlock::load(get, lp + ".block." + std::to_string(j), block_in, block_out));
      block_in = block_out;
      if (has_attn(cfg, res))
        lv.attn.push_back(AttnBlock::load(get, lp + ".attn." + std::to_string(j), block_in));
    }
    if (i != levels - 1) {
      lv.has_resample = true;
      lv.down = Downsample::load(get, lp + ".downsample", block_in);
      res /= 2;
    }
    e.down.push_back(std::move(lv));
  }
  e.mid_block_1 = ResnetBlock::load(get, pre + ".mid.block_1", block_in, block_in);
  e.mid_attn_1 = AttnBlock::load(get, pre + ".mid.attn_1", block_in);
  e.mid_block_2 = ResnetBlock::load(get, pre + ".mid.block_2", block_in, block_in);
  e.norm_out = GroupNorm32::load(get, pre + ".norm_out", block_in);
  e.conv_out = load_conv(get, pre + ".conv_out", block_in, cfg.z_channels, 3, 1, 1, 1);
  e.quant_conv = load_conv(get, pre + ".quant_conv", cfg.z_channels, cfg.z_channels, 1, 1, 0, 0);
  return e;
}

Tensor VqganEncoder::operator()(FeatureBackend& fb, const Tensor& x) const {
  Tensor h = fb.conv(conv_in, x, nullptr);
  for (const VqganLevel& lv : down) {
    h = lv.run_blocks(fb, std::move(h));
    if (lv.has_resample) h = lv.down(fb, h);
  }
  h = mid_block_2(fb, mid_attn_1(fb, mid_block_1(fb, h)));
  return fb.conv(quant_conv, fb.conv(conv_out, norm_out(fb, h, true), nullptr), nullptr);
}

VqganDecoder VqganDecoder::load(const WeightFn& get, const VqganNetConfig& cfg,
                                const std::string& pre) {
  VqganDecoder d;
  const int64_t levels = cfg.num_levels();
  int64_t block_in = cfg.ch * cfg.ch_mult[size_t(levels - 1)];
  int64_t res = cfg.resolution >> (levels - 1);
  d.post_quant_conv =
      load_conv(get, pre + ".post_quant_conv", cfg.z_channels, cfg.z_channels, 1, 1, 0, 0);
  d.conv_in = load_conv(get, pre + ".conv_in", cfg.z_channels, block_in, 3, 1, 1, 1);
  d.mid_block_1 = ResnetBlock::load(get, pre + ".mid.block_1", block_in, block_in);
  d.mid_attn_1 = AttnBlock::load(get, pre + ".mid.attn_1", block_in);
  d.mid_block_2 = ResnetBlock::load(get, pre + ".mid.block_2", block_in, block_in);
  d.up.resize(size_t(levels));
  for (int64_t i = levels - 1; i >= 0; --i) {
    VqganLevel& lv = d.up[size_t(i)];
    const int64_t block_out = cfg.ch * cfg.ch_mult[size_t(i)];
    const std::string lp = pre + ".up." + std::to_string(i);
    for (int64_t j = 0; j < cfg.num_res_blocks[size_t(i)]; ++j) {
      lv.blocks.push_back(
          ResnetBlock::load(get, lp + ".block." + std::to_string(j), block_in, block_out));
      block_in = block_out;
      if (has_attn(cfg, res))
        lv.attn.push_back(AttnBlock::load(get, lp + ".attn." + std::to_string(j), block_in));
    }
    if (i != 0) {
      lv.has_resample = true;
      lv.up = Upsample::load(get, lp + ".upsample", block_in);
      res *= 2;
    }
  }
  d.norm_out = GroupNorm32::load(get, pre + ".norm_out", block_in);
  d.conv_out = load_conv(get, pre + ".conv_out", block_in, cfg.out_ch, 3, 1, 1, 1);
  return d;
}

Tensor VqganDecoder::operator()(FeatureBackend& fb, const Tensor& z) const {
  Tensor h = fb.conv(conv_in, fb.conv(post_quant_conv, z, nullptr), nullptr);
  h = mid_block_2(fb, mid_attn_1(fb, mid_block_1(fb, h)));
  for (size_t i = up.size(); i-- > 0;) {
    h = up[i].run_blocks(fb, std::move(h));
    if (up[i].has_resample) h = up[i].up(fb, h);
  }
  // The pixel projection stays float32: its rounding would show directly in the image.
  return fb.conv(conv_out, norm_out(fb, h, true), nullptr, /*exact=*/true);
}

}  // namespace mmada

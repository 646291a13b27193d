#include "pipeline/image_settings.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "sample/t2i_sampler.h"

namespace mmada {

std::string model_vq_dir(const std::string& flag, const std::string& model_dir) {
  if (!flag.empty()) return flag;
  std::error_code ec;
  const std::filesystem::path own = std::filesystem::path(model_dir) / "vq";
  return std::filesystem::is_directory(own, ec) ? own.string() : std::string();
}

ImageSettings ImageSettings::for_model(const ModelConfig& config, int64_t vq_factor) {
  ImageSettings s;
  if (!config.image_layout) return s;
  const ImageLayout& l = *config.image_layout;
  const auto grid = int64_t(std::llround(std::sqrt(double(l.codes_per_image))));  // square: checked at load
  s.side = grid * vq_factor;
  s.t2i_text_len = l.t2i_text_len;
  s.t2i_pad_visible = l.t2i_pad_visible;
  s.fit = resize_mode_from_name(l.fit);
  s.row_length = l.t2i_text_len + l.codes_per_image + 2;
  return s;
}

T2iBatch build_t2i_batch(const std::vector<int64_t>& caption_ids, const ImageSettings& settings,
                         int64_t n_codes, int64_t batch, bool guidance, const SpecialTokens& tokens) {
  T2iRow cond = build_t2i_row(caption_ids, settings.t2i_text_len, n_codes, tokens);
  T2iRow uncond = build_t2i_row({}, settings.t2i_text_len, n_codes, tokens);
  if (settings.t2i_pad_visible) {  // trained attending to [iPAD] (mmada train's default)
    std::fill(cond.mask.begin(), cond.mask.end(), uint8_t(1));
    std::fill(uncond.mask.begin(), uncond.mask.end(), uint8_t(1));
  }
  T2iBatch b;
  b.row_length = int64_t(cond.ids.size());
  for (int64_t i = 0; i < batch; ++i) {
    b.ids.insert(b.ids.end(), cond.ids.begin(), cond.ids.end());
    b.mask.insert(b.mask.end(), cond.mask.begin(), cond.mask.end());
    if (!guidance) continue;
    b.uncond_ids.insert(b.uncond_ids.end(), uncond.ids.begin(), uncond.ids.end());
    b.uncond_mask.insert(b.uncond_mask.end(), uncond.mask.begin(), uncond.mask.end());
  }
  return b;
}

}  // namespace mmada

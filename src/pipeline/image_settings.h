// The image settings a command uses with a model: what the user passed, else the layout the
// model records (config.json "image_layout", model/config.h), else MMaDA's (512-pixel images
// through MAGVIT-v2's x16 = 1,024 codes, a 513-token T2I text part with its padding hidden,
// resize + centre crop; spec/prompting.md, vq.md §6).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/special_tokens.h"
#include "vq/preprocess.h"

namespace mmada {

// The VQ folder of a command: `flag` when given, else the model folder's own `vq/` when it has
// one (a model shipped with its image tokenizer, e.g. models/mmada-demo), else "" (the command
// then asks for --vq).
std::string model_vq_dir(const std::string& flag, const std::string& model_dir);

struct ImageSettings {
  int64_t side = 512;           // square image side in pixels
  int64_t t2i_text_len = 513;   // text part of a T2I row
  bool t2i_pad_visible = false; // the T2I row's [iPAD] attended
  ResizeMode fit = ResizeMode::CropCenter;
  // The trained row length (T2I text part + codes + <|soi|><|eoi|>) of a model that records its
  // layout, whose rows were always that long; 0 for MMaDA (no fixed row).
  int64_t row_length = 0;

  // The model's settings for a VQ of down-sampling factor `vq_factor`: its recorded layout
  // (side = sqrt(codes_per_image) x vq_factor), else MMaDA's.
  static ImageSettings for_model(const ModelConfig& config, int64_t vq_factor);
};

// The T2I rows of `batch` images of `n_codes` codes for a caption (token ids), laid out as the
// model was trained (text part, padding visibility), and with `guidance` the unconditional
// rows (empty caption) of classifier-free guidance; uncond_* stay empty without it.
struct T2iBatch {
  std::vector<int64_t> ids, uncond_ids;
  std::vector<uint8_t> mask, uncond_mask;
  int64_t row_length = 0;
};
T2iBatch build_t2i_batch(const std::vector<int64_t>& caption_ids, const ImageSettings& settings,
                         int64_t n_codes, int64_t batch, bool guidance, const SpecialTokens& tokens);

}  // namespace mmada

// A Hugging Face CLIP checkpoint folder's settings: config.json (text_config, vision_config,
// projection_dim) and preprocessor_config.json (CLIPImageProcessor). Keys that fix tensor
// shapes are required (an error names the file and key); the rest default as transformers does.
#pragma once
#include <array>
#include <cstdint>
#include <string>

namespace mmada::train {

enum class ClipActivation { QuickGelu, Gelu, GeluTanh, Relu };

struct ClipEncoderConfig {
  int64_t hidden = 0, intermediate = 0, layers = 0, heads = 0;
  ClipActivation act = ClipActivation::QuickGelu;
  double layer_norm_eps = 1e-5;
  int64_t head_dim() const { return hidden / heads; }
};

struct ClipTextConfig : ClipEncoderConfig {
  int64_t vocab_size = 0, max_positions = 0;
  // 2 (the legacy value of the original OpenAI configs): pool at the highest id of the row;
  // otherwise at the first occurrence of this id (transformers' CLIPTextTransformer).
  int64_t eos_token_id = 49407;
};

struct ClipVisionConfig : ClipEncoderConfig {
  int64_t image_size = 0, patch_size = 0, channels = 3;
  int64_t grid() const { return image_size / patch_size; }
};

// CLIPImageProcessor: resize the shortest side (bicubic), centre crop, rescale, normalise.
struct ClipPreprocessConfig {
  bool do_resize = true, do_center_crop = true, do_rescale = true, do_normalize = true;
  int64_t shortest_edge = 224, crop_height = 224, crop_width = 224;
  double rescale_factor = 1.0 / 255.0;
  std::array<double, 3> mean{0.48145466, 0.4578275, 0.40821073};  // OPENAI_CLIP_MEAN
  std::array<double, 3> std{0.26862954, 0.26130258, 0.27577711};  // OPENAI_CLIP_STD
};

struct ClipConfig {
  ClipTextConfig text;
  ClipVisionConfig vision;
  int64_t projection_dim = 512;
  ClipPreprocessConfig preprocess;

  // Reads <folder>/config.json and, if present, <folder>/preprocessor_config.json (else the
  // processor defaults with the vision tower's image size).
  static ClipConfig load(const std::string& folder);
  static ClipConfig from_json_text(const std::string& config_json, const std::string& preprocessor_json,
                                   const std::string& where);
};

}  // namespace mmada::train

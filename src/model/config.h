// LLaDA / MMaDA config.json: the fields the forward pass needs, with the defaults and
// rejections of spec/model.md §2.2.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mmada {

// How a model trained by `mmada train` lays out images: config.json's "image_layout" object,
// written by the trainer. MMaDA's published configs have none; the commands' defaults (512-pixel
// images, a 513-token T2I text part with its padding hidden, resize + centre crop) are theirs.
struct ImageLayout {
  int64_t codes_per_image = 0;   // a square grid: the image side is sqrt(codes) x the VQ's factor
  int64_t t2i_text_len = 0;      // text part of a T2I row: [iPAD]... <|t2i|> BOS caption EOS
  bool t2i_pad_visible = false;  // [iPAD] attended (trained with t2i_pad_attention "none")
  std::string fit = "pad";       // crop | squash | pad: how an image meets the square canvas
};

struct ModelConfig {
  int64_t d_model = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;   // effective value after the multi_query_attention rule
  int64_t n_layers = 0;
  int64_t mlp_hidden = 0;   // mlp_hidden_size, or mlp_ratio * d_model
  int64_t vocab = 0;        // rows of wte and ff_out: embedding_size, else vocab_size
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-5;
  int64_t max_sequence_length = 4096;
  int64_t mask_token_id = 126336;
  int64_t eos_token_id = 126081;
  int64_t pad_token_id = 126081;
  std::string model_type = "llada";
  std::optional<ImageLayout> image_layout;  // config.json "image_layout", kept by to_json
  std::vector<std::string> unknown_fields;  // reported as a warning by the loader

  int64_t head_dim() const { return d_model / n_heads; }
  int64_t kv_dim() const { return n_kv_heads * head_dim(); }
  int64_t param_count() const;
  double flops_per_token_blocks(int64_t seq_len) const;  // 2*MACs of blocks + attention

  // Parses and validates; `where` names the file in error messages.
  static ModelConfig from_json_text(const std::string& text, const std::string& where);
  static ModelConfig load(const std::string& path);  // a config.json file
  std::string to_json() const;                      // a complete LLaDA-style config.json
};

}  // namespace mmada

// CLIP's two towers and projections (transformers' CLIPModel), float32 on the CPU, read from a
// Hugging Face checkpoint folder (config.json + *.safetensors). Every tensor's shape is checked
// against config.json when loading; an error names the tensor, its shape and the expected one.
//
//   vision: patch-embedding convolution (no bias) -> [class; patches] + position embeddings ->
//           pre-LayerNorm -> encoder layers -> post-LayerNorm of the class token -> projection
//   text:   token + position embeddings -> encoder layers with a causal mask -> final LayerNorm
//           -> the hidden state at the pooling position (clip_pool_position) -> projection
//   encoder layer: x += out_proj(attn(LN1(x))); x += fc2(act(fc1(LN2(x))))
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "train/clip_config.h"

namespace mmada {
class SafeTensorsSet;
}

namespace mmada::train {

// The position whose hidden state is the text's pooled output: with the legacy
// eos_token_id == 2 the (first) highest id of the row, otherwise the first eos_token_id (0 if
// absent), as transformers' CLIPTextTransformer does.
int64_t clip_pool_position(const std::vector<int64_t>& ids, int64_t eos_token_id);

class ClipModel {
 public:
  static ClipModel load(const std::string& folder);
  static ClipModel from_weights(const ClipConfig& config, const SafeTensorsSet& weights, const std::string& where);

  const ClipConfig& config() const { return config_; }
  float logit_scale() const { return logit_scale_; }  // before exp()

  // pixels: [3, image_size, image_size] as the processor leaves them. Returns the projected
  // (not normalised) image embedding; `pooled` receives the post-LayerNorm class token.
  std::vector<float> image_embeds(const float* pixels, std::vector<float>* pooled = nullptr) const;
  // ids: one row (1..max_position_embeddings ids, each < vocab_size), no padding.
  std::vector<float> text_embeds(const std::vector<int64_t>& ids, std::vector<float>* pooled = nullptr) const;

 private:
  struct Layer {
    Tensor ln1_w, ln1_b, q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
  };
  struct Encoder {
    std::vector<Layer> layers;
  };
  void run_encoder(const ClipEncoderConfig& c, const Encoder& e, std::vector<float>& x, int64_t len,
                   bool causal) const;

  ClipConfig config_;
  // text
  Tensor token_embedding_, text_position_, final_ln_w_, final_ln_b_, text_projection_;
  Encoder text_encoder_;
  // vision
  Tensor class_embedding_, patch_embedding_, vision_position_, pre_ln_w_, pre_ln_b_, post_ln_w_, post_ln_b_,
      visual_projection_;
  Encoder vision_encoder_;
  float logit_scale_ = 0;
};

}  // namespace mmada::train

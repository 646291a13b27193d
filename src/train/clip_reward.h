// The CLIP-score image reward (spec/unigrpo.md §5.3): a Hugging Face CLIP checkpoint folder
// (config.json, *.safetensors, tokenizer.json, preprocessor_config.json) run by the engine's
// own code (train/clip_model.h), no Python. The reward is torchmetrics' CLIP score,
// 100 · max(0, cos(image_embeds, text_embeds)), which the reward set weighs (paper: 0.1).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/image.h"
#include "tokenizer/tokenizer.h"
#include "train/clip_model.h"
#include "train/rl_rewards.h"

namespace mmada::train {

class ClipScorer {
 public:
  static ClipScorer load(const std::string& folder);

  // CLIP's ids for `text` (<|startoftext|> … <|endoftext|>), cut to max_position_embeddings
  // as torchmetrics' clip_score does.
  std::vector<int64_t> tokenize(const std::string& text) const;
  std::vector<float> image_embeds(const RgbImage& image) const;
  std::vector<float> text_embeds(const std::string& text) const;
  // cos(image, text) of two embeddings.
  static double cosine(const std::vector<float>& a, const std::vector<float>& b);
  // CLIPModel's logits_per_image entry: exp(logit_scale) · cos.
  double logit(const std::vector<float>& image_emb, const std::vector<float>& text_emb) const;
  // torchmetrics' CLIP score: 100 · max(0, cos).
  static double score(const std::vector<float>& image_emb, const std::vector<float>& text_emb);

  const ClipModel& model() const { return *model_; }

 private:
  std::shared_ptr<const ClipModel> model_;
  std::shared_ptr<const Tokenizer> tokenizer_;
};

// Which text the image is compared with: the prompt (text-to-image) or the response
// (caption-style understanding).
enum class ClipText { Prompt, Response };

// Scores RewardInput::image_png against the chosen text. A missing or undecodable PNG fails
// the rollout (nullopt, skipped by the RL loop), never the run.
std::unique_ptr<Reward> make_clip_reward(const std::string& name, const std::string& folder, ClipText text);

}  // namespace mmada::train

#include "train/clip_reward.h"

#include <cmath>

#include "core/error.h"
#include "train/clip_image.h"

namespace mmada::train {

ClipScorer ClipScorer::load(const std::string& folder) {
  ClipScorer s;
  s.model_ = std::make_shared<const ClipModel>(ClipModel::load(folder));
  s.tokenizer_ = std::make_shared<const Tokenizer>(Tokenizer::load(folder));
  return s;
}

std::vector<int64_t> ClipScorer::tokenize(const std::string& text) const {
  std::vector<int64_t> ids = tokenizer_->encode(text);
  MMADA_CHECK(!ids.empty(), "clip: the tokenizer gave no ids (its post-processor adds none)");
  const auto max = size_t(model_->config().text.max_positions);
  if (ids.size() > max) ids.resize(max);
  return ids;
}

std::vector<float> ClipScorer::image_embeds(const RgbImage& image) const {
  return model_->image_embeds(clip_preprocess(image, model_->config().preprocess).data());
}

std::vector<float> ClipScorer::text_embeds(const std::string& text) const {
  return model_->text_embeds(tokenize(text));
}

double ClipScorer::cosine(const std::vector<float>& a, const std::vector<float>& b) {
  MMADA_CHECK(a.size() == b.size(), "clip: embeddings of ", a.size(), " and ", b.size(), " values");
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : 0.0;
}

double ClipScorer::logit(const std::vector<float>& image_emb, const std::vector<float>& text_emb) const {
  return std::exp(double(model_->logit_scale())) * cosine(image_emb, text_emb);
}

double ClipScorer::score(const std::vector<float>& image_emb, const std::vector<float>& text_emb) {
  return 100.0 * std::max(0.0, cosine(image_emb, text_emb));
}

namespace {

class ClipReward : public Reward {
 public:
  ClipReward(std::string name, ClipScorer scorer, ClipText text)
      : name_(std::move(name)), scorer_(std::move(scorer)), text_(text) {}
  const std::string& name() const override { return name_; }
  std::optional<double> score(const RewardInput& in) override {
    if (in.image_png.empty()) {
      failure_ = "no image (the CLIP reward scores text-to-image rollouts)";
      return std::nullopt;
    }
    try {
      const RgbImage image = decode_image(in.image_png.data(), in.image_png.size(), "rollout image");
      const std::string& text = text_ == ClipText::Prompt ? in.prompt : in.response;
      return ClipScorer::score(scorer_.image_embeds(image), scorer_.text_embeds(text));
    } catch (const Error& e) {
      failure_ = e.what();
      return std::nullopt;
    }
  }
  std::string last_failure() const override { return failure_; }

 private:
  std::string name_;
  ClipScorer scorer_;
  ClipText text_;
  std::string failure_;
};

}  // namespace

std::unique_ptr<Reward> make_clip_reward(const std::string& name, const std::string& folder, ClipText text) {
  return std::make_unique<ClipReward>(name, ClipScorer::load(folder), text);
}

}  // namespace mmada::train

#include "train/classifier_reward.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "train/image_data.h"

namespace mmada::train {

void check_classifier_matches(const ImageClassifier& clf, const ClassifierRewardContext& ctx,
                              const std::string& what) {
  const ClassifierSpec& s = clf.spec();
  auto list = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& n : v) out += (out.empty() ? "" : ", ") + n;
    return out;
  };
  MMADA_CHECK(s.class_names == ctx.class_names, what, ": its classes (", list(s.class_names),
              ") are not the run's image classes (", list(ctx.class_names), "), in the same order");
  if (s.input == ClassifierInput::Codes) {
    MMADA_CHECK(s.per_image == ctx.per_image && s.codebook == ctx.codebook, what, ": trained on ",
                s.per_image, " codes of codebook ", s.codebook, " per image; the run's VQ gives ",
                ctx.per_image, " of ", ctx.codebook);
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", (unsigned long long)vq_identity(ctx.vq));
    MMADA_CHECK(s.vq_fingerprint == hex, what, ": trained on the codes of another VQ (fingerprint ",
                s.vq_fingerprint, ") than the run's ", ctx.vq, " (", hex,
                "); codes of different tokenizers mean different things — retrain it with --vq ", ctx.vq);
  } else {
    MMADA_CHECK(s.image_size == ctx.image_size, what, ": a pixel classifier of ", s.image_size, "x",
                s.image_size, " images; the run's images are ", ctx.image_size, "x", ctx.image_size);
  }
}

std::vector<double> classify_codes(const ImageClassifier& clf, const Magvit* vq, const int32_t* codes,
                                   int64_t n, int64_t per_image) {
  const ClassifierSpec& s = clf.spec();
  const int64_t F = s.features();
  std::vector<float> x(size_t(n * F));
  if (s.input == ClassifierInput::Codes) {
    MMADA_CHECK(per_image == s.per_image, "classifier: ", per_image, " codes per image, expected ", s.per_image);
    for (int64_t i = 0; i < n; ++i) clf.features_of_codes(codes + i * per_image, &x[size_t(i * F)]);
  } else {
    MMADA_CHECK(vq != nullptr, "classifier: a pixel classifier needs the VQ to decode codes");
    Tensor t = Tensor::empty(DType::I64, {n, per_image});
    for (int64_t i = 0; i < n * per_image; ++i) t.ptr<int64_t>()[i] = codes[i];
    const Tensor img = vq->decode(t);  // [n, 3, S, S]
    const int64_t S = img.size(2);
    MMADA_CHECK(S == s.image_size && img.size(3) == S, "classifier: the VQ decodes ", S, "x", img.size(3),
                " images, the classifier reads ", s.image_size, "x", s.image_size);
    const float* p = img.ptr<float>();
    std::vector<float> grey(size_t(S * S));
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t k = 0; k < S * S; ++k)
        grey[size_t(k)] = (p[(i * 3 + 0) * S * S + k] + p[(i * 3 + 1) * S * S + k] + p[(i * 3 + 2) * S * S + k]) / 3.0f;
      clf.features_of_pixels(grey.data(), &x[size_t(i * F)]);
    }
  }
  return clf.probabilities(x, n);
}

namespace {

class ClassifierReward : public Reward {
 public:
  ClassifierReward(std::string name, const std::string& dir, ClassifierScore score, const ClassifierRewardContext& ctx)
      : name_(std::move(name)), score_(score), ctx_(ctx), clf_(ImageClassifier::load(dir)) {
    check_classifier_matches(clf_, ctx_, "classifier " + dir);
    if (clf_.spec().input == ClassifierInput::Pixels) vq_ = std::make_unique<Magvit>(Magvit::load(ctx_.vq));
  }
  const std::string& name() const override { return name_; }
  std::optional<double> score(const RewardInput& in) override {
    const std::vector<std::string>& names = clf_.spec().class_names;
    const auto it = std::find(names.begin(), names.end(), in.reference);
    if (it == names.end()) {
      why_ = "reference \"" + in.reference + "\" is not one of the classifier's classes";
      return std::nullopt;
    }
    if (int64_t(in.image_codes.size()) != ctx_.per_image) {
      why_ = "the rollout has " + std::to_string(in.image_codes.size()) + " image codes, expected " +
             std::to_string(ctx_.per_image);
      return std::nullopt;
    }
    const std::vector<double> p = classify_codes(clf_, vq_.get(), in.image_codes.data(), 1, ctx_.per_image);
    const int64_t want = it - names.begin();
    if (score_ == ClassifierScore::Prob) return p[size_t(want)];
    return int64_t(std::max_element(p.begin(), p.end()) - p.begin()) == want ? 1.0 : 0.0;
  }
  std::string last_failure() const override { return why_; }

 private:
  std::string name_, why_;
  ClassifierScore score_;
  ClassifierRewardContext ctx_;
  ImageClassifier clf_;
  std::unique_ptr<Magvit> vq_;
};

}  // namespace

std::unique_ptr<Reward> make_classifier_reward(const std::string& name, const std::string& dir,
                                               ClassifierScore score, const ClassifierRewardContext& ctx) {
  return std::make_unique<ClassifierReward>(name, dir, score, ctx);
}

}  // namespace mmada::train

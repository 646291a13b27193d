// The classifier reward of text-to-image rollouts (spec/unigrpo.md §5.3's local stand-in for
// CLIP / ImageReward, GenEval's "single object" analogue): a classifier trained by
// `mmada train-classifier` (image_classifier.h) scores the generated image against the prompt's
// class. A codes classifier reads RewardInput::image_codes directly; a pixel classifier gets them
// decoded by the run's VQ first.
//   score "correct" (the config's default) 1 if the arg-max class is the prompt's, else 0
//                   (GenEval-style). Groups whose images are all right or all wrong carry no
//                   advantage and are dropped.
//   score "prob"    p(prompt's class), graded. Beware with GRPO's z-scored advantages: a
//                   classifier that is sure of most images gives p ≈ 1 to all of a group's
//                   images, and z-scoring blows differences like 0.9990 against 0.9999 up to
//                   ±1 advantages — noise at full strength (docs/rl-config.md, measured).
// The classifier must match the run: the same class names in the same order, and for codes the
// same tokenizer (fingerprint), positions and codebook, for pixels the same canvas size — any
// mismatch is an error when the reward is made, never a silent wrong score.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "train/image_classifier.h"
#include "train/rl_rewards.h"
#include "vq/magvit.h"

namespace mmada::train {

enum class ClassifierScore { Prob, Correct };

// What the run's images look like.
struct ClassifierRewardContext {
  std::vector<std::string> class_names;
  std::string vq;                // the run's MAGVIT-v2 folder
  int64_t per_image = 0, codebook = 0, image_size = 0;
};

std::unique_ptr<Reward> make_classifier_reward(const std::string& name, const std::string& dir,
                                               ClassifierScore score, const ClassifierRewardContext& ctx);

// Checks `clf` against the run (the errors above); `what` names the classifier in messages.
void check_classifier_matches(const ImageClassifier& clf, const ClassifierRewardContext& ctx,
                              const std::string& what);

// p(class) of each image's codes [n, per_image] (pixel classifiers decode them with `vq`, which
// must be loaded then). Returns [n, classes].
std::vector<double> classify_codes(const ImageClassifier& clf, const Magvit* vq, const int32_t* codes,
                                   int64_t n, int64_t per_image);

}  // namespace mmada::train

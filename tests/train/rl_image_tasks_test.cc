// UniGRPO on images: the classifier (training, gradients, save/load, mismatch errors), the
// classifier and class-name rewards, rewards scoped to tasks, the image rows of the objective
// (the caption / image prefix is never masked), the task mix, and t2i + mmu RL steps end to end
// on a tiny random model with a random VQ.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <unistd.h>

#include "core/error.h"
#include "test_util.h"
#include "train/checkpoint.h"
#include "train/classifier_reward.h"
#include "train/image_classifier.h"
#include "train/optimizer.h"
#include "train/rl_config.h"
#include "train/rl_image_tasks.h"
#include "train/rl_trainer.h"
#include "train/text_encoder.h"
#include "train/trainer.h"
#include "vq/magvit.h"

namespace mmada::train {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("mmada_rl_image_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}



// Images, a random VQ (16 codes, 8x8 per 32x32 image) and a tiny model whose vocabulary holds them.
constexpr int64_t kCodebook = 16, kPerImage = 64;
void make_fixture(const fs::path& dir) {
  test::write_bar_images(dir, "train", 40);
  test::write_bar_images(dir, "t10k", 20);
  Magvit::write_random((dir / "vq").string(), MagvitConfig::small(32, 3, 0, 4), 7);
  ByteEncoder enc;
  ModelConfig m;
  m.d_model = 16;
  m.n_heads = 2;
  m.n_kv_heads = 2;
  m.n_layers = 1;
  m.mlp_hidden = 32;
  m.vocab = enc.vocab_size() + kCodebook;
  m.rope_theta = 10000;
  m.mask_token_id = enc.tokens().mask;
  m.eos_token_id = m.pad_token_id = enc.tokens().eos;
  m.max_sequence_length = 4096;
  ModelWeights w = random_init(m, 0.05, 3);
  save_checkpoint((dir / "init").string(), m, w, DType::F32, nullptr, nullptr);
}

ClassifierTrainOptions classifier_options(const fs::path& dir, ClassifierInput input) {
  ClassifierTrainOptions o;
  o.data = dir.string();
  o.vq = (dir / "vq").string();
  o.cache_dir = (dir / "cache").string();
  o.input = input;
  o.hidden = 16;
  o.steps = 1000;
  o.batch = 16;
  o.lr = 1e-3;  // 3e-3 and up kill SwiGLU units on these near-identical pixel images
  o.output = (dir / (input == ClassifierInput::Codes ? "clf_codes" : "clf_pixels")).string();
  return o;
}

std::string rl_json(const fs::path& dir, const std::string& task, const std::string& rewards,
                    const std::string& extra = "") {
  return R"({"model": {"init_from": ")" + (dir / "init").string() + R"("},
  "task": )" + task + R"(,
  "data": {"images": {"path": ")" + dir.string() + R"(", "vq": ")" + (dir / "vq").string() +
         R"(", "cache_dir": ")" + (dir / "cache").string() + R"("}},
  "rollout": {"text_slots": 64, "temperature": 1.0, "steps": 8)" +
         (task.find("t2i") != std::string::npos ? R"(, "t2i": {"timesteps": 4})" : "") + R"(},
  "unigrpo": {"batch_size": 8, "group_size": 4, "mu": 2},
  "rewards": )" + rewards + R"(,
  "optim": {"lr": 0.001},
  "steps": 2, "seed": 5, "output_dir": ")" + (dir / "out").string() + "\"" + extra + "}";
}

RlConfig parse(const std::string& s) { return RlConfig::from_json_text(s, "rl.json"); }

void expect_error_containing(const std::function<void()>& f, const std::string& needle) {
  const std::string m = test::error_of(f);
  EXPECT_NE(m.find(needle), std::string::npos) << "wanted \"" << needle << "\" in: " << m;
}

TEST(ImageClassifier, GradientMatchesFiniteDifferences) {
  ClassifierSpec s;
  s.input = ClassifierInput::Codes;
  s.per_image = 3;
  s.codebook = 4;
  s.hidden = 5;
  s.class_names = {"a", "b", "c"};
  ImageClassifier c(s, 11);
  const int64_t F = s.features();
  ASSERT_EQ(F, 3 * 2 + 1);
  const std::vector<int32_t> codes = {0, 1, 2, 3, 3, 1};
  std::vector<float> x(size_t(2 * F));
  c.features_of_codes(codes.data(), x.data());
  c.features_of_codes(codes.data() + 3, x.data() + F);
  const std::vector<int64_t> y = {2, 0};
  std::vector<float> gg, gu, go;
  c.loss_and_grads(x, y, gg, gu, go);
  // Central differences in float32: the loss is O(1), h = 1e-2 keeps the round-off (~1e-7/h)
  // and the truncation (~h²·f''') both near 1e-4 of the gradient scale.
  auto check = [&](std::vector<float>& w, const std::vector<float>& g) {
    for (size_t i = 0; i < w.size(); i += 3) {
      const float keep = w[i], h = 1e-2f;
      std::vector<float> a, b2, c2;
      w[i] = keep + h;
      const double lp = c.loss_and_grads(x, y, a, b2, c2);
      w[i] = keep - h;
      const double lm = c.loss_and_grads(x, y, a, b2, c2);
      w[i] = keep;
      EXPECT_NEAR(g[i], (lp - lm) / (2 * h), 2e-3) << i;
    }
  };
  check(c.w_gate(), gg);
  check(c.w_up(), gu);
  check(c.w_out(), go);
}

TEST(ImageClassifier, TrainsSavesLoadsAndChecksTheRun) {
  const fs::path dir = temp_dir("clf");
  make_fixture(dir);
  for (ClassifierInput in : {ClassifierInput::Codes, ClassifierInput::Pixels}) {
    const ClassifierTrainOptions o = classifier_options(dir, in);
    const ClassifierTrainResult r = train_classifier(o);
    EXPECT_EQ(r.train_count, 40);
    EXPECT_EQ(r.test_count, 20);
    // The pixel bars are separable; the random VQ's codes of them are distinct per class too
    // (one image per class and split are identical, so held-out = memorised): both must be perfect.
    EXPECT_EQ(r.test_correct, 20) << (in == ClassifierInput::Codes ? "codes" : "pixels");
    const ImageClassifier c = ImageClassifier::load(o.output);
    EXPECT_EQ(c.classes(), 10);
    EXPECT_NEAR(c.spec().heldout_accuracy, 1.0, 0);
  }
  // The run's view of its images; a codes classifier of this VQ matches it.
  ClassifierRewardContext ctx;
  ctx.class_names = fashion_mnist_classes();
  ctx.vq = (dir / "vq").string();
  ctx.per_image = kPerImage;
  ctx.codebook = kCodebook;
  ctx.image_size = 32;
  const ImageClassifier codes = ImageClassifier::load((dir / "clf_codes").string());
  const ImageClassifier pixels = ImageClassifier::load((dir / "clf_pixels").string());
  check_classifier_matches(codes, ctx, "codes");
  check_classifier_matches(pixels, ctx, "pixels");
  ClassifierRewardContext bad = ctx;
  bad.class_names.pop_back();
  expect_error_containing([&] { check_classifier_matches(codes, bad, "c"); }, "are not the run's image classes");
  bad = ctx;
  bad.per_image = 16;
  expect_error_containing([&] { check_classifier_matches(codes, bad, "c"); }, "per image");
  bad = ctx;
  bad.image_size = 64;
  expect_error_containing([&] { check_classifier_matches(pixels, bad, "c"); }, "pixel classifier of 32x32");
  // Another VQ (other seed): the codes mean something else.
  Magvit::write_random((dir / "vq2").string(), MagvitConfig::small(32, 3, 0, 4), 8);
  bad = ctx;
  bad.vq = (dir / "vq2").string();
  expect_error_containing([&] { check_classifier_matches(codes, bad, "c"); }, "another VQ");
  // A damaged folder.
  expect_error_containing([&] { ImageClassifier::load((dir / "nosuch").string()); }, "not a classifier folder");
  fs::copy(dir / "clf_codes", dir / "clf_bad", fs::copy_options::recursive);
  {
    std::ifstream in(dir / "clf_bad" / "classifier.json");
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(dir / "clf_bad" / "classifier.json") << test::replaced(s, "\"hidden\": 16", "\"hidden\": 17");
  }
  expect_error_containing([&] { ImageClassifier::load((dir / "clf_bad").string()); }, "w_gate has shape");
  fs::remove_all(dir);
}

TEST(ImageRewards, ClassifierAndClassNameScores) {
  const fs::path dir = temp_dir("rewards");
  make_fixture(dir);
  train_classifier(classifier_options(dir, ClassifierInput::Codes));
  ImageSourceSpec src;
  src.path = dir.string();
  src.vq = (dir / "vq").string();
  src.cache_dir = (dir / "cache").string();
  const ImageCodes train = tokenize_images(src);
  ClassifierRewardContext ctx;
  ctx.class_names = fashion_mnist_classes();
  ctx.vq = src.vq;
  ctx.per_image = train.per_image;
  ctx.codebook = train.codebook;
  ctx.image_size = 32;
  auto prob = make_classifier_reward("clf", (dir / "clf_codes").string(), ClassifierScore::Prob, ctx);
  auto hit = make_classifier_reward("hit", (dir / "clf_codes").string(), ClassifierScore::Correct, ctx);
  RewardInput in;
  in.task = RlTask::T2i;
  in.image_codes.assign(train.codes.begin() + 3 * kPerImage, train.codes.begin() + 4 * kPerImage);  // a Dress
  in.reference = "Dress";
  const double p_right = *prob->score(in);
  EXPECT_GT(p_right, 0.5);
  EXPECT_LE(p_right, 1.0);
  EXPECT_EQ(*hit->score(in), 1.0);
  in.reference = "Bag";
  EXPECT_LT(*prob->score(in), 1.0 - p_right + 1e-12);  // probabilities of distinct classes sum to <= 1
  EXPECT_EQ(*hit->score(in), 0.0);
  in.reference = "Giraffe";  // not a class: the rollout fails, it is not scored 0
  EXPECT_FALSE(prob->score(in).has_value());
  EXPECT_NE(prob->last_failure().find("Giraffe"), std::string::npos);
  in.reference = "Dress";
  in.image_codes.resize(10);
  EXPECT_FALSE(prob->score(in).has_value());

  auto named = make_class_name_reward("class_name", fashion_mnist_classes());
  RewardInput a;
  a.task = RlTask::Mmu;
  a.reference = "Shirt";
  a.response = "It is a shirt.";
  EXPECT_EQ(*named->score(a), 1.0);
  a.response = "a T-shirt/top";  // the longest name found wins: not a Shirt
  EXPECT_EQ(*named->score(a), 0.0);
  a.response = "";
  EXPECT_EQ(*named->score(a), 0.0);
  a.reference = "Giraffe";
  EXPECT_FALSE(named->score(a).has_value());
  fs::remove_all(dir);
}

TEST(ImageRewards, RewardsScoreOnlyTheirTasks) {
  RewardSet set;
  set.add(make_format_reward(), 0.5, task_bit(RlTask::Text));
  set.add(make_class_name_reward("class_name", fashion_mnist_classes()), 2.0, task_bit(RlTask::Mmu));
  RewardInput in;
  in.task = RlTask::Mmu;
  in.reference = "Bag";
  in.response = "Bag";
  const RewardScores s = set.score(in);
  ASSERT_TRUE(s.ok);
  EXPECT_EQ(s.applied, (std::vector<uint8_t>{0, 1}));
  EXPECT_EQ(s.total, 2.0);  // the format reward never saw the mmu answer
  in.task = RlTask::Text;
  in.response = "<think>x</think>Bag";
  const RewardScores t = set.score(in);
  EXPECT_EQ(t.applied, (std::vector<uint8_t>{1, 0}));
  EXPECT_EQ(t.total, 0.5);
}

TEST(ImageObjective, CaptionAndImagePrefixAreNeverMasked) {
  RolloutGroup g;
  g.task = RlTask::T2i;
  g.prefix = {266, 266, 262, 256, 97, 257, 264};  // [iPAD] [iPAD] <|t2i|> BOS a EOS <|soi|>
  g.suffix = {265};                                // <|eoi|>
  g.real = {0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  g.responses = {{300, 301, 302, 303}, {304, 305, 306, 307}};
  g.eligible = {4, 4};
  const CounterRng rng{3};
  for (double ratio : {0.0, 0.3, 0.7, 1.0})
    for (MaskSampling ms : {MaskSampling::Bernoulli, MaskSampling::ExactCount})
      for (size_t i = 0; i < 2; ++i) {
        const MaskedRow r = masked_rollout_row(g, i, ratio, ms, 261, rng, 40 + i);
        ASSERT_EQ(r.ids.size(), 12u);
        EXPECT_TRUE(std::equal(g.prefix.begin(), g.prefix.end(), r.ids.begin()));
        EXPECT_EQ(r.ids.back(), 265);
        EXPECT_EQ(r.real, g.real);
        EXPECT_GE(r.positions.size(), 1u);  // at least one code is trained
        for (size_t k = 0; k < r.positions.size(); ++k) {
          EXPECT_GE(r.positions[k], 7);  // only image-code positions carry a loss
          EXPECT_LT(r.positions[k], 11);
          EXPECT_EQ(r.ids[size_t(r.positions[k])], 261);
          EXPECT_EQ(r.labels[k], g.responses[i][size_t(r.positions[k] - 7)]);
        }
        if (ratio == 1.0) {
          EXPECT_EQ(r.positions.size(), 4u);
        }
      }
  // All-equal classifier rewards (every image judged the same) give zero advantages, not NaN.
  for (double v : {0.0, 0.37, 1.0})
    for (double a : group_advantages({v, v, v, v})) EXPECT_EQ(a, 0.0);
  const std::vector<double> a = group_advantages({0.9, 0.1, 0.1, 0.1});
  EXPECT_GT(a[0], 0);
  EXPECT_LT(a[1], 0);
}

TEST(ImageObjective, TaskMixIsProportionalAndDeterministic) {
  const double mix[kNumRlTasks] = {0, 0.5, 0.5}, one[kNumRlTasks] = {0, 1, 0}, third[kNumRlTasks] = {1, 1, 1};
  int counts[kNumRlTasks] = {0, 0, 0};
  for (int64_t p = 0; p < 8; ++p) ++counts[int(task_of_prompt(mix, p, 8))];
  EXPECT_EQ(counts[0], 0);
  EXPECT_EQ(counts[1], 4);
  EXPECT_EQ(counts[2], 4);
  for (int64_t p = 0; p < 5; ++p) EXPECT_EQ(task_of_prompt(one, p, 5), RlTask::T2i);
  EXPECT_EQ(task_of_prompt(third, 0, 3), RlTask::Text);
  EXPECT_EQ(task_of_prompt(third, 1, 3), RlTask::T2i);
  EXPECT_EQ(task_of_prompt(third, 2, 3), RlTask::Mmu);
}

TEST(RlImageTasks, T2iAndMmuStepsRunEndToEnd) {
  const fs::path dir = temp_dir("e2e");
  make_fixture(dir);
  train_classifier(classifier_options(dir, ClassifierInput::Codes));
  train_classifier(classifier_options(dir, ClassifierInput::Pixels));
  const std::string rewards = R"([{"type": "classifier", "model": ")" + (dir / "clf_codes").string() +
                              R"("}, {"type": "classifier", "name": "pix", "score": "correct", "model": ")" +
                              (dir / "clf_pixels").string() + R"("}, {"type": "class_name"}])";
  RlTrainer t(parse(rl_json(dir, R"({"t2i": 1, "mmu": 1})", rewards)));
  std::vector<RlStepRecord> recs;
  t.run([&](const RlStepRecord& r) { recs.push_back(r); });
  ASSERT_EQ(recs.size(), 2u);
  for (const RlStepRecord& r : recs) {
    EXPECT_EQ(r.rollouts, 8);
    EXPECT_EQ(r.skipped, 0);
    EXPECT_EQ(r.task_rollouts[1], 4);
    EXPECT_EQ(r.task_rollouts[2], 4);
    EXPECT_TRUE(std::isfinite(r.loss));
    EXPECT_TRUE(std::isfinite(r.kl));
    for (double m : r.each_mean) {
      EXPECT_GE(m, 0.0);
      EXPECT_LE(m, 1.0);
    }
  }
  std::ifstream log(dir / "out" / "rl_log.jsonl");
  std::string line;
  std::getline(log, line);
  EXPECT_NE(line.find("\"reward_classifier_mean\""), std::string::npos);
  EXPECT_NE(line.find("\"task_t2i_reward_mean\""), std::string::npos);
  // With hidden [iPAD] and guidance the sampler still runs (two rows per image, the pair mask).
  std::string hard = rl_json(dir, "\"t2i\"", R"([{"type": "classifier", "model": ")" + (dir / "clf_codes").string() + "\"}]");
  hard = test::replaced(hard, "\"timesteps\": 4", "\"timesteps\": 4, \"guidance\": 1.5, \"pad_attention\": \"hard\"");
  hard = test::replaced(hard, (dir / "out").string(), (dir / "out2").string());
  RlTrainer g(parse(hard));
  const RlStepRecord r = g.step();
  EXPECT_EQ(r.rollouts, 8);
  EXPECT_TRUE(std::isfinite(r.loss));
  // The CLIP reward gets the t2i images as PNGs decoded by the run's VQ (tiny random CLIP).
  std::string here = __FILE__;
  here.resize(here.find_last_of('/'));
  const std::string clip = here.substr(0, here.find_last_of('/')) + "/data/clip/model";
  const std::string c = test::replaced(rl_json(dir, "\"t2i\"", R"([{"type": "clip", "model": ")" + clip + "\"}]"),
                                       (dir / "out").string(), (dir / "out3").string());
  RlTrainer ct(parse(c));
  const RlStepRecord cr = ct.step();
  EXPECT_EQ(cr.skipped, 0);
  ASSERT_EQ(cr.each_mean.size(), 1u);
  EXPECT_GE(cr.each_mean[0], 0.0);
  EXPECT_LE(cr.each_mean[0], 100.0);
  fs::remove_all(dir);
}

TEST(RlImageTasks, ConfigErrors) {
  const fs::path dir = temp_dir("config");
  make_fixture(dir);
  const std::string clf = R"([{"type": "classifier", "model": ")" + (dir / "clf").string() + "\"}]";
  const RlConfig ok = parse(rl_json(dir, "\"t2i\"", clf));
  EXPECT_TRUE(ok.has_task(RlTask::T2i));
  EXPECT_FALSE(ok.has_task(RlTask::Text));
  EXPECT_EQ(ok.rewards[0].tasks, task_bit(RlTask::T2i));
  const RlConfig mix = parse(rl_json(dir, R"({"t2i": 3, "mmu": 1})", clf.substr(0, clf.size() - 1) + R"(, {"type": "class_name"}])"));
  EXPECT_DOUBLE_EQ(mix.task_share[1], 0.75);
  expect_error_containing([&] { parse(rl_json(dir, "\"video\"", clf)); }, "is not one of");
  expect_error_containing([&] { parse(rl_json(dir, R"({"t2i": 0})", clf)); }, "every share is 0");
  expect_error_containing([&] { parse(rl_json(dir, R"({"t2l": 1})", clf)); }, "unknown key \"t2l\"");
  // No reward for a task; a reward for no task of the run; a classifier scoped to text.
  expect_error_containing([&] { parse(rl_json(dir, "\"t2i\"", R"([{"type": "class_name"}])")); },
                          "no reward scores the t2i task");
  expect_error_containing([&] { parse(rl_json(dir, "\"mmu\"", clf.substr(0, clf.size() - 1) + R"(, {"type": "class_name"}])")); },
                          "scores none of the run's tasks");
  expect_error_containing(
      [&] { parse(rl_json(dir, "\"t2i\"", R"([{"type": "classifier", "tasks": ["text"], "model": "m"}])")); },
      "scores t2i images only");
  expect_error_containing([&] { parse(rl_json(dir, "\"t2i\"", R"([{"type": "classifier"}])")); }, ".model");
  expect_error_containing(
      [&] { parse(rl_json(dir, "\"t2i\"", R"([{"type": "classifier", "model": "m", "score": "max"}])")); }, "score");
  // A task without image data.
  std::string s = rl_json(dir, "\"t2i\"", clf);
  const size_t a = s.find("\"images\""), b = s.find("}}", a);
  s.replace(a, b + 1 - a, "\"prompts\": \"p.jsonl\"");
  expect_error_containing([&] { parse(s); }, "data.images");
  // G not dividing the batch.
  const std::string g = test::replaced(rl_json(dir, "\"t2i\"", clf), "\"group_size\": 4", "\"group_size\": 3");
  expect_error_containing([&] { parse(g); }, "does not divide batch_size");
  const std::string t2 =
      test::replaced(rl_json(dir, "\"t2i\"", clf), "\"timesteps\": 4", "\"timesteps\": 4, \"cfg\": 2");
  expect_error_containing([&] { parse(t2); }, "unknown key \"cfg\"");
  // mmu_code_mask regularises training rows; UniGRPO's prompts show whole images.
  const std::string m =
      test::replaced(rl_json(dir, "\"t2i\"", clf), "\"images\": {", "\"images\": {\"mmu_code_mask\": 0.2, ");
  expect_error_containing([&] { parse(m); }, "unknown key \"mmu_code_mask\"");
  // A classifier folder that does not exist, or of the wrong classes, fails when the run starts.
  expect_error_containing([&] { RlTrainer t(parse(rl_json(dir, "\"t2i\"", clf))); }, "not a classifier folder");
  ClassifierTrainOptions o = classifier_options(dir, ClassifierInput::Codes);
  o.class_names = {"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9"};
  o.output = (dir / "clf").string();
  train_classifier(o);
  expect_error_containing([&] { RlTrainer t(parse(rl_json(dir, "\"t2i\"", clf))); }, "are not the run's image classes");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mmada::train

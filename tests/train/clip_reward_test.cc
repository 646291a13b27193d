// The CLIP-score reward against transformers: tests/data/clip holds a tiny random-weight
// CLIPModel saved by save_pretrained, its CLIP BPE tokenizer and processor, and the ids,
// pixels, embeddings, logits and scores transformers 5.17 / torch 2.11 (float32, CPU) gave
// for 4 PNGs and 6 texts (scripts/make-clip-vectors.py). Tolerances:
//   ids: exact.
//   pixels: our resize is Pillow's (as the original CLIP and transformers <= 4.x, whose
//     CLIPImageProcessor resized PIL images); transformers 5's CLIPImageProcessor resizes with
//     torchvision on tensors, which rounds differently: at most one 8-bit step (1/255/std ≈
//     0.015 after normalisation) on at most 3% of the values (0.03–0.9% seen here), the rest
//     equal to 1e-5;
//   embeddings of the model fed the reference's own pixels: 1e-5 of the vector's largest
//     magnitude (float32 GEMM and attention in another summation order, the vectors stored to
//     8 significant digits; under 1e-6 seen); logits 5e-4, CLIP score (0..100) 1e-3 absolute;
//   end to end from the PNG (our pixels): CLIP score within 0.02 (0.0035 seen).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/safetensors.h"
#include "tokenizer/tokenizer.h"
#include "train/clip_image.h"
#include "train/clip_reward.h"
#include "train/rl_config.h"
#include "test_util.h"

namespace mmada::train {
namespace {

namespace fs = std::filesystem;
using test::read_bytes;

std::string data_dir() {
  std::string here = __FILE__;  // .../tests/train/clip_reward_test.cc
  here.resize(here.find_last_of('/'));
  return here.substr(0, here.find_last_of('/')) + "/data/clip/";
}
std::string model_dir() { return data_dir() + "model"; }


const nlohmann::json& vectors() {
  static const nlohmann::json v = nlohmann::json::parse(std::ifstream(data_dir() + "vectors.json"));
  return v;
}

void expect_close(const std::vector<float>& got, const nlohmann::json& want, double rel, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 1;
  for (const auto& w : want) scale = std::max(scale, std::fabs(w.get<double>()));
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i].get<double>(), rel * scale) << what << " [" << i << "]";
}

// The processor's float for an 8-bit value of channel c.
float normalised(int u8, int c, const ClipPreprocessConfig& p) {
  return (float(u8 * p.rescale_factor) - float(p.mean[size_t(c)])) / float(p.std[size_t(c)]);
}

// The pixels transformers fed its model, from their 8-bit values.
std::vector<float> reference_pixels(const nlohmann::json& im, const ClipPreprocessConfig& p) {
  const auto& u8 = im["pixels_u8"];
  std::vector<float> out;
  for (size_t i = 0; i < u8.size(); ++i) out.push_back(normalised(u8[i].get<int>(), int(i / (u8.size() / 3)), p));
  return out;
}

// Pillow vs torchvision bicubic: equal, or one 8-bit step apart on at most 3% of the values.
void expect_pixels_close(const std::vector<float>& got, const std::vector<float>& want, const ClipPreprocessConfig& p,
                         const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  const size_t per_channel = got.size() / 3;
  size_t off_by_one = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double step = p.rescale_factor / p.std[i / per_channel];
    const double d = std::fabs(double(got[i]) - want[i]);
    if (d <= 1e-5) continue;
    EXPECT_NEAR(d, step, 1e-5) << what << " [" << i << "]";
    ++off_by_one;
  }
  EXPECT_LE(double(off_by_one), 0.03 * double(got.size())) << what;
}

using test::error_of;

TEST(ClipReward, TokenizerMatchesTransformers) {
  const Tokenizer tok = Tokenizer::load(model_dir());
  for (const auto& t : vectors()["texts"]) {
    const std::vector<int64_t> want = t["ids"].get<std::vector<int64_t>>();
    EXPECT_EQ(tok.encode(t["text"].get<std::string>()), want) << t["text"];
  }
}

TEST(ClipReward, PreprocessingMatchesClipImageProcessorAt224And32) {
  const ClipPreprocessConfig p224;  // CLIPImageProcessor() defaults: 224, bicubic, OpenAI mean/std
  const ClipConfig cfg = ClipConfig::load(model_dir());
  for (const auto& im : vectors()["images"]) {
    const std::string file = im["file"];
    const RgbImage img = load_image(data_dir() + file);
    ASSERT_EQ(img.width, im["width"].get<int>());
    const std::vector<float> px = clip_preprocess(img, p224);
    ASSERT_EQ(px.size(), size_t(3 * 224 * 224));
    // Every 7th row and column ([:, ::7, ::7] -> 3 x 32 x 32), then the sums of all values.
    const auto& u8 = im["pixels224_every7_u8"];
    std::vector<float> got, want;
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) {
          got.push_back(px[size_t((c * 224 + 7 * y) * 224 + 7 * x)]);
          want.push_back(normalised(u8[size_t((c * 32 + y) * 32 + x)].get<int>(), c, p224));
        }
    expect_pixels_close(got, want, p224, file + " at 224");
    double sum = 0, abs_sum = 0;
    for (float v : px) sum += v, abs_sum += std::fabs(v);
    // Guards against a systematic shift (a wrong mean/std or crop moves it by thousands).
    EXPECT_NEAR(sum, im["pixels224_sum"].get<double>(), 1e-4 * im["pixels224_abs_sum"].get<double>()) << file;
    EXPECT_NEAR(abs_sum, im["pixels224_abs_sum"].get<double>(), 1e-4 * im["pixels224_abs_sum"].get<double>())
        << file;

    // The model's own processor (preprocessor_config.json: 32 px), every value.
    const std::vector<float> small = clip_preprocess(img, cfg.preprocess);
    expect_pixels_close(small, reference_pixels(im, cfg.preprocess), cfg.preprocess, file + " at 32");
    for (size_t i = 0; i < 16; ++i)
      EXPECT_NEAR(reference_pixels(im, cfg.preprocess)[i], im["pixels_first16"][i].get<double>(), 1e-6) << file;
  }
}

TEST(ClipReward, EmbeddingsLogitsAndScoresMatchTransformers) {
  const ClipScorer scorer = ClipScorer::load(model_dir());
  const auto& v = vectors();
  EXPECT_FLOAT_EQ(scorer.model().logit_scale(), v["logit_scale"].get<float>());
  std::vector<std::vector<float>> text_emb, image_emb;
  for (const auto& t : v["texts"]) {
    std::vector<float> pooled;
    text_emb.push_back(scorer.model().text_embeds(t["ids"].get<std::vector<int64_t>>(), &pooled));
    expect_close(pooled, t["pooled"], 1e-5, "text pooled " + t["text"].get<std::string>());
    expect_close(text_emb.back(), t["embeds"], 1e-5, "text embeds " + t["text"].get<std::string>());
    expect_close(scorer.text_embeds(t["text"]), t["embeds"], 1e-5, "tokenised text " + t["text"].get<std::string>());
  }
  for (const auto& im : v["images"]) {
    const RgbImage img = load_image(data_dir() + im["file"].get<std::string>());
    std::vector<float> pooled;
    image_emb.push_back(
        scorer.model().image_embeds(reference_pixels(im, scorer.model().config().preprocess).data(), &pooled));
    expect_close(pooled, im["pooled"], 1e-5, "image pooled " + im["file"].get<std::string>());
    expect_close(image_emb.back(), im["embeds"], 1e-5, "image embeds " + im["file"].get<std::string>());
    // End to end from the PNG, through our (Pillow) resize.
    const std::vector<float> ours = scorer.image_embeds(img);
    for (size_t j = 0; j + 1 < v["texts"].size(); ++j)
      EXPECT_NEAR(ClipScorer::score(ours, text_emb[j]), v["clip_score"][image_emb.size() - 1][j].get<double>(), 0.02);
  }
  // logits_per_image / clip_score: images x the texts without the last ("").
  for (size_t i = 0; i < image_emb.size(); ++i)
    for (size_t j = 0; j + 1 < text_emb.size(); ++j) {
      EXPECT_NEAR(scorer.logit(image_emb[i], text_emb[j]), v["logits_per_image"][i][j].get<double>(), 5e-4)
          << i << "," << j;
      EXPECT_NEAR(ClipScorer::score(image_emb[i], text_emb[j]), v["clip_score"][i][j].get<double>(), 1e-3)
          << i << "," << j;
    }
}

TEST(ClipReward, RewardInterfaceScoresThePngAgainstThePrompt) {
  RewardSet set;
  set.add(make_clip_reward("clip", model_dir(), ClipText::Prompt), 0.1);
  const auto& v = vectors();
  RewardInput in;
  in.prompt = v["texts"][1]["text"];
  in.response = "ignored";
  in.image_png = read_bytes(data_dir() + v["images"][2]["file"].get<std::string>());
  const RewardScores s = set.score(in);
  ASSERT_TRUE(s.ok) << s.failed;
  EXPECT_NEAR(s.each[0], v["clip_score"][2][1].get<double>(), 0.02);  // end to end: see the top
  EXPECT_NEAR(s.total, 0.1 * s.each[0], 1e-12);

  // The response instead (caption-style understanding).
  auto by_response = make_clip_reward("clip", model_dir(), ClipText::Response);
  in.response = v["texts"][3]["text"];
  EXPECT_NEAR(*by_response->score(in), v["clip_score"][2][3].get<double>(), 0.02);
}

TEST(ClipReward, BrokenOrMissingPngSkipsTheRollout) {
  auto r = make_clip_reward("clip", model_dir(), ClipText::Prompt);
  RewardInput in;
  in.prompt = "a photo of a cat";
  EXPECT_FALSE(r->score(in).has_value());  // text rollout: no image
  EXPECT_NE(r->last_failure().find("no image"), std::string::npos);
  std::vector<uint8_t> png = read_bytes(data_dir() + "wide.png");
  in.image_png.assign(png.begin(), png.begin() + long(png.size() / 2));  // truncated
  EXPECT_FALSE(r->score(in).has_value());
  EXPECT_FALSE(r->last_failure().empty());
  in.image_png = {'n', 'o', 't', ' ', 'a', ' ', 'p', 'n', 'g'};
  EXPECT_FALSE(r->score(in).has_value());
  EXPECT_NE(r->last_failure().find("rollout image"), std::string::npos) << r->last_failure();
  in.image_png = png;  // and the reward still works afterwards
  EXPECT_TRUE(r->score(in).has_value());
}

TEST(ClipReward, BadConfigAndWeightsAreNamed) {
  const std::string good = R"({"text_config": {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
      "num_attention_heads": 4, "vocab_size": 545, "max_position_embeddings": 77},
    "vision_config": {"hidden_size": 24, "intermediate_size": 40, "num_hidden_layers": 2,
      "num_attention_heads": 4, "image_size": 32, "patch_size": 8}, "projection_dim": 16})";
  EXPECT_NO_THROW(ClipConfig::from_json_text(good, "", "m"));
  auto without = [&](const std::string& key) {
    nlohmann::json j = nlohmann::json::parse(good);
    if (j.contains(key)) j.erase(key);
    else if (j["text_config"].contains(key)) j["text_config"].erase(key);
    else j["vision_config"].erase(key);
    return error_of([&] { ClipConfig::from_json_text(j.dump(), "", "m"); });
  };
  EXPECT_NE(without("text_config").find("missing object \"text_config\""), std::string::npos);
  EXPECT_NE(without("vision_config").find("missing object \"vision_config\""), std::string::npos);
  EXPECT_NE(without("vocab_size").find("text_config: missing key \"vocab_size\""), std::string::npos);
  EXPECT_NE(without("patch_size").find("vision_config: missing key \"patch_size\""), std::string::npos);
  EXPECT_NE(error_of([&] { ClipConfig::from_json_text("{", "", "m"); }).find("not valid JSON"), std::string::npos);
  nlohmann::json act = nlohmann::json::parse(good);
  act["vision_config"]["hidden_act"] = "swish";
  EXPECT_NE(error_of([&] { ClipConfig::from_json_text(act.dump(), "", "m"); }).find("hidden_act"),
            std::string::npos);
  EXPECT_NE(error_of([&] { ClipConfig::from_json_text(good, R"({"crop_size": 64})", "m"); }).find("crop"),
            std::string::npos);
  EXPECT_NE(error_of([] { ClipConfig::load("/nonexistent/clip"); }).find("does not exist"), std::string::npos);

  // A config that disagrees with the checkpoint: the tensor, its shape and the expected one.
  ClipConfig cfg = ClipConfig::load(model_dir());
  cfg.text.intermediate = 38;
  const SafeTensorsSet w = SafeTensorsSet::open(model_dir());
  const std::string e = error_of([&] { ClipModel::from_weights(cfg, w, "m"); });
  EXPECT_NE(e.find("text_model.encoder.layers.0.mlp.fc1.weight has shape [37, 32], expected [38, 32]"),
            std::string::npos)
      << e;
  cfg = ClipConfig::load(model_dir());
  cfg.vision.layers = 3;
  EXPECT_NE(error_of([&] { ClipModel::from_weights(cfg, w, "m"); }).find("no tensor vision_model.encoder.layers.2."),
            std::string::npos);
  // Token ids outside the vocabulary or too many of them.
  const ClipModel m = ClipModel::load(model_dir());
  EXPECT_NE(error_of([&] { m.text_embeds({543, 545, 544}); }).find("outside the vocabulary"), std::string::npos);
  EXPECT_NE(error_of([&] { m.text_embeds(std::vector<int64_t>(78, 1)); }).find("78 tokens"), std::string::npos);
}

TEST(ClipReward, OpenAiStyleConfigFiles) {
  // openai/clip-vit-large-patch14's shapes and its preprocessor_config.json (older integer sizes,
  // the legacy eos_token_id 2, extra keys the engine does not use).
  const std::string config = R"({"projection_dim": 768,
    "text_config": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
      "vocab_size": 49408, "max_position_embeddings": 77, "hidden_act": "quick_gelu", "eos_token_id": 2},
    "vision_config": {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
      "num_attention_heads": 16, "image_size": 224, "patch_size": 14, "hidden_act": "quick_gelu"}})";
  const std::string pre = R"({"crop_size": 224, "do_center_crop": true, "do_normalize": true, "do_resize": true,
    "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 224})";
  const ClipConfig c = ClipConfig::from_json_text(config, pre, "clip-vit-large-patch14");
  EXPECT_EQ(c.vision.grid(), 16);
  EXPECT_EQ(c.vision.head_dim(), 64);
  EXPECT_EQ(c.text.eos_token_id, 2);
  EXPECT_EQ(c.preprocess.shortest_edge, 224);
  EXPECT_EQ(c.preprocess.crop_width, 224);
  EXPECT_EQ(c.projection_dim, 768);
}

TEST(ClipReward, PoolPositionFollowsTransformers) {
  // Legacy eos_token_id 2 (the OpenAI configs): the first highest id; else the first eos id.
  EXPECT_EQ(clip_pool_position({49406, 320, 49407, 49407}, 2), 2);
  EXPECT_EQ(clip_pool_position({49406, 320, 49407, 49408}, 2), 3);
  EXPECT_EQ(clip_pool_position({49406, 320, 49407, 49408}, 49407), 2);
  EXPECT_EQ(clip_pool_position({49406, 320}, 49407), 0);
}

TEST(ClipReward, RlConfigClipEntry) {
  auto rewards = [](const std::string& r) {
    return RlConfig::from_json_text(R"({"model": {"init_from": "m"}, "data": {"prompts": "p.jsonl"},
        "rollout": {"row_length": 38}, "unigrpo": {"batch_size": 4, "group_size": 2},
        "steps": 1, "output_dir": "o", "rewards": )" + r + "}", "rl.json");
  };
  const RlConfig c = rewards(R"([{"type": "clip", "model": "/models/clip-vit-large-patch14"}])");
  ASSERT_EQ(c.rewards.size(), 1u);
  EXPECT_EQ(c.rewards[0].name, "clip");
  EXPECT_DOUBLE_EQ(c.rewards[0].weight, 0.1);
  EXPECT_EQ(c.rewards[0].model, "/models/clip-vit-large-patch14");
  EXPECT_EQ(c.rewards[0].text, "prompt");
  EXPECT_EQ(rewards(R"([{"type": "clip", "model": "x", "text": "response", "weight": 0.2}])").rewards[0].text,
            "response");
  auto err = [&](const std::string& r) { return error_of([&] { rewards(r); }); };
  EXPECT_NE(err(R"([{"type": "clip"}])").find(".model (a Hugging Face CLIP folder) is required"), std::string::npos);
  EXPECT_NE(err(R"([{"type": "clip", "model": "x", "text": "image"}])").find("text = \"image\""), std::string::npos);
  EXPECT_NE(err(R"([{"type": "format", "model": "x"}])").find("only applies to types \"clip\" and \"classifier\""), std::string::npos);
}

}  // namespace
}  // namespace mmada::train

// mmada train-vq's config and loop (train/vq_trainer.h) on a tiny tokenizer and synthetic IDX
// images: config errors name the key, the written folder is what the engine loads, a resumed
// run ends bit-identical to an uninterrupted one, and the CLI's bad input is one error line.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/cli_run.h"
#include "io/safetensors.h"
#include "test_util.h"
#include "train/vq_trainer.h"
#include "vq/magvit.h"

namespace mmada::train {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::error_of;

using test::write_idx;

class VqTrainerTest : public ::testing::Test {
 protected:
  fs::path dir_;
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mmada_vq_trainer_" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "data");
    // 12 grey 6x6 images: a bright square at a position that depends on the index.
    for (const char* split : {"train", "t10k"}) {
      const int n = 12;
      std::vector<uint8_t> px(size_t(n) * 36, 0), lb(size_t(n), 0);
      for (int i = 0; i < n; ++i)
        for (int y = i % 3; y < i % 3 + 3; ++y)
          for (int x = i / 3 % 3; x < i / 3 % 3 + 3; ++x) px[size_t(i * 36 + y * 6 + x)] = 255;
      write_idx(dir_ / "data" / (std::string(split) + "-images-idx3-ubyte"), {uint32_t(n), 6, 6}, px);
      write_idx(dir_ / "data" / (std::string(split) + "-labels-idx1-ubyte"), {uint32_t(n)}, lb);
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  json config(const std::string& out, int steps) const {
    return json{{"tokenizer", {{"ch", 32}, {"levels", 2}, {"res_blocks", 0}, {"bits", 4}}},
                {"data",
                 {{"train", {{{"path", (dir_ / "data").string()}}}},
                  {"eval", {{{"path", (dir_ / "data").string()}, {"limit", 4}}}},
                  {"image_size", 8}}},
                {"batch", 2},
                {"optim", {{"lr", 1e-3}, {"warmup_steps", 1}, {"max_train_steps", 5}}},
                {"steps", steps},
                {"log_every", 1},
                {"grid_images", 4},
                {"save_every", 2},
                {"resume", true},
                {"output_dir", (dir_ / out).string()}};
  }
  static std::string error_for(const json& j) {
    return error_of([&] { VqTrainConfig::from_json_text(j.dump(), "vq.json"); });
  }
};

TEST_F(VqTrainerTest, ConfigErrorsNameTheKey) {
  json j = config("o", 3);
  j["tokenizer"]["chanels"] = 32;
  EXPECT_NE(error_for(j).find("vq.json.tokenizer: unknown key \"chanels\""), std::string::npos) << error_for(j);
  j = config("o", 3);
  j["lr"] = 1;
  EXPECT_NE(error_for(j).find("unknown key \"lr\""), std::string::npos);
  j = config("o", 3);
  j["loss"] = {{"recon", "l3"}};
  EXPECT_NE(error_for(j).find("vq.json.loss.recon = \"l3\""), std::string::npos) << error_for(j);
  j = config("o", 3);
  j["data"]["image_size"] = 9;
  EXPECT_NE(error_for(j).find("vq.json.data.image_size = 9 is not a multiple"), std::string::npos) << error_for(j);
  j = config("o", 3);
  j["data"].erase("eval");
  EXPECT_NE(error_for(j).find("vq.json.data.eval must be a non-empty array"), std::string::npos) << error_for(j);
  j = config("o", 3);
  j["tokenizer"]["bits"] = 18;
  EXPECT_NE(error_for(j).find("codebook_dim 18 is too large to train here"), std::string::npos) << error_for(j);
  j = config("o", 3);
  j["tokenizer"]["ch"] = 48;
  EXPECT_NE(error_for(j).find("vq.json.tokenizer.ch = 48 must be a multiple of 32"), std::string::npos) << error_for(j);
  j = config("o", 3);
  j["save_dtype"] = "bf16";
  EXPECT_NE(error_for(j).find("float32 only"), std::string::npos) << error_for(j);
  j = config("o", 3);
  j.erase("steps");
  EXPECT_NE(error_for(j).find("\"steps\" is required"), std::string::npos) << error_for(j);
}

TEST_F(VqTrainerTest, ImagesLargerThanTheCanvasAreRefused) {
  json j = config("small", 1);
  j["data"]["image_size"] = 4;
  const VqTrainConfig c = VqTrainConfig::from_json_text(j.dump(), "vq.json");
  EXPECT_NE(error_of([&] { train_vq(c, {}); }).find("smaller than the 6x6 images"), std::string::npos);
}

TEST_F(VqTrainerTest, WritesAnEngineFolderAndResumesExactly) {
  // Uninterrupted: 5 steps.
  const VqTrainConfig full = VqTrainConfig::from_json_text(config("full", 5).dump(), "full.json");
  train_vq(full, {});
  // Interrupted after 3 steps (checkpoint at 3: the last step always saves), then resumed to 5.
  train_vq(VqTrainConfig::from_json_text(config("split", 3).dump(), "split.json"), {});
  // As if it had gone on past the checkpoint and been killed mid-line: the resume redoes step 4.
  std::ofstream(dir_ / "split" / "train_vq_log.jsonl", std::ios::app) << "{\"step\": 4, \"loss\": 9}\n{\"step\": 5, \"lo";
  train_vq(VqTrainConfig::from_json_text(config("split", 5).dump(), "split.json"), {});

  for (const char* f : {"config.json", "model.safetensors", "eval.json", "recon.png",
                        "train_vq_log.jsonl", "checkpoint/optimizer.safetensors"})
    EXPECT_TRUE(fs::exists(dir_ / "full" / f)) << f;
  const SafeTensorsSet a = SafeTensorsSet::open((dir_ / "full" / "model.safetensors").string());
  const SafeTensorsSet b = SafeTensorsSet::open((dir_ / "split" / "model.safetensors").string());
  ASSERT_EQ(a.names(), b.names());
  for (const std::string& n : a.names()) {
    const Tensor& ta = a.get(n);
    const Tensor& tb = b.get(n);
    ASSERT_EQ(ta.nbytes(), tb.nbytes()) << n;
    EXPECT_EQ(std::memcmp(ta.data, tb.data, ta.nbytes()), 0) << n << " differs after resume";
  }
  // The engine loads the folder; its codes use the 4-bit codebook on a 4x4 grid.
  const Magvit vq = Magvit::load((dir_ / "full").string());
  EXPECT_EQ(vq.config().codebook_size(), 16);
  const std::vector<VqEval> ev = evaluate_vq_sources(vq, full, "");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].images, 4);
  EXPECT_GE(ev[0].codes_used, 1);
  EXPECT_LE(ev[0].codes_used, 16);
  EXPECT_LE(ev[0].code_entropy_bits, 4.0 + 1e-9);
  EXPECT_TRUE(std::isfinite(ev[0].psnr));
  // The log has one line per step (the stale step 4 and the torn line gone), the config line
  // of the first run and the eval lines.
  std::ifstream log(dir_ / "split" / "train_vq_log.jsonl");
  std::vector<int64_t> steps;
  int headers = 0;
  for (std::string line; std::getline(log, line);) {
    const json j = json::parse(line);
    headers += j.contains("config");
    if (j.contains("loss")) {
      steps.push_back(j["step"].get<int64_t>());
      EXPECT_NE(j["loss"].get<double>(), 9.0);
    }
  }
  EXPECT_EQ(steps, (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(headers, 1);
}

TEST_F(VqTrainerTest, ResumeWithAnotherTokenizerIsRefused) {
  train_vq(VqTrainConfig::from_json_text(config("r", 2).dump(), "r.json"), {});
  json j = config("r", 4);
  j["tokenizer"]["bits"] = 5;
  const VqTrainConfig c = VqTrainConfig::from_json_text(j.dump(), "r.json");
  EXPECT_NE(error_of([&] { train_vq(c, {}); }).find("tokenizer config differs"), std::string::npos);
}

TEST_F(VqTrainerTest, CliBadInputIsOneErrorLine) {
  const char* cli = std::getenv("MMADA_CLI");
  if (!cli || !*cli) GTEST_SKIP() << "MMADA_CLI not set";
  json j = config("cli", 2);
  j["loss"] = {{"entropy_weight", 0.1}};
  const fs::path cfg = dir_ / "bad.json";
  std::ofstream(cfg) << j.dump();
  test::expect_clean_error(test::run_cli(std::string(cli) + " train-vq --config " + cfg.string()),
                           "loss: unknown key \"entropy_weight\"");
  test::expect_clean_error(test::run_cli(std::string(cli) + " train-vq --config " + (dir_ / "none.json").string()),
                           "cannot read the VQ training config");
}

}  // namespace
}  // namespace mmada::train

// The demo model's recipe (scripts/demo/*.json, run by reproduce.sh) and the session configs kept
// beside its logs (docs/bench/demo/*.json) are read by the same strict loaders `mmada train`,
// `mmada rl` and `mmada train-vq` use: an unknown key or a bad value fails here, not an hour into
// a GPU reproduction. Only the configs are read; their data need not exist.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "test_util.h"
#include "train/rl_config.h"
#include "train/train_config.h"
#include "train/vq_trainer.h"

namespace mmada::train {
namespace {

namespace fs = std::filesystem;

// Which loader a config is for: RL configs have a rollout section, VQ ones a tokenizer object.
std::string parse_with_its_loader(const fs::path& p) {
  const std::vector<uint8_t> bytes = test::read_bytes(p.string());
  const std::string text(bytes.begin(), bytes.end());
  const nlohmann::json j = nlohmann::json::parse(text);
  if (j.contains("rollout")) {
    RlConfig::from_json_text(text, p.string());
    return "rl";
  }
  if (j.contains("tokenizer") && j["tokenizer"].is_object()) {
    VqTrainConfig::from_json_text(text, p.string());
    return "vq";
  }
  TrainConfig::from_json_text(text, p.string());
  return "train";
}

TEST(DemoConfigs, EveryRecipeAndSessionConfigLoads) {
  int count[3] = {0, 0, 0};
  for (const char* dir : {"scripts/demo", "docs/bench/demo"}) {
    for (const auto& e : fs::directory_iterator(fs::path(test::repo_root()) / dir)) {
      if (e.path().extension() != ".json") continue;
      std::string kind;
      EXPECT_NO_THROW(kind = parse_with_its_loader(e.path())) << e.path();
      count[0] += kind == "train";
      count[1] += kind == "rl";
      count[2] += kind == "vq";
    }
  }
  // stage1, 2, 2b-2e, 4 train; stage3, 5, 6 and the session RL configs; vq-1600, vq-3200.
  EXPECT_GE(count[0], 7);
  EXPECT_GE(count[1], 3);
  EXPECT_GE(count[2], 2);
}

}  // namespace
}  // namespace mmada::train

// `mmada showcase` and the shipped demo model as the default (models/mmada-demo, issue 11): the
// showcase's three parts on whatever demo model the tree holds (its outputs are not asserted:
// the shipped model changes), describe / imagine with no -m or --vq, and the bad inputs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/cli_run.h"
#include "io/image.h"
#include "model/config.h"
#include "pipeline/image_settings.h"
#include "serve/base64.h"
#include "server/server_process.h"
#include "test_util.h"
#include "test_util.h"
#include "vq/magvit_config.h"

namespace mmada {
namespace {

namespace fs = std::filesystem;
using test::expect_clean_error;
using test::run_cli;

class ShowcaseCli : public test::CliTest {
 protected:
  fs::path demo_ = fs::path(test::repo_root()) / "models/mmada-demo";
  bool have_demo() const { return fs::exists(demo_ / "model.safetensors") && fs::exists(demo_ / "vq/model.safetensors"); }
  // The demo's image side from its own files (config.json's layout and the VQ's factor).
  int64_t demo_side() const {
    const ModelConfig mc = ModelConfig::load((demo_ / "config.json").string());
    const MagvitConfig vq = MagvitConfig::load((demo_ / "vq").string());
    return ImageSettings::for_model(mc, vq.downsample_factor()).side;
  }
};

// The shipped folder is complete: weights, tokenizer, its VQ, a layout, example images.
TEST_F(ShowcaseCli, DemoModelFolderIsComplete) {
  if (!have_demo()) GTEST_SKIP() << "no models/mmada-demo weights in this tree";
  for (const char* f : {"config.json", "tokenizer.json", "tokenizer_config.json", "vq/config.json"})
    EXPECT_TRUE(fs::exists(demo_ / f)) << f;
  const ModelConfig mc = ModelConfig::load((demo_ / "config.json").string());
  ASSERT_TRUE(mc.image_layout.has_value()) << "config.json needs \"image_layout\" (docs/demo-model.md)";
  int pngs = 0;
  for (const auto& e : fs::directory_iterator(demo_ / "examples")) pngs += e.path().extension() == ".png";
  EXPECT_GE(pngs, 1);
}

TEST_F(ShowcaseCli, RunsTheThreePartsOnTheDemoModel) {
  if (!have_demo()) GTEST_SKIP() << "no models/mmada-demo weights in this tree";
  const auto r = run_cli("env -u MMADA_MODEL " + cli_ + " showcase -o " + path("out") + " --draw Sneaker");
  ASSERT_EQ(r.status, 0) << r.out;
  for (const char* part : {"1. Reasoning", "   A: ", "2. Describe", "3. Draw \"a photo of a Sneaker\"", "total "})
    EXPECT_NE(r.out.find(part), std::string::npos) << part << " missing in:\n" << r.out;
  const int64_t side = demo_side();
  const RgbImage img = load_image(path("out/Sneaker.png")), big = load_image(path("out/Sneaker-x8.png"));
  EXPECT_EQ(img.width, side);
  EXPECT_EQ(img.height, side);
  EXPECT_EQ(big.width, 8 * side);
}

// No -m: the demo model; no --vq / --size: its vq/ and layout.
TEST_F(ShowcaseCli, DescribeAndImagineDefaultToTheDemoModel) {
  if (!have_demo()) GTEST_SKIP() << "no models/mmada-demo weights in this tree";
  const int64_t side = demo_side();
  const std::string fast = " --gen-length 8 --steps 8 --block-length 8";
  auto r = run_cli("env -u MMADA_MODEL " + cli_ + " describe -i " + (demo_ / "examples/sneaker.png").string() +
                   " -p 'What is in this image?' --stats" + fast);
  ASSERT_EQ(r.status, 0) << r.out;
  const int64_t f = MagvitConfig::load((demo_ / "vq").string()).downsample_factor();
  const std::string codes = "-> " + std::to_string((side / f) * (side / f)) + " codes";
  EXPECT_NE(r.out.find(codes), std::string::npos) << r.out;
  r = run_cli("env -u MMADA_MODEL " + cli_ + " imagine -p 'a photo of a Sneaker' --steps 2 -o " + path("s.png"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(load_image(path("s.png")).width, side);
  r = run_cli("env -u MMADA_MODEL " + cli_ + " generate -p 'Which digit comes after 6?'" + fast);
  ASSERT_EQ(r.status, 0) << r.out;
}

// Without --gen-length a model with a recorded layout answers in the rest of its trained row
// (prompt + answer = the row), as its mmu rows were built; with it, the user's length holds.
TEST_F(ShowcaseCli, DescribeFillsTheTrainedRowUnlessALengthIsGiven) {
  if (!have_demo()) GTEST_SKIP() << "no models/mmada-demo weights in this tree";
  const int64_t f = MagvitConfig::load((demo_ / "vq").string()).downsample_factor();
  const int64_t row =
      ImageSettings::for_model(ModelConfig::load((demo_ / "config.json").string()), f).row_length;
  ASSERT_GT(row, 0);
  const std::string cmd = "env -u MMADA_MODEL " + cli_ + " describe -i " + (demo_ / "examples/sneaker.png").string() +
                          " -p 'What is in this image?' --stats --no-early-stop";
  auto tokens = [](const std::string& out, const std::string& before) {
    const size_t k = out.rfind(before);
    EXPECT_NE(k, std::string::npos) << out;
    return k == std::string::npos ? int64_t(-1) : std::stoll(out.substr(out.rfind(' ', k - 1) + 1));
  };
  auto r = run_cli(cmd);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(tokens(r.out, " tokens, ") + tokens(r.out, " generated"), row) << r.out;
  r = run_cli(cmd + " --gen-length 8 --steps 8 --block-length 8");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(tokens(r.out, " generated"), 8) << r.out;
  // --steps alone also leaves the lengths to the user (gen-length's default, 128).
  r = run_cli(cmd + " --steps 4");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(tokens(r.out, " generated"), 128) << r.out;
}

// The server answers an image question to the demo model as `mmada describe` does: in the rest
// of the trained row when the request gives no length (the web page's default).
TEST_F(ShowcaseCli, ServerImageChatFillsTheTrainedRowLikeDescribe) {
  if (!have_demo()) GTEST_SKIP() << "no models/mmada-demo weights in this tree";
  const fs::path img = demo_ / "examples/sneaker.png";
  const std::string question = "What is in this image?";
  const auto d = run_cli("env -u MMADA_MODEL " + cli_ + " describe -i " + img.string() + " -p '" + question +
                         "' --temperature 0 2>/dev/null");
  ASSERT_EQ(d.status, 0) << d.out;
  std::string described = d.out;
  while (!described.empty() && described.back() == '\n') described.pop_back();
  ASSERT_FALSE(described.empty());

  test::ServerProcess server;
  const std::string err = server.start_with({"-m", demo_.string()});
  ASSERT_EQ(err, "");
  nlohmann::json req = {
      {"messages",
       {{{"role", "user"},
         {"content", {{{"type", "text"}, {"text", question}},
                      {{"type", "image_url"},
                       {"image_url", {{"url", "data:image/png;base64," + serve::base64_encode(test::read_bytes(img.string()))}}}}}}}}}};
  auto c = server.client();
  auto r = c.Post("/v1/chat/completions", req.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(nlohmann::json::parse(r->body)["choices"][0]["message"]["content"], described);
  // A request that gives a length keeps it (the row would leave dozens of answer slots).
  req["max_tokens"] = 1;
  r = c.Post("/v1/chat/completions", req.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_LE(nlohmann::json::parse(r->body)["usage"]["completion_tokens"].get<int>(), 1);
  EXPECT_TRUE(server.alive());
}

// Missing pieces of a model folder are named; nothing crashes.
TEST_F(ShowcaseCli, MissingModelPiecesAreOneLineErrors) {
  const std::string m = path("m");
  auto r = run_cli(cli_ + " make-model -o " + m + " --d-model 32 --layers 1 --heads 2 --mlp 64");
  ASSERT_EQ(r.status, 0) << r.out;
  expect_clean_error(run_cli(cli_ + " showcase -m " + m), "has no vq/ folder");
  expect_clean_error(run_cli(cli_ + " describe -m " + m + " -i x.png"), "x.png");  // image first
  RgbImage img(28, 28);
  write_png(path("in.png"), img);
  expect_clean_error(run_cli(cli_ + " describe -m " + m + " -i " + path("in.png")), "pass --vq DIR");

  fs::create_directories(m + "/vq");  // vq/ without its files
  expect_clean_error(run_cli(cli_ + " showcase -m " + m), "has no examples/*.png");
  fs::create_directories(m + "/examples");
  write_png(m + "/examples/a.png", img);
  expect_clean_error(run_cli(cli_ + " showcase -m " + m), "m/vq: expected model.safetensors");
  expect_clean_error(run_cli(cli_ + " describe -m " + m + " -i " + path("in.png")), "m/vq: expected model.safetensors");
  expect_clean_error(run_cli(cli_ + " showcase -m " + m + " -i " + path("missing.png")), "missing.png");
  expect_clean_error(run_cli(cli_ + " showcase -m " + m + " --draw ''"), "--draw needs a class name");
  expect_clean_error(run_cli(cli_ + " showcase -m " + m + " --gen-length 48 --block-length 20"), "not divisible by block_length 20");

  expect_clean_error(run_cli(cli_ + " describe -m " + m + " -i " + path("in.png") + " --fit stretch"),
                     "crop, squash or pad");
  expect_clean_error(run_cli(cli_ + " describe -m " + m + " -i " + path("in.png") + " --fit pad --squash"),
                     "--squash or --fit, not both");
  expect_clean_error(run_cli(cli_ + " imagine -m " + m + " -p x --text-len -1"), "--text-len must be >= 0");
}

}  // namespace
}  // namespace mmada

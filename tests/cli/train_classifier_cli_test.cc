// `mmada train-classifier` as the built binary ($MMADA_CLI): a pixel classifier on a synthetic
// IDX folder, and the bad inputs that must end in a one-line error (also the new
// `mmada train --eval-classifier` flag's).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli/cli_run.h"
#include "test_util.h"

namespace mmada {
namespace {

namespace fs = std::filesystem;
using test::expect_clean_error;
using test::run_cli;

using test::write_idx;

class TrainClassifierCli : public test::CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    if (IsSkipped()) return;
    // Class k: a bright bar at row 2+2k.
    for (const auto& [split, n] : {std::pair<std::string, int>{"train", 40}, {"t10k", 20}}) {
      std::vector<uint8_t> px(size_t(n) * 784, 0), lb(static_cast<size_t>(n));
      for (int i = 0; i < n; ++i) {
        lb[size_t(i)] = uint8_t(i % 10);
        for (int x = 4; x < 24; ++x) px[size_t(i) * 784 + size_t(2 + 2 * (i % 10)) * 28 + size_t(x)] = 255;
      }
      write_idx(dir_ / (split + "-images-idx3-ubyte"), {uint32_t(n), 28, 28}, px);
      write_idx(dir_ / (split + "-labels-idx1-ubyte"), {uint32_t(n)}, lb);
    }
  }
};

TEST_F(TrainClassifierCli, TrainsAPixelClassifier) {
  const test::CliResult r = run_cli(cli_ + " train-classifier --data " + dir_.string() +
                                    " --input pixels --hidden 16 --batch 16 --steps 1000 --lr 0.001 -o " +
                                    (dir_ / "clf").string());
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("held-out accuracy 20 / 20"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(dir_ / "clf" / "classifier.json"));
  EXPECT_TRUE(fs::exists(dir_ / "clf" / "model.safetensors"));
}

TEST_F(TrainClassifierCli, BadInputsAreOneLineErrors) {
  const std::string base = cli_ + " train-classifier -o " + (dir_ / "x").string();
  expect_clean_error(run_cli(base + " --data " + (dir_ / "nosuch").string() + " --input pixels"), "no train-images-idx3-ubyte");
  expect_clean_error(run_cli(base + " --data " + dir_.string() + " --input codes"), "needs --vq");
  expect_clean_error(run_cli(base + " --data " + dir_.string() + " --input pixels --steps 0"), "must be positive");
  expect_clean_error(run_cli(base + " --data " + dir_.string() + " --input pixels --image-size 0"), "--image-size 0");
  expect_clean_error(run_cli(cli_ + " train -c " + (dir_ / "run.json").string() + " --eval-only --eval-classifier " +
                             (dir_ / "clf").string()),
                     "give --eval-t2i-per-class too");
}

}  // namespace
}  // namespace mmada

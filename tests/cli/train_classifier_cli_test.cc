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


class TrainClassifierCli : public test::CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    if (IsSkipped()) return;
    test::write_bar_images(dir_, "train", 40);
    test::write_bar_images(dir_, "t10k", 20);
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

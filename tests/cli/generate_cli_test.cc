// `mmada generate` / `chat` as a user runs them, on the tiny reference model: answers, flags,
// and every bad input of the text issue ending in a one-line error and exit status 1.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cli/cli_run.h"
#include "test_util.h"

namespace mmada {
namespace {

namespace fs = std::filesystem;
using test::expect_clean_error;
using test::run_cli;

class GenerateCli : public test::CliTest {
 protected:
  std::string base_;  // "$MMADA_CLI generate -m tiny --tokenizer assets/llada-tokenizer"
  std::string model_, tok_;
  void SetUp() override {
    CliTest::SetUp();
    if (IsSkipped()) return;
    model_ = fs::absolute(test::refdata_dir() + "/tiny/mmada_tiny").string();
    if (!fs::exists(model_ + "/config.json")) GTEST_SKIP() << "no tiny model";
    // The repository's tokenizer, found from this source file's location.
    tok_ = (fs::path(__FILE__).parent_path().parent_path().parent_path() / "assets/llada-tokenizer").string();
    base_ = cli_ + " generate -m " + model_ + " --tokenizer " + tok_;
  }
};

TEST_F(GenerateCli, AnswersDeterministicallyWithASeed) {
  const std::string cmd = base_ + " -p 'What is 2+2?' --gen-length 16 --steps 8 --block-length 8 --temperature 1 --seed 5";
  const auto a = run_cli(cmd), b = run_cli(cmd);
  ASSERT_EQ(a.status, 0) << a.out;
  EXPECT_FALSE(a.out.empty());
  EXPECT_EQ(a.out, b.out);
}

TEST_F(GenerateCli, ShowStepsPrintsTheCanvasWithMasks) {
  const auto r = run_cli(base_ + " -p Hi --gen-length 8 --steps 4 --block-length 8 --temperature 0 --show-steps");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("--- step 1/4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--- step 4/4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\u2591"), std::string::npos) << r.out;  // masked positions visible
}

TEST_F(GenerateCli, BadSettingsAreOneLineErrors) {
  expect_clean_error(run_cli(base_ + " -p x --gen-length 30 --block-length 8 --steps 8"), "not divisible by block_length");
  expect_clean_error(run_cli(base_ + " -p x --gen-length 32 --block-length 8 --steps 6"), "multiple of the number of blocks");
  expect_clean_error(run_cli(base_ + " -p x --remasking lowest"), "unknown remasking 'lowest'");
  expect_clean_error(run_cli(base_ + " -p x --temperature -1"), "temperature must be >= 0");
  expect_clean_error(run_cli(base_ + " --gen-length 8 --steps 8 --block-length 8"), "no prompt");
  expect_clean_error(run_cli(base_ + " -p x --gpu-weights int3"), "unknown --gpu-weights 'int3' (use bf16, fp8 or fp8-all)");
  expect_clean_error(run_cli(base_ + " -p x --gpu-weights fp8"), "--gpu-weights fp8 needs a GPU with FP8 tensor cores");
  // bench checks its comma-separated list before building any weights.
  expect_clean_error(run_cli(cli_ + " bench forward --preset tiny --gpu-weights bf16,fp9"), "unknown --gpu-weights 'fp9'");
}

TEST_F(GenerateCli, PromptLongerThanTheContextIsRefused) {
  const fs::path f = dir_ / "long_prompt.txt";
  {
    std::ofstream out(f);
    for (int i = 0; i < 5000; ++i) out << " hello";  // one token each: past the 4096 of the config
  }
  expect_clean_error(run_cli(base_ + " -f " + f.string() + " --gen-length 8 --steps 8 --block-length 8"),
                     "exceeds the model's max sequence length");
}

TEST_F(GenerateCli, WordPieceTokenizerIsRefused) {
  const fs::path d = dir_;
  std::ofstream(d / "tokenizer.json") << R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})";
  const auto r = run_cli(cli_ + " generate -m " + model_ + " --tokenizer " + d.string() + " -p x");
  expect_clean_error(r, "WordPiece");
}

TEST_F(GenerateCli, InvalidUtf8PromptDoesNotCrash) {
  const auto r = run_cli(base_ + " -p \"$(printf '\\377\\376 ok \\303')\" --gen-length 8 --steps 8 --block-length 8");
  EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.out;
}

TEST_F(GenerateCli, ChatKeepsHistoryAndResets) {
  const std::string chat = cli_ + " chat -m " + model_ + " --tokenizer " + tok_ +
                           " --gen-length 8 --steps 4 --block-length 8 --temperature 0";
  const auto r = run_cli("printf 'Hello\\nAgain\\n/reset\\nThird\\n/quit\\n' | " + chat);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("(history cleared)"), std::string::npos) << r.out;
}

// Fast decoding (docs/fast-decoding.md): a cache refreshed at every step is exact mode; the
// fast modes run; bad combinations are one-line errors at argument time.
TEST_F(GenerateCli, FastDecodingFlags) {
  const std::string cmd = base_ + " -p 'What is 2+2?' --gen-length 16 --steps 8 --block-length 4 --temperature 1 --seed 5";
  const auto exact = run_cli(cmd);
  ASSERT_EQ(exact.status, 0) << exact.out;
  EXPECT_EQ(run_cli(cmd + " --cache prefix --cache-refresh 1").out, exact.out);
  EXPECT_EQ(run_cli(cmd + " --cache dual --cache-refresh 1").out, exact.out);
  for (const char* fast : {" --cache prefix", " --cache dual --threshold 0.5", " --cache dual --factor 1"}) {
    const auto r = run_cli(cmd + fast);
    EXPECT_EQ(r.status, 0) << fast << ": " << r.out;
  }
  expect_clean_error(run_cli(cmd + " --cache full"), "unknown cache 'full'");
  expect_clean_error(run_cli(cmd + " --cache-refresh 2"), "cache_refresh needs a KV cache");
  expect_clean_error(run_cli(cmd + " --threshold 0.9 --factor 1"), "choose one parallel decoding rule");
  expect_clean_error(run_cli(cmd + " --factor 1 --remasking random"), "needs low_confidence remasking");
  expect_clean_error(run_cli(cmd + " --threshold 0.9 --remasking random"), "needs low_confidence remasking");
  expect_clean_error(run_cli(base_ + " -p x --gen-length 8 --steps 8 --block-length 8 --cache dual"),
                     "the dual cache needs block decoding");
}

}  // namespace
}  // namespace mmada

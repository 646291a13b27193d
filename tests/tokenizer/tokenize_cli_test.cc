// The tokenize / detokenize subcommands, run as the built binary ($MMADA_CLI, set by CTest).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "tokenizer_test_data.h"

namespace mmada {
namespace {

struct Result {
  std::string out;
  int status;
};

Result run(const std::string& command) {
  Result r{"", -1};
  FILE* p = popen(command.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  r.status = pclose(p);
  return r;
}

class TokenizerCli : public ::testing::Test {
 protected:
  std::string cli_, dir_;
  void SetUp() override {
    const char* cli = std::getenv("MMADA_CLI");
    if (!cli || !*cli) GTEST_SKIP() << "MMADA_CLI not set";
    if (!test::shared_tokenizer()) GTEST_SKIP() << "no tokenizer in " << test::tokenizer_dir();
    cli_ = cli;
    dir_ = test::tokenizer_dir();
  }
};

TEST_F(TokenizerCli, PromptAndStdin) {
  EXPECT_EQ(run(cli_ + " tokenize --tokenizer '" + dir_ + "' -p 'Hello world'").out, "14455 1931\n");
  EXPECT_EQ(run("printf 'Hello world' | " + cli_ + " tokenize --tokenizer '" + dir_ + "'").out, "14455 1931\n");
}

TEST_F(TokenizerCli, JsonlKeepsGoingPastBadLines) {
  const Result r = run("printf '{\"text\":\"Hello world\"}\\nnot json\\n{\"text\":\"<|mdm_mask|>\"}\\n' | " + cli_ +
                       " tokenize --tokenizer '" + dir_ + "' --jsonl 2>/dev/null");
  EXPECT_EQ(r.out, "{\"text\":\"Hello world\",\"ids\":[14455,1931]}\n{\"text\":\"<|mdm_mask|>\",\"ids\":[126336]}\n");
  EXPECT_NE(r.status, 0);
}

TEST_F(TokenizerCli, Detokenize) {
  EXPECT_EQ(run(cli_ + " detokenize --tokenizer '" + dir_ + "' 126080 14455 1931").out, "<|startoftext|>Hello world\n");
  EXPECT_EQ(run("echo '[126080, 14455, 1931]' | " + cli_ + " detokenize --tokenizer '" + dir_ + "' --skip-special -n").out,
            "Hello world");
  EXPECT_NE(run(cli_ + " detokenize --tokenizer '" + dir_ + "' 1 x 2>/dev/null").status, 0);
}

}  // namespace
}  // namespace mmada

// `mmada train --eval-only --eval FILE` with several sampled answers per problem, as the built
// binary ($MMADA_CLI): the summary line, the per-problem JSONL file, and the flags' misuse as
// one-line errors.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "cli/cli_run.h"

namespace mmada {
namespace {

using test::expect_clean_error;
using test::run_cli;

class EvalSamplesCli : public test::CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    if (IsSkipped()) return;
    std::ofstream chat(path("chat.jsonl"));
    for (const char* sum : {"2+3=5", "4+4=8", "10+1=11"}) {
      const std::string s = sum, q = s.substr(0, s.find('=')), a = s.substr(s.find('=') + 1);
      chat << R"({"messages":[{"role":"user","content":")" << q << R"("},{"role":"assistant","content":"<think>)" << s
           << "</think>" << a << "\"}]}\n";
    }
    chat.close();
    std::ofstream(path("run.json"))
        << R"({"model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "mlp_hidden": 32},
               "data": {"lm": [{"path": ")" << path("chat.jsonl") << R"(", "format": "chat"}]},
               "batch": {"rows_lm": 2, "text_slots": 64}, "optim": {"lr": 0.01, "warmup_steps": 1},
               "steps": 2, "seed": 5, "output_dir": ")" << path("out") << "\"}";
    const test::CliResult r = run_cli(cli_ + " train -c " + path("run.json"));
    ASSERT_EQ(r.status, 0) << r.out;
    eval_ = cli_ + " train -c " + path("run.json") + " --eval-only --eval " + path("chat.jsonl") + " --eval-limit 0";
  }
  std::string eval_;
};

TEST_F(EvalSamplesCli, WritesEachProblemsCountOfRightSamples) {
  const test::CliResult r = run_cli(eval_ + " --eval-samples 4 --eval-temperature 3 --eval-seed 9 --eval-batch 2 "
                                    "--eval-per-problem " + path("counts.jsonl"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find(" / 12\n"), std::string::npos) << r.out;  // exact match over 3 problems x 4
  EXPECT_NE(r.out.find("(of 3, 4 samples each)"), std::string::npos) << r.out;
  std::ifstream in(path("counts.jsonl"));
  std::string line;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(std::getline(in, line));
    EXPECT_EQ(line.rfind("{\"problem\": " + std::to_string(i) + ", \"correct\": ", 0), 0u) << line;
    EXPECT_NE(line.find("\"samples\": 4}"), std::string::npos) << line;
  }
  EXPECT_FALSE(std::getline(in, line));
}

TEST_F(EvalSamplesCli, MisusedFlagsAreOneLineErrors) {
  const std::string only = cli_ + " train -c " + path("run.json") + " --eval-only";
  expect_clean_error(run_cli(only + " --eval-samples 3"), "need --eval");
  expect_clean_error(run_cli(only + " --eval-per-problem " + path("x.jsonl")), "need --eval");
  expect_clean_error(run_cli(eval_ + " --eval-modes none --eval-per-problem " + path("x.jsonl")), "--eval-modes");
  expect_clean_error(run_cli(eval_ + " --eval-per-problem " + path("no/such/dir/x.jsonl")), "cannot write");
}

}  // namespace
}  // namespace mmada

// Smoke runs of `mmada bench` on the tiny preset (random weights, CPU): each mode prints its
// table with one timed row per case, and bad arguments end in an error, not a crash.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "cli/cli_run.h"

namespace mmada {
namespace {

using test::run_cli;

class BenchCli : public test::CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    cli_ += " bench";
  }
};

TEST_F(BenchCli, ForwardPrintsARowPerLengthAndTheProfile) {
  const test::CliResult r = run_cli(cli_ + " forward --preset tiny --seq 8,16 --repeat 2 --profile");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("| seq | s/forward |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\n| 8 | "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\n| 16 | "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" ms/forward | "), std::string::npos) << r.out;
}

TEST_F(BenchCli, GenerateComparesModesWithExact) {
  const test::CliResult r = run_cli(cli_ + " generate --preset tiny --prompt-len 4 --gen-length 8 --steps 8 "
                                           "--block-length 4 --modes none,prefix --repeat 1");
  ASSERT_EQ(r.status, 0) << r.out;
  // Exact mode agrees with itself; 8 network calls for 8 one-token steps.
  EXPECT_NE(r.out.find("| none | 4 | 8 | 8 | 4 | "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" | 8 | 8 | 1.00 | "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" | 1.0000 | - |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| prefix | 4 | 8 | 8 | 4 | "), std::string::npos) << r.out;
}

TEST_F(BenchCli, T2iPrintsItsRowAndPerStepProfile) {
  const test::CliResult r = run_cli(cli_ + " t2i --preset tiny --t2i-size 32 --steps 2 --repeat 1 --profile");
  ASSERT_EQ(r.status, 0) << r.out;
  // 513 text slots, <|soi|>, 4 codes, <|eoi|>.
  EXPECT_NE(r.out.find("| 32 | 4 | 519 | 2 | 3.5 | "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" calls/step |"), std::string::npos) << r.out;
}

TEST_F(BenchCli, BadArgumentsAreErrors) {
  test::expect_clean_error(run_cli(cli_ + " forward --preset huge"), "unknown preset 'huge'");
  const test::CliResult r = run_cli(cli_ + " generate --preset tiny --modes dual+x3 --gen-length 8 --steps 8 --block-length 4");
  EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1) << r.out;
  EXPECT_NE(r.out.find("mmada: error: mode 'dual+x3'"), std::string::npos) << r.out;
  const test::CliResult t = run_cli(cli_ + " t2i --preset tiny --t2i-size 32 --steps 2 --modes none,c2+q1");
  EXPECT_TRUE(WIFEXITED(t.status) && WEXITSTATUS(t.status) == 1) << t.out;
  EXPECT_NE(t.out.find("mmada: error: mode 'c2+q1'"), std::string::npos) << t.out;
}

}  // namespace
}  // namespace mmada

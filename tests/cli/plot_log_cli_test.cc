// mmada plot-log run as the built binary ($MMADA_CLI): a PNG of two logs, the Markdown table,
// and the bad inputs that must end in a one-line error.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "cli/cli_run.h"
#include "io/image.h"

namespace mmada {
namespace {

namespace fs = std::filesystem;
using test::expect_clean_error;
using test::run_cli;

class PlotLogCli : public test::CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    if (IsSkipped()) return;
    cli_ += " plot-log";
    fs::create_directories(dir() + "/a");
    fs::create_directories(dir() + "/b");
    // Train-log shape; log a has a truncated last line (a run killed mid-write).
    for (const char* run : {"a", "b"}) {
      std::ofstream f(dir() + "/" + run + "/train_log.jsonl");
      for (int s = 1; s <= 30; ++s)
        f << "{\"step\":" << s << ",\"loss\":" << 10.0 / s << ",\"loss_lm\":" << 5.0 / s
          << ",\"lr\":" << 1e-3 * s / 30 << "}\n";
      if (run[0] == 'a') f << "{\"step\":31,\"loss\":";
    }
  }
  std::string logs() const { return " '" + dir() + "/a/train_log.jsonl' '" + dir() + "/b/train_log.jsonl'"; }
};

TEST_F(PlotLogCli, DrawsTwoLogsAndReportsMalformedLines) {
  const std::string out = dir() + "/cmp.png";
  const test::CliResult r = run_cli(cli_ + logs() + " --keys loss+loss_lm,lr --smooth 5 -o '" + out + "'");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("a: 30 records, steps 1..30; 1 malformed lines skipped (first: line 31: not valid JSON)"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("b: 30 records"), std::string::npos) << r.out;
  const RgbImage img = load_image(out);
  EXPECT_EQ(img.width, 2 * 440);  // two panels side by side at the default size
  EXPECT_GT(img.height, 280);
}

TEST_F(PlotLogCli, PrintsABucketTable) {
  const test::CliResult r = run_cli(cli_ + logs() + " --keys loss --table 10 2>/dev/null");
  ASSERT_EQ(r.status, 0) << r.out;
  // (10/1 + ... + 10/10) / 10 = 2.929 for steps 1-10 of both logs.
  EXPECT_NE(r.out.find("| steps | a | b |\n|---|---|---|\n| 1-10 | 2.929 | 2.929 |"), std::string::npos) << r.out;
}

TEST_F(PlotLogCli, BadInputsAreOneLineErrors) {
  const std::string out = " -o '" + dir() + "/x.png'";
  expect_clean_error(run_cli(cli_ + logs() + " --keys loss,los" + out), "no log has the key \"los\" (keys: loss, loss_lm, lr)");
  expect_clean_error(run_cli(cli_ + " '" + dir() + "/missing.jsonl'" + out), "no such log file");
  expect_clean_error(run_cli(cli_ + logs() + " --smooth 0" + out), "--smooth 0 must be at least 1");
  expect_clean_error(run_cli(cli_ + logs() + " --size 400" + out), "must be WIDTHxHEIGHT");
  expect_clean_error(run_cli(cli_ + logs() + " --size 10x10" + out), "out of range");
  expect_clean_error(run_cli(cli_ + logs() + " --keys 'loss,'" + out), "empty key name");
  expect_clean_error(run_cli(cli_ + logs()), "give -o OUT.png");
  EXPECT_FALSE(fs::exists(dir() + "/x.png"));
}

}  // namespace
}  // namespace mmada

// Running the built `mmada` binary ($MMADA_CLI, set by CTest) from tests.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace mmada::test {

struct CliResult {
  std::string out;  // stdout and stderr together
  int status;
};

inline CliResult run_cli(const std::string& command) {
  CliResult r{"", -1};
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  r.status = pclose(p);
  return r;
}

// A failing command: exit status 1 (not a signal) and exactly one line "mmada: error: ...".
inline void expect_clean_error(const CliResult& r, const std::string& needle) {
  EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1) << r.out;
  EXPECT_EQ(r.out.rfind("mmada: error: ", 0), 0u) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_NE(r.out.find(needle), std::string::npos) << r.out;
}

// Base of the fixtures that run the binary: cli_ is $MMADA_CLI (the test is skipped without it),
// dir_ a fresh temporary folder named after the suite and the process, removed afterwards. A
// fixture's own SetUp calls CliTest::SetUp() first and returns if IsSkipped().
class CliTest : public ::testing::Test {
 protected:
  std::string cli_;
  std::filesystem::path dir_;
  void SetUp() override {
    const char* cli = std::getenv("MMADA_CLI");
    if (!cli || !*cli) GTEST_SKIP() << "MMADA_CLI not set";
    cli_ = cli;
    const std::string suite = ::testing::UnitTest::GetInstance()->current_test_info()->test_suite_name();
    dir_ = std::filesystem::temp_directory_path() / ("mmada_" + suite + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::string dir() const { return dir_.string(); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
};

}  // namespace mmada::test

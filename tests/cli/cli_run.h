// Running the built `mmada` binary ($MMADA_CLI, set by CTest) from tests.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
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

}  // namespace mmada::test

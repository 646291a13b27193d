// mmada launch and mmada check-train run as the built binary ($MMADA_CLI): the rank variables
// each process gets, a failing rank failing the launch, and the bad inputs' one-line errors.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "cli/cli_run.h"

namespace mmada {
namespace {

using test::expect_clean_error;
using test::run_cli;

class LaunchCli : public test::CliTest {};

TEST_F(LaunchCli, RanksGetTheirVariables) {
  const test::CliResult r = run_cli(
      cli_ + " launch -n 3 -- sh -c 'echo rank=$MMADA_RANK/$MMADA_WORLD_SIZE local=$MMADA_LOCAL_RANK "
             "id=${MMADA_LAUNCH_ID:+set} omp=${OMP_NUM_THREADS:+set}'");
  ASSERT_EQ(r.status, 0) << r.out;
  for (const char* want : {"rank=0/3 local=0 id=set omp=set", "rank=1/3 local=1 id=set omp=set", "rank=2/3 local=2 id=set omp=set"})
    EXPECT_NE(r.out.find(want), std::string::npos) << r.out;
}

TEST_F(LaunchCli, AFailingRankFailsTheLaunch) {
  const test::CliResult r = run_cli(cli_ + " launch -n 2 -- sh -c 'exit $MMADA_RANK'");
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("failed"), std::string::npos) << r.out;
}

TEST_F(LaunchCli, BadInput) {
  expect_clean_error(run_cli(cli_ + " launch -n 0 -- true"), "-n 0");
  const test::CliResult missing = run_cli(cli_ + " launch -n 2");
  EXPECT_NE(missing.status, 0) << missing.out;
#ifndef MMADA_WITH_CUDA
  expect_clean_error(run_cli(cli_ + " check-train"), "CUDA build");
#endif
}

}  // namespace
}  // namespace mmada

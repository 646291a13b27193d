// mmada launch -n N -- COMMAND...: runs N copies of COMMAND as the ranks of one data-parallel
// job on this machine (MMADA_RANK, MMADA_WORLD_SIZE, MMADA_LOCAL_RANK, MMADA_LAUNCH_ID set for
// each), waits for all; if one fails the others are stopped. The same variables mpirun's
// OMPI_COMM_WORLD_* give (train/communicator.h), without needing OpenMPI. Unless
// OMP_NUM_THREADS is set, each rank gets an equal share of the cores for its OpenMP threads:
// N processes each spinning a thread per core slowed a 2-GPU run's steps 2x (docs/multi-gpu.md).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "command.h"
#include "core/error.h"

namespace mmada::cli {
namespace {

Command launch_cmd("launch", "Run N ranks of a data-parallel command on this machine (one per GPU)",
                   [](CLI::App& sub) -> RunFn {
                     auto n = std::make_shared<int>(0);
                     auto cmd = std::make_shared<std::vector<std::string>>();
                     sub.add_option("-n,--ranks", *n, "number of ranks (processes, one GPU each)")->required();
                     sub.add_option("command", *cmd, "the command after --, e.g. -- mmada train --config run.json")
                         ->required();
                     return [n, cmd] {
                       MMADA_CHECK(*n >= 1 && *n <= 1024, "launch: -n ", *n, " must be in [1, 1024]");
                       const std::string id = std::to_string(getpid()) + "x" +
                           std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
                       const long cores = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
                       const std::string threads = std::to_string(std::max(1L, cores / *n));
                       std::vector<pid_t> kids;
                       for (int r = 0; r < *n; ++r) {
                         const pid_t pid = fork();
                         MMADA_CHECK(pid >= 0, "launch: fork failed");
                         if (pid == 0) {
                           setenv("MMADA_RANK", std::to_string(r).c_str(), 1);
                           setenv("MMADA_LOCAL_RANK", std::to_string(r).c_str(), 1);
                           setenv("MMADA_WORLD_SIZE", std::to_string(*n).c_str(), 1);
                           setenv("MMADA_LAUNCH_ID", id.c_str(), 1);
                           setenv("OMP_NUM_THREADS", threads.c_str(), 0);  // 0: keep the user's
                           std::vector<char*> argv;
                           for (std::string& a : *cmd) argv.push_back(a.data());
                           argv.push_back(nullptr);
                           execvp(argv[0], argv.data());
                           std::fprintf(stderr, "mmada launch: cannot run %s\n", argv[0]);
                           _exit(127);
                         }
                         kids.push_back(pid);
                       }
                       int failed = 0;
                       for (size_t left = kids.size(); left > 0; --left) {
                         int status = 0;
                         const pid_t pid = wait(&status);
                         if (pid < 0) break;
                         const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
                         if (!ok && failed == 0) {
                           failed = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                           std::fprintf(stderr, "mmada launch: rank process %d failed (status %d); stopping the others\n",
                                        int(pid), failed);
                           for (pid_t k : kids)
                             if (k != pid) kill(k, SIGTERM);
                         }
                       }
                       return failed;
                     };
                   });

}  // namespace
}  // namespace mmada::cli

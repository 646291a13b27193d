// Subcommands register themselves: each cmd_*.cc defines a static Command that adds its
// options to the CLI11 app and returns the function to run when chosen.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace mmada::cli {

using RunFn = std::function<int()>;
using SetupFn = std::function<RunFn(CLI::App& sub)>;

struct Command {
  Command(const char* name, const char* help, SetupFn setup);
};

}  // namespace mmada::cli
